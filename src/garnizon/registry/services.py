"""Domain operations on the registers and the address book."""

from __future__ import annotations

import copy
import datetime
from collections.abc import Sequence
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction
from django.db.models.signals import post_save
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from garnizon.audit.services import audit_record, audit_record_many
from garnizon.cases.deadlines import DeadlineKind, official_deadline
from garnizon.cases.models import Assignment
from garnizon.cases.services import DERIVED_KINDS
from garnizon.common.errors import AccessDenied, DomainError, NotVisible
from garnizon.common.sequences import next_value, next_values
from garnizon.org.access import Scope, acting_on_behalf
from garnizon.org.models import Cell, Person, Position, Role, Unit
from garnizon.registry.models import (
    Channel,
    Correspondent,
    CorrespondentKind,
    IncomingItem,
    OutgoingItem,
    validate_edoreczenia_address,
)
from garnizon.registry.selectors import incoming_visibility_q


def can_register_in(scope: Scope, unit_id: int) -> bool:
    """The one rule for registering, `Scope.can_register_in` (org/access.py)."""
    return scope.can_register_in(unit_id)


@dataclass
class IncomingRegistration:
    """What `incoming_item_register` is asked to register (its keyword arguments)."""

    actor: Person
    unit: Unit
    subject: str
    channel: str
    received_at: datetime.datetime | None = None
    sender: Correspondent | None = None
    sender_name: str = ""
    letter_date: datetime.date | None = None
    letter_reference: str = ""
    attachments_count: int | None = None
    kind: str = DeadlineKind.NONE
    assigned_cell: Cell | None = None
    assigned_person: Person | None = None
    paper_location: str = ""
    remarks: str = ""
    is_restricted: bool = False
    client_token: str | None = None
    scope: Scope | None = None
    # The client's address for the audit trail, when the registration is written on
    # another request's thread (portal/group_commit.py); None: the current request's.
    remote_addr: str | None = None


def incoming_item_register(
    *,
    actor: Person,
    unit: Unit,
    subject: str,
    channel: str,
    received_at: datetime.datetime | None = None,
    sender: Correspondent | None = None,
    sender_name: str = "",
    letter_date: datetime.date | None = None,
    letter_reference: str = "",
    attachments_count: int | None = None,
    kind: str = DeadlineKind.NONE,
    assigned_cell: Cell | None = None,
    assigned_person: Person | None = None,
    paper_location: str = "",
    remarks: str = "",
    is_restricted: bool = False,
    client_token: str | None = None,
    scope: Scope | None = None,
) -> IncomingItem:
    """Register an incoming item: the next RPW number of the unit and year, its deadline.

    `client_token` makes a resubmitted form (double click, retry) return the
    entry created the first time instead of a second one. `scope` is the actor's
    Scope when the caller already holds it (or a part of it: fewer grants only
    ever refuse more).
    """
    registration = IncomingRegistration(
        actor=actor,
        unit=unit,
        subject=subject,
        channel=channel,
        received_at=received_at,
        sender=sender,
        sender_name=sender_name,
        letter_date=letter_date,
        letter_reference=letter_reference,
        attachments_count=attachments_count,
        kind=kind,
        assigned_cell=assigned_cell,
        assigned_person=assigned_person,
        paper_location=paper_location,
        remarks=remarks,
        is_restricted=is_restricted,
        client_token=client_token,
        scope=scope,
    )
    try:
        (result,) = incoming_items_register([registration])
    except IntegrityError:
        # Two requests with the same token raced; the other one's entry is the answer.
        if client_token:
            existing = IncomingItem.objects.filter(client_token=client_token).first()
            if existing is not None:
                return _replay(
                    existing, actor, unit_id=unit.pk, subject=(subject or "").strip()[:500]
                )
        raise
    if isinstance(result, DomainError):
        raise result
    return result


