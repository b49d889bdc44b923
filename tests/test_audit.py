"""The tamper-evident audit trail: hash chain, database triggers, command, log-ins, access."""

from __future__ import annotations

import datetime
import decimal
import io
import itertools
import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from urllib.parse import quote

import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import IntegrityError, connection, connections, transaction
from django.db.models import F, QuerySet
from django.forms.models import model_to_dict
from django.test import Client, RequestFactory
from django.utils import timezone

from garnizon.audit import services
from garnizon.audit.models import AuditAction, AuditEntry, AuditHead
from garnizon.audit.selectors import audit_entries_visible_to
from garnizon.audit.services import (
    audit_immutability_suspended,
    audit_record,
    audit_verify,
    entry_hash,
)
from garnizon.cases.models import Case, CaseRecordAction, CaseRecordEntry
from garnizon.org.models import Person, Position, Substitution
from tests.factories import PASSWORD, Garrison, make_garrison

pytestmark = pytest.mark.django_db

# Triggers the migration audit 0003_immutable creates, per vendor.
EXPECTED_TRIGGERS = {
    "sqlite": {
        "audit_auditentry_no_update",
        "audit_auditentry_no_delete",
        "cases_caserecordentry_no_update",
        "cases_caserecordentry_no_delete",
        "audit_audithead_no_delete",
        "audit_audithead_forward_only",
    },
    "postgresql": {
        "audit_auditentry_immutable",
        "audit_auditentry_no_truncate",
        "cases_caserecordentry_immutable",
        "cases_caserecordentry_no_truncate",
        "audit_audithead_forward_only",
        "audit_audithead_no_truncate",
    },
}


# --- helpers ---------------------------------------------------------------------------------


def record_some(g: Garrison, count: int) -> list[AuditEntry]:
    """`count` entries by different people about different objects and units."""
    people = [g.people["handler"], g.people["kmp_clerk"], g.people["auditor"]]
    entries = []
    for number in range(count):
        person = people[number % len(people)]
        entries.append(
            audit_record(
                actor=person,
                action=AuditAction.VIEW if number % 2 else AuditAction.UPDATE,
                obj=person,
                on_behalf_of=g.people["head"] if number == 1 else None,
                details={"numer": number, "uwaga": "zażółć gęślą jaźń"},
                remote_addr="192.0.2.7",
            )
        )
    return entries


def problems() -> list[tuple[int, str]]:
    return [(p.seq, p.problem) for p in audit_verify(batch_size=2)]


def forged_entry(seq: int, prev_hash: str) -> AuditEntry:
    """An entry built by someone who knows the hashing scheme, as a real forger would."""
    entry = AuditEntry(
        seq=seq,
        occurred_at=timezone.now(),
        actor_username="intruz",
        action=AuditAction.EXPORT,
        object_type="cases.case",
        object_id="1",
        details={},
        prev_hash=prev_hash,
    )
    entry.entry_hash = entry_hash(entry)
    return entry


def make_case_record_entry(g: Garrison) -> CaseRecordEntry:
    handler = g.people["handler"]
    case = Case.objects.create(
        unit=g.kwp,
        cell=g.cells["kwp_i_1"],
        classification=g.classes["052"],
        year=2026,
        number=1,
        sign="KWP-I-1.052.1.2026",
        subject="Skarga na przewlekłość",
        opened_on=datetime.date(2026, 1, 5),
        created_by=handler,
    )
    return CaseRecordEntry.objects.create(
        case=case,
        occurred_at=timezone.now(),
        actor=handler,
        actor_name=str(handler),
        action=CaseRecordAction.OPENED,
    )


def installed_triggers() -> set[str]:
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
        else:
            cursor.execute("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")
        return {name for (name,) in cursor.fetchall()}


def refused(statement: Callable[[], object]) -> str:
    """Runs `statement`, expecting the database to refuse it; returns the message."""
    # The savepoint keeps PostgreSQL's transaction usable after the error.
    with pytest.raises(IntegrityError) as error, transaction.atomic():
        statement()
    return str(error.value)


def database_url() -> str:
    """The URL of the test database, for a `garnizon` command run as a subprocess."""
    settings = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{settings['NAME']}"
    credentials = quote(settings["USER"] or "", safe="")
    if settings["PASSWORD"]:
        credentials += ":" + quote(settings["PASSWORD"], safe="")
    return (
        f"postgres://{credentials}@{settings['HOST'] or 'localhost'}:{settings['PORT'] or 5432}"
        f"/{settings['NAME']}"
    )


