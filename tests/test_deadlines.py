"""Statutory deadlines: counting rules, Polish holidays and the `deadline` command."""

from __future__ import annotations

import datetime
import re
from io import StringIO

import holidays as reference_holidays
import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command
from pytest_django import Settings

from garnizon.cases.deadlines import (
    DEADLINE_RULES,
    Deadline,
    DeadlineKind,
    add_months,
    compute_deadline,
    deadline_status,
)
from garnizon.cases.holidays import (
    easter_sunday,
    holiday_name,
    is_working_day,
    next_working_day,
    polish_holidays,
)
from garnizon.cases.management.commands.deadline import Command as DeadlineCommand

D = datetime.date

# --- every kind ---------------------------------------------------------------

# (kind, event date, due date, basis). The event dates are chosen so that the plain
# count ends on a working day unless the case says otherwise.
EVERY_KIND = [
    ("kpa_investigation", D(2026, 3, 10), D(2026, 4, 10), "art. 35 § 3 KPA"),
    ("kpa_complex", D(2026, 3, 10), D(2026, 5, 11), "art. 35 § 3 KPA"),  # 10.05 Sunday
    ("kpa_appeal", D(2026, 3, 10), D(2026, 4, 10), "art. 35 § 3 KPA"),
    ("certificate", D(2026, 1, 15), D(2026, 1, 22), "art. 217 § 3 KPA"),
    ("complaint", D(2026, 3, 10), D(2026, 4, 10), "art. 237 § 1 KPA"),
    ("complaint_mp", D(2026, 1, 15), D(2026, 1, 29), "art. 237 § 2 KPA"),
    ("complaint_forward", D(2026, 1, 15), D(2026, 1, 22), "art. 231 KPA"),
    (
        "public_information",
        D(2026, 1, 15),
        D(2026, 1, 29),
        "art. 13 ust. 1 ustawy o dostępie do informacji publicznej",
    ),
    (
        "public_information_extended",
        D(2026, 3, 10),
        D(2026, 5, 11),  # 10.05.2026 is a Sunday
        "art. 13 ust. 2 ustawy o dostępie do informacji publicznej",
    ),
    ("petition", D(2026, 3, 10), D(2026, 6, 10), "art. 10 ust. 1 ustawy o petycjach"),
    (
        "whistleblower_ack",
        D(2026, 1, 15),
        D(2026, 1, 22),
        "art. 25 ust. 1 pkt 3 ustawy o ochronie sygnalistów",
    ),
    (
        "whistleblower_feedback",
        D(2026, 3, 10),
        D(2026, 6, 10),
        "art. 25 ust. 1 pkt 5 ustawy o ochronie sygnalistów",
    ),
    ("crime_notification", D(2026, 1, 5), D(2026, 2, 4), "art. 307 § 1 KPK"),
]


@pytest.mark.parametrize(("kind", "start", "due", "basis"), EVERY_KIND)
def test_each_kind_with_a_term_gets_its_due_date_and_basis(
    kind: str, start: datetime.date, due: datetime.date, basis: str
) -> None:
    deadline = compute_deadline(kind, start)

    assert (deadline.kind, deadline.start, deadline.due_date) == (kind, start, due)
    assert deadline.basis == basis
    assert deadline.explanation.startswith(f"{_term(kind)} od {start:%d.%m.%Y} = ")
    assert f"{due:%d.%m.%Y}" in deadline.explanation


def _term(kind: str) -> str:
    return {
        "kpa_investigation": "1 miesiąc",
        "kpa_complex": "2 miesiące",
        "kpa_appeal": "1 miesiąc",
        "certificate": "7 dni",
        "complaint": "1 miesiąc",
        "complaint_mp": "14 dni",
        "complaint_forward": "7 dni",
        "public_information": "14 dni",
        "public_information_extended": "2 miesiące",
        "petition": "3 miesiące",
        "whistleblower_ack": "7 dni",
        "whistleblower_feedback": "3 miesiące",
        "crime_notification": "30 dni",
    }[kind]


