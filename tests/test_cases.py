"""Cases: opening and signs, assignment rules, states, sharing, the case record."""

from __future__ import annotations

import datetime
import threading

import pytest
from django.db import connections
from django.utils import timezone

from garnizon.cases.models import (
    AssignmentMethod,
    Case,
    CaseRecordAction,
    CaseRecordEntry,
    CaseState,
)
from garnizon.cases.selectors import cases_visible_to
from garnizon.cases.services import (
    assign,
    case_change_state,
    case_get_for_view,
    case_open,
    case_share,
)
from garnizon.common.errors import AccessDenied, DomainError, NotVisible
from garnizon.org.models import CellDesignation, Substitution
from garnizon.registry.models import Channel
from garnizon.registry.services import incoming_item_register
from tests.factories import make_garrison

pytestmark = pytest.mark.django_db
YEAR = timezone.localdate().year


def open_case(g, **kwargs) -> Case:
    defaults = {
        "actor": g.people["handler"],
        "cell": g.cells["kwp_i_1"],
        "classification": g.classes["052"],
        "subject": "Skarga na funkcjonariusza",
    }
    return case_open(**(defaults | kwargs))


def test_case_sign_follows_the_default_template(garrison):
    g = garrison
    first = open_case(g)
    second = open_case(g)
    other_class = open_case(g, classification=g.classes["053"])
    assert first.sign == f"KWP-I-1.052.1.{YEAR}"
    assert second.sign == f"KWP-I-1.052.2.{YEAR}"
    assert other_class.sign == f"KWP-I-1.053.1.{YEAR}"
    assert first.handler == g.people["handler"]


def test_the_yearly_cell_designation_is_used(garrison):
    g = garrison
    CellDesignation.objects.create(cell=g.cells["kwp_i_1"], year=YEAR, designation="KWP-XI-1")
    assert open_case(g).sign == f"KWP-XI-1.052.1.{YEAR}"


def test_the_sign_template_is_configurable(garrison, settings):
    settings.GARNIZON_CASE_SIGN_TEMPLATE = "{CELL}.{JRWA}.{NUMBER}.{YEAR}.{INITIALS}"
    assert open_case(garrison).sign == f"KWP-I-1.052.1.{YEAR}.HK"


def test_cases_open_only_in_terminal_classes_of_the_active_scheme(garrison):
    g = garrison
    with pytest.raises(DomainError) as error:
        open_case(g, classification=g.classes["05"])
    assert error.value.field == "classification"
    g.scheme.is_active = False
    g.scheme.save()
    with pytest.raises(DomainError):
        open_case(g)
    assert Case.objects.count() == 0


def test_only_members_and_superiors_open_cases_in_a_cell(garrison):
    g = garrison
    with pytest.raises(AccessDenied):
        open_case(g, actor=g.people["kadry"])
    head_case = open_case(g, actor=g.people["head"])  # head of the parent cell
    assert head_case.handler is None  # the head is not a member of the sub-cell


def test_opening_from_an_item_links_it_and_records_it(garrison):
    g = garrison
    item = incoming_item_register(
        actor=g.people["clerk"],
        unit=g.kwp,
        subject="Skarga",
        channel=Channel.EMAIL,
        assigned_cell=g.cells["kwp_i_1"],
        sender_name="Jan Kowalski",
    )
    case = open_case(g, incoming_item=item, subject="")
    item.refresh_from_db()
    assert item.case == case
    assert case.subject == "Skarga" and case.correspondent_name == "Jan Kowalski"
    actions = list(case.record.values_list("action", flat=True))
    assert actions[0] == CaseRecordAction.OPENED and CaseRecordAction.ITEM_ATTACHED in actions
    with pytest.raises(DomainError) as error:
        open_case(g, incoming_item=item)
    assert "już w sprawie" in str(error.value.message)


def test_case_record_is_append_only(garrison):
    case = open_case(garrison)
    entry = case.record.first()
    entry.description = "changed"
    with pytest.raises(PermissionError):
        entry.save()
    with pytest.raises(PermissionError):
        entry.delete()
    assert CaseRecordEntry.objects.filter(description="changed").count() == 0


