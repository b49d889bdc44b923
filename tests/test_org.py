"""The organisation: cells and designations, scopes, substitutions."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone

from garnizon.common.errors import AccessDenied, DomainError
from garnizon.org.access import Scope
from garnizon.org.models import CellDesignation, Substitution
from garnizon.org.services import substitution_create, substitution_end

pytestmark = pytest.mark.django_db
TODAY = timezone.localdate


def test_cell_paths_and_designations(garrison):
    g = garrison
    sub = g.cells["kwp_i_1"]
    assert sub.path == f"/{g.cells['kwp_i'].pk}/{sub.pk}/"
    assert sub.designation() == "KWP-I-1"
    CellDesignation.objects.create(cell=sub, year=2020, designation="KWP-X-1")
    assert sub.designation(2020) == "KWP-X-1" and sub.designation(2021) == "KWP-I-1"


def test_a_head_sees_the_subtree_and_a_commander_the_unit(garrison):
    g = garrison
    head_cells = set(Scope.for_person(g.people["head"]).visible_cells())
    assert head_cells == {g.cells["kwp_i"], g.cells["kwp_i_1"]}
    commander_cells = set(Scope.for_person(g.people["commander"]).visible_cells())
    assert commander_cells == {c for k, c in g.cells.items() if k.startswith("kwp")}


def test_who_may_arrange_a_substitution(garrison):
    g = garrison
    p = g.people
    today = TODAY()
    args = {"date_from": today, "date_to": today + datetime.timedelta(days=5)}
    substitution_create(actor=p["handler"], absent=p["handler"], substitute=p["handler2"], **args)
    substitution_create(actor=p["head"], absent=p["handler2"], substitute=p["handler"], **args)
    substitution_create(actor=p["admin"], absent=p["head"], substitute=p["handler"], **args)
    with pytest.raises(AccessDenied):
        substitution_create(actor=p["handler2"], absent=p["head"], substitute=p["handler2"], **args)
    with pytest.raises(AccessDenied):  # another unit's commander
        substitution_create(
            actor=p["kmp_commander"], absent=p["handler"], substitute=p["handler2"], **args
        )
    assert Substitution.objects.count() == 3


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"substitute": "kmp_handler"}, "substitute"),
        ({"substitute": "handler"}, "substitute"),
        ({"date_from": -1}, "date_from"),
        ({"date_to": -2}, "date_to"),
        ({"date_to": 400}, "date_to"),
    ],
)
def test_bad_substitutions_are_refused(garrison, change, field):
    p = garrison.people
    today = TODAY()
    kwargs = {
        "actor": p["handler"],
        "absent": p["handler"],
        "substitute": p["handler2"],
        "date_from": today,
        "date_to": today,
    }
    for key, value in change.items():
        kwargs[key] = p[value] if isinstance(value, str) else today + datetime.timedelta(days=value)
    with pytest.raises(DomainError) as error:
        substitution_create(**kwargs)
    assert error.value.field == field
    assert Substitution.objects.count() == 0


def test_a_substitution_gives_the_absent_persons_scope_only_in_its_range(garrison):
    g = garrison
    p = g.people
    today = TODAY()
    sub = substitution_create(
        actor=p["head"],
        absent=p["head"],
        substitute=p["kadry"],
        date_from=today + datetime.timedelta(days=1),
        date_to=today + datetime.timedelta(days=2),
    )
    assert g.cells["kwp_i"] not in set(Scope.for_person(p["kadry"]).visible_cells())
    tomorrow = today + datetime.timedelta(days=1)
    assert g.cells["kwp_i"] in set(Scope.for_person(p["kadry"], on=tomorrow).visible_cells())
    after = today + datetime.timedelta(days=3)
    assert g.cells["kwp_i"] not in set(Scope.for_person(p["kadry"], on=after).visible_cells())
    # Not started yet: ending it cancels it.
    substitution_end(actor=p["kadry"], substitution=sub)
    assert not Substitution.objects.filter(pk=sub.pk).exists()


def test_the_admin_console_is_for_administrators_and_scoped_to_their_unit(garrison):
    from django.test import Client

    from garnizon.audit.models import AuditEntry
    from tests.factories import PASSWORD

    g = garrison
    clerk = Client()
    clerk.login(username=g.people["clerk"].username, password=PASSWORD)
    assert clerk.get("/admin/").status_code == 302  # to the admin login
    admin_client = Client()
    admin_client.login(username=g.people["admin"].username, password=PASSWORD)
    assert admin_client.get("/admin/").status_code == 200
    people = admin_client.get("/admin/org/person/").content.decode()
    assert g.people["handler"].username in people
    assert g.people["kmp_handler"].username not in people
    other_unit_person = f"/admin/org/person/{g.people['kmp_handler'].pk}/change/"
    assert admin_client.get(other_unit_person).status_code in (302, 404)
    response = admin_client.post(
        "/admin/org/cell/add/",
        {
            "unit": g.kwp.pk,
            "name": "Zespół Nowy",
            "symbol": "ZN",
            "is_active": "on",
            "designations-TOTAL_FORMS": "0",
            "designations-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302
    cell = g.kwp.cells.get(symbol="ZN")
    assert AuditEntry.objects.filter(object_type="org.cell", object_id=str(cell.pk)).exists()
    response = admin_client.post(
        "/admin/org/cell/add/",
        {
            "unit": g.kmp.pk,
            "name": "Obca",
            "symbol": "OB",
            "is_active": "on",
            "designations-TOTAL_FORMS": "0",
            "designations-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 200  # the other unit is not a valid choice
    assert not g.kmp.cells.filter(symbol="OB").exists()


# --- the admin console: substitutions, positions ------------------------------------------


def _admin_client(person):
    from django.test import Client

    from tests.factories import PASSWORD

    client = Client()
    assert client.login(username=person.username, password=PASSWORD)
    return client


def _position_form(
    person,
    extra: list[dict] | None = None,
    changes: dict | None = None,
    delete: set[int] | None = None,
) -> dict:
    """The person's change form as the console posts it: account fields and positions."""
    from garnizon.org.models import Position

    data = {
        "username": person.username,
        "first_name": person.first_name,
        "last_name": person.last_name,
        "email": person.email,
        "unit": person.unit_id,
        "is_active": "on",
        "date_joined_0": "2026-01-01",
        "date_joined_1": "10:00:00",
    }
    rows = []
    for position in Position.objects.filter(person=person).order_by("pk"):
        row = {
            "id": position.pk,
            "person": person.pk,
            "cell": position.cell_id,
            "title": position.title,
            "role": position.role,
            "valid_from": position.valid_from.isoformat(),
            "valid_to": position.valid_to.isoformat() if position.valid_to else "",
        }
        row.update((changes or {}).get(position.pk, {}))
        if position.pk in (delete or set()):
            row["DELETE"] = "on"
        rows.append(row)
    initial = len(rows)
    rows += extra or []
    data.update(
        {
            "positions-TOTAL_FORMS": str(len(rows)),
            "positions-INITIAL_FORMS": str(initial),
            "positions-MIN_NUM_FORMS": "0",
            "positions-MAX_NUM_FORMS": "1000",
        }
    )
    for index, row in enumerate(rows):
        for key, value in row.items():
            data[f"positions-{index}-{key}"] = value
    return data