def test_every_kind_has_a_rule_and_is_covered_by_these_tests() -> None:
    tested = {row[0] for row in EVERY_KIND} | {"none", "kpa_immediate"}
    assert set(DEADLINE_RULES) == set(DeadlineKind.values) == tested


def test_no_statutory_term_has_no_date_basis_or_explanation() -> None:
    deadline = compute_deadline(DeadlineKind.NONE, D(2026, 1, 15))

    assert deadline == Deadline("none", D(2026, 1, 15), None, "", "")


def test_immediate_has_no_date_but_states_basis_and_meaning() -> None:
    deadline = compute_deadline(DeadlineKind.KPA_IMMEDIATE, D(2026, 1, 15))

    assert deadline.due_date is None
    assert deadline.basis == "art. 35 § 1–2 KPA"
    assert "bez zbędnej zwłoki" in deadline.explanation


def test_results_are_plain_strings_not_lazy_translations() -> None:
    for kind in DeadlineKind.values:
        deadline = compute_deadline(kind, D(2026, 1, 15))
        assert type(deadline.kind) is str
        assert type(deadline.basis) is str
        assert type(deadline.explanation) is str


def test_kind_may_be_given_as_enum_member_or_value() -> None:
    assert compute_deadline(DeadlineKind.COMPLAINT, D(2026, 3, 10)) == compute_deadline(
        "complaint", D(2026, 3, 10)
    )


def test_start_given_as_aware_datetime_counts_from_its_local_date() -> None:
    late_evening_utc = datetime.datetime(2026, 1, 14, 23, 30, tzinfo=datetime.UTC)

    deadline = compute_deadline("certificate", late_evening_utc)

    assert deadline.start == D(2026, 1, 15)  # 00:30 in Warsaw
    assert deadline.due_date == D(2026, 1, 22)


def test_unknown_kind_is_rejected_with_the_valid_kinds() -> None:
    with pytest.raises(ValueError, match="complaint_mp"):
        compute_deadline("complaint_by_pigeon", D(2026, 1, 15))


# --- counting in days -----------------------------------------------------------


def test_days_start_the_day_after_the_event() -> None:
    deadline = compute_deadline("certificate", D(2026, 1, 15))

    assert deadline.due_date == D(2026, 1, 22)
    assert deadline.explanation == "7 dni od 15.01.2026 = 22.01.2026"


def test_crime_notification_cites_the_criminal_procedure_counting_rule() -> None:
    # 30 days from 02.10.2026 = 01.11.2026, All Saints' Day on a Sunday.
    deadline = compute_deadline("crime_notification", D(2026, 10, 2))

    assert deadline.due_date == D(2026, 11, 2)
    assert deadline.explanation == (
        "30 dni od 02.10.2026 = 01.11.2026, Wszystkich Świętych (niedziela), "
        "więc 02.11.2026 (art. 123 § 3 KPK)"
    )


# --- counting in months ------------------------------------------------------------


def test_months_end_on_the_same_day_number() -> None:
    assert add_months(D(2026, 3, 10), 1) == D(2026, 4, 10)
    assert add_months(D(2026, 11, 30), 3) == D(2027, 2, 28)
    assert add_months(D(2026, 12, 15), 1) == D(2027, 1, 15)


def test_month_from_31_january_ends_on_28_february_in_a_common_year() -> None:
    assert add_months(D(2026, 1, 31), 1) == D(2026, 2, 28)


def test_month_from_31_january_ends_on_29_february_in_leap_year_2028() -> None:
    deadline = compute_deadline("complaint", D(2028, 1, 31))

    assert deadline.due_date == D(2028, 2, 29)  # a Tuesday
    assert deadline.explanation == (
        "1 miesiąc od 31.01.2028 = 29.02.2028 (ostatni dzień miesiąca, art. 57 § 3 KPA)"
    )


def test_clamped_month_end_on_a_saturday_then_moves_over_the_weekend() -> None:
    deadline = compute_deadline("kpa_appeal", D(2026, 1, 31))

    assert deadline.due_date == D(2026, 3, 2)
    assert deadline.explanation == (
        "1 miesiąc od 31.01.2026 = 28.02.2026 (ostatni dzień miesiąca, art. 57 § 3 KPA), "
        "sobota, 01.03.2026 niedziela, więc 02.03.2026 (art. 57 § 4 KPA)"
    )