def test_visibility_of_cases_by_role(garrison):
    g = garrison
    skargi = open_case(g)
    kadry = open_case(
        g,
        actor=g.people["kadry"],
        cell=g.cells["kwp_ii"],
        classification=g.classes["101"],
        subject="Akta",
    )
    seen = {
        name: set(cases_visible_to(g.people[name]).values_list("pk", flat=True))
        for name in [
            "handler",
            "handler2",
            "head",
            "commander",
            "archivist",
            "kadry",
            "clerk",
            "kmp_commander",
            "admin",
        ]
    }
    assert seen["handler"] == {skargi.pk}
    assert seen["handler2"] == {skargi.pk}  # same cell
    assert seen["head"] == {skargi.pk}
    assert seen["commander"] == {skargi.pk, kadry.pk}
    assert seen["archivist"] == {skargi.pk, kadry.pk}
    assert seen["kadry"] == {kadry.pk}
    assert seen["admin"] == {kadry.pk}  # an administrator sees only their own cell
    assert seen["clerk"] == set()
    assert seen["kmp_commander"] == set()


def test_viewing_a_case_is_audited_and_hidden_cases_are_not_found(garrison):
    from garnizon.audit.models import AuditEntry

    g = garrison
    case = open_case(g)
    case_get_for_view(actor=g.people["head"], case_id=case.pk)
    assert AuditEntry.objects.filter(
        action="view", object_id=str(case.pk), actor=g.people["head"]
    ).exists()
    with pytest.raises(NotVisible):
        case_get_for_view(actor=g.people["kadry"], case_id=case.pk)


def test_sharing_grants_access_until_its_date(garrison):
    g = garrison
    case = open_case(g)
    with pytest.raises(AccessDenied):
        case_share(actor=g.people["handler2"], case=case, person=g.people["kadry"])
    case_share(
        actor=g.people["handler"],
        case=case,
        person=g.people["kadry"],
        valid_to=timezone.localdate(),
    )
    assert cases_visible_to(g.people["kadry"]).filter(pk=case.pk).exists()
    case.shares.update(valid_to=timezone.localdate() - datetime.timedelta(days=1))
    assert not cases_visible_to(g.people["kadry"]).filter(pk=case.pk).exists()


def test_state_transitions_follow_the_rules(garrison):
    g = garrison
    case = open_case(g)
    with pytest.raises(DomainError):
        case_change_state(
            actor=g.people["handler"], case=case, new_state=CaseState.REOPENED, reason="x"
        )
    with pytest.raises(DomainError) as error:
        case_change_state(actor=g.people["handler"], case=case, new_state=CaseState.SUSPENDED)
    assert error.value.field == "reason"
    with pytest.raises(AccessDenied):
        case_change_state(actor=g.people["handler2"], case=case, new_state=CaseState.CLOSED)
    case = case_change_state(actor=g.people["handler"], case=case, new_state=CaseState.CLOSED)
    assert case.closed_on == timezone.localdate()
    case = case_change_state(
        actor=g.people["head"], case=case, new_state=CaseState.REOPENED, reason="Nowe dowody"
    )
    assert case.state == CaseState.REOPENED and case.closed_on is None
    assert [e.action for e in case.record.all()][-2:] == [
        CaseRecordAction.CLOSED,
        CaseRecordAction.REOPENED,
    ]


def test_further_assignment_keeps_method_and_deadline(garrison):
    g = garrison
    item = incoming_item_register(
        actor=g.people["clerk"], unit=g.kwp, subject="Skarga", channel=Channel.PAPER
    )
    deadline = timezone.localdate() + datetime.timedelta(days=10)
    # The clerk routes the new item to a cell, but may not pick a person.
    with pytest.raises(AccessDenied):
        assign(
            actor=g.people["clerk"],
            incoming_item=item,
            to_cell=g.cells["kwp_i"],
            to_person=g.people["head"],
        )
    first = assign(
        actor=g.people["commander"],
        incoming_item=item,
        to_cell=g.cells["kwp_i"],
        method=AssignmentMethod.HANDLE,
        deadline=deadline,
    )
    # The head passes it on inside the cell; the terms carry over.
    further = assign(
        actor=g.people["head"],
        incoming_item=item,
        to_cell=g.cells["kwp_i_1"],
        to_person=g.people["handler"],
    )
    assert further.parent == first
    assert (further.method, further.deadline) == (AssignmentMethod.HANDLE, deadline)
    # Only the original assigner may change them.
    with pytest.raises(AccessDenied) as error:
        assign(
            actor=g.people["head"],
            incoming_item=item,
            to_cell=g.cells["kwp_i_1"],
            to_person=g.people["handler2"],
            deadline=deadline + datetime.timedelta(days=5),
        )
    assert "dekretujący pierwotnie" in str(error.value.message)
    changed = assign(
        actor=g.people["commander"],
        incoming_item=item,
        to_cell=g.cells["kwp_i_1"],
        to_person=g.people["handler2"],
        deadline=deadline + datetime.timedelta(days=5),
    )
    assert changed.deadline == deadline + datetime.timedelta(days=5)
    item.refresh_from_db()
    assert item.assigned_person == g.people["handler2"]
    assert item.assignments.filter(is_current=True).count() == 1