def incoming_items_register(
    registrations: Sequence[IncomingRegistration],
) -> list[IncomingItem | DomainError]:
    """Register several incoming items in one transaction; one result per registration.

    Each registration is checked as `incoming_item_register` checks it; one that
    breaks a rule gets its `DomainError` as its result and the others are
    registered. The numbers of a unit and year are taken in one statement and
    the entries, their assignments and their audit entries are written in one
    INSERT each. A token already used (or used twice in the batch) gives the
    first entry, marked `replayed`. An `IntegrityError` (a token taken by a
    concurrent transaction) rolls back the whole batch: the caller registers
    its registrations one at a time to find out which.
    """
    results: list[IncomingItem | DomainError | None] = [None] * len(registrations)
    tokens = [r.client_token for r in registrations if r.client_token]
    existing = (
        {item.client_token: item for item in IncomingItem.objects.filter(client_token__in=tokens)}
        if tokens
        else {}
    )
    built: list[tuple[int, IncomingItem, Person | None]] = []
    first_with_token: dict[str, int] = {}
    repeats: list[tuple[int, int]] = []
    for index, registration in enumerate(registrations):
        token = registration.client_token
        try:
            _registering_scope(registration)
            if token and token in existing:
                results[index] = _replay(
                    existing[token], registration.actor, **_replay_expectation(registration)
                )
            elif token and token in first_with_token:
                repeats.append((index, first_with_token[token]))
            else:
                item, on_behalf = _incoming_item_build(registration)
                built.append((index, item, on_behalf))
                if token:
                    first_with_token[token] = index
        except DomainError as problem:
            results[index] = problem
    if built:
        with transaction.atomic(), translation.override("pl"):
            by_register: dict[tuple[int, int], list[IncomingItem]] = {}
            for _index, item, _on_behalf in built:
                by_register.setdefault((item.unit.pk, item.year), []).append(item)
            for (unit_id, year), items in by_register.items():
                numbers = next_values(f"rpw:{unit_id}:{year}", len(items))
                for item, number in zip(items, numbers, strict=True):
                    item.number = number
                    item.registration_number = incoming_registration_number(item.unit, number, year)
            saved = IncomingItem.objects.bulk_create([item for _index, item, _on_behalf in built])
            _saved(IncomingItem, saved)
            _saved(Assignment, _assignments_create(built))
            audit_record_many(
                [
                    {
                        "actor": item.registered_by,
                        "action": "create",
                        "obj": item,
                        "on_behalf_of": on_behalf,
                        "details": {
                            "registration_number": item.registration_number,
                            "channel": item.channel,
                            "kind": item.kind,
                        },
                        "remote_addr": registrations[index].remote_addr,
                    }
                    for index, item, on_behalf in built
                ]
            )
        for index, item, _on_behalf in built:
            results[index] = item
    for index, first in repeats:
        registration = registrations[index]
        first_result = results[first]
        if isinstance(first_result, IncomingItem):
            try:
                results[index] = _replay(
                    copy.copy(first_result),
                    registration.actor,
                    **_replay_expectation(registration),
                )
            except DomainError as problem:
                results[index] = problem
        else:
            results[index] = first_result
    return results  # type: ignore[return-value]


def _replay_expectation(registration: IncomingRegistration) -> dict[str, object]:
    return {
        "unit_id": registration.unit.pk,
        "subject": (registration.subject or "").strip()[:500],
    }


def _registering_scope(r: IncomingRegistration) -> Scope:
    """The registrar's Scope, refused unless it may register in the unit."""
    scope = r.scope
    if scope is None or scope.person.pk != r.actor.pk:
        scope = Scope.for_person(r.actor)
    if not can_register_in(scope, r.unit.pk):
        raise AccessDenied(
            _("Nie możesz rejestrować przesyłek w jednostce %(unit)s.") % {"unit": r.unit}
        )
    r.scope = scope
    return scope


