"""Visit booking operations: staff set up what a unit offers, citizens book and cancel.

Staff operations take the acting person, check their role in the unit through
`Scope`, own their transaction and write the audit trail. Citizen operations
take no person (the portal has no login) and are limited by the form token,
the rate limits and the database constraint on seats.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import logging
import smtplib
from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, F, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from garnizon.audit.services import audit_record
from garnizon.cases.holidays import holiday_name
from garnizon.common.errors import AccessDenied, DomainError, NotVisible
from garnizon.common.ratelimit import rate_limit_hit
from garnizon.org.access import Scope, acting_on_behalf
from garnizon.org.models import Person, Role, Unit
from garnizon.portal.visits import conf
from garnizon.portal.visits.models import (
    AppointmentKind,
    Booking,
    BookingStatus,
    ClosedDay,
    OpeningRule,
    Slot,
)

log = logging.getLogger(__name__)

# Names of the booking rate limits' counters (`garnizon.common.ratelimit`).
RATE_EMAIL = "visits.booking.email"
RATE_ADDRESS = "visits.booking.address"

# Who runs a unit's visits: its commander, a head of cell, its registry clerks.
VISIT_MANAGER_ROLES = {Role.UNIT_COMMANDER, Role.CELL_HEAD, Role.REGISTRY_CLERK}

KIND_FIELDS = (
    "name",
    "description",
    "duration_minutes",
    "place",
    "capacity",
    "book_ahead_days",
    "min_notice_hours",
    "is_active",
)


# --- staff: permissions -------------------------------------------------------------------


def can_manage(scope: Scope, unit_id: int) -> bool:
    return any(
        g.position.role in VISIT_MANAGER_ROLES
        and (g.position.cell.unit_id == unit_id or g.position.garrison_wide)
        for g in scope.grants
    )


def managed_unit_ids(scope: Scope) -> set[int] | None:
    """Units whose visits this person runs; None means every unit (garrison-wide role)."""
    grants = [g for g in scope.grants if g.position.role in VISIT_MANAGER_ROLES]
    if any(g.position.garrison_wide for g in grants):
        return None
    return {g.position.cell.unit_id for g in grants}


def managed_units(scope: Scope) -> QuerySet[Unit]:
    """The active units whose visits this person runs (the staff pages and the menu)."""
    ids = managed_unit_ids(scope)
    units = Unit.objects.filter(is_active=True).order_by("id")
    return units if ids is None else units.filter(pk__in=ids)


def check_manage(actor: Person, unit_id: int) -> Person | None:
    """Refuse unless `actor` runs visits in the unit; return whom they act for, if anyone."""
    scope = Scope.for_person(actor)
    if not can_manage(scope, unit_id):
        raise AccessDenied(
            _(
                "Wizytami jednostki zarządza jej komendant, kierownik komórki albo pracownik "
                "kancelarii tej jednostki."
            )
        )
    return acting_on_behalf(scope, lambda s: can_manage(s, unit_id))


# --- staff: appointment kinds and hours ------------------------------------------------------


def kind_create(*, actor: Person, unit: Unit, **fields: Any) -> AppointmentKind:
    on_behalf = check_manage(actor, unit.pk)
    data = _kind_data(fields)
    with transaction.atomic():
        kind = AppointmentKind.objects.create(unit=unit, **data)
        audit_record(
            actor=actor,
            action="create",
            obj=kind,
            on_behalf_of=on_behalf,
            details={k: str(v) for k, v in data.items()},
        )
    return kind


def kind_update(*, actor: Person, kind: AppointmentKind, **fields: Any) -> AppointmentKind:
    """Change a kind; the duration and capacity apply to slots generated from now on."""
    on_behalf = check_manage(actor, kind.unit_id)
    data = _kind_data(fields)
    with transaction.atomic():
        kind = AppointmentKind.objects.select_for_update().get(pk=kind.pk)
        changed = {
            name: [str(getattr(kind, name)), str(value)]
            for name, value in data.items()
            if getattr(kind, name) != value
        }
        for name, value in data.items():
            setattr(kind, name, value)
        kind.save()
        audit_record(
            actor=actor, action="update", obj=kind, on_behalf_of=on_behalf, details=changed
        )
    return kind


def rule_add(
    *,
    actor: Person,
    kind: AppointmentKind,
    weekday: int,
    starts: datetime.time,
    ends: datetime.time,
) -> OpeningRule:
    on_behalf = check_manage(actor, kind.unit_id)
    if not 0 <= weekday <= 6:
        raise DomainError(_("Wybierz dzień tygodnia."), field="weekday")
    if ends <= starts:
        raise DomainError(_("Godzina końca musi być późniejsza niż początku."), field="ends")
    length = _minutes(ends) - _minutes(starts)
    if length < kind.duration_minutes:
        raise DomainError(
            _("W tych godzinach nie zmieści się ani jedna wizyta trwająca %(n)s min.")
            % {"n": kind.duration_minutes},
            field="ends",
        )
    overlapping = kind.rules.filter(weekday=weekday, starts__lt=ends, ends__gt=starts).exists()
    if overlapping:
        raise DomainError(
            _("Te godziny nachodzą na inne godziny przyjęć w tym dniu tygodnia."), field="starts"
        )
    with transaction.atomic():
        rule = OpeningRule.objects.create(kind=kind, weekday=weekday, starts=starts, ends=ends)
        audit_record(
            actor=actor,
            action="create",
            obj=rule,
            unit_id=kind.unit_id,
            on_behalf_of=on_behalf,
            details={"kind": kind.pk, "weekday": weekday, "from": str(starts), "to": str(ends)},
        )
    return rule


def rule_delete(*, actor: Person, rule: OpeningRule) -> None:
    """Remove weekly hours; free future slots they made go at the next generation."""
    on_behalf = check_manage(actor, rule.kind.unit_id)
    with transaction.atomic():
        audit_record(
            actor=actor,
            action="delete",
            obj=rule,
            unit_id=rule.kind.unit_id,
            on_behalf_of=on_behalf,
            details={"kind": rule.kind_id, "weekday": rule.weekday},
        )
        rule.delete()


def closed_day_add(
    *,
    actor: Person,
    unit: Unit,
    date: datetime.date,
    kind: AppointmentKind | None = None,
    reason: str = "",
) -> tuple[ClosedDay, int]:
    """Close a day; its slots are cancelled and their bookers e-mailed. Returns (day, bookings)."""
    on_behalf = check_manage(actor, unit.pk)
    if kind is not None and kind.unit_id != unit.pk:
        raise DomainError(_("Ten rodzaj wizyty należy do innej jednostki."), field="kind")
    if date < timezone.localdate():
        raise DomainError(_("Nie można zamknąć dnia, który już minął."), field="date")
    with transaction.atomic():
        closed = ClosedDay.objects.create(unit=unit, kind=kind, date=date, reason=reason)
        audit_record(
            actor=actor,
            action="create",
            obj=closed,
            on_behalf_of=on_behalf,
            details={"date": date.isoformat(), "kind": kind.pk if kind else None},
        )
        slots = Slot.objects.filter(kind__unit=unit, is_cancelled=False)
        if kind is not None:
            slots = slots.filter(kind=kind)
        start, end = _day_bounds(date)
        cancelled = 0
        for slot in slots.filter(starts_at__gte=start, starts_at__lt=end):
            cancelled += _slot_cancel(
                slot,
                reason or _("dzień bez przyjęć"),
                actor=actor,
                on_behalf=on_behalf,
                closing_day=True,
            )
    return closed, cancelled


def closed_day_delete(*, actor: Person, closed: ClosedDay) -> None:
    """Open the day again; its slots come back at the next generation if still free."""
    on_behalf = check_manage(actor, closed.unit_id)
    with transaction.atomic():
        audit_record(
            actor=actor,
            action="delete",
            obj=closed,
            on_behalf_of=on_behalf,
            details={"date": closed.date.isoformat()},
        )
        start, end = _day_bounds(closed.date)
        reopened = Slot.objects.filter(
            kind__unit_id=closed.unit_id,
            starts_at__gte=start,
            starts_at__lt=end,
            is_cancelled=True,
            cancel_reason__startswith=CLOSED_DAY_MARK,
        )
        if closed.kind_id is not None:
            reopened = reopened.filter(kind_id=closed.kind_id)
        reopened.update(is_cancelled=False, cancel_reason="")
        closed.delete()


# --- slots ---------------------------------------------------------------------------------

# Slots cancelled because their day was closed carry this mark, so reopening the day
# brings them back; slots cancelled one by one stay cancelled.
CLOSED_DAY_MARK = "[dzień bez przyjęć] "


def slots_generate(
    *, kind: AppointmentKind, actor: Person | None = None, today: datetime.date | None = None
) -> dict[str, int]:
    """Make the kind's slots match its hours from `today` to the booking horizon.

    Missing slots are created; future free slots that no rule, or a holiday or
    closed day, no longer allows are removed (or cancelled when they were ever
    booked). Booked slots are never touched: staff cancel them explicitly.
    Safe to run again and at the same time: (kind, start) is unique.
    """
    on_behalf = check_manage(actor, kind.unit_id) if actor is not None else None
    today = today or timezone.localdate()
    wanted = set(_wanted_starts(kind, today))
    now = timezone.now()
    with transaction.atomic():
        existing = {
            slot.starts_at: slot
            for slot in Slot.objects.filter(
                kind=kind, starts_at__gte=max(now, _day_bounds(today)[0])
            )
        }
        new = [
            Slot(
                kind=kind,
                starts_at=start,
                ends_at=start + datetime.timedelta(minutes=kind.duration_minutes),
                capacity=kind.capacity,
            )
            for start in sorted(wanted - set(existing))
            if start > now
        ]
        Slot.objects.bulk_create(new, ignore_conflicts=True)
        stale = [slot.pk for start, slot in existing.items() if start not in wanted]
        booked_ever = set(
            Booking.objects.filter(slot_id__in=stale).values_list("slot_id", flat=True)
        )
        active = set(
            Booking.objects.filter(slot_id__in=stale, status=BookingStatus.BOOKED).values_list(
                "slot_id", flat=True
            )
        )
        removed = Slot.objects.filter(pk__in=set(stale) - booked_ever).delete()[0]
        withdrawn = (
            Slot.objects.filter(pk__in=booked_ever - active, is_cancelled=False).update(
                is_cancelled=True, cancel_reason=_("zmiana godzin przyjęć")
            )
            if booked_ever - active
            else 0
        )
        result = {"created": len(new), "removed": removed + withdrawn, "kept_booked": len(active)}
        if actor is not None:
            audit_record(
                actor=actor,
                action="update",
                obj=kind,
                on_behalf_of=on_behalf,
                details={"slots": result},
            )
    return result


def slots_generate_all(today: datetime.date | None = None) -> str:
    """The scheduler's daily job: extend every active kind's slots to its horizon."""
    created = 0
    for kind in AppointmentKind.objects.filter(is_active=True, unit__is_active=True):
        created += slots_generate(kind=kind, today=today)["created"]
    return f"{created} new slots"


def slot_cancel(*, actor: Person, slot: Slot, reason: str) -> int:
    """Cancel one slot and its bookings (their bookers are e-mailed); returns how many."""
    on_behalf = check_manage(actor, slot.kind.unit_id)
    if not reason.strip():
        raise DomainError(_("Podaj powód odwołania: dostanie go interesant."), field="reason")
    with transaction.atomic():
        count = _slot_cancel(slot, reason.strip(), actor=actor, on_behalf=on_behalf)
    return count


def booking_cancel_by_staff(*, actor: Person, booking: Booking, reason: str) -> Booking:
    on_behalf = check_manage(actor, booking.slot.kind.unit_id)
    if not reason.strip():
        raise DomainError(_("Podaj powód odwołania: dostanie go interesant."), field="reason")
    with transaction.atomic():
        booking = Booking.objects.select_for_update().get(pk=booking.pk)
        if booking.status != BookingStatus.BOOKED:
            raise DomainError(_("Ta wizyta jest już odwołana."))
        _cancel(booking, BookingStatus.CANCELLED_BY_UNIT, reason.strip())
        _queue_mail(booking.pk)
        audit_record(
            actor=actor,
            action="update",
            obj=booking,
            unit_id=booking.slot.kind.unit_id,
            on_behalf_of=on_behalf,
            details={"status": booking.status, "reason": booking.cancel_reason},
        )
    return booking


def day_schedule(*, actor: Person, unit: Unit, day: datetime.date) -> list[Slot]:
    """The day's slots of the unit with their bookings, for staff; the viewing is audited."""
    on_behalf = check_manage(actor, unit.pk)
    start, end = _day_bounds(day)
    slots = list(
        Slot.objects.filter(kind__unit=unit, starts_at__gte=start, starts_at__lt=end)
        .select_related("kind")
        .order_by("starts_at", "kind__name")
    )
    bookings: dict[int, list[Booking]] = {}
    for booking in Booking.objects.filter(slot__in=slots).order_by("seat", "id"):
        bookings.setdefault(booking.slot_id, []).append(booking)
    for slot in slots:
        slot.booking_list = bookings.get(slot.pk, [])  # type: ignore[attr-defined]
        slot.booked = sum(b.is_active for b in slot.booking_list)  # type: ignore[attr-defined]
    audit_record(
        actor=actor,
        action="view",
        object_type="portal_visits.day",
        object_id=day.isoformat(),
        object_repr=f"{unit.symbol} {day:%d.%m.%Y}",
        unit_id=unit.pk,
        on_behalf_of=on_behalf,
        details={"bookings": sum(len(v) for v in bookings.values())},
    )
    return slots


