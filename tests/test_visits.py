"""Visit booking: staff set-up, slots, the citizen's pages, e-mails, and no double booking."""

from __future__ import annotations

import datetime
import re
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.db import IntegrityError, connection, connections, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone, translation
from django_tasks_db.models import DBTaskResult

from garnizon.audit.models import AuditEntry
from garnizon.common.errors import AccessDenied, DomainError
from garnizon.common.models import RateCounter
from garnizon.common.ratelimit import rate_limit_hit
from garnizon.common.scheduler import JOBS, run_job
from garnizon.org.models import Unit
from garnizon.portal.visits import services
from garnizon.portal.visits.mail import booking_ics
from garnizon.portal.visits.models import (
    AppointmentKind,
    Booking,
    BookingStatus,
    ClosedDay,
    OpeningRule,
    Slot,
)
from garnizon.portal.visits.tasks import send_booking_mail
from tests.factories import PASSWORD, make_garrison
from tests.workers import run_db_worker_batch

START = "portal:portal_visits:start"


@pytest.fixture(autouse=True)
def _polish():
    with translation.override("pl"):
        yield


# --- builders ----------------------------------------------------------------------------------


def make_kind(unit, *, weekdays=range(7), capacity=1, **fields) -> AppointmentKind:
    kind = AppointmentKind.objects.create(
        unit=unit,
        name=fields.pop("name", "Przyjęcia w sprawie skarg i wniosków – Komendant"),
        place=fields.pop("place", "ul. Narutowicza 73, pokój 12"),
        duration_minutes=fields.pop("duration_minutes", 30),
        capacity=capacity,
        book_ahead_days=fields.pop("book_ahead_days", 14),
        # 48 h: the first free slot is never tomorrow, so no reminder is due yet
        # whatever the hour the test runs (they go out from 8:00 the day before).
        min_notice_hours=fields.pop("min_notice_hours", 48),
        **fields,
    )
    for weekday in weekdays:
        OpeningRule.objects.create(
            kind=kind, weekday=weekday, starts=datetime.time(9), ends=datetime.time(11)
        )
    return kind


def with_slots(kind: AppointmentKind) -> AppointmentKind:
    services.slots_generate(kind=kind)
    return kind


def first_free_slot(kind: AppointmentKind) -> Slot:
    day = services.available_days(kind)[0][0]
    return services.free_slots_on(kind, day)[0]


def book(slot: Slot, *, email: str = "jan@example.pl", token: str | None = None, **kw) -> Booking:
    return services.booking_create(
        slot_id=slot.pk,
        name=kw.pop("name", "Jan Kowalski"),
        email=email,
        phone=kw.pop("phone", ""),
        matter=kw.pop("matter", "Skarga na opieszałość"),
        client_token=token or f"tok-{email}-{slot.pk}",
        client_address=kw.pop("client_address", "198.51.100.7"),
        **kw,
    )


def step_url(slug: str) -> str:
    return reverse("portal:portal_visits:step", args=[slug])


def post_ok(client: Client, url: str, data: dict) -> str:
    response = client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:3000]
    return response["Location"]


def book_through_pages(client: Client, kind: AppointmentKind, **details) -> object:
    post_ok(client, step_url("jednostka"), {"unit": kind.unit_id})
    post_ok(client, step_url("rodzaj"), {"kind": kind.pk})
    day = details.pop("day", None) or services.available_days(kind)[0][0]
    post_ok(client, step_url("dzien"), {"day": day.isoformat()})
    slot = details.pop("slot", None) or services.free_slots_on(kind, day)[0]
    post_ok(client, step_url("godzina"), {"slot": slot.pk})
    post_ok(
        client,
        step_url("dane"),
        {
            "name": details.get("name", "Anna Nowak"),
            "email": details.get("email", "anna@example.pl"),
            "phone": details.get("phone", "81 535 20 00"),
            "matter": details.get("matter", "Skarga na zachowanie policjanta"),
        },
    )
    page = client.get(reverse("portal:portal_visits:check")).content.decode()
    form_token = re.search(r'name="form_token" value="([0-9a-f]+)"', page).group(1)
    return client.post(reverse("portal:portal_visits:check"), {"form_token": form_token})


def client_for(person) -> Client:
    client = Client()
    assert client.login(username=person.username, password=PASSWORD)
    return client


def queued_mail() -> list[DBTaskResult]:
    return list(
        DBTaskResult.objects.filter(task_path=send_booking_mail.module_path).order_by(
            "enqueued_at", "id"
        )
    )


def run_mail_tasks() -> list[str]:
    """What `db_worker` does with each queued visit e-mail task, in this process."""
    results = []
    for queued in queued_mail():
        queued.delete()
        results.append(send_booking_mail.call(*queued.args_kwargs["args"]))
    return results


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def relay_at(port: int, timeout: int = 10) -> dict:
    return {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {"host": "127.0.0.1", "port": port, "timeout": timeout},
        }
    }