# --- moves past Saturdays, Sundays and holidays ----------------------------------------


def test_end_on_a_sunday_moves_to_monday() -> None:
    deadline = compute_deadline("kpa_investigation", D(2026, 1, 15))

    assert deadline.due_date == D(2026, 2, 16)
    assert deadline.explanation == (
        "1 miesiąc od 15.01.2026 = 15.02.2026, niedziela, więc 16.02.2026 (art. 57 § 4 KPA)"
    )


def test_end_on_a_saturday_moves_past_sunday_to_monday() -> None:
    deadline = compute_deadline("certificate", D(2026, 1, 31))

    assert deadline.due_date == D(2026, 2, 9)
    assert deadline.explanation == (
        "7 dni od 31.01.2026 = 07.02.2026, sobota, 08.02.2026 niedziela, "
        "więc 09.02.2026 (art. 57 § 4 KPA)"
    )


def test_end_on_all_saints_day_sunday_moves_to_2_november() -> None:
    deadline = compute_deadline("complaint", D(2026, 10, 1))

    assert deadline.due_date == D(2026, 11, 2)
    assert "Wszystkich Świętych" in deadline.explanation


def test_end_on_christmas_eve_2025_moves_over_holidays_and_weekend_to_29_december() -> None:
    deadline = compute_deadline("certificate", D(2025, 12, 17))

    assert deadline.due_date == D(2025, 12, 29)
    assert deadline.explanation == (
        "7 dni od 17.12.2025 = 24.12.2025, Wigilia Bożego Narodzenia, "
        "25.12.2025 Boże Narodzenie, 26.12.2025 drugi dzień Bożego Narodzenia, "
        "27.12.2025 sobota, 28.12.2025 niedziela, więc 29.12.2025 (art. 57 § 4 KPA)"
    )


def test_christmas_eve_2024_did_not_move_a_deadline() -> None:
    deadline = compute_deadline("certificate", D(2024, 12, 17))

    assert deadline.due_date == D(2024, 12, 24)  # a Tuesday, a working day then
    assert deadline.explanation == "7 dni od 17.12.2024 = 24.12.2024"


def test_end_on_easter_monday_moves_to_tuesday() -> None:
    deadline = compute_deadline("complaint_mp", D(2026, 3, 23))

    assert deadline.due_date == D(2026, 4, 7)
    assert "Poniedziałek Wielkanocny" in deadline.explanation


def test_month_end_on_sunday_before_a_holiday_moves_twice() -> None:
    deadline = compute_deadline("petition", D(2028, 1, 31))

    assert deadline.due_date == D(2028, 5, 2)
    assert deadline.explanation == (
        "3 miesiące od 31.01.2028 = 30.04.2028 (ostatni dzień miesiąca, art. 112 KC), "
        "niedziela, 01.05.2028 Święto Pracy, więc 02.05.2028 (art. 115 KC)"
    )


def test_corpus_christi_moves_a_deadline_to_friday() -> None:
    # Corpus Christi 2026 is Thursday 4 June.
    deadline = compute_deadline("complaint_forward", D(2026, 5, 28))

    assert deadline.due_date == D(2026, 6, 5)
    assert "Boże Ciało" in deadline.explanation


def test_configured_extra_holiday_moves_a_deadline(settings: Settings) -> None:
    settings.GARNIZON_EXTRA_HOLIDAYS = ["2026-01-22"]

    deadline = compute_deadline("certificate", D(2026, 1, 15))

    assert deadline.due_date == D(2026, 1, 23)
    assert "dodatkowy dzień wolny od pracy" in deadline.explanation


def test_extra_holidays_accept_dates_and_a_comma_separated_string(
    settings: Settings,
) -> None:
    settings.GARNIZON_EXTRA_HOLIDAYS = "2026-01-22, 2026-01-23"
    assert not is_working_day(D(2026, 1, 23))

    settings.GARNIZON_EXTRA_HOLIDAYS = [D(2026, 1, 21)]
    assert not is_working_day(D(2026, 1, 21))
    assert is_working_day(D(2026, 1, 23))