# --- citizens: finding a time ------------------------------------------------------------------


def bookable_slots(kind: AppointmentKind, *, now: datetime.datetime | None = None):
    """Slots of `kind` a citizen may still book, with `free` seats annotated (> 0)."""
    now = now or timezone.now()
    earliest = now + datetime.timedelta(hours=kind.min_notice_hours)
    horizon = _day_bounds(timezone.localdate(now) + datetime.timedelta(days=kind.book_ahead_days))
    return (
        Slot.objects.filter(
            kind=kind,
            kind__is_active=True,
            kind__unit__is_active=True,
            is_cancelled=False,
            starts_at__gte=earliest,
            starts_at__lt=horizon[1],
        )
        .annotate(taken=Count("bookings", filter=Q(bookings__status=BookingStatus.BOOKED)))
        .filter(taken__lt=F("capacity"))
        .order_by("starts_at")
    )


def available_days(
    kind: AppointmentKind, *, now: datetime.datetime | None = None
) -> list[tuple[datetime.date, int]]:
    """Days with at least one free slot, and how many free slots each has."""
    days: dict[datetime.date, int] = {}
    for starts_at in bookable_slots(kind, now=now).values_list("starts_at", flat=True):
        day = timezone.localdate(starts_at)
        days[day] = days.get(day, 0) + 1
    return sorted(days.items())


