"""Regression tests for need-to-know and permission holes found in review.

Each test failed before its fix; together with the permission matrices in
test_web.py and test_api.py they pin who may see and do what.
"""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone

from garnizon.cases import services as cs
from garnizon.cases.models import Case, CaseShare
from garnizon.cases.selectors import cases_visible_to
from garnizon.common.errors import AccessDenied, DomainError, NotVisible
from garnizon.org.models import CellDesignation, Position, Role
from garnizon.registry.models import Channel, IncomingItem, OutgoingItem
from garnizon.registry.selectors import outgoing_visible_to
from garnizon.registry.services import incoming_item_register, outgoing_item_register

pytestmark = pytest.mark.django_db
TODAY = timezone.localdate


def open_case(g, actor="handler", cell="kwp_i_1", subject="Sprawa jawna", **kwargs) -> Case:
    return cs.case_open(
        actor=g.people[actor],
        cell=g.cells[cell],
        classification=g.classes["052"],
        subject=subject,
        **kwargs,
    )


def whistleblower_case(g) -> Case:
    p = g.people
    item = incoming_item_register(
        actor=p["clerk"],
        unit=g.kwp,
        subject="Zgłoszenie sygnalisty",
        channel=Channel.PAPER,
        is_restricted=True,
        assigned_cell=g.cells["kwp_i_1"],
        assigned_person=p["handler"],
    )
    case = cs.case_open(
        actor=p["handler"],
        cell=g.cells["kwp_i_1"],
        classification=g.classes["052"],
        subject="",
        incoming_item=item,
    )
    assert case.is_restricted
    return case


def test_dispatches_in_a_restricted_case_stay_hidden_from_unit_wide_roles(garrison):
    g = garrison
    case = whistleblower_case(g)
    dispatch = outgoing_item_register(
        actor=g.people["handler"],
        unit=g.kwp,
        case=case,
        subject="Informacja zwrotna",
        channel=Channel.EMAIL,
        addressee_name="Anna Sygnalistka",
    )
    ordinary = outgoing_item_register(
        actor=g.people["clerk"],
        unit=g.kwp,
        subject="Pismo",
        channel=Channel.EMAIL,
        addressee_name="Jan Kowalski",
    )
    for name in ("archivist", "commander", "clerk"):
        visible = set(outgoing_visible_to(g.people[name]).values_list("pk", flat=True))
        assert dispatch.pk not in visible and ordinary.pk in visible, name
    assert outgoing_visible_to(g.people["handler"]).filter(pk=dispatch.pk).exists()


def test_a_restricted_case_opened_for_another_cell_stays_visible_to_its_opener(garrison):
    g = garrison
    item = incoming_item_register(
        actor=g.people["commander"],
        unit=g.kwp,
        subject="Sygnalista",
        channel=Channel.PAPER,
        is_restricted=True,
    )
    case = cs.case_open(
        actor=g.people["commander"],
        cell=g.cells["kwp_i_1"],
        classification=g.classes["052"],
        subject="",
        incoming_item=item,
    )
    assert case.is_restricted and case.handler is None
    assert cases_visible_to(g.people["commander"]).filter(pk=case.pk).exists()
    assert not cases_visible_to(g.people["handler2"]).filter(pk=case.pk).exists()


def test_a_restricted_item_does_not_go_into_an_ordinary_case(garrison):
    g = garrison
    secret = incoming_item_register(
        actor=g.people["head"],
        unit=g.kwp,
        subject="TAJNE",
        channel=Channel.PAPER,
        is_restricted=True,
        assigned_cell=g.cells["kwp_i"],
        assigned_person=g.people["head"],
    )
    case = open_case(g, actor="head")
    with pytest.raises(DomainError):
        cs.case_attach_item(actor=g.people["head"], case=case, incoming_item=secret)
    secret.refresh_from_db()
    assert secret.case is None