def test_malformed_extra_holiday_is_a_configuration_error(settings: Settings) -> None:
    settings.GARNIZON_EXTRA_HOLIDAYS = ["22.01.2026"]

    with pytest.raises(ImproperlyConfigured, match=re.escape("22.01.2026")):
        is_working_day(D(2026, 1, 22))


def test_extra_holidays_are_not_listed_as_statutory(settings: Settings) -> None:
    settings.GARNIZON_EXTRA_HOLIDAYS = ["2026-01-22"]

    assert D(2026, 1, 22) not in polish_holidays(2026)
    assert holiday_name(D(2026, 1, 22)) == "dodatkowy dzień wolny od pracy"


# --- holidays ------------------------------------------------------------------------


@pytest.mark.parametrize("year", range(2020, 2036))
def test_holidays_match_the_holidays_package(year: int) -> None:
    reference = reference_holidays.Poland(years=year)

    assert set(polish_holidays(year)) == set(reference)


@pytest.mark.parametrize("year", range(2020, 2036))
def test_easter_matches_the_holidays_package(year: int) -> None:
    reference = reference_holidays.Poland(years=year)
    easter = easter_sunday(year)

    assert reference.get(easter) == "Niedziela Wielkanocna"
    assert reference.get(easter + datetime.timedelta(days=1)) == "Poniedziałek Wielkanocny"


def test_easter_on_known_dates() -> None:
    assert easter_sunday(2024) == D(2024, 3, 31)
    assert easter_sunday(2025) == D(2025, 4, 20)
    assert easter_sunday(2026) == D(2026, 4, 5)
    assert easter_sunday(2038) == D(2038, 4, 25)  # the latest possible
    assert easter_sunday(2285) == D(2285, 3, 22)  # the earliest possible


def test_moving_feasts_follow_easter() -> None:
    holidays_2026 = polish_holidays(2026)

    assert holidays_2026[D(2026, 4, 5)] == "Wielkanoc"
    assert holidays_2026[D(2026, 4, 6)] == "Poniedziałek Wielkanocny"
    assert holidays_2026[D(2026, 5, 24)] == "Zielone Świątki"
    assert holidays_2026[D(2026, 6, 4)] == "Boże Ciało"


def test_christmas_eve_is_a_holiday_from_2025_only() -> None:
    assert D(2024, 12, 24) not in polish_holidays(2024)
    assert D(2025, 12, 24) in polish_holidays(2025)
    assert D(2026, 12, 24) in polish_holidays(2026)
    assert is_working_day(D(2024, 12, 24))
    assert not is_working_day(D(2025, 12, 24))


def test_holidays_of_a_year_are_listed_in_date_order_and_not_shared() -> None:
    first = polish_holidays(2026)
    first.clear()

    second = polish_holidays(2026)
    assert len(second) == 14
    assert list(second) == sorted(second)


def test_weekends_and_holidays_are_not_working_days() -> None:
    assert is_working_day(D(2026, 1, 16))  # Friday
    assert not is_working_day(D(2026, 1, 17))  # Saturday
    assert not is_working_day(D(2026, 1, 18))  # Sunday
    assert not is_working_day(D(2026, 1, 6))  # Epiphany, a Tuesday


def test_next_working_day_keeps_a_working_day_unless_strict() -> None:
    assert next_working_day(D(2026, 1, 16)) == D(2026, 1, 16)
    assert next_working_day(D(2026, 1, 16), inclusive=False) == D(2026, 1, 19)
    assert next_working_day(D(2025, 12, 24)) == D(2025, 12, 29)
    assert next_working_day(D(2026, 12, 31), inclusive=False) == D(2027, 1, 4)


# --- deadline status --------------------------------------------------------------------


def test_deadline_status() -> None:
    today = D(2026, 1, 15)

    assert deadline_status(None, today, 3) == "none"
    assert deadline_status(D(2026, 1, 14), today, 3) == "overdue"
    assert deadline_status(D(2026, 1, 15), today, 3) == "due_soon"
    assert deadline_status(D(2026, 1, 18), today, 3) == "due_soon"
    assert deadline_status(D(2026, 1, 19), today, 3) == "ok"
    assert deadline_status(D(2026, 1, 15), today, 0) == "due_soon"
    assert deadline_status(D(2026, 1, 16), today, 0) == "ok"