def free_slots_on(
    kind: AppointmentKind, day: datetime.date, *, now: datetime.datetime | None = None
) -> list[Slot]:
    start, end = _day_bounds(day)
    return list(bookable_slots(kind, now=now).filter(starts_at__gte=start, starts_at__lt=end))


# --- citizens: booking and cancelling ----------------------------------------------------------


def manage_token_for(client_token: str) -> str:
    """The secret of a booking's own page (and cancel link): an HMAC of its form token.

    Derived, not stored, so a resubmitted form leads to the same page and the
    e-mails can carry the link; the database holds only its SHA-256.
    """
    return hmac.new(
        settings.SECRET_KEY.encode(), f"visits-manage:{client_token}".encode(), hashlib.sha256
    ).hexdigest()


def token_sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def booking_for_token(token: str) -> Booking | None:
    if not token or len(token) > 128:
        return None
    return (
        Booking.objects.filter(token_sha256=token_sha256(token))
        .select_related("slot", "slot__kind", "slot__kind__unit")
        .first()
    )


def booking_create(
    *,
    slot_id: int,
    name: str,
    email: str,
    phone: str,
    matter: str,
    client_token: str,
    language: str = "pl",
    client_address: str | None = None,
    now: datetime.datetime | None = None,
) -> Booking:
    """Book a seat on a slot, or refuse with a reason the citizen can act on.

    The same `client_token` again returns the first booking. The seat is
    chosen inside the transaction with the slot row locked (PostgreSQL; SQLite
    serialises writers at BEGIN IMMEDIATE), and (slot, seat) is unique among
    active bookings, so the capacity holds even against a racing request.
    The rate limits count in the same transaction, so a refused booking costs
    the citizen nothing; the confirmation e-mail is queued there too (a
    background task sends it: the citizen's page never waits for the relay).
    """
    existing = Booking.objects.filter(client_token=client_token).first()
    if existing is not None:
        return existing
    now = now or timezone.now()
    email = email.strip().lower()
    try:
        with transaction.atomic():
            slot = (
                Slot.objects.select_for_update(of=("self",))
                .select_related("kind", "kind__unit")
                .filter(pk=slot_id)
                .first()
            )
            # Checked again under the lock: the same form may have just been booked.
            replay = Booking.objects.filter(client_token=client_token).first()
            if replay is not None:
                return replay
            if slot is None:
                raise DomainError(_("Tego terminu już nie ma. Wybierz inny."), code="slot_gone")
            _check_bookable(slot, now)
            _check_one_per_person(slot, email, now)
            seats = set(
                slot.bookings.filter(status=BookingStatus.BOOKED).values_list("seat", flat=True)
            )
            free = [n for n in range(1, slot.capacity + 1) if n not in seats]
            if not free:
                raise DomainError(_full_message(), code="slot_full")
            _check_rate(email=email, client_address=client_address)
            booking = Booking.objects.create(
                slot=slot,
                seat=free[0],
                name=name.strip(),
                email=email,
                phone=phone.strip(),
                matter=matter.strip(),
                client_token=client_token,
                token_sha256=token_sha256(manage_token_for(client_token)),
                language=language,
                client_address=client_address,
            )
            _queue_mail(booking.pk)
    except IntegrityError:
        # Lost a race: the same form sent twice, or another booking took the seat.
        existing = Booking.objects.filter(client_token=client_token).first()
        if existing is not None:
            return existing
        raise DomainError(_full_message(), code="slot_full") from None
    return booking


