"""Domain operations on cases: open, assign, change state, share, view.

Every function takes keyword arguments, checks need-to-know and the office
rules, owns its transaction, and writes both the case record (metryka) and
the audit trail. Web views, the API, commands and tests all call these.
"""

from __future__ import annotations

import datetime

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from garnizon.audit.services import audit_record
from garnizon.cases.deadlines import DeadlineKind, official_deadline
from garnizon.cases.models import (
    Assignment,
    AssignmentMethod,
    Case,
    CaseRecordAction,
    CaseRecordEntry,
    CaseShare,
    CaseState,
)
from garnizon.cases.selectors import case_visibility_q
from garnizon.common.errors import AccessDenied, DomainError, NotVisible
from garnizon.common.sequences import next_value
from garnizon.jrwa.models import Classification
from garnizon.org.access import Scope, acting_on_behalf
from garnizon.org.models import Cell, Person, Position, Role
from garnizon.registry.models import Correspondent, IncomingItem

# Kinds reached only through `case_extend_deadline`, which checks the law's
# conditions and records the notice to the party.
DERIVED_KINDS = {DeadlineKind.PUBLIC_INFORMATION_EXTENDED}

STATE_TRANSITIONS: dict[str, set[str]] = {
    CaseState.OPEN: {CaseState.SUSPENDED, CaseState.CLOSED},
    CaseState.REOPENED: {CaseState.SUSPENDED, CaseState.CLOSED},
    CaseState.SUSPENDED: {CaseState.OPEN, CaseState.CLOSED},
    CaseState.CLOSED: {CaseState.REOPENED},
}
STATE_ACTIONS = {
    CaseState.SUSPENDED: CaseRecordAction.SUSPENDED,
    CaseState.OPEN: CaseRecordAction.RESUMED,
    CaseState.CLOSED: CaseRecordAction.CLOSED,
    CaseState.REOPENED: CaseRecordAction.REOPENED,
}


# --- checks -------------------------------------------------------------------------


def can_see_case(scope: Scope, case: Case) -> bool:
    return Case.objects.filter(case_visibility_q(scope), pk=case.pk).exists()


def can_manage_cell(scope: Scope, cell: Cell) -> bool:
    """Cell heads over `cell` (their cell or above) and the unit's commander."""
    return any(
        (p.role == Role.CELL_HEAD and cell.path.startswith(p.cell.path))
        or (p.role == Role.UNIT_COMMANDER and (p.cell.unit_id == cell.unit_id or p.garrison_wide))
        for p in (g.position for g in scope.grants)
    )


def can_work_in_cell(scope: Scope, cell: Cell) -> bool:
    """Members of the cell and those who manage it may open cases there."""
    return cell.pk in scope.member_cell_ids() or can_manage_cell(scope, cell)


def can_manage_case(scope: Scope, case: Case) -> bool:
    return case.handler_id in scope.person_ids or can_manage_cell(scope, case.cell)


def case_get_for_view(*, actor: Person, case_id: int) -> Case:
    """Fetch a case the actor may open and record the view in the audit trail."""
    scope = Scope.for_person(actor)
    case = (
        Case.objects.filter(case_visibility_q(scope), pk=case_id)
        .select_related("cell", "unit", "classification__scheme", "handler", "correspondent")
        .first()
    )
    if case is None:
        raise NotVisible(_("Nie ma takiej sprawy albo nie masz do niej dostępu."))
    on_behalf = acting_on_behalf(scope, lambda s: can_see_case(s, case))
    audit_record(actor=actor, action="view", obj=case, on_behalf_of=on_behalf)
    return case


# --- opening ----------------------------------------------------------------------------