def test_assigning_a_case_to_a_person_makes_them_the_handler(garrison):
    g = garrison
    case = open_case(g, actor=g.people["head"])
    assign(
        actor=g.people["head"],
        case=case,
        to_cell=g.cells["kwp_i_1"],
        to_person=g.people["handler2"],
    )
    case.refresh_from_db()
    assert case.handler == g.people["handler2"]
    with pytest.raises(NotVisible):
        assign(actor=g.people["kadry"], case=case, to_cell=g.cells["kwp_ii"])


def test_acts_in_substitution_are_recorded_on_behalf(garrison):
    g = garrison
    case = open_case(g, actor=g.people["head"])
    today = timezone.localdate()
    Substitution.objects.create(
        absent=g.people["head"], substitute=g.people["kadry"], date_from=today, date_to=today
    )
    assign(
        actor=g.people["kadry"],
        case=case,
        to_cell=g.cells["kwp_i_1"],
        to_person=g.people["handler"],
    )
    entry = case.record.filter(action=CaseRecordAction.ASSIGNED).get()
    assert entry.actor == g.people["kadry"] and entry.on_behalf_of == g.people["head"]
    # The right ends by itself after the range.
    Substitution.objects.update(
        date_to=today - datetime.timedelta(days=1), date_from=today - datetime.timedelta(days=3)
    )
    with pytest.raises(NotVisible):
        assign(
            actor=g.people["kadry"],
            case=case,
            to_cell=g.cells["kwp_i_1"],
            to_person=g.people["handler2"],
        )


@pytest.mark.django_db(transaction=True)
def test_eight_concurrent_writers_get_gapless_unique_numbers():
    g = make_garrison()
    writers, per_writer = 8, 10
    errors: list[BaseException] = []
    barrier = threading.Barrier(writers)

    def writer() -> None:
        try:
            barrier.wait()
            for _ in range(per_writer):
                open_case(g)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=writer) for _ in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    numbers = sorted(Case.objects.values_list("number", flat=True))
    assert numbers == list(range(1, writers * per_writer + 1))
    assert Case.objects.values("sign").distinct().count() == writers * per_writer


def test_my_work_and_the_commanders_overview_count_due_and_overdue_work(garrison):
    from garnizon.cases.selectors import my_work, workload_by_cell

    g = garrison
    today = timezone.localdate()
    overdue = open_case(g, subject="Zaległa")
    Case.objects.filter(pk=overdue.pk).update(due_date=today - datetime.timedelta(days=2))
    soon = open_case(g, subject="Pilna")
    Case.objects.filter(pk=soon.pk).update(due_date=today + datetime.timedelta(days=1))
    open_case(
        g,
        actor=g.people["kadry"],
        cell=g.cells["kwp_ii"],
        classification=g.classes["101"],
        subject="Bez terminu",
    )
    item = incoming_item_register(
        actor=g.people["head"],
        unit=g.kwp,
        subject="Przesyłka",
        channel=Channel.PAPER,
        assigned_cell=g.cells["kwp_i_1"],
        assigned_person=g.people["handler"],
    )
    work = my_work(g.people["handler"])
    assert [c.pk for c in work["cases"]] == [overdue.pk, soon.pk]
    assert [i.pk for i in work["items"]] == [item.pk]

    lines = {w.cell.symbol: w for w in workload_by_cell(g.people["commander"], soon_days=3)}
    assert (lines["1"].active_cases, lines["1"].overdue_cases, lines["1"].due_soon_cases) == (
        2,
        1,
        1,
    )
    assert lines["II"].active_cases == 1 and lines["II"].overdue_cases == 0
    head_lines = {w.cell.symbol for w in workload_by_cell(g.people["head"], soon_days=3)}
    assert head_lines == {"1"}
    assert workload_by_cell(g.people["kmp_commander"], soon_days=3) == []