def booking_cancel_by_citizen(*, token: str, now: datetime.datetime | None = None) -> Booking:
    booking = booking_for_token(token)
    if booking is None:
        raise NotVisible()
    now = now or timezone.now()
    with transaction.atomic():
        booking = Booking.objects.select_for_update().select_related("slot").get(pk=booking.pk)
        if booking.status != BookingStatus.BOOKED:
            raise DomainError(_("Ta wizyta jest już odwołana."))
        if booking.slot.starts_at <= now:
            raise DomainError(_("Tej wizyty nie można już odwołać: jej termin minął."))
        _cancel(booking, BookingStatus.CANCELLED_BY_CITIZEN, "")
    return booking


# --- e-mail ------------------------------------------------------------------------------------


#: Waits before a background task tries a booking's e-mail again after the relay failed;
#: after the last one the scheduler's `visits.mail` job (every 5 minutes) keeps trying.
MAIL_RETRY_DELAYS = (
    datetime.timedelta(minutes=1),
    datetime.timedelta(minutes=5),
    datetime.timedelta(minutes=30),
)


def mail_pending(*, now: datetime.datetime | None = None) -> str:
    """Send every confirmation, cancellation notice and due reminder not yet sent.

    The scheduler runs this as the safety net; right after a booking or a
    cancellation a background task (`booking_mail_send`) sends that booking's
    mail. Each message is claimed with a compare-and-set UPDATE before it is
    sent, so two runs never send the same one; a failed send is released for
    the next run.
    """
    sent = failed = 0
    for queryset, field, send in _mail_jobs(now or timezone.now()):
        for pk in list(queryset.values_list("pk", flat=True)[:500]):
            try:
                sent += _claim_and_send(pk, field, send)
            except Exception:
                log.exception("visits: could not send %s for booking %s", field, pk)
                failed += 1
    return f"{sent} sent, {failed} failed"