def case_open(
    *,
    actor: Person,
    cell: Cell,
    classification: Classification,
    subject: str,
    incoming_item: IncomingItem | None = None,
    correspondent: Correspondent | None = None,
    kind: str | None = None,
    handler: Person | None = None,
    opened_on: datetime.date | None = None,
    remarks: str = "",
    client_token: str | None = None,
) -> Case:
    """Open a case in `cell` under a terminal JRWA class and allocate its sign.

    The number comes from a gapless sequence per cell, JRWA class and year,
    taken inside this transaction: concurrent openings queue on the sequence
    row, and a failed opening gives its number back.
    """
    subject = (subject or "").strip()
    if incoming_item is not None and not subject:
        subject = incoming_item.subject
    if not subject:
        raise DomainError(_("Podaj tytuł sprawy."), field="subject")
    if not classification.is_terminal:
        raise DomainError(
            _("Sprawę można założyć tylko w klasie końcowej JRWA; %(symbol)s ma podklasy.")
            % {"symbol": classification.symbol},
            field="classification",
        )
    if not classification.scheme.is_active:
        raise DomainError(
            _("Wersja JRWA „%(scheme)s” nie jest bieżąca.") % {"scheme": classification.scheme},
            field="classification",
        )
    scope = Scope.for_person(actor)
    if not can_work_in_cell(scope, cell):
        raise AccessDenied(_("Nie możesz zakładać spraw w komórce %(cell)s.") % {"cell": cell})
    on_behalf = acting_on_behalf(scope, lambda s: can_work_in_cell(s, cell))
    if handler is not None and not _holds_position_in(handler, cell):
        raise DomainError(
            _("%(person)s nie pracuje w komórce %(cell)s.") % {"person": handler, "cell": cell},
            field="handler",
        )
    if handler is None and _holds_position_in(actor, cell):
        handler = actor

    replay_fields = {"cell_id": cell.pk, "classification_id": classification.pk}
    if client_token:
        existing = Case.objects.filter(client_token=client_token).first()
        if existing is not None:
            return _replay(existing, actor, scope, **replay_fields)

    today = timezone.localdate()
    opened_on = opened_on or today
    if opened_on > today:
        raise DomainError(_("Data wszczęcia nie może być późniejsza niż dziś."), field="opened_on")
    if opened_on.year < today.year - 1:
        raise DomainError(
            _("Sprawę można wszcząć z datą najwyżej z poprzedniego roku."), field="opened_on"
        )
    kind = kind or (incoming_item.kind if incoming_item else DeadlineKind.NONE)
    start = timezone.localdate(incoming_item.received_at) if incoming_item else opened_on
    deadline = official_deadline(kind, start)

    _position_title(actor)  # looked up before the case number's row lock is taken
    try:
        with transaction.atomic(), translation.override("pl"):
            if incoming_item is not None:
                incoming_item = IncomingItem.objects.select_for_update().get(pk=incoming_item.pk)
                _check_item_attachable(scope, incoming_item, cell)
            year = opened_on.year
            number = next_value(f"case:{cell.pk}:{classification.symbol}:{year}")
            sign = format_case_sign(
                cell=cell,
                classification=classification,
                number=number,
                year=year,
                handler=handler,
            )
            if Case.objects.filter(sign=sign).exists():
                # Two cells with one designation would share signs; the rollback
                # gives the number back.
                raise DomainError(
                    _(
                        "Znak %(sign)s już istnieje: dwie komórki mają to samo oznaczenie na "
                        "rok %(year)s. Zgłoś to administratorowi."
                    )
                    % {"sign": sign, "year": year},
                    code="sign_collision",
                    field="cell",
                )
            case = Case.objects.create(
                unit_id=cell.unit_id,
                cell=cell,
                classification=classification,
                year=year,
                number=number,
                sign=sign,
                subject=subject[:500],
                correspondent=correspondent or (incoming_item.sender if incoming_item else None),
                correspondent_name=(
                    correspondent.name
                    if correspondent
                    else incoming_item.sender_name
                    if incoming_item
                    else ""
                ),
                kind=kind,
                handler=handler,
                opened_on=opened_on,
                due_date=deadline.due_date,
                deadline_basis=deadline.basis,
                deadline_explanation=deadline.explanation,
                is_restricted=bool(incoming_item and incoming_item.is_restricted),
                remarks=remarks,
                created_by=actor,
                client_token=client_token or None,
            )
            case_record_add(
                case,
                actor,
                on_behalf,
                CaseRecordAction.OPENED,
                _("Wszczęto sprawę %(sign)s: %(subject)s")
                % {"sign": case.sign, "subject": case.subject},
            )
            if deadline.due_date:
                case_record_add(
                    case,
                    actor,
                    on_behalf,
                    CaseRecordAction.DEADLINE_SET,
                    f"{deadline.due_date:%d.%m.%Y} ({deadline.basis}): {deadline.explanation}",
                )
            if case.is_restricted and handler is None:
                # Restricted cases are seen only by the people named on them: the
                # person opening one for a colleague's cell must stay one of them.
                CaseShare.objects.create(case=case, person=actor, granted_by=actor)
            if incoming_item is not None:
                incoming_item.case = case
                incoming_item.save(update_fields=["case"])
                case_record_add(
                    case,
                    actor,
                    on_behalf,
                    CaseRecordAction.ITEM_ATTACHED,
                    _("Przesyłka %(number)s") % {"number": incoming_item.registration_number},
                    document_ref=incoming_item.registration_number,
                )
            audit_record(
                actor=actor,
                action="create",
                obj=case,
                on_behalf_of=on_behalf,
                details={"sign": case.sign, "incoming_item": getattr(incoming_item, "pk", None)},
            )
    except IntegrityError:
        if client_token:
            existing = Case.objects.filter(client_token=client_token).first()
            if existing is not None:
                return _replay(existing, actor, scope, **replay_fields)
        raise
    return case