def _incoming_item_build(r: IncomingRegistration) -> tuple[IncomingItem, Person | None]:
    """The checked, unsaved entry of a registration (without its number) and the person
    its registrar acts on behalf of, if any."""
    actor, unit = r.actor, r.unit
    scope = _registering_scope(r)
    subject, channel, kind = r.subject, r.channel, r.kind
    received_at, letter_date = r.received_at, r.letter_date
    attachments_count, assigned_cell = r.attachments_count, r.assigned_cell
    assigned_person, is_restricted = r.assigned_person, r.is_restricted
    subject = (subject or "").strip()
    if not subject:
        raise DomainError(_("Podaj, czego dotyczy przesyłka."), field="subject")
    if channel not in Channel.values:
        raise DomainError(_("Wybierz kanał wpływu."), field="channel")
    if kind not in DeadlineKind.values:
        raise DomainError(_("Nieznany rodzaj sprawy."), field="kind")
    now = timezone.now()
    received_at = received_at or now
    if received_at.year < now.year - 1:
        # Registers are kept per year; a letter found years late is registered today,
        # with its own date in the letter date and the remarks.
        raise DomainError(
            _("Data wpływu może być najwyżej z poprzedniego roku."), field="received_at"
        )
    if received_at > now + datetime.timedelta(minutes=5):
        raise DomainError(_("Data wpływu nie może być późniejsza niż dziś."), field="received_at")
    received_on = timezone.localdate(received_at)
    if letter_date is not None and letter_date > received_on:
        raise DomainError(
            _("Data pisma nie może być późniejsza niż data wpływu."), field="letter_date"
        )
    if attachments_count is not None and attachments_count < 0:
        raise DomainError(_("Liczba załączników nie może być ujemna."), field="attachments_count")
    if assigned_cell is not None and assigned_cell.unit_id != unit.pk:
        raise DomainError(
            _("Komórka %(cell)s należy do innej jednostki.") % {"cell": assigned_cell},
            field="assigned_cell",
        )
    if kind in DERIVED_KINDS:
        raise DomainError(
            _("Ten termin ustala się przez przedłużenie terminu w sprawie."), field="kind"
        )
    if is_restricted and assigned_cell is not None and assigned_person is None:
        raise DomainError(
            _(
                "Przesyłkę o ograniczonym dostępie kieruje się do wskazanej osoby, nie do całej "
                "komórki."
            ),
            field="assigned_person",
        )
    if assigned_person is not None:
        if assigned_cell is None:
            raise DomainError(
                _("Wskaż komórkę osoby, której przydzielasz przesyłkę."), field="assigned_cell"
            )
        from garnizon.cases.services import can_manage_cell

        # The registry routes to a cell and the cell's head picks the person; a
        # restricted item (a whistleblower's report) goes straight to the person
        # designated for it, since nobody else in the cell may see it.
        if not is_restricted and not can_manage_cell(scope, assigned_cell):
            raise AccessDenied(
                _("Kancelaria kieruje przesyłkę do komórki; osobę wskazuje jej kierownik.")
            )
        if (
            not Position.objects.active()
            .filter(person=assigned_person, cell=assigned_cell)
            .exists()
        ):
            raise DomainError(
                _("%(person)s nie pracuje w komórce %(cell)s.")
                % {"person": assigned_person, "cell": assigned_cell},
                field="assigned_person",
            )
    sender = r.sender
    sender_name = (r.sender_name or "").strip() or (sender.name if sender else "")
    deadline = official_deadline(kind, received_on)
    on_behalf = acting_on_behalf(scope, lambda s: can_register_in(s, unit.pk))
    item = IncomingItem(
        unit=unit,
        year=received_on.year,
        received_at=received_at,
        channel=channel,
        subject=subject[:500],
        sender=sender,
        sender_name=sender_name[:300],
        letter_date=letter_date,
        letter_reference=r.letter_reference.strip()[:100],
        attachments_count=attachments_count,
        kind=kind,
        due_date=deadline.due_date,
        deadline_basis=deadline.basis,
        deadline_explanation=deadline.explanation,
        assigned_cell=assigned_cell,
        assigned_person=assigned_person,
        paper_location=r.paper_location.strip()[:200],
        remarks=r.remarks.strip(),
        is_restricted=is_restricted,
        registered_by=actor,
        client_token=r.client_token or None,
    )
    return item, on_behalf


def _saved(model: type[models.Model], objects: list[models.Model]) -> None:
    """`post_save` for rows written by `bulk_create`, as `save()` would have sent it
    (the search index and other receivers follow the registers through it)."""
    for obj in objects:
        post_save.send(sender=model, instance=obj, created=True, update_fields=None, raw=False)


def _assignments_create(built: list[tuple[int, IncomingItem, Person | None]]) -> list[Assignment]:
    return Assignment.objects.bulk_create(
        [
            Assignment(
                incoming_item=item,
                to_cell=item.assigned_cell,
                to_person=item.assigned_person,
                assigned_by=item.registered_by,
                on_behalf_of=on_behalf,
            )
            for _index, item, on_behalf in built
            if item.assigned_cell is not None
        ]
    )


def incoming_registration_number(unit: Unit, number: int, year: int) -> str:
    return f"{unit.symbol}/RPW/{number}/{year}"


def incoming_item_get_for_view(*, actor: Person, item_id: int) -> IncomingItem:
    scope = Scope.for_person(actor)
    item = (
        IncomingItem.objects.filter(incoming_visibility_q(scope), pk=item_id)
        .select_related(
            "unit", "sender", "assigned_cell", "assigned_person", "case", "registered_by"
        )
        .first()
    )
    if item is None:
        raise NotVisible(_("Nie ma takiej przesyłki albo nie masz do niej dostępu."))
    on_behalf = acting_on_behalf(
        scope,
        lambda s: IncomingItem.objects.filter(incoming_visibility_q(s), pk=item_id).exists(),
    )
    audit_record(actor=actor, action="view", obj=item, on_behalf_of=on_behalf)
    return item