def test_replaying_a_form_token_needs_the_same_request_and_access(garrison):
    g = garrison
    p = g.people
    case = open_case(g, client_token="tok-1")
    assert open_case(g, client_token="tok-1").pk == case.pk  # a plain resubmission
    with pytest.raises(DomainError):  # the same token for another cell
        open_case(g, cell="kwp_i", actor="head", client_token="tok-1")
    # The author moves to another cell and no longer sees the case.
    Position.objects.filter(person=p["handler"]).update(
        valid_to=TODAY() - datetime.timedelta(days=1)
    )
    Position.objects.create(
        person=p["handler"], cell=g.cells["kwp_ii"], role=Role.CASE_HANDLER, title="referent"
    )
    Case.objects.filter(pk=case.pk).update(handler=p["handler2"])
    with pytest.raises(NotVisible):
        open_case(g, cell="kwp_ii", client_token="tok-1")
    item = incoming_item_register(
        actor=p["clerk"], unit=g.kwp, subject="A", channel=Channel.PAPER, client_token="tok-2"
    )
    with pytest.raises(DomainError):
        incoming_item_register(
            actor=p["clerk"], unit=g.kwp, subject="B", channel=Channel.PAPER, client_token="tok-2"
        )
    assert IncomingItem.objects.filter(client_token="tok-2").get().pk == item.pk


@pytest.mark.parametrize("who", ["archivist", "kadry_with_share"])
def test_readers_of_a_case_do_not_dispatch_in_it(garrison, who):
    g = garrison
    case = open_case(g)
    actor = g.people["archivist"]
    if who == "kadry_with_share":
        actor = g.people["kadry"]
        cs.case_share(actor=g.people["handler"], case=case, person=actor)
    with pytest.raises(AccessDenied):
        outgoing_item_register(
            actor=actor,
            unit=g.kwp,
            case=case,
            subject="x",
            channel=Channel.EMAIL,
            addressee_name="Ktoś",
        )
    assert OutgoingItem.objects.count() == 0
    # A colleague from the case's cell may.
    outgoing_item_register(
        actor=g.people["handler2"],
        unit=g.kwp,
        case=case,
        subject="x",
        channel=Channel.EMAIL,
        addressee_name="Ktoś",
    )


def test_a_head_with_a_read_share_cannot_pull_the_case_into_their_cell(garrison):
    g = garrison
    case = open_case(g, actor="kadry", cell="kwp_ii")
    cs.case_share(actor=g.people["kadry"], case=case, person=g.people["head"])
    with pytest.raises(AccessDenied):
        cs.assign(actor=g.people["head"], case=case, to_cell=g.cells["kwp_i_1"])
    assert not cases_visible_to(g.people["handler2"]).filter(pk=case.pk).exists()


def test_a_clerk_routes_a_new_item_to_a_cell_not_to_a_person(garrison):
    g = garrison
    with pytest.raises(AccessDenied):
        incoming_item_register(
            actor=g.people["clerk"],
            unit=g.kwp,
            subject="x",
            channel=Channel.PAPER,
            assigned_cell=g.cells["kwp_i_1"],
            assigned_person=g.people["handler"],
        )
    item = incoming_item_register(
        actor=g.people["head"],
        unit=g.kwp,
        subject="x",
        channel=Channel.PAPER,
        assigned_cell=g.cells["kwp_i_1"],
        assigned_person=g.people["handler"],
    )
    assert item.assigned_person == g.people["handler"]
    # A restricted item goes to a named person, never to the whole cell.
    with pytest.raises(DomainError) as error:
        incoming_item_register(
            actor=g.people["clerk"],
            unit=g.kwp,
            subject="Sygnalista",
            channel=Channel.PAPER,
            assigned_cell=g.cells["kwp_i_1"],
            is_restricted=True,
        )
    assert error.value.field == "assigned_person"
    incoming_item_register(
        actor=g.people["clerk"],
        unit=g.kwp,
        subject="Sygnalista",
        channel=Channel.PAPER,
        assigned_cell=g.cells["kwp_i_1"],
        assigned_person=g.people["handler"],
        is_restricted=True,
    )