def format_case_sign(
    *,
    cell: Cell,
    classification: Classification,
    number: int,
    year: int,
    handler: Person | None = None,
) -> str:
    """The case sign from the configurable template (default CELL.JRWA.NUMBER.YEAR)."""
    initials = ""
    if handler is not None:
        initials = f"{handler.first_name[:1]}{handler.last_name[:1]}".upper()
    sign = settings.GARNIZON_CASE_SIGN_TEMPLATE.format(
        CELL=cell.designation(year),
        JRWA=classification.symbol,
        NUMBER=number,
        YEAR=year,
        INITIALS=initials,
    )
    return sign.rstrip(".")


def case_attach_item(*, actor: Person, case: Case, incoming_item: IncomingItem) -> None:
    scope = Scope.for_person(actor)
    if not can_see_case(scope, case):
        raise NotVisible()

    def allowed(s: Scope) -> bool:
        return case.cell_id in s.member_cell_ids() or can_manage_case(s, case)

    if not allowed(scope):
        raise AccessDenied(_("Przesyłki do sprawy dołącza komórka prowadząca albo przełożony."))
    with transaction.atomic(), translation.override("pl"):
        item = IncomingItem.objects.select_for_update().get(pk=incoming_item.pk)
        _check_item_attachable(scope, item, case.cell, case)
        item.case = case
        item.save(update_fields=["case"])
        on_behalf = acting_on_behalf(scope, allowed)
        case_record_add(
            case,
            actor,
            on_behalf,
            CaseRecordAction.ITEM_ATTACHED,
            _("Przesyłka %(number)s") % {"number": item.registration_number},
            document_ref=item.registration_number,
        )
        audit_record(
            actor=actor,
            action="update",
            obj=case,
            on_behalf_of=on_behalf,
            details={"attached_item": item.registration_number},
        )


# --- assignment ----------------------------------------------------------------------------