def booking_mail_send(
    booking_id: int, attempt: int = 1, *, now: datetime.datetime | None = None
) -> str:
    """Send what is due for one booking now (what the queued task runs).

    When the relay fails, the message is released (the scheduler's run would
    send it), a later attempt is queued (`MAIL_RETRY_DELAYS`) and the error is
    raised again, so the task queue shows the failed attempt.
    """
    sent = 0
    for queryset, field, send in _mail_jobs(now or timezone.now()):
        if not queryset.filter(pk=booking_id).exists():
            continue
        try:
            sent += _claim_and_send(booking_id, field, send)
        except (smtplib.SMTPException, OSError) as error:
            if attempt <= len(MAIL_RETRY_DELAYS):
                delay = MAIL_RETRY_DELAYS[attempt - 1]
                _queue_mail(booking_id, attempt + 1, delay=delay)
                log.warning(
                    "visits: %s for booking %s, attempt %s failed (%s); retrying in %s",
                    field,
                    booking_id,
                    attempt,
                    error,
                    delay,
                )
            else:
                log.error(
                    "visits: %s for booking %s failed %s times (%s); left to the scheduler",
                    field,
                    booking_id,
                    attempt,
                    error,
                )
            raise
    return f"{sent} sent"


def _mail_jobs(now: datetime.datetime) -> list[tuple[Any, str, Callable[[Booking], None]]]:
    """(bookings whose message is due, the column recording it, the sender) per message."""
    from garnizon.portal.visits import mail

    confirmations = Booking.objects.filter(
        confirmation_sent_at__isnull=True, status=BookingStatus.BOOKED, slot__starts_at__gt=now
    )
    notices = Booking.objects.filter(
        cancellation_sent_at__isnull=True,
        status=BookingStatus.CANCELLED_BY_UNIT,
        slot__starts_at__gt=now,
    )
    tomorrow = timezone.localdate(now) + datetime.timedelta(days=1)
    reminders = Booking.objects.none()
    if timezone.localtime(now).hour >= conf.reminder_hour():
        start, end = _day_bounds(tomorrow)
        reminders = Booking.objects.filter(
            reminder_sent_at__isnull=True,
            status=BookingStatus.BOOKED,
            slot__starts_at__gte=start,
            slot__starts_at__lt=end,
        )
    return [
        (confirmations, "confirmation_sent_at", mail.send_confirmation),
        (notices, "cancellation_sent_at", mail.send_cancellation),
        (reminders, "reminder_sent_at", mail.send_reminder),
    ]