def outgoing_item_get_for_view(*, actor: Person, item_id: int) -> OutgoingItem:
    """A dispatch the actor may see, with the view recorded (on whose behalf, if so)."""
    from garnizon.registry.selectors import outgoing_visible_to

    scope = Scope.for_person(actor)
    item = (
        outgoing_visible_to(actor, scope=scope)
        .filter(pk=item_id)
        .select_related("unit", "case", "addressee", "registered_by")
        .first()
    )
    if item is None:
        raise NotVisible(_("Nie ma takiej wysyłki albo nie masz do niej dostępu."))
    on_behalf = acting_on_behalf(
        scope, lambda s: outgoing_visible_to(s.person, scope=s).filter(pk=item_id).exists()
    )
    audit_record(actor=actor, action="view", obj=item, on_behalf_of=on_behalf)
    return item


def outgoing_item_register(
    *,
    actor: Person,
    unit: Unit,
    subject: str,
    channel: str,
    addressee: Correspondent | None = None,
    addressee_name: str = "",
    address: str = "",
    edoreczenia_address: str = "",
    case=None,
    sent_on: datetime.date | None = None,
    priority: bool = False,
    registered_mail: bool = False,
    return_receipt: bool = False,
    tracking_number: str = "",
    postage=None,
    remarks: str = "",
    client_token: str | None = None,
) -> OutgoingItem:
    """Register a dispatch with its channel and postal data, numbered per unit and year."""
    from garnizon.cases.services import can_manage_case, can_see_case

    scope = Scope.for_person(actor)
    if case is not None:
        if not can_see_case(scope, case):
            raise NotVisible(_("Nie ma takiej sprawy albo nie masz do niej dostępu."))
        if case.unit_id != unit.pk:
            raise DomainError(_("Sprawa należy do innej jednostki."), field="case")

    def allowed(s: Scope) -> bool:
        # In a case: its cell or a superior (not a reader such as the archivist or a
        # share recipient); without one: the registry.
        if case is not None:
            return case.cell_id in s.member_cell_ids() or can_manage_case(s, case)
        return can_register_in(s, unit.pk)

    if not allowed(scope):
        raise AccessDenied(
            _("Nie możesz rejestrować wysyłek w jednostce %(unit)s.") % {"unit": unit}
        )
    if client_token:
        existing = OutgoingItem.objects.filter(client_token=client_token).first()
        if existing is not None:
            return _replay(existing, actor, unit_id=unit.pk, subject=(subject or "").strip()[:500])
    subject = (subject or "").strip()
    if not subject:
        raise DomainError(_("Podaj, czego dotyczy pismo."), field="subject")
    if channel not in Channel.values:
        raise DomainError(_("Wybierz kanał wysyłki."), field="channel")
    addressee_name = (addressee_name or "").strip() or (addressee.name if addressee else "")
    if not addressee_name:
        raise DomainError(_("Podaj adresata."), field="addressee_name")
    if addressee is not None:
        address = address or addressee.address_line()
        edoreczenia_address = edoreczenia_address or addressee.edoreczenia_address
    edoreczenia_address = edoreczenia_address.strip()
    _validate_address(edoreczenia_address, "edoreczenia_address")
    if channel == Channel.EDORECZENIA and not edoreczenia_address:
        raise DomainError(
            _("Wysyłka przez e-Doręczenia wymaga adresu do e-Doręczeń."),
            field="edoreczenia_address",
        )
    if channel == Channel.PAPER and not address.strip():
        raise DomainError(_("Wysyłka papierowa wymaga adresu pocztowego."), field="address")
    if channel != Channel.PAPER and (priority or registered_mail or return_receipt):
        raise DomainError(_("Dane pocztowe dotyczą tylko wysyłki papierowej."), field="channel")
    today = timezone.localdate()
    sent_on = sent_on or today
    if sent_on.year < today.year - 1:
        raise DomainError(
            _("Data wysłania może być najwyżej z poprzedniego roku."), field="sent_on"
        )
    if sent_on > today + datetime.timedelta(days=1):
        raise DomainError(_("Data wysłania nie może być późniejsza niż dziś."), field="sent_on")
    on_behalf = acting_on_behalf(scope, allowed)

    try:
        with transaction.atomic(), translation.override("pl"):
            year = sent_on.year
            number = next_value(f"out:{unit.pk}:{year}")
            item = OutgoingItem.objects.create(
                unit=unit,
                year=year,
                number=number,
                registration_number=f"{unit.symbol}/RPWych/{number}/{year}",
                case=case,
                channel=channel,
                addressee=addressee,
                addressee_name=addressee_name[:300],
                address=address.strip()[:400],
                edoreczenia_address=edoreczenia_address,
                subject=subject[:500],
                sent_on=sent_on,
                priority=priority,
                registered_mail=registered_mail or return_receipt,
                return_receipt=return_receipt,
                tracking_number=tracking_number.strip()[:60],
                postage=postage,
                remarks=remarks.strip(),
                registered_by=actor,
                client_token=client_token or None,
            )
            if case is not None:
                from garnizon.cases.models import CaseRecordAction
                from garnizon.cases.services import case_record_add

                case_record_add(
                    case,
                    actor,
                    on_behalf,
                    CaseRecordAction.DISPATCHED,
                    _("Wysłano %(number)s do: %(addressee)s (%(channel)s)")
                    % {
                        "number": item.registration_number,
                        "addressee": addressee_name,
                        "channel": item.get_channel_display(),
                    },
                    document_ref=item.registration_number,
                )
            audit_record(
                actor=actor,
                action="create",
                obj=item,
                on_behalf_of=on_behalf,
                details={"registration_number": item.registration_number, "channel": channel},
            )
    except IntegrityError:
        if client_token:
            existing = OutgoingItem.objects.filter(client_token=client_token).first()
            if existing is not None:
                return _replay(
                    existing, actor, unit_id=unit.pk, subject=(subject or "").strip()[:500]
                )
        raise
    return item