def assign(
    *,
    actor: Person,
    to_cell: Cell,
    case: Case | None = None,
    incoming_item: IncomingItem | None = None,
    to_person: Person | None = None,
    method: str | None = None,
    deadline: datetime.date | None = None,
    note: str = "",
) -> Assignment:
    """Dekretacja of an item or a case to a cell or a person in it.

    A first assignment is made by a superior over the target cell (cell head,
    commander) or, for a new item, by the unit's registry clerk routing it to a
    cell. Passing it on inside the cell that holds the current assignment is a
    further assignment: it keeps the method and deadline, which only the
    original assigner may change.
    """
    if (case is None) == (incoming_item is None):
        raise ValueError("assign() takes exactly one of case= and incoming_item=")
    if to_person is not None and not _holds_position_in(to_person, to_cell):
        raise DomainError(
            _("%(person)s nie pracuje w komórce %(cell)s.")
            % {"person": to_person, "cell": to_cell},
            field="to_person",
        )
    if method is not None and method not in AssignmentMethod.values:
        raise DomainError(_("Nieznany sposób załatwienia."), field="method")
    if deadline is not None and deadline < timezone.localdate():
        raise DomainError(_("Termin dekretacji nie może być w przeszłości."), field="deadline")
    scope = Scope.for_person(actor)
    target_unit_id = case.unit_id if case else incoming_item.unit_id  # type: ignore[union-attr]
    if to_cell.unit_id != target_unit_id:
        raise DomainError(
            _("Komórka %(cell)s należy do innej jednostki.") % {"cell": to_cell}, field="to_cell"
        )

    with transaction.atomic(), translation.override("pl"):
        current = _current_assignment(case=case, incoming_item=incoming_item)
        further = current is not None and to_cell.path.startswith(current.to_cell.path)

        def allowed(s: Scope) -> bool:
            if not _can_see_target(s, case, incoming_item):
                return False
            if (
                further
                and current is not None
                and (current.to_person_id in s.person_ids or can_manage_cell(s, current.to_cell))
                and to_person is not None
            ):
                return True
            if case is not None:
                # Authority over the target cell is not enough: a head who can
                # read a shared case must not pull it into their own cell.
                return can_manage_cell(s, to_cell) and can_manage_case(s, case)
            item = incoming_item
            assert item is not None
            if current is None or item.assigned_cell is None:
                if to_person is None and s.has_role(Role.REGISTRY_CLERK, unit_id=item.unit_id):
                    return True
                return can_manage_cell(s, to_cell)
            return can_manage_cell(s, to_cell) and can_manage_cell(s, item.assigned_cell)

        if not _can_see_target(scope, case, incoming_item):
            raise NotVisible(_("Nie ma takiego obiektu albo nie masz do niego dostępu."))
        if not allowed(scope):
            raise AccessDenied(_("Nie możesz dekretować do komórki %(cell)s.") % {"cell": to_cell})
        on_behalf = acting_on_behalf(scope, allowed)
        acting_ids = {actor.pk} | ({on_behalf.pk} if on_behalf else set())

        parent = None
        if further and current is not None:
            parent = current
            fixer = _terms_fixer(current)
            changes_terms = (method is not None and method != current.method) or (
                deadline is not None and deadline != current.deadline
            )
            if (
                changes_terms
                and fixer is not None
                and (fixer.on_behalf_of_id or fixer.assigned_by_id) not in acting_ids
            ):
                raise AccessDenied(
                    _(
                        "Sposób załatwienia i termin może zmienić tylko dekretujący pierwotnie: "
                        "%(person)s."
                    )
                    % {"person": fixer.on_behalf_of or fixer.assigned_by}
                )
            method = method or current.method
            deadline = deadline if deadline is not None else current.deadline
        method = method or AssignmentMethod.HANDLE

        if method == AssignmentMethod.HANDLE:
            Assignment.objects.filter(
                case=case,
                incoming_item=incoming_item,
                is_current=True,
                method=AssignmentMethod.HANDLE,
            ).update(is_current=False)
        assignment = Assignment.objects.create(
            case=case,
            incoming_item=incoming_item,
            to_cell=to_cell,
            to_person=to_person,
            method=method,
            deadline=deadline,
            note=note,
            parent=parent,
            assigned_by=actor,
            on_behalf_of=on_behalf,
        )
        target_label = str(to_person or to_cell)
        if incoming_item is not None and method == AssignmentMethod.HANDLE:
            incoming_item.assigned_cell = to_cell
            incoming_item.assigned_person = to_person
            incoming_item.save(update_fields=["assigned_cell", "assigned_person"])
        if case is not None:
            if (
                method == AssignmentMethod.HANDLE
                and to_person is not None
                and (to_cell.pk == case.cell_id)
            ):
                case.handler = to_person
                case.save(update_fields=["handler"])
            case_record_add(
                case,
                actor,
                on_behalf,
                CaseRecordAction.ASSIGNED,
                _("Dekretacja: %(target)s, %(method)s%(deadline)s")
                % {
                    "target": target_label,
                    "method": assignment.get_method_display(),
                    "deadline": f", termin {deadline:%d.%m.%Y}" if deadline else "",
                },
            )
        audit_record(
            actor=actor,
            action="create",
            obj=assignment,
            on_behalf_of=on_behalf,
            unit_id=target_unit_id,
            details={
                "target": str(case or incoming_item),
                "to_cell": to_cell.pk,
                "to_person": getattr(to_person, "pk", None),
                "method": method,
                "deadline": deadline.isoformat() if deadline else None,
            },
        )
    return assignment