def _new_position(garrison, person, role, cell="kwp_i_1", **extra) -> dict:
    return {
        "person": person.pk,
        "cell": garrison.cells[cell].pk,
        "title": "Nowe stanowisko",
        "role": role,
        "valid_from": "2026-01-01",
        "valid_to": "",
        **extra,
    }


def test_the_admin_console_only_lists_substitutions(garrison):
    """Substitutions are arranged on their page, by `substitution_create` and its rules:
    the console adds, changes and deletes none (a forged, backdated, year-long one included)."""
    p = garrison.people
    today = TODAY()
    substitution = substitution_create(
        actor=p["head"],
        absent=p["handler"],
        substitute=p["handler2"],
        date_from=today,
        date_to=today,
    )
    client = _admin_client(p["admin"])
    assert client.get("/admin/org/substitution/").status_code == 200
    response = client.post(
        "/admin/org/substitution/add/",
        {
            "absent": p["commander"].pk,
            "substitute": p["admin"].pk,
            "date_from": "2020-01-01",
            "date_to": "2030-12-31",
            "reason": "x",
            "created_by": p["commander"].pk,
        },
    )
    assert response.status_code == 403
    assert not Substitution.objects.filter(absent=p["commander"]).exists()
    change_url = f"/admin/org/substitution/{substitution.pk}/change/"
    page = client.get(change_url)
    assert page.status_code == 200 and 'name="date_to"' not in page.content.decode()
    client.post(
        change_url,
        {
            "absent": p["handler"].pk,
            "substitute": p["handler2"].pk,
            "date_from": "2020-01-01",
            "date_to": "2030-12-31",
        },
    )
    assert (
        client.post(
            f"/admin/org/substitution/{substitution.pk}/delete/", {"post": "yes"}
        ).status_code
        == 403
    )
    substitution.refresh_from_db()
    assert (substitution.date_from, substitution.date_to) == (today, today)