def _claim_and_send(pk: int, field: str, send: Callable[[Booking], None]) -> bool:
    """Claim one message (compare-and-set), send it; release the claim if sending fails.

    False when another run has already claimed it. The send's error is raised.
    """
    claimed = Booking.objects.filter(pk=pk, **{f"{field}__isnull": True}).update(
        **{field: timezone.now()}
    )
    if not claimed:
        return False
    booking = Booking.objects.select_related("slot", "slot__kind", "slot__kind__unit").get(pk=pk)
    try:
        send(booking)
    except BaseException:
        Booking.objects.filter(pk=pk).update(**{field: None})
        raise
    return True


def _queue_mail(
    booking_id: int, attempt: int = 1, *, delay: datetime.timedelta | None = None
) -> None:
    """Queue the task that sends a booking's due e-mail.

    Called inside the transaction that made the message due: the task row
    commits with it or not at all (the database task backend), so no message is
    lost between a commit and its enqueue, and none is queued for a rollback.
    """
    if not conf.send_immediately():
        return  # the scheduler's `visits.mail` job sends it
    from garnizon.portal.visits.tasks import send_booking_mail

    task = send_booking_mail
    if delay is not None:
        task = task.using(run_after=timezone.now() + delay)
    task.enqueue(booking_id, attempt)