# --- state, sharing, deadlines -----------------------------------------------------------


def case_change_state(*, actor: Person, case: Case, new_state: str, reason: str = "") -> Case:
    scope = Scope.for_person(actor)
    if not can_see_case(scope, case):
        raise NotVisible()
    if not can_manage_case(scope, case):
        raise AccessDenied(_("Stan sprawy zmienia prowadzący albo przełożony."))
    on_behalf = acting_on_behalf(scope, lambda s: can_manage_case(s, case))
    with transaction.atomic(), translation.override("pl"):
        case = Case.objects.select_for_update().get(pk=case.pk)
        if new_state not in STATE_TRANSITIONS.get(case.state, set()):
            raise DomainError(
                _("Nie można zmienić stanu sprawy z „%(old)s” na „%(new)s”.")
                % {"old": case.get_state_display(), "new": CaseState(new_state).label},
                field="state",
            )
        if new_state in (CaseState.SUSPENDED, CaseState.REOPENED) and not reason.strip():
            raise DomainError(_("Podaj powód."), field="reason")
        old_state = case.state
        case.state = new_state
        if new_state == CaseState.CLOSED:
            case.closed_on = timezone.localdate()
        elif new_state == CaseState.REOPENED:
            case.closed_on = None
        case.save(update_fields=["state", "closed_on"])
        case_record_add(case, actor, on_behalf, STATE_ACTIONS[new_state], reason.strip())
        audit_record(
            actor=actor,
            action="update",
            obj=case,
            on_behalf_of=on_behalf,
            details={"state": [old_state, new_state], "reason": reason},
        )
    return case


def case_share(
    *,
    actor: Person,
    case: Case,
    person: Person | None = None,
    cell: Cell | None = None,
    valid_to: datetime.date | None = None,
) -> CaseShare:
    if (person is None) == (cell is None):
        raise DomainError(_("Wskaż osobę albo komórkę."), field="person")
    if valid_to is not None and valid_to < timezone.localdate():
        raise DomainError(
            _("Data końca udostępnienia nie może być w przeszłości."), field="valid_to"
        )
    scope = Scope.for_person(actor)
    if not can_see_case(scope, case):
        raise NotVisible()
    if not can_manage_case(scope, case):
        raise AccessDenied(_("Sprawę udostępnia prowadzący albo przełożony."))
    on_behalf = acting_on_behalf(scope, lambda s: can_manage_case(s, case))
    with transaction.atomic(), translation.override("pl"):
        share = CaseShare.objects.create(
            case=case, person=person, cell=cell, granted_by=actor, valid_to=valid_to
        )
        case_record_add(
            case,
            actor,
            on_behalf,
            CaseRecordAction.SHARED,
            _("Udostępniono: %(target)s%(until)s")
            % {"target": person or cell, "until": f" do {valid_to:%d.%m.%Y}" if valid_to else ""},
        )
        audit_record(
            actor=actor,
            action="update",
            obj=case,
            on_behalf_of=on_behalf,
            details={
                "shared_with_person": getattr(person, "pk", None),
                "shared_with_cell": getattr(cell, "pk", None),
            },
        )
    return share