def test_extending_a_deadline_follows_the_law_of_its_kind(garrison):
    from garnizon.cases.services import case_extend_deadline

    g = garrison
    today = timezone.localdate()
    item = incoming_item_register(
        actor=g.people["clerk"],
        unit=g.kwp,
        subject="Wniosek UDIP",
        channel=Channel.EMAIL,
        kind="public_information",
        assigned_cell=g.cells["kwp_i_1"],
    )
    case = open_case(g, incoming_item=item, subject="")
    assert case.kind == "public_information" and case.due_date > today
    from garnizon.cases.deadlines import add_months

    with pytest.raises(DomainError) as error:
        case_extend_deadline(
            actor=g.people["handler"],
            case=case,
            new_due_date=add_months(today, 2) + datetime.timedelta(days=1),
            reason="obszerny wniosek",
        )
    assert "najwyżej" in str(error.value.message)
    with pytest.raises(DomainError) as error:
        case_extend_deadline(
            actor=g.people["handler"], case=case, new_due_date=add_months(today, 1), reason=" "
        )
    assert error.value.field == "reason"
    case = case_extend_deadline(
        actor=g.people["handler"],
        case=case,
        new_due_date=add_months(today, 2),
        reason="obszerny wniosek",
    )
    assert case.due_date == add_months(today, 2)
    assert "art. 13 ust. 2" in case.deadline_basis
    entry = case.record.filter(description__contains="Przedłużenie").get()
    assert "obszerny wniosek" in entry.description

    complaint = open_case(g, kind="complaint")
    with pytest.raises(DomainError):
        case_extend_deadline(
            actor=g.people["handler"],
            case=complaint,
            new_due_date=today + datetime.timedelta(days=60),
            reason="x",
        )
    with pytest.raises(AccessDenied):
        case_extend_deadline(
            actor=g.people["handler2"], case=case, new_due_date=add_months(today, 2), reason="x"
        )


def test_a_share_can_be_withdrawn_and_cannot_end_in_the_past(garrison):
    from garnizon.cases.services import case_unshare

    g = garrison
    case = open_case(g)
    with pytest.raises(DomainError) as error:
        case_share(
            actor=g.people["handler"],
            case=case,
            person=g.people["kadry"],
            valid_to=timezone.localdate() - datetime.timedelta(days=1),
        )
    assert error.value.field == "valid_to"
    share = case_share(actor=g.people["handler"], case=case, person=g.people["kadry"])
    assert cases_visible_to(g.people["kadry"]).filter(pk=case.pk).exists()
    with pytest.raises(AccessDenied):
        case_unshare(actor=g.people["handler2"], share=share)
    case_unshare(actor=g.people["head"], share=share)
    assert not cases_visible_to(g.people["kadry"]).filter(pk=case.pk).exists()
    assert case.record.filter(description__startswith="Cofnięto").exists()


def test_only_the_case_cell_or_a_superior_attaches_items(garrison):
    from garnizon.cases.services import case_attach_item

    g = garrison
    case = open_case(g)
    item = incoming_item_register(
        actor=g.people["clerk"],
        unit=g.kwp,
        subject="Uzupełnienie",
        channel=Channel.PAPER,
        assigned_cell=g.cells["kwp_i_1"],
    )
    with pytest.raises(AccessDenied):
        case_attach_item(actor=g.people["archivist"], case=case, incoming_item=item)
    case_attach_item(actor=g.people["handler2"], case=case, incoming_item=item)
    item.refresh_from_db()
    assert item.case == case


def test_stored_deadlines_and_records_are_polish_whatever_the_screen_language(garrison):
    from django.utils import translation

    g = garrison
    with translation.override("en"):
        case = open_case(g, kind="complaint")
    assert "miesiąc" in case.deadline_explanation
    assert case.record.first().description.startswith("Wszczęto sprawę")
