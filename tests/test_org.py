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
        substitution_create(actor=p["handler2"], absent=p["head"], substitute=p["handler2"],
                            **args)
    with pytest.raises(AccessDenied):  # another unit's commander
        substitution_create(actor=p["kmp_commander"], absent=p["handler"],
                            substitute=p["handler2"], **args)
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
    kwargs = {"actor": p["handler"], "absent": p["handler"], "substitute": p["handler2"],
              "date_from": today, "date_to": today}
    for key, value in change.items():
        kwargs[key] = p[value] if isinstance(value, str) else today + datetime.timedelta(
            days=value)
    with pytest.raises(DomainError) as error:
        substitution_create(**kwargs)
    assert error.value.field == field
    assert Substitution.objects.count() == 0


def test_a_substitution_gives_the_absent_persons_scope_only_in_its_range(garrison):
    g = garrison
    p = g.people
    today = TODAY()
    sub = substitution_create(actor=p["head"], absent=p["head"], substitute=p["kadry"],
                              date_from=today + datetime.timedelta(days=1),
                              date_to=today + datetime.timedelta(days=2))
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
    response = admin_client.post("/admin/org/cell/add/", {
        "unit": g.kwp.pk, "name": "Zespół Nowy", "symbol": "ZN", "is_active": "on",
        "designations-TOTAL_FORMS": "0", "designations-INITIAL_FORMS": "0",
    })
    assert response.status_code == 302
    cell = g.kwp.cells.get(symbol="ZN")
    assert AuditEntry.objects.filter(object_type="org.cell", object_id=str(cell.pk)).exists()
    response = admin_client.post("/admin/org/cell/add/", {
        "unit": g.kmp.pk, "name": "Obca", "symbol": "OB", "is_active": "on",
        "designations-TOTAL_FORMS": "0", "designations-INITIAL_FORMS": "0",
    })
    assert response.status_code == 200  # the other unit is not a valid choice
    assert not g.kmp.cells.filter(symbol="OB").exists()