def case_unshare(*, actor: Person, share: CaseShare) -> None:
    """Withdraw an explicit share; the record keeps both acts."""
    case = share.case
    scope = Scope.for_person(actor)
    if not can_see_case(scope, case):
        raise NotVisible()
    if not can_manage_case(scope, case):
        raise AccessDenied(_("Udostępnienie cofa prowadzący albo przełożony."))
    on_behalf = acting_on_behalf(scope, lambda s: can_manage_case(s, case))
    with transaction.atomic(), translation.override("pl"):
        target = str(share.person or share.cell)
        share.delete()
        case_record_add(
            case,
            actor,
            on_behalf,
            CaseRecordAction.SHARED,
            _("Cofnięto udostępnienie: %(target)s") % {"target": target},
        )
        audit_record(
            actor=actor,
            action="update",
            obj=case,
            on_behalf_of=on_behalf,
            details={"unshared": target},
        )


def case_set_kind(*, actor: Person, case: Case, kind: str) -> Case:
    """Change the kind of matter and recompute the statutory deadline from the opening."""
    if kind not in DeadlineKind.values:
        raise DomainError(_("Nieznany rodzaj sprawy."), field="kind")
    if kind in DERIVED_KINDS:
        raise DomainError(
            _("Ten termin ustala się przez przedłużenie terminu, z zawiadomieniem strony."),
            field="kind",
        )
    scope = Scope.for_person(actor)
    if not can_see_case(scope, case):
        raise NotVisible()
    if not can_manage_case(scope, case):
        raise AccessDenied(_("Rodzaj sprawy zmienia prowadzący albo przełożony."))
    if not case.is_active:
        raise DomainError(_("Rodzaj zmienia się tylko w sprawie otwartej."), field="kind")
    on_behalf = acting_on_behalf(scope, lambda s: can_manage_case(s, case))
    first_item = case.incoming_items.order_by("received_at").first()
    start = timezone.localdate(first_item.received_at) if first_item else case.opened_on
    deadline = official_deadline(kind, start)
    with transaction.atomic(), translation.override("pl"):
        case.kind = kind
        case.due_date = deadline.due_date
        case.deadline_basis = deadline.basis
        case.deadline_explanation = deadline.explanation
        case.save(update_fields=["kind", "due_date", "deadline_basis", "deadline_explanation"])
        case_record_add(
            case,
            actor,
            on_behalf,
            CaseRecordAction.DEADLINE_SET,
            f"{DeadlineKind(kind).label}: "
            + (
                f"{deadline.due_date:%d.%m.%Y} ({deadline.basis}) {deadline.explanation}"
                if deadline.due_date
                else str(_("bez terminu"))
            ),
        )
        audit_record(
            actor=actor,
            action="update",
            obj=case,
            on_behalf_of=on_behalf,
            details={"kind": kind, "due_date": str(deadline.due_date)},
        )
    return case


# Kinds whose deadline the law lets the body move, with the longest allowed term
# counted from the original start (None: no fixed ceiling, e.g. KPA art. 36).
EXTENDABLE_KINDS: dict[str, tuple[str, int | None]] = {
    DeadlineKind.KPA_IMMEDIATE: ("art. 36 § 1 KPA", None),
    DeadlineKind.KPA_INVESTIGATION: ("art. 36 § 1 KPA", None),
    DeadlineKind.KPA_COMPLEX: ("art. 36 § 1 KPA", None),
    DeadlineKind.KPA_APPEAL: ("art. 36 § 1 KPA", None),
    DeadlineKind.CERTIFICATE: ("art. 36 § 1 KPA", None),
    DeadlineKind.PUBLIC_INFORMATION: (
        "art. 13 ust. 2 ustawy o dostępie do informacji publicznej",
        2,
    ),
    DeadlineKind.WHISTLEBLOWER_FEEDBACK: ("ustawa o ochronie sygnalistów", 6),
}