# --- helpers -----------------------------------------------------------------------------------


def _kind_data(fields: dict[str, Any]) -> dict[str, Any]:
    data = {name: fields[name] for name in KIND_FIELDS if name in fields}
    if not str(data.get("name", "")).strip():
        raise DomainError(_("Podaj nazwę rodzaju wizyty."), field="name")
    if not str(data.get("place", "")).strip():
        raise DomainError(
            _("Podaj miejsce wizyty: adres i pokój, tak jak ma je zobaczyć interesant."),
            field="place",
        )
    duration = int(data.get("duration_minutes", 15))
    if not 5 <= duration <= 480:
        raise DomainError(_("Czas trwania to od 5 do 480 minut."), field="duration_minutes")
    capacity = int(data.get("capacity", 1))
    if not 1 <= capacity <= 100:
        raise DomainError(_("Liczba osób na termin to od 1 do 100."), field="capacity")
    if not 1 <= int(data.get("book_ahead_days", 28)) <= 366:
        raise DomainError(_("Rezerwować można od 1 do 366 dni naprzód."), field="book_ahead_days")
    return data


def _minutes(value: datetime.time) -> int:
    return value.hour * 60 + value.minute


def _day_bounds(day: datetime.date) -> tuple[datetime.datetime, datetime.datetime]:
    start = timezone.make_aware(datetime.datetime.combine(day, datetime.time()))
    end = timezone.make_aware(
        datetime.datetime.combine(day + datetime.timedelta(days=1), datetime.time())
    )
    return start, end


def _wanted_starts(kind: AppointmentKind, today: datetime.date) -> Iterable[datetime.datetime]:
    rules: dict[int, list[OpeningRule]] = {}
    for rule in kind.rules.all():
        rules.setdefault(rule.weekday, []).append(rule)
    closed = set(
        ClosedDay.objects.filter(
            Q(kind__isnull=True) | Q(kind=kind), unit_id=kind.unit_id, date__gte=today
        ).values_list("date", flat=True)
    )
    step = datetime.timedelta(minutes=kind.duration_minutes)
    for offset in range(kind.book_ahead_days + 1):
        day = today + datetime.timedelta(days=offset)
        if day in closed or holiday_name(day) is not None:
            continue
        for rule in rules.get(day.weekday(), []):
            start = datetime.datetime.combine(day, rule.starts)
            end = datetime.datetime.combine(day, rule.ends)
            while start + step <= end:
                yield timezone.make_aware(start)
                start += step


