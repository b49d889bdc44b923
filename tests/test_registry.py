"""The incoming and outgoing registers and the address book."""

from __future__ import annotations

import datetime
import threading

import pytest
from django.db import connection, connections
from django.utils import timezone

from garnizon.common.errors import AccessDenied, DomainError
from garnizon.registry.models import Channel, CorrespondentKind, IncomingItem, OutgoingItem
from garnizon.registry.selectors import incoming_visible_to
from garnizon.registry.services import (
    correspondent_create,
    incoming_item_register,
    outgoing_item_register,
)
from tests.factories import make_garrison

pytestmark = pytest.mark.django_db


def register(g, **kwargs) -> IncomingItem:
    defaults = {
        "actor": g.people["clerk"],
        "unit": g.kwp,
        "subject": "Pismo w sprawie",
        "channel": Channel.PAPER,
    }
    return incoming_item_register(**(defaults | kwargs))


def test_numbers_run_per_unit_and_year_without_gaps(garrison):
    g = garrison
    first = register(g)
    second = register(g)
    other_unit = register(g, actor=g.people["kmp_clerk"], unit=g.kmp)
    year = timezone.localdate().year
    assert (first.number, second.number, other_unit.number) == (1, 2, 1)
    assert second.registration_number == f"KWP/RPW/2/{year}"
    assert other_unit.registration_number == f"KMP-LU/RPW/1/{year}"


def test_a_failed_registration_does_not_use_up_a_number(garrison):
    g = garrison
    register(g)
    with pytest.raises(DomainError) as error:
        register(g, subject="   ")
    assert error.value.field == "subject"
    assert register(g).number == 2


def test_a_new_year_starts_numbering_again(garrison):
    g = garrison
    register(g)
    last_year = timezone.now() - datetime.timedelta(days=366)
    old = register(g, received_at=last_year)
    assert old.number == 1 and old.year == last_year.astimezone().year


def test_unknown_values_are_kept_empty_and_shown_as_no_data(garrison):
    item = register(garrison)
    assert item.letter_date is None and item.letter_reference == ""
    from garnizon.common.display import or_no_data

    assert str(or_no_data(item.letter_reference)) == "brak danych"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("channel", "pigeon", "kanał"),
        ("received_at", "future", "niż dziś"),
        ("letter_date", "after", "późniejsza"),
        ("attachments_count", -1, "ujemna"),
    ],
)
def test_bad_input_is_refused_with_a_message_naming_the_field(garrison, field, value, message):
    g = garrison
    now = timezone.now()
    if value == "future":
        value = now + datetime.timedelta(days=2)
    if value == "after":
        value = timezone.localdate() + datetime.timedelta(days=1)
    with pytest.raises(DomainError) as error:
        register(g, **{field: value})
    assert error.value.field == field
    assert message in str(error.value.message)
    assert IncomingItem.objects.count() == 0


def test_only_registering_roles_of_the_unit_may_register(garrison):
    g = garrison
    with pytest.raises(AccessDenied):
        register(g, actor=g.people["handler"])
    with pytest.raises(AccessDenied):
        register(g, actor=g.people["kmp_clerk"])  # another unit
    assert IncomingItem.objects.count() == 0


def test_a_resubmitted_form_returns_the_first_entry(garrison):
    g = garrison
    first = register(g, client_token="abc")
    again = register(g, client_token="abc")
    assert first.pk == again.pk
    assert IncomingItem.objects.count() == 1


def test_assigning_on_registration_records_the_assignment(garrison):
    g = garrison
    item = register(
        g,
        actor=g.people["head"],
        assigned_cell=g.cells["kwp_i_1"],
        assigned_person=g.people["handler"],
    )
    assignment = item.assignments.get()
    assert assignment.to_person == g.people["handler"] and assignment.is_current
    with pytest.raises(DomainError) as error:
        register(
            g,
            actor=g.people["commander"],
            assigned_cell=g.cells["kwp_ii"],
            assigned_person=g.people["handler"],
        )
    assert error.value.field == "assigned_person"


def test_visibility_follows_cells_and_units(garrison):
    g = garrison
    to_skargi = register(g, assigned_cell=g.cells["kwp_i_1"])
    to_kadry = register(g, assigned_cell=g.cells["kwp_ii"])
    restricted = register(
        g,
        assigned_cell=g.cells["kwp_i_1"],
        assigned_person=g.people["handler"],
        is_restricted=True,
    )
    seen = {
        name: set(incoming_visible_to(g.people[name]).values_list("pk", flat=True))
        for name in ["clerk", "handler", "handler2", "head", "commander", "kadry", "kmp_clerk"]
    }
    assert seen["clerk"] == {to_skargi.pk, to_kadry.pk, restricted.pk}  # registered them
    assert seen["handler"] == {to_skargi.pk, restricted.pk}
    assert seen["handler2"] == {to_skargi.pk}  # restricted: only the named person
    assert seen["head"] == {to_skargi.pk}  # sub-cell of the head's cell
    assert seen["commander"] == {to_skargi.pk, to_kadry.pk}
    assert seen["kadry"] == {to_kadry.pk}
    assert seen["kmp_clerk"] == set()