def case_extend_deadline(
    *, actor: Person, case: Case, new_due_date: datetime.date, reason: str
) -> Case:
    """Move the deadline where the law allows it, with the notice the law requires.

    KPA art. 36: the party is told the reason, the new date and the right to
    complain about delay. Public information (UDIP art. 13 ust. 2): up to two
    months from the request, notified before the 14 days run out. A
    whistleblower's feedback: up to six months. Everything goes to the record.
    """
    from garnizon.cases.deadlines import add_months, format_date

    scope = Scope.for_person(actor)
    if not can_see_case(scope, case):
        raise NotVisible()
    if not can_manage_case(scope, case):
        raise AccessDenied(_("Termin zmienia prowadzący albo przełożony."))
    if case.kind not in EXTENDABLE_KINDS:
        raise DomainError(
            _("Terminu sprawy rodzaju „%(kind)s” nie można przedłużyć.")
            % {"kind": DeadlineKind(case.kind).label},
            field="new_due_date",
        )
    reason = (reason or "").strip()
    if not reason:
        raise DomainError(_("Podaj przyczynę zwłoki."), field="reason")
    today = timezone.localdate()
    if new_due_date <= max(today, case.due_date or today):
        raise DomainError(
            _("Nowy termin musi być późniejszy niż obecny i niż dzisiejsza data."),
            field="new_due_date",
        )
    basis, ceiling_months = EXTENDABLE_KINDS[case.kind]
    first_item = case.incoming_items.order_by("received_at").first()
    start = timezone.localdate(first_item.received_at) if first_item else case.opened_on
    original = official_deadline(case.kind, start)
    if ceiling_months is not None:
        if original.due_date and today > original.due_date:
            raise DomainError(
                _("Zawiadomienie o przedłużeniu trzeba wysłać przed upływem terminu (%(date)s).")
                % {"date": format_date(original.due_date)},
                field="new_due_date",
            )
        ceiling = add_months(start, ceiling_months)
        if new_due_date > ceiling:
            raise DomainError(
                _("Termin można przedłużyć najwyżej do %(date)s (%(months)s mies. od %(start)s).")
                % {
                    "date": format_date(ceiling),
                    "months": ceiling_months,
                    "start": format_date(start),
                },
                field="new_due_date",
            )
    on_behalf = acting_on_behalf(scope, lambda s: can_manage_case(s, case))
    with transaction.atomic(), translation.override("pl"):
        case = Case.objects.select_for_update().get(pk=case.pk)
        old = case.due_date
        case.due_date = new_due_date
        case.deadline_basis = f"{original.basis}; {basis}" if original.basis else basis
        case.deadline_explanation = _(
            "%(original)s Przedłużono do %(new)s (%(basis)s): %(reason)s"
        ) % {
            "original": original.explanation,
            "new": format_date(new_due_date),
            "basis": basis,
            "reason": reason,
        }
        case.save(update_fields=["due_date", "deadline_basis", "deadline_explanation"])
        case_record_add(
            case,
            actor,
            on_behalf,
            CaseRecordAction.DEADLINE_SET,
            _(
                "Przedłużenie terminu z %(old)s do %(new)s (%(basis)s). Przyczyna: %(reason)s. "
                "Stronę należy zawiadomić o przyczynie, nowym terminie i prawie do wniesienia "
                "ponaglenia."
            )
            % {
                "old": format_date(old) if old else "–",
                "new": format_date(new_due_date),
                "basis": basis,
                "reason": reason,
            },
        )
        audit_record(
            actor=actor,
            action="update",
            obj=case,
            on_behalf_of=on_behalf,
            details={"due_date": [str(old), new_due_date.isoformat()], "reason": reason},
        )
    return case


# --- the case record, shared with the registers and documents ------------------------------


def case_record_add(
    case: Case,
    actor: Person,
    on_behalf: Person | None,
    action: str,
    description: str,
    document_ref: str = "",
) -> CaseRecordEntry:
    """Append one line to the case record (metryka), inside the caller's transaction.

    Called by the services of this app and of the registers and documents, after
    they have checked the act; the actor's name and post are copied as they are now.
    """
    return CaseRecordEntry.objects.create(
        case=case,
        occurred_at=timezone.now(),
        actor=actor,
        actor_name=str(actor),
        actor_position=_position_title(actor),
        on_behalf_of=on_behalf,
        on_behalf_of_name=str(on_behalf) if on_behalf else "",
        action=action,
        description=str(description),
        document_ref=document_ref,
    )