@contextmanager
def hung_relay() -> Iterator[socket.socket]:
    """An SMTP relay that takes the connection and never answers (a slow or stuck server)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        listener.setblocking(False)
        yield listener


def connection_attempted(listener: socket.socket) -> bool:
    try:
        connection, _ = listener.accept()
    except BlockingIOError:
        return False
    connection.close()
    return True


# --- slots ---------------------------------------------------------------------------------------


def test_slots_follow_the_weekly_hours_and_skip_holidays_and_closed_days(garrison):
    kind = make_kind(garrison.kwp, book_ahead_days=7)
    later = datetime.date(timezone.localdate().year + 1, 12, 22)  # Tue 22.12 .. Tue 29.12
    ClosedDay.objects.create(unit=garrison.kwp, date=datetime.date(later.year, 12, 28))
    result = services.slots_generate(kind=kind, today=later)
    days = {}
    for slot in Slot.objects.filter(kind=kind):
        local = timezone.localtime(slot.starts_at)
        days.setdefault(local.date(), []).append(f"{local:%H:%M}")
    christmas = {datetime.date(later.year, 12, d) for d in (24, 25, 26)}  # holidays (from 2025)
    assert christmas.isdisjoint(days)
    assert datetime.date(later.year, 12, 28) not in days  # the closed day
    assert datetime.date(later.year, 12, 22) in days and datetime.date(later.year, 12, 27) in days
    assert all(times == ["09:00", "09:30", "10:00", "10:30"] for times in days.values())
    assert result["created"] == 4 * len(days) == 4 * 4
    slot = Slot.objects.filter(kind=kind).first()
    assert slot.ends_at - slot.starts_at == datetime.timedelta(minutes=30)
    assert slot.capacity == 1


def test_generating_again_adds_nothing_and_drops_free_slots_no_rule_allows(garrison):
    kind = with_slots(make_kind(garrison.kwp, weekdays=[0, 1, 2, 3, 4]))
    count = Slot.objects.filter(kind=kind).count()
    assert count > 0
    assert services.slots_generate(kind=kind)["created"] == 0
    assert Slot.objects.filter(kind=kind).count() == count
    # A booked Monday slot survives removing Monday's hours; the free ones go.
    monday = next(
        s for s in services.bookable_slots(kind) if timezone.localtime(s.starts_at).weekday() == 0
    )
    booking = book(monday)
    kind.rules.filter(weekday=0).delete()
    result = services.slots_generate(kind=kind)
    assert result["kept_booked"] == 1
    mondays = [
        s for s in Slot.objects.filter(kind=kind) if timezone.localtime(s.starts_at).weekday() == 0
    ]
    assert [s.pk for s in mondays] == [monday.pk]
    booking.refresh_from_db()
    assert booking.status == BookingStatus.BOOKED


def test_the_scheduler_runs_the_visit_jobs(garrison, smtp_server):
    kind = make_kind(garrison.kwp)
    jobs = {job.name: job for job in JOBS}
    assert {"visits.mail", "visits.slots"} <= set(jobs)
    result = run_job(jobs["visits.slots"], "test")
    assert result.outcome == "ok", result.message
    assert Slot.objects.filter(kind=kind).count() > 0
    assert run_job(jobs["visits.mail"], "test").outcome == "ok"


# --- staff ---------------------------------------------------------------------------------------


def staff_pages(g, kind, slot, booking, closed) -> dict[str, str]:
    return {
        "index": reverse("staff_visits:index"),
        "kind_new": reverse("staff_visits:kind_new", args=[kind.unit_id]),
        "kind": reverse("staff_visits:kind", args=[kind.pk]),
        "day": reverse("staff_visits:day", args=[kind.unit_id]),
        "slot_cancel": reverse("staff_visits:slot_cancel", args=[slot.pk]),
        "booking_cancel": reverse("staff_visits:booking_cancel", args=[booking.pk]),
    }


# Who runs the KWP's visits: its commander, heads of cell, registry clerks.
STAFF_MATRIX = {
    "commander": 200,
    "head": 200,
    "clerk": 200,
    "handler": 404,
    "archivist": 404,
    "admin": 404,
    "auditor": 404,
    "kmp_clerk": 404,
    "kmp_commander": 404,
}


@pytest.mark.parametrize("role", sorted(STAFF_MATRIX))
def test_staff_pages_are_for_the_units_commander_heads_and_clerks(garrison, role):
    kind = with_slots(make_kind(garrison.kwp))
    slot = first_free_slot(kind)
    booking = book(slot)
    closed = ClosedDay.objects.create(unit=garrison.kwp, date=timezone.localdate())
    client = client_for(garrison.people[role])
    expected = STAFF_MATRIX[role]
    for name, url in staff_pages(garrison, kind, slot, booking, closed).items():
        status = client.get(url).status_code
        if name == "index" and expected == 404:
            # Nobody's visits to run: forbidden (KMP staff see their own unit instead).
            assert status == (200 if role.startswith("kmp") else 403), (name, status)
        else:
            assert status == expected, (name, status)
    # POST-only actions are refused the same way.
    for url in (
        reverse("staff_visits:generate", args=[kind.pk]),
        reverse("staff_visits:closed_day_delete", args=[closed.pk]),
    ):
        assert client.post(url).status_code == (302 if expected == 200 else 404)
    assert Client().get(reverse("staff_visits:index")).status_code == 302  # log in first


def test_a_case_handler_may_not_set_up_visits(garrison):
    with pytest.raises(AccessDenied):
        services.kind_create(
            actor=garrison.people["handler"],
            unit=garrison.kwp,
            name="Odbiór zaświadczenia",
            place="pokój 1",
        )
    assert AppointmentKind.objects.count() == 0


def test_the_commander_sets_up_a_kind_through_the_pages_and_it_is_audited(garrison):
    client = client_for(garrison.people["commander"])
    response = client.post(
        reverse("staff_visits:kind_new", args=[garrison.kwp.pk]),
        {
            "name": "Odbiór zaświadczenia",
            "description": "",
            "place": "ul. Narutowicza 73, kancelaria, pokój 5",
            "duration_minutes": 15,
            "capacity": 2,
            "book_ahead_days": 21,
            "min_notice_hours": 24,
            "is_active": "on",
        },
    )
    kind = AppointmentKind.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse(
        "staff_visits:kind", args=[kind.pk]
    )
    rule_url = reverse("staff_visits:rule_add", args=[kind.pk])
    assert (
        client.post(rule_url, {"weekday": 2, "starts": "12:00", "ends": "14:00"}).status_code == 302
    )
    # Overlapping hours, and hours too short for one visit, are refused with a reason.
    overlap = client.post(rule_url, {"weekday": 2, "starts": "13:00", "ends": "15:00"})
    assert overlap.status_code == 400 and "nachodzą" in overlap.content.decode()
    short = client.post(rule_url, {"weekday": 3, "starts": "12:00", "ends": "12:10"})
    assert short.status_code == 400 and "nie zmieści się" in short.content.decode()
    assert client.post(reverse("staff_visits:generate", args=[kind.pk])).status_code == 302
    slots = Slot.objects.filter(kind=kind)
    assert slots.exists()
    assert {timezone.localtime(s.starts_at).weekday() for s in slots} == {2}
    assert {s.capacity for s in slots} == {2}
    entries = AuditEntry.objects.filter(actor=garrison.people["commander"])
    assert {(e.action, e.object_type) for e in entries} >= {
        ("create", "portal_visits.appointmentkind"),
        ("create", "portal_visits.openingrule"),
        ("update", "portal_visits.appointmentkind"),
    }
    assert all(e.unit_id == garrison.kwp.pk for e in entries if e.object_type.startswith("portal"))
    # A KMP clerk cannot even see the KWP's kind.
    assert (
        client_for(garrison.people["kmp_clerk"])
        .get(reverse("staff_visits:kind", args=[kind.pk]))
        .status_code
        == 404
    )


def test_the_days_list_shows_bookings_for_printing_and_the_viewing_is_audited(garrison):
    kind = with_slots(make_kind(garrison.kwp))
    slot = first_free_slot(kind)
    book(slot, name="Zofia Wiśniewska", phone="600 100 200", matter="Odbiór zaświadczenia")
    clerk = garrison.people["clerk"]
    day = timezone.localtime(slot.starts_at).date()
    page = client_for(clerk).get(
        reverse("staff_visits:day", args=[garrison.kwp.pk]), {"data": day.isoformat()}
    )
    body = page.content.decode()
    assert page.status_code == 200
    for text in ("Zofia Wiśniewska", "600 100 200", "Odbiór zaświadczenia", "@media print"):
        assert text in body
    entry = AuditEntry.objects.filter(actor=clerk, action="view").get()
    assert entry.object_type == "portal_visits.day" and entry.object_id == day.isoformat()


def test_staff_cancel_a_booking_and_the_citizen_is_emailed(
    garrison, smtp_server, django_capture_on_commit_callbacks
):
    kind = with_slots(make_kind(garrison.kwp))
    slot = first_free_slot(kind)
    with django_capture_on_commit_callbacks(execute=True):
        booking = book(slot, email="ola@example.pl")
    assert run_mail_tasks() == ["1 sent"]
    assert len(smtp_server) == 1  # the confirmation
    client = client_for(garrison.people["head"])
    url = reverse("staff_visits:booking_cancel", args=[booking.pk])
    assert client.post(url, {"reason": ""}).status_code == 400  # a reason is required
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, {"reason": "Komendant wezwany na odprawę"})
    assert response.status_code == 302
    assert len(smtp_server) == 1  # the request only queued the notice
    assert run_mail_tasks() == ["1 sent"]
    booking.refresh_from_db()
    assert booking.status == BookingStatus.CANCELLED_BY_UNIT
    notice = smtp_server[-1]
    assert notice.envelope_to == ["ola@example.pl"]
    assert "odwołana" in notice["Subject"].lower()
    assert "Komendant wezwany na odprawę" in notice.get_content()
    # The seat is free again for someone else.
    assert services.free_slots_on(kind, timezone.localtime(slot.starts_at).date())[0] == slot
    audit = AuditEntry.objects.get(object_type="portal_visits.booking", action="update")
    assert audit.actor == garrison.people["head"]


def test_cancelling_a_slot_or_closing_a_day_cancels_its_bookings(
    garrison, smtp_server, django_capture_on_commit_callbacks
):
    kind = with_slots(make_kind(garrison.kwp, capacity=2))
    slot = first_free_slot(kind)
    with django_capture_on_commit_callbacks(execute=True):
        first = book(slot, email="a@example.pl")
        second = book(slot, email="b@example.pl")
    commander = garrison.people["commander"]
    with django_capture_on_commit_callbacks(execute=True):
        assert services.slot_cancel(actor=commander, slot=slot, reason="Awaria") == 2
    run_mail_tasks()
    for booking in (first, second):
        booking.refresh_from_db()
        assert booking.status == BookingStatus.CANCELLED_BY_UNIT
    assert sorted(m.envelope_to[0] for m in smtp_server if "odwołana" in m["Subject"]) == [
        "a@example.pl",
        "b@example.pl",
    ]
    day = timezone.localtime(slot.starts_at).date()
    assert slot not in services.free_slots_on(kind, day)
    # Closing the next free day cancels its bookings too; reopening it brings the slots back.
    other = services.free_slots_on(kind, day)[0]
    with django_capture_on_commit_callbacks(execute=True):
        third = book(other, email="c@example.pl")
        closed, cancelled = services.closed_day_add(
            actor=commander, unit=garrison.kwp, date=day, reason="Remont"
        )
    assert cancelled == 1
    third.refresh_from_db()
    assert third.status == BookingStatus.CANCELLED_BY_UNIT and third.cancel_reason == "Remont"
    assert services.free_slots_on(kind, day) == []
    assert day not in dict(services.available_days(kind))
    services.closed_day_delete(actor=commander, closed=closed)
    assert other in services.free_slots_on(kind, day)
    assert slot not in services.free_slots_on(kind, day)  # cancelled on its own: stays so


# --- the citizen's pages -------------------------------------------------------------------------


def test_a_citizen_books_a_visit_and_gets_a_confirmation_with_a_calendar_file(
    garrison, smtp_server, django_capture_on_commit_callbacks
):
    kind = with_slots(make_kind(garrison.kmp, name="Odbiór zaświadczenia", place="pokój 5"))
    client = Client()
    start = client.get(reverse(START))
    assert start.status_code == 200 and "Rozpocznij" in start.content.decode()
    units = client.get(step_url("jednostka")).content.decode()
    assert f'<option value="{garrison.kmp.pk}">{garrison.kmp.name}</option>' in units
    assert f'<option value="{garrison.kwp.pk}">' not in units  # the KWP offers no visits
    with django_capture_on_commit_callbacks(execute=True):
        response = book_through_pages(client, kind)
    booking = Booking.objects.get()
    assert response.status_code == 302
    assert smtp_server == [] and run_mail_tasks() == ["1 sent"]
    assert response["Location"].startswith(reverse("portal:portal_visits:booking", args=["x"])[:-2])
    page = client.get(response["Location"]).content.decode()
    local = timezone.localtime(booking.slot.starts_at)
    for text in ("Wizyta zarezerwowana", local.strftime("%H:%M"), "pokój 5", garrison.kmp.name):
        assert text in page
    # Citizens never see staff names.
    for person in garrison.people.values():
        assert person.get_full_name() not in page
    # The token is only in the link: the database keeps its SHA-256.
    token = response["Location"].split("/")[-2]
    assert booking.token_sha256 != token and token not in str(booking.__dict__)
    # The e-mail: confirmation with the details, the link and the .ics attachment.
    (message,) = smtp_server
    assert message.envelope_to == ["anna@example.pl"]
    body = message.get_body(("plain",)).get_content()
    assert local.strftime("%d.%m.%Y") in body and "pokój 5" in body and token in body
    (attachment,) = list(message.iter_attachments())
    assert attachment.get_content_type() == "text/calendar"
    ics = attachment.get_content()
    if isinstance(ics, bytes):
        ics = ics.decode()
    assert (
        "DTSTART:" + booking.slot.starts_at.astimezone(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
        in ics
    )
    # The calendar file from the page too.
    download = client.get(reverse("portal:portal_visits:ics", args=[token]))
    assert download["Content-Type"].startswith("text/calendar")
    assert b"SUMMARY:Odbi\xc3\xb3r za\xc5\x9bwiadczenia" in download.content


def test_only_days_with_free_slots_are_offered(garrison):
    kind = with_slots(make_kind(garrison.kwp))
    day = services.available_days(kind)[0][0]
    for number, slot in enumerate(services.free_slots_on(kind, day)):
        book(slot, email=f"osoba{number}@example.pl")
    client = Client()
    post_ok(client, step_url("jednostka"), {"unit": garrison.kwp.pk})
    post_ok(client, step_url("rodzaj"), {"kind": kind.pk})
    page = client.get(step_url("dzien")).content.decode()
    assert f'value="{day.isoformat()}"' not in page
    next_day = services.available_days(kind)[0][0]
    assert f'value="{next_day.isoformat()}"' in page and "wolne terminy: 4" in page
    # A day posted anyway is refused with a reason.
    refused = client.post(step_url("dzien"), {"day": day.isoformat()})
    assert refused.status_code == 400 and "nie ma już wolnych terminów" in refused.content.decode()


def test_slots_inside_the_minimum_notice_or_past_the_horizon_are_not_bookable(garrison):
    kind = with_slots(make_kind(garrison.kwp, min_notice_hours=48, book_ahead_days=5))
    now = timezone.now()
    offered = list(services.bookable_slots(kind))
    assert offered and all(s.starts_at >= now + datetime.timedelta(hours=48) for s in offered)
    too_soon = Slot.objects.filter(kind=kind, starts_at__lt=now + datetime.timedelta(hours=48))
    too_soon = too_soon.filter(starts_at__gt=now).first()
    assert too_soon is not None
    with pytest.raises(DomainError) as refused:
        book(too_soon)
    assert refused.value.code == "slot_gone"
    assert max(timezone.localdate(s.starts_at) for s in offered) <= (
        timezone.localdate() + datetime.timedelta(days=5)
    )


def test_the_details_page_shows_an_error_summary(garrison):
    kind = with_slots(make_kind(garrison.kwp))
    client = Client()
    post_ok(client, step_url("jednostka"), {"unit": garrison.kwp.pk})
    post_ok(client, step_url("rodzaj"), {"kind": kind.pk})
    post_ok(client, step_url("dzien"), {"day": services.available_days(kind)[0][0].isoformat()})
    post_ok(client, step_url("godzina"), {"slot": first_free_slot(kind).pk})
    response = client.post(step_url("dane"), {"name": "", "email": "nie-email", "matter": ""})
    body = response.content.decode()
    assert response.status_code == 400
    assert 'class="p-error-summary"' in body and "autofocus" in body
    assert '<a href="#id_name">Podaj imię i nazwisko.</a>' in body
    assert "Podaj adres e-mail w poprawnym formacie" in body
    assert 'aria-invalid="true"' in body
    assert "<title>Błąd:" in body


def test_skipping_ahead_goes_back_to_the_first_unanswered_page(garrison):
    with_slots(make_kind(garrison.kwp))
    client = Client()
    response = client.get(step_url("godzina"))
    assert response.status_code == 302 and response["Location"] == step_url("jednostka")
    assert client.get(reverse("portal:portal_visits:check"))["Location"] == step_url("jednostka")


def test_each_page_reads_the_answers_once(garrison):
    kind = with_slots(make_kind(garrison.kwp))
    client = Client()
    post_ok(client, step_url("jednostka"), {"unit": kind.unit_id})
    post_ok(client, step_url("rodzaj"), {"kind": kind.pk})
    day = services.available_days(kind)[0][0]
    post_ok(client, step_url("dzien"), {"day": day.isoformat()})
    post_ok(client, step_url("godzina"), {"slot": services.free_slots_on(kind, day)[0].pk})

    def answer_reads(response_for) -> int:
        with CaptureQueriesContext(connection) as queries:
            response_for()
        unit_table = connection.ops.quote_name(Unit._meta.db_table)
        return sum(f"FROM {unit_table}" in q["sql"] for q in queries.captured_queries)

    # The details page, its refused answer and the check page: the chosen unit is read once.
    assert answer_reads(lambda: client.get(step_url("dane"))) == 1
    assert answer_reads(lambda: client.post(step_url("dane"), {"name": ""})) == 1
    post_ok(
        client,
        step_url("dane"),
        {"name": "Anna Nowak", "email": "anna@example.pl", "phone": "", "matter": "Skarga"},
    )
    assert answer_reads(lambda: client.get(reverse("portal:portal_visits:check"))) == 1


def test_a_resubmitted_form_creates_one_booking(garrison):
    kind = with_slots(make_kind(garrison.kwp))
    client = Client()
    first = book_through_pages(client, kind)
    page = first["Location"]
    # The same form sent again (back button, double click) leads to the same booking.
    token = Booking.objects.get().client_token
    again = client.post(reverse("portal:portal_visits:check"), {"form_token": token})
    assert again.status_code == 302 and again["Location"] == page
    assert Booking.objects.count() == 1


def test_the_honeypot_refuses_the_form(garrison):
    kind = with_slots(make_kind(garrison.kwp))
    client = Client()
    response = client.post(step_url("jednostka"), {"unit": kind.unit_id, "website": "spam"})
    assert response.status_code == 400
    response = client.post(reverse("portal:portal_visits:check"), {"website": "x"})
    assert response.status_code == 400 and Booking.objects.count() == 0


def test_a_slot_taken_meanwhile_sends_the_citizen_back_to_choose_a_time(garrison):
    kind = with_slots(make_kind(garrison.kwp))
    slot = first_free_slot(kind)
    client = Client()
    post_ok(client, step_url("jednostka"), {"unit": garrison.kwp.pk})
    post_ok(client, step_url("rodzaj"), {"kind": kind.pk})
    post_ok(client, step_url("dzien"), {"day": timezone.localdate(slot.starts_at).isoformat()})
    post_ok(client, step_url("godzina"), {"slot": slot.pk})
    post_ok(
        client,
        step_url("dane"),
        {"name": "Anna Nowak", "email": "anna@example.pl", "phone": "", "matter": "Sprawa"},
    )
    page = client.get(reverse("portal:portal_visits:check")).content.decode()
    form_token = re.search(r'name="form_token" value="([0-9a-f]+)"', page).group(1)
    book(slot, email="szybszy@example.pl")
    response = client.post(reverse("portal:portal_visits:check"), {"form_token": form_token})
    body = response.content.decode()
    assert response.status_code == 409
    assert "Ktoś właśnie zajął ten termin" in body and step_url("godzina") in body
    assert Booking.objects.count() == 1


def test_one_active_booking_per_email_and_kind(garrison):
    kind = with_slots(make_kind(garrison.kwp))
    slots = list(services.bookable_slots(kind)[:2])
    book(slots[0], email="Jan@Example.pl")
    with pytest.raises(DomainError) as refused:
        book(slots[1], email="jan@example.pl")
    assert refused.value.code == "already_booked"


def test_rate_limits_per_email_and_per_address(garrison, settings):
    settings.GARNIZON_VISITS_RATE_LIMIT_EMAIL = 2
    settings.GARNIZON_VISITS_RATE_LIMIT_ADDRESS = 3
    kinds = [with_slots(make_kind(garrison.kwp, name=f"Rodzaj {n}")) for n in range(5)]
    book(first_free_slot(kinds[0]), email="x@example.pl", client_address="203.0.113.1")
    book(first_free_slot(kinds[1]), email="x@example.pl", client_address="203.0.113.1")
    with pytest.raises(DomainError) as by_email:
        book(first_free_slot(kinds[2]), email="x@example.pl", client_address="203.0.113.9")
    assert by_email.value.code == "rate_limited" and by_email.value.field == "email"
    book(first_free_slot(kinds[2]), email="y@example.pl", client_address="203.0.113.1")
    with pytest.raises(DomainError) as by_address:
        book(first_free_slot(kinds[3]), email="z@example.pl", client_address="203.0.113.1")
    assert by_address.value.code == "rate_limited" and by_address.value.field is None
    assert Booking.objects.count() == 3


def test_the_rate_limits_use_the_shared_counters_and_only_bookings_made_count(garrison, settings):
    settings.GARNIZON_VISITS_RATE_LIMIT_EMAIL = 2
    settings.GARNIZON_VISITS_RATE_LIMIT_ADDRESS = 10
    window = settings.GARNIZON_VISITS_RATE_WINDOW = 3600
    kinds = [with_slots(make_kind(garrison.kwp, name=f"Rodzaj {n}")) for n in range(3)]
    # Another web process booked once for this address: the counter in the database says so.
    rate_limit_hit(services.RATE_EMAIL, "x@example.pl", limit=2, window_seconds=window)
    book(first_free_slot(kinds[0]), email="X@example.pl")
    with pytest.raises(DomainError) as refused:
        book(first_free_slot(kinds[1]), email="x@example.pl")
    assert refused.value.code == "rate_limited"
    # The e-mail address is kept only as a hash; a refusal adds nothing to the count.
    counters = {c.key.split(":")[0]: c.count for c in RateCounter.objects.all()}
    assert counters == {services.RATE_EMAIL: 2, services.RATE_ADDRESS: 1}
    assert not RateCounter.objects.filter(key__contains="example").exists()
    # A booking refused for another reason (the slot is full) costs nothing either.
    taken = first_free_slot(kinds[2])
    book(taken, email="y@example.pl")
    with pytest.raises(DomainError) as full:
        book(taken, email="z@example.pl")
    assert full.value.code == "slot_full"
    book(first_free_slot(kinds[2]), email="z@example.pl")
    assert RateCounter.objects.filter(key__startswith=services.RATE_EMAIL).count() == 3
    assert (
        RateCounter.objects.get(key__startswith=services.RATE_ADDRESS).count
        == Booking.objects.count()
        == 3
    )


def test_the_citizen_cancels_by_the_link_and_the_seat_is_free_again(garrison):
    kind = with_slots(make_kind(garrison.kwp))
    client = Client()
    page = book_through_pages(client, kind)["Location"].split("?")[0]
    token = page.rstrip("/").split("/")[-1]
    booking = Booking.objects.get()
    cancel_url = reverse("portal:portal_visits:cancel", args=[token])
    assert cancel_url in client.get(page).content.decode()
    confirm = client.get(cancel_url)
    assert confirm.status_code == 200 and "Czy na pewno odwołać wizytę?" in confirm.content.decode()
    assert client.post(cancel_url)["Location"] == page
    booking.refresh_from_db()
    assert booking.status == BookingStatus.CANCELLED_BY_CITIZEN
    assert "Wizyta odwołana" in client.get(page).content.decode()
    assert booking.slot in services.free_slots_on(kind, timezone.localdate(booking.slot.starts_at))
    # A wrong token finds nothing.
    unknown = client.get(reverse("portal:portal_visits:booking", args=["0" * 64]))
    assert unknown.status_code == 404 and "Nie znaleziono wizyty" in unknown.content.decode()
    assert client.post(reverse("portal:portal_visits:cancel", args=["0" * 64])).status_code == 404


# --- e-mail --------------------------------------------------------------------------------------


def test_a_reminder_goes_out_once_on_the_day_before(garrison, smtp_server):
    kind = with_slots(make_kind(garrison.kwp))
    slot = first_free_slot(kind)
    booking = book(slot)  # inside the test's transaction: nothing is sent yet
    services.mail_pending()
    assert [m["Subject"].split(":")[0] for m in smtp_server] == ["Potwierdzenie wizyty"]
    day_before = timezone.localtime(slot.starts_at) - datetime.timedelta(days=1)
    early = day_before.replace(hour=6, minute=0)
    services.mail_pending(now=early)  # before 8:00: too early to remind
    assert len(smtp_server) == 1
    services.mail_pending(now=day_before.replace(hour=8, minute=5))
    services.mail_pending(now=day_before.replace(hour=9, minute=5))
    assert len(smtp_server) == 2
    reminder = smtp_server[-1]
    assert reminder["Subject"].startswith("Przypomnienie: jutro wizyta")
    assert reminder.envelope_to == [booking.email]
    booking.refresh_from_db()
    assert booking.reminder_sent_at is not None


def test_a_failed_send_is_left_for_the_next_run(garrison, settings, smtp_server):
    working = settings.MAILERS
    settings.MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {"host": "127.0.0.1", "port": 9, "timeout": 2},
        }
    }
    kind = with_slots(make_kind(garrison.kwp))
    booking = book(first_free_slot(kind))
    assert services.mail_pending() == "0 sent, 1 failed"
    booking.refresh_from_db()
    assert booking.confirmation_sent_at is None
    settings.MAILERS = working
    assert services.mail_pending() == "1 sent, 0 failed"
    assert len(smtp_server) == 1


def test_a_booking_never_waits_for_the_relay_and_its_task_sends_the_confirmation(
    garrison, settings, smtp_server, django_capture_on_commit_callbacks
):
    working = settings.MAILERS
    kind = with_slots(make_kind(garrison.kwp))
    with hung_relay() as relay:
        settings.MAILERS = relay_at(relay.getsockname()[1], timeout=3)
        with django_capture_on_commit_callbacks(execute=True):
            response = book_through_pages(Client(), kind)
        assert response.status_code == 302  # booked
        # The request did not even open a connection to the relay: the e-mail is queued.
        assert not connection_attempted(relay)
    booking = Booking.objects.get()
    assert booking.confirmation_sent_at is None and smtp_server == []
    [task] = queued_mail()
    assert task.args_kwargs["args"] == [booking.pk, 1]
    # The worker sends it once the relay answers.
    settings.MAILERS = working
    assert run_mail_tasks() == ["1 sent"]
    [message] = smtp_server
    assert message.envelope_to == ["anna@example.pl"]
    assert message["Subject"].startswith("Potwierdzenie wizyty")
    booking.refresh_from_db()
    assert booking.confirmation_sent_at is not None
    # Sent once: the scheduler's safety net finds nothing left.
    assert services.mail_pending() == "0 sent, 0 failed"


def test_a_relay_outage_retries_the_task_later_and_the_scheduler_still_sends(
    garrison, settings, smtp_server
):
    working = settings.MAILERS
    settings.MAILERS = relay_at(closed_port())
    kind = with_slots(make_kind(garrison.kwp))
    booking = book(first_free_slot(kind))
    [first] = queued_mail()
    first.delete()
    before = timezone.now()
    with pytest.raises(OSError):
        send_booking_mail.call(booking.pk, 1)
    booking.refresh_from_db()
    assert booking.confirmation_sent_at is None  # released for the next try
    [retry] = queued_mail()
    assert retry.args_kwargs["args"] == [booking.pk, 2]
    assert retry.run_after >= before + services.MAIL_RETRY_DELAYS[0]
    # After the last attempt no task is queued again: the scheduler's job goes on trying.
    retry.delete()
    last = len(services.MAIL_RETRY_DELAYS) + 1
    with pytest.raises(OSError):
        send_booking_mail.call(booking.pk, last)
    assert queued_mail() == []
    settings.MAILERS = working
    assert run_job({job.name: job for job in JOBS}["visits.mail"], "test").outcome == "ok"
    assert [m.envelope_to for m in smtp_server] == [[booking.email]]
    # A task still in the queue then sends nothing twice.
    assert send_booking_mail.call(booking.pk, 2) == "0 sent"
    assert len(smtp_server) == 1


def test_mail_is_queued_only_for_bookings_and_cancellations_that_commit(garrison, settings):
    kind = with_slots(make_kind(garrison.kwp))
    slot = first_free_slot(kind)
    booking = book(slot)
    with pytest.raises(DomainError):
        book(slot, email="drugi@example.pl")  # the slot is full: rolled back
    assert [t.args_kwargs["args"] for t in queued_mail()] == [[booking.pk, 1]]
    services.booking_cancel_by_staff(
        actor=garrison.people["commander"], booking=booking, reason="Awaria"
    )
    assert [t.args_kwargs["args"] for t in queued_mail()] == [[booking.pk, 1]] * 2
    # With immediate sending off, only the scheduler sends.
    settings.GARNIZON_VISITS_SEND_IMMEDIATELY = 0
    book(first_free_slot(kind), email="trzeci@example.pl")
    assert len(queued_mail()) == 2


@pytest.mark.django_db(transaction=True)
def test_a_real_db_worker_sends_the_confirmation(smtp_server, settings):
    g = make_garrison()
    kind = with_slots(make_kind(g.kwp))
    booking = book(first_free_slot(kind), email="ewa@example.pl")
    assert len(queued_mail()) == 1 and smtp_server == []
    result = run_db_worker_batch(
        GARNIZON_SMTP_HOST="127.0.0.1",
        GARNIZON_SMTP_PORT=str(settings.MAILERS["default"]["OPTIONS"]["port"]),
    )
    assert result.returncode == 0, result.stderr
    [message] = smtp_server
    assert message.envelope_to == ["ewa@example.pl"]
    body = message.get_body(("plain",)).get_content()
    assert services.manage_token_for(booking.client_token) in body
    assert DBTaskResult.objects.get().status == "SUCCESSFUL"


def test_emails_are_in_the_language_of_the_booking(garrison, smtp_server):
    kind = with_slots(make_kind(garrison.kwp))
    book(first_free_slot(kind), language="uk", email="olena@example.pl")
    book(first_free_slot(kind), language="pl", email="jan@example.pl")
    services.mail_pending()
    bodies = {m.envelope_to[0]: m.get_body(("plain",)).get_content() for m in smtp_server}
    # "Jednostka" (unit) is already in the portal's catalogues.
    assert "\nПідрозділ: " in bodies["olena@example.pl"]
    assert "\nJednostka: " in bodies["jan@example.pl"]


def test_the_calendar_file_is_valid_icalendar(garrison):
    kind = with_slots(
        make_kind(garrison.kwp, name="Przyjęcia; skargi, wnioski – Komendant Wojewódzki Policji")
    )
    booking = book(first_free_slot(kind), matter="Długi opis sprawy " * 10)
    text = booking_ics(booking)
    lines = text.split("\r\n")
    assert lines[0] == "BEGIN:VCALENDAR" and lines[-2] == "END:VCALENDAR" and lines[-1] == ""
    assert all(len(line.encode()) <= 75 for line in lines)
    unfolded = text.replace("\r\n ", "")
    assert "SUMMARY:Przyjęcia\\; skargi\\, wnioski – Komendant Wojewódzki Policji" in unfolded
    assert "STATUS:CONFIRMED" in unfolded


# --- no double booking ------------------------------------------------------------------------


def test_the_database_refuses_a_second_active_booking_on_a_seat(garrison):
    kind = with_slots(make_kind(garrison.kwp))
    slot = first_free_slot(kind)
    first = book(slot)
    fields = {
        "slot": slot,
        "seat": first.seat,
        "name": "X",
        "email": "x@example.pl",
        "matter": "x",
    }
    with pytest.raises(IntegrityError), transaction.atomic():
        Booking.objects.create(client_token="b", token_sha256="b", **fields)
    # A cancelled booking frees its seat for a new one.
    Booking.objects.filter(pk=first.pk).update(status=BookingStatus.CANCELLED_BY_CITIZEN)
    Booking.objects.create(client_token="c", token_sha256="c", **fields)
    with pytest.raises(DomainError) as full:
        book(slot, email="y@example.pl")
    assert full.value.code == "slot_full"


@pytest.mark.concurrency
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("capacity", [1, 2])
def test_racing_requests_never_exceed_a_slots_capacity(settings, capacity):
    settings.GARNIZON_VISITS_SEND_IMMEDIATELY = 0
    g = make_garrison()
    kind = with_slots(make_kind(g.kwp, capacity=capacity))
    slot = first_free_slot(kind)
    threads_count = 6
    barrier = threading.Barrier(threads_count)
    booked: list[int] = []
    refused: list[str] = []
    errors: list[BaseException] = []

    def attempt(number: int) -> None:
        try:
            barrier.wait()
            booking = book(slot, email=f"osoba{number}@example.pl", token=f"race-{number}")
            booked.append(booking.seat)
        except DomainError as problem:
            refused.append(problem.code)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(booked) == list(range(1, capacity + 1))
    assert refused == ["slot_full"] * (threads_count - capacity)
    assert Booking.objects.filter(slot=slot, status=BookingStatus.BOOKED).count() == capacity


@pytest.mark.concurrency
@pytest.mark.django_db(transaction=True)
def test_a_double_click_racing_itself_makes_one_booking(settings):
    settings.GARNIZON_VISITS_SEND_IMMEDIATELY = 0
    g = make_garrison()
    kind = with_slots(make_kind(g.kwp, capacity=3))
    slot = first_free_slot(kind)
    barrier = threading.Barrier(4)
    seats: list[int] = []
    errors: list[BaseException] = []

    def press() -> None:
        try:
            barrier.wait()
            seats.append(book(slot, token="same-form").pk)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=press) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(set(seats)) == 1 and Booking.objects.count() == 1


def test_the_demo_command_gives_every_unit_sample_kinds_once(garrison):
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("visits_demo", stdout=out)
    assert AppointmentKind.objects.filter(unit=garrison.kmp).count() == 2
    assert Slot.objects.exists() and "new slots" in out.getvalue()
    call_command("visits_demo", stdout=out)
    assert out.getvalue().strip().endswith("visits: 0 new slots")
    assert AppointmentKind.objects.count() == 4


def test_a_substitute_runs_visits_on_behalf_of_the_absent_commander(garrison):
    from garnizon.org.models import Substitution

    handler, commander = garrison.people["handler"], garrison.people["commander"]
    today = timezone.localdate()
    with pytest.raises(AccessDenied):
        services.kind_create(actor=handler, unit=garrison.kwp, name="Wizyta", place="pokój 1")
    Substitution.objects.create(
        absent=commander, substitute=handler, date_from=today, date_to=today
    )
    kind = services.kind_create(actor=handler, unit=garrison.kwp, name="Wizyta", place="pokój 1")
    entry = AuditEntry.objects.get(object_type="portal_visits.appointmentkind")
    assert (entry.actor_username, entry.on_behalf_of_username) == (
        handler.username,
        commander.username,
    )
    assert client_for(handler).get(reverse("staff_visits:kind", args=[kind.pk])).status_code == 200