def correspondent_create(
    *,
    actor: Person,
    kind: str,
    name: str,
    street: str = "",
    postal_code: str = "",
    city: str = "",
    country: str = "PL",
    email: str = "",
    phone: str = "",
    edoreczenia_address: str = "",
    tax_id: str = "",
) -> Correspondent:
    """Add a sender or addressee to the shared address book, validated field by field."""
    scope = Scope.for_person(actor)
    if not any(g.position.role != Role.AUDITOR for g in scope.own_only().grants):
        raise AccessDenied(_("Nie możesz dopisywać do książki adresowej."))
    if kind not in CorrespondentKind.values:
        raise DomainError(_("Wybierz rodzaj kontrahenta."), field="kind")
    name = (name or "").strip()
    if not name:
        raise DomainError(_("Podaj nazwę albo imię i nazwisko."), field="name")
    edoreczenia_address = edoreczenia_address.strip().upper()
    _validate_address(edoreczenia_address, "edoreczenia_address")
    if kind == CorrespondentKind.PUBLIC_BODY and not edoreczenia_address:
        raise DomainError(
            _("Podmiot publiczny ma obowiązkowy adres do e-Doręczeń (od 1 stycznia 2026 r.)."),
            field="edoreczenia_address",
        )
    postal_code = postal_code.strip()
    if postal_code and country.upper() == "PL" and not _is_polish_postal_code(postal_code):
        raise DomainError(_("Kod pocztowy ma postać 00-000."), field="postal_code")
    correspondent = Correspondent(
        kind=kind,
        name=name[:300],
        street=street.strip(),
        postal_code=postal_code,
        city=city.strip(),
        country=(country or "PL").upper()[:2],
        email=email.strip(),
        phone=phone.strip(),
        edoreczenia_address=edoreczenia_address,
        tax_id=tax_id.strip(),
        unit=actor.unit,
    )
    try:
        correspondent.full_clean()
    except ValidationError as exc:
        field, messages = next(iter(exc.message_dict.items()))
        raise DomainError(messages[0], field=field) from exc
    with transaction.atomic(), translation.override("pl"):
        correspondent.save()
        audit_record(actor=actor, action="create", obj=correspondent)
    return correspondent


def _validate_address(value: str, field: str) -> None:
    try:
        validate_edoreczenia_address(value)
    except ValidationError as exc:
        raise DomainError(exc.messages[0], field=field) from exc


def _is_polish_postal_code(value: str) -> bool:
    return len(value) == 6 and value[2] == "-" and (value[:2] + value[3:]).isdigit()


def _replay(existing, actor: Person, **expected: object):
    """A resubmitted form returns its entry, only to its registrar, only for the same request."""
    if existing.registered_by_id != actor.pk:
        raise DomainError(_("Ten formularz został już wysłany przez inną osobę."), code="duplicate")
    if any(getattr(existing, field) != value for field, value in expected.items()):
        raise DomainError(
            _("Ten identyfikator formularza użyto już dla innego wpisu."), code="duplicate"
        )
    existing.replayed = True  # type: ignore[attr-defined]  # the API answers 200
    return existing