def _slot_cancel(
    slot: Slot,
    reason: str,
    *,
    actor: Person,
    on_behalf: Person | None,
    closing_day: bool = False,
) -> int:
    slot = Slot.objects.select_for_update().select_related("kind").get(pk=slot.pk)
    slot.is_cancelled = True
    slot.cancel_reason = (CLOSED_DAY_MARK if closing_day else "") + reason
    slot.save(update_fields=["is_cancelled", "cancel_reason"])
    count = 0
    for booking in slot.bookings.filter(status=BookingStatus.BOOKED):
        _cancel(booking, BookingStatus.CANCELLED_BY_UNIT, reason)
        _queue_mail(booking.pk)
        count += 1
    audit_record(
        actor=actor,
        action="update",
        obj=slot,
        unit_id=slot.kind.unit_id,
        on_behalf_of=on_behalf,
        details={"cancelled": True, "reason": reason, "bookings": count},
    )
    return count


def _cancel(booking: Booking, status: str, reason: str) -> None:
    booking.status = status
    booking.cancelled_at = timezone.now()
    booking.cancel_reason = reason
    booking.save(update_fields=["status", "cancelled_at", "cancel_reason"])


def _check_bookable(slot: Slot, now: datetime.datetime) -> None:
    kind = slot.kind
    if slot.is_cancelled or not kind.is_active or not kind.unit.is_active:
        raise DomainError(_("Ten termin został odwołany. Wybierz inny."), code="slot_gone")
    if slot.starts_at < now + datetime.timedelta(hours=kind.min_notice_hours):
        raise DomainError(
            _(
                "Na ten termin można się było zapisać najpóźniej %(n)s godz. wcześniej. "
                "Wybierz inny."
            )
            % {"n": kind.min_notice_hours},
            code="slot_gone",
        )
    horizon = timezone.localdate(now) + datetime.timedelta(days=kind.book_ahead_days)
    if timezone.localdate(slot.starts_at) > horizon:
        raise DomainError(_("Na ten termin nie można się jeszcze zapisać."), code="slot_gone")


def _check_one_per_person(slot: Slot, email: str, now: datetime.datetime) -> None:
    other = (
        Booking.objects.filter(
            email=email,
            status=BookingStatus.BOOKED,
            slot__kind=slot.kind,
            slot__starts_at__gt=now,
        )
        .select_related("slot")
        .first()
    )
    if other is not None:
        when = timezone.localtime(other.slot.starts_at)
        raise DomainError(
            _(
                "Na ten adres e-mail jest już zarezerwowana wizyta tego rodzaju: %(day)s, "
                "godz. %(time)s. Odwołaj ją linkiem z e-maila, jeśli chcesz wybrać inny termin."
            )
            % {"day": when.strftime("%d.%m.%Y"), "time": when.strftime("%H:%M")},
            code="already_booked",
        )


def _check_rate(*, email: str, client_address: str | None) -> None:
    """Count this booking per e-mail address and per client address (`common.ratelimit`).

    The counters live in the database, shared by every web process. Called
    inside the booking's transaction, so a booking refused for any reason
    (this limit included) rolls its counts back: only bookings made count.
    """
    window = conf.rate_window_seconds()
    if rate_limit_hit(RATE_EMAIL, email, limit=conf.rate_limit_email(), window_seconds=window):
        raise DomainError(
            _(
                "Z tego adresu e-mail zarezerwowano w ostatnim czasie zbyt wiele wizyt. "
                "Spróbuj ponownie później albo zadzwoń do jednostki."
            ),
            code="rate_limited",
            field="email",
        )
    if client_address and rate_limit_hit(
        RATE_ADDRESS, client_address, limit=conf.rate_limit_address(), window_seconds=window
    ):
        raise DomainError(
            _(
                "Z tego komputera zarezerwowano w ostatnim czasie zbyt wiele wizyt. "
                "Spróbuj ponownie później albo zadzwoń do jednostki."
            ),
            code="rate_limited",
        )


def _full_message() -> str:
    return _("Ktoś właśnie zajął ten termin. Wybierz inną godzinę.")