def test_a_unit_administrator_manages_positions_in_the_console_with_an_audit_trail(garrison):
    from garnizon.audit.models import AuditEntry
    from garnizon.org.models import Position, Role

    g = garrison
    p = g.people
    client = _admin_client(p["admin"])
    url = f"/admin/org/person/{p['handler'].pk}/change/"
    page = client.get(url).content.decode()
    assert "positions-TOTAL_FORMS" in page  # the inline is there, editable
    response = client.post(
        url, _position_form(p["handler"], extra=[_new_position(g, p["handler"], Role.CELL_HEAD)])
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    head_post = Position.objects.get(person=p["handler"], role=Role.CELL_HEAD)
    created = AuditEntry.objects.get(object_type="org.position", object_id=str(head_post.pk))
    assert created.action == "create" and created.unit_id == g.kwp.pk
    assert created.actor_username == p["admin"].username
    # Ending a position is a change, audited with what changed.
    response = client.post(
        url, _position_form(p["handler"], changes={head_post.pk: {"valid_to": "2026-06-30"}})
    )
    assert response.status_code == 302
    head_post.refresh_from_db()
    assert head_post.valid_to == datetime.date(2026, 6, 30)
    updated = AuditEntry.objects.filter(
        object_type="org.position", object_id=str(head_post.pk)
    ).last()
    assert updated.action == "update" and updated.details["changed"] == ["valid_to"]


@pytest.mark.parametrize("role", ["administrator", "auditor", "unit_commander"])
def test_a_unit_administrator_hands_out_no_reserved_role(garrison, role):
    from garnizon.org.models import Position

    g = garrison
    p = g.people
    client = _admin_client(p["admin"])
    url = f"/admin/org/person/{p['handler'].pk}/change/"
    before = Position.objects.count()
    response = client.post(
        url, _position_form(p["handler"], extra=[_new_position(g, p["handler"], role)])
    )
    assert response.status_code == 200
    assert "nadaje tylko administrator całego garnizonu" in response.content.decode()
    # Nor by turning an existing position into one.
    handler_post = Position.objects.get(person=p["handler"])
    response = client.post(
        url, _position_form(p["handler"], changes={handler_post.pk: {"role": role}})
    )
    assert response.status_code == 200
    assert Position.objects.count() == before
    assert not Position.objects.filter(role=role, person=p["handler"]).exists()


def test_reserved_roles_are_for_a_garrison_wide_administrator_who_also_deletes(garrison):
    from garnizon.audit.models import AuditEntry
    from garnizon.org.models import Position, Role

    g = garrison
    p = g.people
    # A unit administrator only views the account of someone in a reserved role:
    # changing it (password, positions, deactivation) is for a garrison-wide one.
    commander_post = Position.objects.get(person=p["commander"])
    unit_admin = _admin_client(p["admin"])
    url = f"/admin/org/person/{p['commander'].pk}/change/"
    page = unit_admin.get(url)
    assert page.status_code == 200 and "positions-0-DELETE" not in page.content.decode()
    response = unit_admin.post(
        url, _position_form(p["commander"], changes={commander_post.pk: {"valid_to": "2026-12-31"}})
    )
    assert response.status_code == 403
    commander_post.refresh_from_db()
    assert commander_post.valid_to is None
    Position.objects.filter(person=p["admin"]).update(garrison_wide=True)
    wide_admin = _admin_client(p["admin"])
    response = wide_admin.post(
        f"/admin/org/person/{p['handler'].pk}/change/",
        _position_form(p["handler"], extra=[_new_position(g, p["handler"], Role.AUDITOR)]),
    )
    assert response.status_code == 302
    assert Position.objects.filter(person=p["handler"], role=Role.AUDITOR).exists()
    response = wide_admin.post(url, _position_form(p["commander"], delete={commander_post.pk}))
    assert response.status_code == 302
    assert not Position.objects.filter(pk=commander_post.pk).exists()
    assert AuditEntry.objects.filter(
        object_type="org.position", action="delete", object_id=str(commander_post.pk)
    ).exists()


def test_an_administrator_does_not_edit_their_own_positions(garrison):
    from garnizon.org.models import Position, Role

    g = garrison
    p = g.people
    client = _admin_client(p["admin"])
    url = f"/admin/org/person/{p['admin'].pk}/change/"
    page = client.get(url).content.decode()
    assert 'name="positions-0-role"' not in page  # shown, read-only
    client.post(
        url,
        _position_form(
            p["admin"],
            extra=[_new_position(g, p["admin"], Role.UNIT_COMMANDER)],
            changes={Position.objects.get(person=p["admin"]).pk: {"garrison_wide": "on"}},
        ),
    )
    assert list(
        Position.objects.filter(person=p["admin"]).values_list("role", "garrison_wide")
    ) == [(Role.ADMINISTRATOR, False)]


# --- cells: symbols, designations, moves --------------------------------------------------


@pytest.mark.parametrize("symbol", ["I-1", "I.1", "I 1", " I", "I\t"])
def test_a_cell_symbol_has_no_hyphen_dot_or_space(garrison, symbol):
    from django.core.exceptions import ValidationError

    from garnizon.org.models import Cell

    with pytest.raises(ValidationError) as error:
        Cell(unit=garrison.kwp, name="Zespół", symbol=symbol).full_clean()
    assert "symbol" in error.value.message_dict
    assert "łącznika" in error.value.message_dict["symbol"][0]


def test_two_cells_cannot_share_a_designation(garrison):
    from django.core.exceptions import ValidationError

    from garnizon.org.models import Cell

    g = garrison
    year = TODAY().year
    # A second top-level "I" of the same unit (the unique constraint lets NULL parents by).
    with pytest.raises(ValidationError, match="KWP-I"):
        Cell(unit=g.kwp, name="Drugi wydział I", symbol="I").full_clean()
    # An explicit designation another cell has by default that year.
    with pytest.raises(ValidationError, match="KWP-I-1"):
        CellDesignation(cell=g.cells["kwp_ii"], year=year, designation="KWP-I-1").full_clean()
    # ...or another cell's explicit designation for the same year.
    CellDesignation.objects.create(cell=g.cells["kwp_ii"], year=year, designation="KWP-KADRY")
    with pytest.raises(ValidationError, match="KWP-KADRY"):
        CellDesignation(cell=g.cells["kwp_kan"], year=year, designation="KWP-KADRY").full_clean()
    CellDesignation(cell=g.cells["kwp_kan"], year=year + 1, designation="KWP-KADRY").full_clean()
    # A new cell whose default designation is another cell's explicit one.
    with pytest.raises(ValidationError, match="KWP-KADRY"):
        Cell(unit=g.kwp, name="Kadry", symbol="KADRY").full_clean()
    # A designation the cell had by default, given back to it explicitly, is fine.
    CellDesignation(cell=g.cells["kwp_i_1"], year=year, designation="KWP-I-1").full_clean()
    Cell(unit=g.kwp, name="Wydział III", symbol="III").full_clean()


def test_the_console_refuses_a_colliding_cell(garrison):
    g = garrison
    client = _admin_client(g.people["admin"])
    response = client.post(
        "/admin/org/cell/add/",
        {
            "unit": g.kwp.pk,
            "name": "Zespół",
            "symbol": "I-1",
            "is_active": "on",
            "designations-TOTAL_FORMS": "0",
            "designations-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 200 and "łącznika" in response.content.decode()
    response = client.post(
        "/admin/org/cell/add/",
        {
            "unit": g.kwp.pk,
            "name": "Zespół",
            "symbol": "NOWY",
            "is_active": "on",
            "designations-TOTAL_FORMS": "1",
            "designations-INITIAL_FORMS": "0",
            "designations-0-year": str(TODAY().year),
            "designations-0-designation": "KWP-I-1",
        },
    )
    assert response.status_code == 200 and "KWP-I-1" in response.content.decode()
    assert not g.kwp.cells.filter(name="Zespół").exists()
    # A designation nobody else uses is saved (the unit's administrator manages them too).
    response = client.post(
        "/admin/org/cell/add/",
        {
            "unit": g.kwp.pk,
            "name": "Zespół",
            "symbol": "NOWY",
            "is_active": "on",
            "designations-TOTAL_FORMS": "1",
            "designations-INITIAL_FORMS": "0",
            "designations-0-year": str(TODAY().year),
            "designations-0-designation": "KWP-ZN",
        },
    )
    assert response.status_code == 302
    assert g.kwp.cells.get(name="Zespół").designation(TODAY().year) == "KWP-ZN"
    # Renaming a cell into another's designation is refused as well.
    ii = g.cells["kwp_ii"]
    response = client.post(
        f"/admin/org/cell/{ii.pk}/change/",
        {
            "unit": g.kwp.pk,
            "name": ii.name,
            "symbol": "KAN",
            "is_active": "on",
            "designations-TOTAL_FORMS": "0",
            "designations-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 200 and "KWP-KAN" in response.content.decode()
    ii.refresh_from_db()
    assert ii.symbol == "II"


def test_moving_a_cell_moves_its_subtree(garrison):
    from garnizon.org.models import Cell

    g = garrison
    i_1 = g.cells["kwp_i_1"]
    section = Cell.objects.create(unit=g.kwp, parent=i_1, name="Sekcja", symbol="A")
    post = Cell.objects.create(unit=g.kwp, parent=section, name="Stanowisko", symbol="B")
    i_1.parent = g.cells["kwp_ii"]
    i_1.save()
    for cell in (i_1, section, post):
        cell.refresh_from_db()
    ii = g.cells["kwp_ii"].pk
    assert i_1.path == f"/{ii}/{i_1.pk}/"
    assert section.path == f"/{ii}/{i_1.pk}/{section.pk}/"
    assert post.path == f"/{ii}/{i_1.pk}/{section.pk}/{post.pk}/"
    assert str(post) == "KWP-II-1-A-B"
    # The head of Wydział I no longer sees the moved subtree.
    head_cells = set(Scope.for_person(g.people["head"]).visible_cells())
    assert head_cells == {g.cells["kwp_i"]}
    # Moving back to the top level works too.
    i_1.parent = None
    i_1.save()
    post.refresh_from_db()
    assert post.path == f"/{i_1.pk}/{section.pk}/{post.pk}/"


def test_a_cell_cannot_be_its_own_ancestor(garrison):
    from django.core.exceptions import ValidationError

    from garnizon.org.models import Cell

    g = garrison
    i, i_1 = g.cells["kwp_i"], g.cells["kwp_i_1"]
    section = Cell.objects.create(unit=g.kwp, parent=i_1, name="Sekcja", symbol="A")
    for parent in (i_1, section, i):
        i.parent = parent
        with pytest.raises(ValidationError) as error:
            i.full_clean()
        assert "podlegać samej sobie" in error.value.message_dict["parent"][0]
    i.parent = section
    with pytest.raises(ValidationError):
        i.save()
    i.refresh_from_db()
    assert i.parent_id is None and i.path == f"/{i.pk}/"
    # Nor may a cell hang under another unit's cell, or leave its sub-cells in the old unit.
    i_1.parent = g.cells["kmp_wk"]
    with pytest.raises(ValidationError, match="tej samej jednostki"):
        i_1.full_clean()
    i.parent, i.unit = None, g.kmp
    with pytest.raises(ValidationError, match="do innej jednostki"):
        i.full_clean()


def test_a_unit_administrator_cannot_take_over_a_commanders_account(garrison):
    from django.test import Client

    from tests.factories import PASSWORD

    g = garrison
    client = Client()
    client.login(username=g.people["admin"].username, password=PASSWORD)
    commander = g.people["commander"]
    url = f"/admin/org/person/{commander.pk}/password/"
    response = client.post(
        url,
        {
            "password1": "Nowe-Haslo-12345",
            "password2": "Nowe-Haslo-12345",
            "usable_password": "true",
        },
    )
    assert response.status_code in (302, 403)
    commander.refresh_from_db()
    assert commander.check_password(PASSWORD)
    # An ordinary handler's account the unit administrator does manage.
    handler = g.people["handler"]
    response = client.post(
        f"/admin/org/person/{handler.pk}/password/",
        {
            "password1": "Nowe-Haslo-12345",
            "password2": "Nowe-Haslo-12345",
            "usable_password": "true",
        },
    )
    assert response.status_code == 302
    handler.refresh_from_db()
    assert handler.check_password("Nowe-Haslo-12345")


def test_registering_and_reading_registers_are_separate_rules(garrison):
    """Who may register in a unit (clerks, cell heads, the commander) is not who reads
    its whole registers (clerks, the commander, the archivist)."""
    g = garrison
    kwp, kmp = g.kwp.pk, g.kmp.pk
    registering = {
        name: Scope.for_person(person).registering_unit_ids() for name, person in g.people.items()
    }
    assert {name: units for name, units in registering.items() if units} == {
        "clerk": {kwp},
        "head": {kwp},
        "commander": {kwp},
        "kmp_clerk": {kmp},
        "kmp_commander": {kmp},
    }
    archivist = Scope.for_person(g.people["archivist"])
    assert archivist.register_unit_ids() == {kwp} and not archivist.can_register_in(kwp)
    head = Scope.for_person(g.people["head"])
    assert head.register_unit_ids() == set() and head.can_register_in(kwp)
    assert not head.can_register_in(kmp)
    # A garrison-wide post registers everywhere; a substitute holds the absent one's right.
    head_position = g.people["head"].positions.get()
    head_position.garrison_wide = True
    head_position.save()
    assert Scope.for_person(g.people["head"]).registering_unit_ids() is None
    today = timezone.localdate()
    Substitution.objects.create(
        absent=g.people["kmp_clerk"], substitute=g.people["handler"], date_from=today, date_to=today
    )
    assert Scope.for_person(g.people["handler"]).can_register_in(kmp)