# --- helpers -----------------------------------------------------------------------------


def _position_title(person: Person) -> str:
    """The person's post for the record, looked up once per request object."""
    cached = getattr(person, "_garnizon_position_title", None)
    if cached is None:
        cached = person.position_title()
        person._garnizon_position_title = cached  # type: ignore[attr-defined]
    return cached


def _terms_fixer(current: Assignment) -> Assignment | None:
    """The assignment in `current`'s chain that set the method or deadline first.

    A registry clerk's routing to a cell sets neither, so it does not bind the
    head who then gives the item a deadline; that head's assignment does.
    """
    fixer = None
    node: Assignment | None = current
    while node is not None:
        if node.deadline is not None or node.method != AssignmentMethod.HANDLE:
            fixer = node
        node = node.parent
    return fixer


def _holds_position_in(person: Person, cell: Cell) -> bool:
    return Position.objects.active().filter(person=person, cell=cell).exists()


def _current_assignment(
    *, case: Case | None, incoming_item: IncomingItem | None
) -> Assignment | None:
    return (
        Assignment.objects.select_for_update()
        .filter(
            case=case, incoming_item=incoming_item, is_current=True, method=AssignmentMethod.HANDLE
        )
        .select_related("to_cell")
        .order_by("-id")
        .first()
    )


def _can_see_target(scope: Scope, case: Case | None, item: IncomingItem | None) -> bool:
    if case is not None:
        return can_see_case(scope, case)
    from garnizon.registry.selectors import incoming_visibility_q

    return IncomingItem.objects.filter(incoming_visibility_q(scope), pk=item.pk).exists()  # type: ignore[union-attr]


def _check_item_attachable(
    scope: Scope, item: IncomingItem, cell: Cell, case: Case | None = None
) -> None:
    """An item goes into a case of the cell it was assigned to (or a sub-cell of it), of
    its personal assignee, or of someone who manages the cell holding it."""
    from garnizon.registry.selectors import incoming_visibility_q

    if not IncomingItem.objects.filter(incoming_visibility_q(scope), pk=item.pk).exists():
        raise NotVisible(_("Nie ma takiej przesyłki albo nie masz do niej dostępu."))
    if item.unit_id != cell.unit_id:
        raise DomainError(_("Przesyłka wpłynęła do innej jednostki."), field="incoming_item")
    if item.case_id is not None:
        raise DomainError(
            _("Przesyłka %(number)s jest już w sprawie %(sign)s.")
            % {"number": item.registration_number, "sign": item.case.sign},  # type: ignore[union-attr]
            field="incoming_item",
        )
    holder = item.assigned_cell
    if not (
        item.assigned_person_id in scope.person_ids
        or (holder is not None and holder.path.startswith(cell.path))
        or (holder is not None and can_manage_cell(scope, holder))
        or (holder is None and can_manage_cell(scope, cell))
    ):
        raise AccessDenied(
            _("Przesyłka %(number)s jest przydzielona innej komórce.")
            % {"number": item.registration_number}
        )
    if case is not None and item.is_restricted and not case.is_restricted:
        raise DomainError(
            _(
                "Przesyłki o ograniczonym dostępie nie dołącza się do sprawy dostępnej dla "
                "całej komórki."
            ),
            field="incoming_item",
        )


def _replay(existing: Case, actor: Person, scope: Scope, **expected: object) -> Case:
    """A resubmitted form returns the case it created, only to its author, only while
    they can still see it, and only for the same request."""
    if existing.created_by_id != actor.pk:
        raise DomainError(_("Ten formularz został już wysłany przez inną osobę."), code="duplicate")
    if not can_see_case(scope, existing):
        raise NotVisible()
    if any(getattr(existing, field) != value for field, value in expected.items()):
        raise DomainError(
            _("Ten identyfikator formularza użyto już dla innej sprawy."), code="duplicate"
        )
    existing.replayed = True  # type: ignore[attr-defined]  # the API answers 200
    return existing