def test_outgoing_register_validates_channel_data(garrison):
    g = garrison
    with pytest.raises(DomainError) as error:
        outgoing_item_register(
            actor=g.people["clerk"],
            unit=g.kwp,
            subject="Odpowiedź",
            channel=Channel.EDORECZENIA,
            addressee_name="Urząd Miasta Lublin",
        )
    assert error.value.field == "edoreczenia_address"
    with pytest.raises(DomainError) as error:
        outgoing_item_register(
            actor=g.people["clerk"],
            unit=g.kwp,
            subject="Odpowiedź",
            channel=Channel.PAPER,
            addressee_name="Jan Kowalski",
        )
    assert error.value.field == "address"
    item = outgoing_item_register(
        actor=g.people["clerk"],
        unit=g.kwp,
        subject="Odpowiedź",
        channel=Channel.PAPER,
        addressee_name="Jan Kowalski",
        address="ul. Krótka 1, 20-001 Lublin",
        return_receipt=True,
    )
    assert item.registered_mail and item.return_receipt
    assert item.registration_number.startswith("KWP/RPWych/1/")
    assert OutgoingItem.objects.count() == 1


def test_address_book_validates_the_edoreczenia_address(garrison):
    g = garrison
    with pytest.raises(DomainError) as error:
        correspondent_create(
            actor=g.people["clerk"],
            kind=CorrespondentKind.PUBLIC_BODY,
            name="Urząd Miasta",
            edoreczenia_address="AE:PL-1234-67890-ABCDE-12",
        )
    assert error.value.field == "edoreczenia_address"
    with pytest.raises(DomainError) as error:
        correspondent_create(
            actor=g.people["clerk"], kind=CorrespondentKind.PUBLIC_BODY, name="Urząd Miasta"
        )
    assert "obowiązkowy" in str(error.value.message)
    body = correspondent_create(
        actor=g.people["clerk"],
        kind=CorrespondentKind.PUBLIC_BODY,
        name="Urząd Miasta",
        edoreczenia_address="ae:pl-12345-67890-abcde-12",
        postal_code="20-950",
    )
    assert body.edoreczenia_address == "AE:PL-12345-67890-ABCDE-12"
    with pytest.raises(DomainError) as error:
        correspondent_create(
            actor=g.people["clerk"],
            kind=CorrespondentKind.PERSON,
            name="Jan",
            postal_code="20950",
        )
    assert error.value.field == "postal_code"


@pytest.mark.django_db(transaction=True)
def test_concurrent_double_submit_creates_one_entry():
    g = make_garrison()
    results: list[int] = []
    created: list[bool] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def submit() -> None:
        try:
            barrier.wait()
            item = register(g, client_token="same-form")
            results.append(item.pk)
            created.append(not getattr(item, "replayed", False))
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=submit) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(set(results)) == 1
    assert sorted(created) == [False, False, False, True]  # one created, three replayed
    assert IncomingItem.objects.count() == 1
    assert IncomingItem.objects.get().number == 1
    assert connection.vendor in {"sqlite", "postgresql"}


def test_an_auditor_only_reads_the_address_book(garrison):
    g = garrison
    with pytest.raises(AccessDenied):
        correspondent_create(
            actor=g.people["auditor"], kind=CorrespondentKind.PERSON, name="Jan Nowak"
        )


def test_the_register_page_equals_the_plain_visibility_query_page_by_page(garrison):
    """`incoming_register_page` reads each arm of need-to-know from its own index;
    walked to the end, it must give exactly the rows of the plain OR query."""
    import random

    from garnizon.cases.models import Assignment
    from garnizon.org.models import Substitution
    from garnizon.registry.selectors import (
        IncomingFilters,
        incoming_register_page,
        incoming_visible_to,
    )

    g = garrison
    rng = random.Random(7)
    cells = [c for k, c in g.cells.items() if k.startswith("kwp")]
    people = [g.people[k] for k in ("handler", "handler2", "head", "kadry")]
    for n in range(120):
        cell = rng.choice([*cells, None])
        person = rng.choice([p for p in people if cell and p.positions.filter(cell=cell)] or [None])
        item = register(
            g,
            actor=g.people["commander"] if person else g.people["clerk"],
            subject=f"Pismo {n}",
            assigned_cell=cell,
            assigned_person=person,
            is_restricted=person is not None and rng.random() < 0.3,
            channel=rng.choice([Channel.PAPER, Channel.EMAIL]),
        )
        if rng.random() < 0.1:
            Assignment.objects.create(
                incoming_item=item,
                to_cell=g.cells["kwp_ii"],
                to_person=g.people["kadry"],
                method="inform",
                assigned_by=g.people["commander"],
            )
    Substitution.objects.create(
        absent=g.people["handler"],
        substitute=g.people["kadry"],
        date_from=timezone.localdate(),
        date_to=timezone.localdate(),
    )
    for name in ["clerk", "handler", "handler2", "head", "commander", "kadry", "kmp_clerk"]:
        person = g.people[name]
        for filters in (IncomingFilters(), IncomingFilters(channel=Channel.EMAIL)):
            expected = list(
                incoming_visible_to(person)
                .filter(**({"channel": filters.channel} if filters.channel else {}))
                .order_by("-pk")
                .values_list("pk", flat=True)
            )
            got: list[int] = []
            cursor = None
            while True:
                page = incoming_register_page(
                    person=person, filters=filters, before_id=cursor, limit=7
                )
                got += [row.pk for row in page.rows]
                if page.next_cursor is None:
                    break
                cursor = page.next_cursor
            assert got == expected, name


def test_a_scope_handed_in_for_someone_else_is_not_used(garrison):
    """`scope=` saves a caller the look-up; another person's Scope is ignored, not borrowed."""
    from garnizon.org.access import Scope
    from garnizon.registry.services import incoming_item_register

    borrowed = Scope.for_person(garrison.people["clerk"])  # may register in KWP
    with pytest.raises(AccessDenied):
        incoming_item_register(
            actor=garrison.people["kmp_clerk"],
            unit=garrison.kwp,
            subject="Pismo",
            channel=Channel.PAPER,
            scope=borrowed,
        )
    assert not IncomingItem.objects.exists()