def run_garnizon(*args: str) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"GARNIZON_DATABASE_URL": database_url()}
    return subprocess.run(
        [sys.executable, "-m", "garnizon.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


# --- the chain -----------------------------------------------------------------------------


def test_a_chain_of_entries_verifies_clean(garrison):
    entries = record_some(garrison, 7)
    verification = audit_verify(batch_size=3)  # several batches, and a partial last one
    assert list(verification) == []
    assert verification.checked == 7
    assert [e.seq for e in AuditEntry.objects.all()] == list(range(1, 8))
    assert entries[0].prev_hash == services.GENESIS_HASH
    for previous, entry in itertools.pairwise(entries):
        assert entry.prev_hash == previous.entry_hash
    head = AuditHead.objects.get()
    assert (head.last_seq, head.last_hash) == (7, entries[-1].entry_hash)


def test_an_empty_trail_verifies_clean():
    verification = audit_verify()
    assert list(verification) == []
    assert verification.checked == 0


@pytest.mark.parametrize("microsecond", [0, 123456])
def test_the_hash_at_insert_equals_the_hash_after_reading_back(garrison, monkeypatch, microsecond):
    # Values each database would store differently if they were not made
    # canonical first: jsonb reorders keys and turns 1e20 and 1.0 into
    # integers, PostgreSQL refuses NUL and NaN, ints come back for string ids.
    moment = datetime.datetime(2026, 3, 29, 0, 59, 59, microsecond, tzinfo=datetime.UTC)
    monkeypatch.setattr(services.timezone, "now", lambda: moment)
    details = {
        "z": 1,
        "a": {"ż": "Zażółć gęślą jaźń 🚓", "liczby": [1.0, 1e20, -0.0, 0.1, 2**70, 1.5e-7]},
        3: "klucz liczbowy",
        "nul": "a\x00b",
        "nan": float("nan"),
        "kwota": decimal.Decimal("12.50"),
        "kiedy": datetime.date(2026, 3, 29),
        "zbiór": {3, 1, 2},
        "zagnieżdżone": [{"b": None, "a": True}],
    }
    inserted = audit_record(
        actor=garrison.people["handler"],
        action=AuditAction.CREATE,
        object_type="cases.case",
        object_id="42",
        object_repr="Sprawa „łódź” \x00 " + "ę" * 400,
        unit_id="7",  # type: ignore[arg-type]  # a string id, as a careless caller passes it
        details=details,
    )
    stored = AuditEntry.objects.get(pk=inserted.pk)
    assert stored.entry_hash == inserted.entry_hash == entry_hash(stored)
    assert stored.details == inserted.details
    assert stored.details["a"]["liczby"] == [1, 10**20, 0, 0.1, 2**70, 1.5e-7]
    assert stored.details["nul"] == "a\ufffdb"
    assert stored.details["nan"] == "nan"
    assert stored.details["3"] == "klucz liczbowy"
    assert stored.details["zbiór"] == [1, 2, 3]
    assert stored.unit_id == 7
    assert len(stored.object_repr) == 300
    assert stored.occurred_at == moment
    assert problems() == []


@pytest.mark.parametrize(
    "change",
    [
        {"object_repr": "coś innego"},
        {"actor_username": "ktos_inny"},
        {"action": AuditAction.DELETE},
        {"unit_id": 999},
        {"remote_addr": "203.0.113.9"},
        {"details": {"numer": 2, "uwaga": "zmienione"}},
        {"occurred_at": datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC)},
    ],
    ids=lambda change: next(iter(change)),
)
def test_an_altered_field_is_detected(garrison, change):
    record_some(garrison, 5)
    with audit_immutability_suspended():
        AuditEntry.objects.filter(seq=3).update(**change)
    assert problems() == [(3, "treść wpisu nie zgadza się z jego skrótem (zmieniona)")]


def test_an_altered_entry_with_a_recomputed_hash_breaks_the_next_link(garrison):
    record_some(garrison, 5)
    entry = AuditEntry.objects.get(seq=3)
    entry.object_repr = "podmienione"
    with audit_immutability_suspended():
        AuditEntry.objects.filter(seq=3).update(
            object_repr=entry.object_repr, entry_hash=entry_hash(entry)
        )
    assert problems() == [(4, "skrót poprzedniego wpisu nie zgadza się z łańcuchem")]


def test_a_deleted_middle_entry_is_detected(garrison):
    record_some(garrison, 5)
    with audit_immutability_suspended():
        AuditEntry.objects.filter(seq=3).delete()
    assert problems() == [
        (3, "brak wpisu 3 (usunięte)"),
        (4, "skrót poprzedniego wpisu nie zgadza się z łańcuchem"),
    ]


def test_a_truncated_tail_is_detected(garrison):
    record_some(garrison, 5)
    with audit_immutability_suspended():
        AuditEntry.objects.filter(seq__gte=4).delete()
    assert problems() == [(4, "brak wpisów 4..5 na końcu łańcucha (koniec odcięty)")]


def test_a_deleted_head_is_detected(garrison):
    record_some(garrison, 3)
    with audit_immutability_suspended():
        AuditHead.objects.all().delete()
    assert problems() == [(3, "brak nagłówka łańcucha (usunięty)")]


def test_a_forged_entry_inserted_in_the_middle_is_detected(garrison):
    entries = record_some(garrison, 5)
    with audit_immutability_suspended():
        # Make room at seq 3 (from the top, so the unique seq never collides),
        # insert a well-formed forgery there and move the head along.
        for seq in (5, 4, 3):
            AuditEntry.objects.filter(seq=seq).update(seq=F("seq") + 1)
        forged_entry(3, prev_hash=entries[1].entry_hash).save(force_insert=True)
        AuditHead.objects.update(last_seq=6, last_hash=entries[-1].entry_hash)
    found = problems()
    # The forgery itself links up, but the entry after it does not, and the
    # moved entries no longer match their hashes (seq is hashed).
    assert (4, "skrót poprzedniego wpisu nie zgadza się z łańcuchem") in found
    assert {seq for seq, _ in found} == {4, 5, 6}
    assert all(seq != 3 for seq, _ in found)


def test_a_forged_entry_appended_past_the_service_is_detected(garrison):
    entries = record_some(garrison, 5)
    # No trigger to lift: inserting is allowed, the head is what catches it.
    forged_entry(6, prev_hash=entries[-1].entry_hash).save(force_insert=True)
    assert problems() == [
        (6, "nagłówek łańcucha nie obejmuje wpisu 6 (dopisane z pominięciem dziennika)")
    ]


def test_a_forged_entry_numbered_before_the_first_is_detected(garrison):
    record_some(garrison, 3)
    forged_entry(0, prev_hash=services.GENESIS_HASH).save(force_insert=True)
    assert problems() == [
        (0, "numer spoza kolejności łańcucha (wpis wstawiony)"),
        (1, "skrót poprzedniego wpisu nie zgadza się z łańcuchem"),
    ]


def test_entries_appended_while_verifying_are_not_reported_as_cut_off(garrison, monkeypatch):
    # A verify on a live system: an entry is appended after the walk read its
    # last batch and before it reads the head.
    record_some(garrison, 3)
    read_batch = services._entries_after
    appended: list[AuditEntry] = []

    def with_an_append_at_the_end(cursor, *, upto, limit):
        batch = read_batch(cursor, upto=upto, limit=limit)
        if not batch and not appended:
            appended.append(audit_record(actor=None, action=AuditAction.IMPORT))
        return batch

    monkeypatch.setattr(services, "_entries_after", with_an_append_at_the_end)
    verification = audit_verify(batch_size=2)
    assert list(verification) == []
    assert verification.checked == 4


def test_deleting_a_person_keeps_their_entries_and_the_chain_intact(garrison):
    person = Person.objects.create_user(username="odchodzacy", password=PASSWORD)
    entry = audit_record(actor=person, action=AuditAction.LOGIN, obj=person)
    person.delete()
    stored = AuditEntry.objects.get(pk=entry.pk)
    assert (stored.actor_id, stored.actor_username) == (entry.actor_id, "odchodzacy")
    assert problems() == []


# --- database triggers -------------------------------------------------------------------------


def test_every_immutability_trigger_is_installed():
    # On SQLite a migration that rebuilds one of these tables drops its
    # triggers silently; this catches it.
    assert EXPECTED_TRIGGERS[connection.vendor] <= installed_triggers()


def test_the_triggers_refuse_update_and_delete_of_audit_entries(garrison):
    entry = record_some(garrison, 2)[0]
    assert "tylko dopisywanie" in refused(
        lambda: AuditEntry.objects.filter(pk=entry.pk).update(object_repr="x")
    )
    refused(lambda: AuditEntry.objects.filter(pk=entry.pk).delete())
    entry.object_repr = "przez model"
    refused(entry.save)

    def raw_update() -> None:
        with connection.cursor() as cursor:
            cursor.execute("UPDATE audit_auditentry SET unit_id = 1")

    def raw_delete() -> None:
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM audit_auditentry")

    refused(raw_update)
    refused(raw_delete)
    assert AuditEntry.objects.count() == 2
    assert problems() == []


def test_the_triggers_refuse_update_and_delete_of_the_case_record(garrison):
    line = make_case_record_entry(garrison)
    assert "tylko dopisywanie" in refused(
        lambda: CaseRecordEntry.objects.filter(pk=line.pk).update(description="dopisek")
    )
    refused(lambda: CaseRecordEntry.objects.filter(pk=line.pk).delete())
    assert CaseRecordEntry.objects.get(pk=line.pk).description == ""


def test_tampering_lifts_the_triggers_for_one_block_only(garrison):
    # The case record line has foreign keys whose checks are still pending in
    # this transaction; lifting the triggers must cope with that on PostgreSQL.
    line = make_case_record_entry(garrison)
    with audit_immutability_suspended():
        CaseRecordEntry.objects.filter(pk=line.pk).update(description="podrobione")
    assert CaseRecordEntry.objects.get(pk=line.pk).description == "podrobione"
    refused(lambda: CaseRecordEntry.objects.filter(pk=line.pk).delete())
    assert EXPECTED_TRIGGERS[connection.vendor] <= installed_triggers()


def test_the_head_only_moves_forward_one_entry_at_a_time(garrison):
    record_some(garrison, 3)
    refused(lambda: AuditHead.objects.update(last_seq=1))
    refused(lambda: AuditHead.objects.update(last_seq=3, last_hash="f" * 64))
    refused(lambda: AuditHead.objects.all().delete())
    record_some(garrison, 1)  # the service's own step forward is allowed
    assert AuditHead.objects.get().last_seq == 4


def test_emptying_a_protected_table_at_once_is_refused(garrison):
    """PostgreSQL's TRUNCATE skips row triggers, so it has its own; SQLite has no
    TRUNCATE, and its whole-table DELETE shortcut is off while triggers exist."""
    make_case_record_entry(garrison)
    record_some(garrison, 1)
    for table in ("audit_auditentry", "audit_audithead", "cases_caserecordentry"):

        def truncate(table: str = table) -> None:
            with connection.cursor() as cursor:
                if connection.vendor == "postgresql":
                    # Run the deferred foreign-key checks of this test's inserts
                    # first; PostgreSQL will not truncate with them pending.
                    cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
                    cursor.execute(f"TRUNCATE {table} CASCADE")
                else:
                    cursor.execute(f"DELETE FROM {table}")

        # Refused by a trigger (the head has its own, "moves only forward" one).
        assert "tylko" in refused(truncate)


@pytest.mark.django_db(transaction=True)
def test_flush_empties_the_protected_tables_and_restores_the_triggers():
    g = make_garrison()
    make_case_record_entry(g)
    record_some(g, 2)
    call_command("flush", interactive=False, verbosity=0)
    assert AuditEntry.objects.count() == CaseRecordEntry.objects.count() == 0
    assert AuditHead.objects.count() == 0
    assert EXPECTED_TRIGGERS[connection.vendor] <= installed_triggers()
    entry = audit_record(actor=None, action=AuditAction.IMPORT)
    refused(lambda: AuditEntry.objects.filter(pk=entry.pk).delete())


# --- concurrency -------------------------------------------------------------------------------


@pytest.mark.concurrency
@pytest.mark.django_db(transaction=True)
def test_concurrent_appends_from_four_threads_make_a_gapless_valid_chain():
    threads_count, per_thread = 4, 15
    barrier = threading.Barrier(threads_count)
    errors: list[BaseException] = []

    def append(number: int) -> None:
        try:
            barrier.wait()
            for item in range(per_thread):
                audit_record(
                    actor=None,
                    action=AuditAction.IMPORT,
                    object_type="test.watek",
                    object_id=f"{number}-{item}",
                    details={"watek": number, "kolejny": item},
                )
        except BaseException as exc:  # reported below, in the main thread
            errors.append(exc)
        finally:
            # Each thread has its own connection; leave none open behind.
            connections.close_all()

    threads = [threading.Thread(target=append, args=(n,)) for n in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    total = threads_count * per_thread
    assert list(AuditEntry.objects.values_list("seq", flat=True)) == list(range(1, total + 1))
    assert AuditEntry.objects.values("object_id").distinct().count() == total
    assert AuditHead.objects.get().last_seq == total
    verification = audit_verify(batch_size=7)
    assert list(verification) == []
    assert verification.checked == total


# --- log-ins -----------------------------------------------------------------------------------


def test_a_login_and_a_logout_are_recorded(garrison):
    person = garrison.people["handler"]
    client = Client()
    assert client.login(username=person.username, password=PASSWORD)
    client.logout()
    login, logout = AuditEntry.objects.all()
    for entry, action in ((login, AuditAction.LOGIN), (logout, AuditAction.LOGOUT)):
        assert entry.action == action
        assert (entry.actor_id, entry.actor_username) == (person.pk, person.username)
        assert (entry.object_type, entry.object_id) == ("org.person", str(person.pk))
        assert entry.unit_id == garrison.kwp.pk
    assert problems() == []


def test_a_failed_login_records_the_username_tried_but_never_the_password(garrison):
    person = garrison.people["handler"]
    request = RequestFactory().post("/logowanie/", REMOTE_ADDR="203.0.113.66")
    secret = "Zle-haslo-Zebra-9876"
    assert authenticate(request=request, username=person.username, password=secret) is None
    entry = AuditEntry.objects.get()
    assert entry.action == AuditAction.LOGIN_FAILED
    assert entry.actor_id is None and entry.actor_username == ""
    assert entry.details == {"username": person.username}
    # The account tried, so its unit's auditors see the attempt.
    assert (entry.object_type, entry.object_id) == ("org.person", str(person.pk))
    assert entry.unit_id == garrison.kwp.pk
    assert entry.remote_addr == "203.0.113.66"
    everything = json.dumps(model_to_dict(entry), default=str, ensure_ascii=False)
    assert secret not in everything
    assert "****" not in everything  # not even Django's masked copy


def test_a_failed_login_with_an_unknown_username_belongs_to_no_unit():
    assert authenticate(username="nikt_taki", password="cokolwiek-123") is None
    entry = AuditEntry.objects.get()
    assert entry.details == {"username": "nikt_taki"}
    assert (entry.object_type, entry.unit_id) == ("", None)


# --- the `audit` command -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("count", "expected"),
    [
        (0, "OK: 0 wpisów, łańcuch nienaruszony"),
        (1, "OK: 1 wpis, łańcuch nienaruszony"),
        (3, "OK: 3 wpisy, łańcuch nienaruszony"),
        (5, "OK: 5 wpisów, łańcuch nienaruszony"),
    ],
)
def test_verify_reports_a_sound_chain(garrison, count, expected):
    record_some(garrison, count)
    out = io.StringIO()
    call_command("audit", "verify", stdout=out)
    assert out.getvalue() == expected + "\n"


def test_verify_lists_each_problem_with_its_seq_and_fails(garrison):
    record_some(garrison, 5)
    with audit_immutability_suspended():
        AuditEntry.objects.filter(seq=2).update(object_repr="zmienione")
        AuditEntry.objects.filter(seq=5).delete()
    out = io.StringIO()
    with pytest.raises(CommandError) as error:
        call_command("audit", "verify", "--batch-size", "2", stdout=out)
    assert error.value.returncode == 1
    assert str(error.value) == ("Łańcuch dziennika zdarzeń jest naruszony: 2 problemy w 4 wpisach.")
    assert out.getvalue().splitlines() == [
        "wpis #2: treść wpisu nie zgadza się z jego skrótem (zmieniona)",
        "wpis #5: brak wpisu 5 na końcu łańcucha (koniec odcięty)",
    ]


@pytest.mark.django_db(transaction=True)
def test_verify_exits_with_status_0_or_1_from_the_command_line():
    g = make_garrison()
    record_some(g, 3)
    sound = run_garnizon("audit", "verify")
    assert (sound.returncode, sound.stdout) == (0, "OK: 3 wpisy, łańcuch nienaruszony\n")

    with audit_immutability_suspended():
        AuditEntry.objects.filter(seq=2).update(details={"numer": 99})
    broken = run_garnizon("audit", "verify")
    assert broken.returncode == 1
    assert broken.stdout == "wpis #2: treść wpisu nie zgadza się z jego skrótem (zmieniona)\n"
    assert "Łańcuch dziennika zdarzeń jest naruszony: 1 problem w 3 wpisach." in broken.stderr


def test_show_last_prints_the_newest_entries_oldest_first(garrison):
    record_some(garrison, 4)
    out = io.StringIO()
    call_command("audit", "show", "--last", "3", stdout=out)
    text = out.getvalue()
    assert "#1 " not in text
    assert text.index("#2 ") < text.index("#3 ") < text.index("#4 ")
    # Entry 2 was done by the city command's clerk standing in for the head.
    assert "kto: clerk_kmp w zastępstwie head_kwp, jednostka: KMP-LU, adres: 192.0.2.7" in text
    assert "wyświetlenie org.person:" in text
    assert 'szczegóły: {"numer": 1, "uwaga": "zażółć gęślą jaźń"}' in text


def test_show_object_prints_the_entries_of_one_object(garrison):
    record_some(garrison, 6)
    clerk = garrison.people["kmp_clerk"]
    out = io.StringIO()
    call_command("audit", "show", "--object", f"org.person:{clerk.pk}", stdout=out)
    headers = [line for line in out.getvalue().splitlines() if line.startswith("#")]
    assert [line.split()[0] for line in headers] == ["#2", "#5"]
    assert all(f"„{clerk}”" in line for line in headers)


def test_show_says_so_when_there_is_nothing_and_rejects_a_bad_object():
    out = io.StringIO()
    call_command("audit", "show", "--object", "cases.case:1", stdout=out)
    assert out.getvalue() == "Brak wpisów.\n"
    with pytest.raises(CommandError, match="podaj TYP:ID"):
        call_command("audit", "show", "--object", "42")


# --- who sees what -----------------------------------------------------------------------------


@pytest.fixture
def entries_by_unit(garrison) -> dict[str, AuditEntry]:
    return {
        "kwp": audit_record(actor=None, action=AuditAction.VIEW, unit_id=garrison.kwp.pk),
        "kmp": audit_record(actor=None, action=AuditAction.VIEW, unit_id=garrison.kmp.pk),
        "none": audit_record(actor=None, action=AuditAction.LOGIN_FAILED),
    }


def visible(person: Person) -> set[int]:
    return set(audit_entries_visible_to(person).values_list("seq", flat=True))


def test_an_auditor_sees_the_entries_of_their_own_unit(garrison, entries_by_unit):
    assert visible(garrison.people["auditor"]) == {entries_by_unit["kwp"].seq}


def test_a_garrison_wide_auditor_sees_every_entry(garrison, entries_by_unit):
    Position.objects.filter(person=garrison.people["auditor"]).update(garrison_wide=True)
    assert visible(garrison.people["auditor"]) == {e.seq for e in entries_by_unit.values()}


@pytest.mark.parametrize(
    "role",
    ["clerk", "handler", "head", "commander", "archivist", "admin", "kmp_commander"],
)
def test_people_without_the_auditor_role_see_nothing(garrison, entries_by_unit, role):
    assert visible(garrison.people[role]) == set()


def test_a_substitute_sees_what_the_absent_auditor_sees(garrison, entries_by_unit):
    today = timezone.localdate()
    Substitution.objects.create(
        absent=garrison.people["auditor"],
        substitute=garrison.people["kmp_clerk"],
        date_from=today,
        date_to=today,
    )
    assert visible(garrison.people["kmp_clerk"]) == {entries_by_unit["kwp"].seq}


def test_an_auditor_whose_position_ended_sees_nothing(garrison, entries_by_unit):
    yesterday = timezone.localdate() - datetime.timedelta(days=1)
    Position.objects.filter(person=garrison.people["auditor"]).update(valid_to=yesterday)
    assert visible(garrison.people["auditor"]) == set()


def test_visibility_is_filtered_in_sql(garrison, entries_by_unit, django_assert_num_queries):
    auditor = garrison.people["auditor"]
    queryset = audit_entries_visible_to(auditor)
    assert isinstance(queryset, QuerySet)
    assert '"unit_id" IN' in str(queryset.query)
    with django_assert_num_queries(1):
        assert queryset.count() == 1