# --- the `deadline` command -------------------------------------------------------------


def _run(*args: str) -> str:
    out = StringIO()
    call_command("deadline", *args, stdout=out)
    return out.getvalue()


def test_command_prints_due_date_basis_and_explanation() -> None:
    output = _run("complaint", "--from", "2026-01-15")

    assert "Termin: 16.02.2026 (poniedziałek)" in output
    assert "Podstawa: art. 237 § 1 KPA" in output
    assert "1 miesiąc od 15.01.2026 = 15.02.2026, niedziela, więc 16.02.2026" in output


def test_command_accepts_polish_date_format() -> None:
    assert _run("certificate", "--from", "17.12.2025") == _run(
        "certificate", "--from", "2025-12-17"
    )


def test_command_for_immediate_kind_says_there_is_no_date() -> None:
    output = _run("kpa_immediate", "--from", "2026-01-15")

    assert "Termin: niezwłocznie" in output
    assert "bez zbędnej zwłoki" in output


def test_command_lists_every_kind_with_its_basis() -> None:
    output = _run("--list")

    for kind, rule in DEADLINE_RULES.items():
        assert kind in output
        assert str(rule.basis) in output


def test_command_rejects_an_unknown_kind_listing_valid_ones() -> None:
    with pytest.raises(CommandError, match="Nieznany rodzaj terminu") as error:
        _run("complaint_by_pigeon", "--from", "2026-01-15")

    assert "public_information_extended" in str(error.value)


@pytest.mark.parametrize("bad_date", ["15/01/2026", "2026-02-30", "jutro", "2026-1-5"])
def test_command_rejects_a_bad_date(bad_date: str) -> None:
    with pytest.raises(CommandError, match="Nieprawidłowa data"):
        _run("complaint", "--from", bad_date)


def test_command_help_renders() -> None:
    parser = DeadlineCommand().create_parser("garnizon", "deadline")

    assert "--from" in parser.format_help()


def test_command_without_kind_asks_for_one() -> None:
    with pytest.raises(CommandError, match="Podaj rodzaj terminu"):
        _run()


# --- dates the count cannot handle ----------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "start"),
    [
        ("petition", D(9999, 12, 20)),  # 3 months would run past year 9999
        ("certificate", D(9999, 12, 30)),  # 7 days likewise
        ("complaint", D(1, 1, 1)),
        ("kpa_immediate", D(9001, 1, 1)),  # no date at all, but a start no count accepts
        ("crime_notification", D(1899, 12, 31)),
    ],
)
def test_a_start_outside_1900_to_9000_is_a_value_error_in_polish(
    kind: str, start: datetime.date
) -> None:
    with pytest.raises(ValueError, match=r"Terminy liczy się dla dat z lat 1900–9000"):
        compute_deadline(kind, start)


def test_the_years_1900_and_9000_still_count() -> None:
    assert compute_deadline("certificate", D(1900, 1, 2)).due_date is not None
    assert compute_deadline("petition", D(9000, 9, 1)).due_date == D(9000, 12, 1)


def test_add_months_refuses_days_and_results_outside_the_years() -> None:
    assert add_months(D(9000, 11, 30), 1) == D(9000, 12, 30)
    with pytest.raises(ValueError, match="Termin wypadłby poza latami 1900–9000"):
        add_months(D(9000, 12, 1), 1)
    with pytest.raises(ValueError, match="Termin wypadłby poza latami 1900–9000"):
        add_months(D(1900, 1, 31), -1)
    with pytest.raises(ValueError, match="Terminy liczy się dla dat z lat 1900–9000"):
        add_months(D(9999, 12, 31), 1)


def test_the_command_refuses_a_date_it_cannot_count() -> None:
    from io import StringIO

    import pytest
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError):
        call_command("deadline", "petition", "--from", "9999-12-20", stdout=StringIO())