@pytest.mark.parametrize(("who", "cell"), [("archivist", "kwp_ii"), ("clerk", "kwp_kan")])
def test_an_item_goes_only_into_a_case_of_the_cell_that_holds_it(garrison, who, cell):
    g = garrison
    item = incoming_item_register(
        actor=g.people["clerk"],
        unit=g.kwp,
        subject="Skarga",
        channel=Channel.PAPER,
        assigned_cell=g.cells["kwp_i_1"],
    )
    Position.objects.create(
        person=g.people[who], cell=g.cells[cell], role=Role.CASE_HANDLER, title="referent"
    )
    with pytest.raises(AccessDenied):
        cs.case_open(
            actor=g.people[who],
            cell=g.cells[cell],
            classification=g.classes["052"],
            subject="",
            incoming_item=item,
        )
    item.refresh_from_db()
    assert item.case is None
    assert open_case(g, incoming_item=item).incoming_items.get() == item


def test_a_clerks_routing_does_not_fix_the_terms_the_head_then_sets(garrison):
    g = garrison
    p = g.people
    item = incoming_item_register(
        actor=p["clerk"],
        unit=g.kwp,
        subject="x",
        channel=Channel.PAPER,
        assigned_cell=g.cells["kwp_i_1"],
    )
    deadline = TODAY() + datetime.timedelta(days=7)
    cs.assign(
        actor=p["head"],
        incoming_item=item,
        to_cell=g.cells["kwp_i_1"],
        to_person=p["handler"],
        deadline=deadline,
    )
    # Now the head's terms bind: the handler passing it on may not change them.
    with pytest.raises(AccessDenied):
        cs.assign(
            actor=p["handler"],
            incoming_item=item,
            to_cell=g.cells["kwp_i_1"],
            to_person=p["handler2"],
            deadline=deadline + datetime.timedelta(days=3),
        )
    passed_on = cs.assign(
        actor=p["handler"], incoming_item=item, to_cell=g.cells["kwp_i_1"], to_person=p["handler2"]
    )
    assert passed_on.deadline == deadline


def test_the_extended_public_information_term_comes_only_from_an_extension(garrison):
    g = garrison
    case = open_case(g, kind="public_information", opened_on=TODAY() - datetime.timedelta(days=30))
    with pytest.raises(DomainError):
        cs.case_set_kind(actor=g.people["handler"], case=case, kind="public_information_extended")
    with pytest.raises(DomainError):
        incoming_item_register(
            actor=g.people["clerk"],
            unit=g.kwp,
            subject="x",
            channel=Channel.PAPER,
            kind="public_information_extended",
        )
    closed = cs.case_change_state(actor=g.people["handler"], case=open_case(g), new_state="closed")
    with pytest.raises(DomainError):
        cs.case_set_kind(actor=g.people["handler"], case=closed, kind="complaint")


def test_a_sign_collision_is_refused_cleanly_and_gives_the_number_back(garrison):
    g = garrison
    first = open_case(g)
    CellDesignation.objects.create(cell=g.cells["kwp_i"], year=TODAY().year, designation="KWP-I-1")
    with pytest.raises(DomainError) as error:
        open_case(g, actor="head", cell="kwp_i")
    assert error.value.code == "sign_collision"
    assert Case.objects.count() == 1 and first.number == 1
    CellDesignation.objects.filter(cell=g.cells["kwp_i"]).delete()
    assert open_case(g, actor="head", cell="kwp_i").number == 1


def test_dates_before_last_year_are_refused(garrison):
    g = garrison
    old = datetime.date(TODAY().year - 2, 12, 31)
    with pytest.raises(DomainError) as error:
        open_case(g, opened_on=old)
    assert error.value.field == "opened_on"
    with pytest.raises(DomainError) as error:
        incoming_item_register(
            actor=g.people["clerk"],
            unit=g.kwp,
            subject="x",
            channel=Channel.PAPER,
            received_at=timezone.make_aware(datetime.datetime(1, 1, 2)),
        )
    assert error.value.field == "received_at"
    assert not CaseShare.objects.exists()
