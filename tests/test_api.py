"""The REST API: tokens, every endpoint, structured errors, idempotency, keyset paging,
the OpenAPI schema, and the permission matrix of every role in the test garrison.

The matrix tables below are written out by hand from the rules in
`garnizon.org.access` (who sees what) and the services (who may do what); they
are not computed by calling the selectors the API uses, so a change in the
rules shows up here as a failing cell of a table a reader can check.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from garnizon.audit.models import AuditEntry
from garnizon.cases.models import (
    Assignment,
    Case,
    CaseRecordAction,
    CaseRecordEntry,
    CaseShare,
    CaseState,
)
from garnizon.cases.services import case_open
from garnizon.org.models import Person, Substitution
from garnizon.registry.models import (
    Channel,
    Correspondent,
    CorrespondentKind,
    IncomingItem,
    OutgoingItem,
)
from garnizon.registry.services import (
    correspondent_create,
    incoming_item_register,
    outgoing_item_register,
)
from tests.factories import PASSWORD, Garrison

pytestmark = pytest.mark.django_db

TODAY = timezone.localdate()
YEAR = TODAY.year
ROLES = [
    "clerk",
    "handler",
    "handler2",
    "head",
    "commander",
    "archivist",
    "admin",
    "auditor",
    "kadry",
    "kmp_clerk",
    "kmp_handler",
    "kmp_commander",
]


@pytest.fixture(autouse=True)
def _fresh_throttle_counts() -> None:
    # The token endpoint counts attempts per address in the cache.
    cache.clear()


def client_for(person: Person) -> APIClient:
    client = APIClient()
    token, _ = Token.objects.get_or_create(user=person)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@dataclass
class World:
    """The garrison with letters and cases spread over cells, units and restrictions."""

    g: Garrison
    items: dict[str, IncomingItem]
    cases: dict[str, Case]
    outgoing: dict[str, OutgoingItem]
    correspondent: Correspondent

    def person(self, role: str) -> Person:
        return self.g.people[role]

    def client(self, role: str) -> APIClient:
        return client_for(self.g.people[role])


@pytest.fixture
def world(garrison: Garrison) -> World:
    g, p, cells, classes = garrison, garrison.people, garrison.cells, garrison.classes
    correspondent = correspondent_create(
        actor=p["clerk"], kind=CorrespondentKind.PERSON, name="Jan Kowalski", city="Lublin"
    )

    def register(actor: str, unit: Any, subject: str, **kwargs: Any) -> IncomingItem:
        return incoming_item_register(
            actor=p[actor], unit=unit, subject=subject, channel=Channel.PAPER, **kwargs
        )

    items = {
        "open": register("clerk", g.kwp, "Skarga na hałas", assigned_cell=cells["kwp_i_1"]),
        "kadry": register("clerk", g.kwp, "Wniosek o urlop", assigned_cell=cells["kwp_ii"]),
        "restricted": register(
            "clerk",
            g.kwp,
            "Zgłoszenie sygnalisty",
            assigned_cell=cells["kwp_i_1"],
            assigned_person=p["handler"],
            is_restricted=True,
        ),
        "unassigned": register("clerk", g.kwp, "Pismo bez dekretacji"),
        "kmp": register("kmp_clerk", g.kmp, "Skarga w KMP", assigned_cell=cells["kmp_wk"]),
    }
    cases = {
        "skargi": case_open(
            actor=p["handler"],
            cell=cells["kwp_i_1"],
            classification=classes["052"],
            subject="Skarga na funkcjonariusza",
        ),
        "kadry": case_open(
            actor=p["kadry"], cell=cells["kwp_ii"], classification=classes["101"], subject="Akta"
        ),
        "restricted": case_open(
            actor=p["handler"],
            cell=cells["kwp_i_1"],
            classification=classes["052"],
            subject="",
            incoming_item=items["restricted"],
        ),
        "kmp": case_open(
            actor=p["kmp_handler"],
            cell=cells["kmp_wk"],
            classification=classes["052"],
            subject="Skarga w KMP",
        ),
    }
    outgoing = {
        "kwp": outgoing_item_register(
            actor=p["clerk"],
            unit=g.kwp,
            subject="Odpowiedź",
            channel=Channel.EMAIL,
            addressee=correspondent,
        ),
        "in_case": outgoing_item_register(
            actor=p["handler"],
            unit=g.kwp,
            subject="Wezwanie do uzupełnienia",
            channel=Channel.EMAIL,
            addressee_name="Jan Kowalski",
            case=cases["skargi"],
        ),
        "kmp": outgoing_item_register(
            actor=p["kmp_clerk"],
            unit=g.kmp,
            subject="Odpowiedź KMP",
            channel=Channel.EMAIL,
            addressee_name="Anna Nowak",
        ),
    }
    return World(g=g, items=items, cases=cases, outgoing=outgoing, correspondent=correspondent)


# --- the permission matrix ----------------------------------------------------------------

# What each role sees of the world above. Lists show exactly these; opening any
# other one answers 404, as if it did not exist.
VISIBLE: dict[str, tuple[str, str, str]] = {
    #  role            incoming items                      cases                outgoing
    "clerk":         ("open kadry restricted unassigned", "",                  "kwp in_case"),
    "handler":       ("open restricted",                  "skargi restricted", "in_case"),
    "handler2":      ("open",                             "skargi",            "in_case"),
    "head":          ("open",                             "skargi",            "in_case"),
    "commander":     ("open kadry unassigned",            "skargi kadry",      "kwp in_case"),
    "archivist":     ("open kadry unassigned",            "skargi kadry",      "kwp in_case"),
    "admin":         ("kadry",                            "kadry",             ""),
    "auditor":       ("kadry",                            "kadry",             ""),
    "kadry":         ("kadry",                            "kadry",             ""),
    "kmp_clerk":     ("kmp",                              "",                  "kmp"),
    "kmp_handler":   ("kmp",                              "kmp",               ""),
    "kmp_commander": ("kmp",                              "kmp",               "kmp"),
}  # fmt: skip

# What each POST answers, per role, on a fresh world for every cell:
#   register_incoming  POST /api/incoming/              unit KWP
#   assign_incoming    POST /api/incoming/{open}/assign/ to KWP-I-1, handler2
#   open_case          POST /api/cases/                  in KWP-I-1, JRWA 052
#   assign_case        POST /api/cases/{skargi}/assign/  to KWP-I-1, handler2
#   change_state       POST /api/cases/{skargi}/state/   closed
#   share_case         POST /api/cases/{skargi}/share/   with kadry
#   set_kind           POST /api/cases/{skargi}/kind/    complaint
#   attach_item        POST /api/cases/{skargi}/attach-item/  item "open"
#   register_outgoing  POST /api/outgoing/               unit KWP, no case
#   dispatch_in_case   POST /api/outgoing/               in case skargi (400: case not found)
#   add_correspondent  POST /api/correspondents/
ACTIONS = [
    "register_incoming",
    "assign_incoming",
    "open_case",
    "assign_case",
    "change_state",
    "share_case",
    "set_kind",
    "attach_item",
    "register_outgoing",
    "dispatch_in_case",
    "add_correspondent",
]
#                  reg.in assign open  assign state share kind  attach reg.out disp. address
#                         item   case  case                     item           case  book
ACTION_STATUS: dict[str, tuple[int, ...]] = {
    "clerk":         (201,  403,   403,  404,   404,  404,  404,  404,   201,    400,  201),
    "handler":       (403,  403,   201,  403,   200,  201,  200,  200,   403,    201,  201),
    "handler2":      (403,  403,   201,  403,   403,  403,  403,  200,   403,    201,  201),
    "head":          (201,  201,   201,  201,   200,  201,  200,  200,   201,    201,  201),
    "commander":     (201,  201,   201,  201,   200,  201,  200,  200,   201,    201,  201),
    "archivist":     (403,  403,   403,  403,   403,  403,  403,  403,   403,    403,  201),
    "admin":         (403,  404,   403,  404,   404,  404,  404,  404,   403,    400,  201),
    "auditor":       (403,  404,   403,  404,   404,  404,  404,  404,   403,    400,  403),
    "kadry":         (403,  404,   403,  404,   404,  404,  404,  404,   403,    400,  201),
    "kmp_clerk":     (403,  404,   403,  404,   404,  404,  404,  404,   403,    400,  201),
    "kmp_handler":   (403,  404,   403,  404,   404,  404,  404,  404,   403,    400,  201),
    "kmp_commander": (403,  404,   403,  404,   404,  404,  404,  404,   403,    400,  201),
}  # fmt: skip

ACTION_REQUESTS: dict[str, Callable[[World], tuple[str, dict[str, Any]]]] = {
    "register_incoming": lambda w: (
        "/api/incoming/",
        {"unit": w.g.kwp.pk, "subject": "Pismo", "channel": "paper"},
    ),
    "assign_incoming": lambda w: (
        f"/api/incoming/{w.items['open'].pk}/assign/",
        {"to_cell": w.g.cells["kwp_i_1"].pk, "to_person": w.person("handler2").pk},
    ),
    "open_case": lambda w: (
        "/api/cases/",
        {
            "cell": w.g.cells["kwp_i_1"].pk,
            "classification": w.g.classes["052"].pk,
            "subject": "Nowa skarga",
        },
    ),
    "assign_case": lambda w: (
        f"/api/cases/{w.cases['skargi'].pk}/assign/",
        {"to_cell": w.g.cells["kwp_i_1"].pk, "to_person": w.person("handler2").pk},
    ),
    "change_state": lambda w: (f"/api/cases/{w.cases['skargi'].pk}/state/", {"state": "closed"}),
    "share_case": lambda w: (
        f"/api/cases/{w.cases['skargi'].pk}/share/",
        {"person": w.person("kadry").pk},
    ),
    "set_kind": lambda w: (f"/api/cases/{w.cases['skargi'].pk}/kind/", {"kind": "complaint"}),
    "attach_item": lambda w: (
        f"/api/cases/{w.cases['skargi'].pk}/attach-item/",
        {"incoming_item": w.items["open"].pk},
    ),
    "register_outgoing": lambda w: (
        "/api/outgoing/",
        {"unit": w.g.kwp.pk, "subject": "Pismo", "channel": "email", "addressee_name": "Jan"},
    ),
    "dispatch_in_case": lambda w: (
        "/api/outgoing/",
        {
            "case": w.cases["skargi"].pk,
            "subject": "Wezwanie",
            "channel": "email",
            "addressee_name": "Jan",
        },
    ),
    "add_correspondent": lambda w: (
        "/api/correspondents/",
        {"kind": "company", "name": "Firma Sp. z o.o."},
    ),
}


@pytest.mark.parametrize(
    ("role", "action"),
    [(role, action) for role in ROLES for action in ACTIONS],
    ids=[f"{role}-{action}" for role in ROLES for action in ACTIONS],
)
def test_permission_matrix_for_actions(world: World, role: str, action: str) -> None:
    expected = dict(zip(ACTIONS, ACTION_STATUS[role], strict=True))[action]
    url, body = ACTION_REQUESTS[action](world)
    response = world.client(role).post(url, body, format="json")
    assert response.status_code == expected, response.json()
    if expected >= 400:
        assert set(response.json()["error"]) == {"code", "message", "fields"}


RESOURCES = {
    # resource: (list url, index in VISIBLE, world attribute)
    "incoming": ("/api/incoming/", 0, "items"),
    "cases": ("/api/cases/", 1, "cases"),
    "outgoing": ("/api/outgoing/", 2, "outgoing"),
}


@pytest.mark.parametrize(
    ("role", "resource"),
    [(role, resource) for role in ROLES for resource in RESOURCES],
    ids=[f"{role}-{resource}" for role in ROLES for resource in RESOURCES],
)
def test_permission_matrix_for_lists_and_details(world: World, role: str, resource: str) -> None:
    url, column, attribute = RESOURCES[resource]
    objects: dict[str, Any] = getattr(world, attribute)
    expected = set(VISIBLE[role][column].split())
    client = world.client(role)

    listed = {row["id"] for row in client.get(url).json()["results"]}
    assert listed == {objects[name].pk for name in expected}

    statuses = {name: client.get(f"{url}{obj.pk}/").status_code for name, obj in objects.items()}
    assert statuses == {name: 200 if name in expected else 404 for name in objects}


@pytest.mark.parametrize("role", ROLES)
def test_permission_matrix_for_the_case_list(world: World, role: str) -> None:
    g = world.g
    response = world.client(role).get(
        "/api/case-list/",
        {"cell": g.cells["kwp_i_1"].pk, "classification": g.classes["052"].pk, "year": YEAR},
    )
    assert response.status_code == 200
    # Only the visible cases of KWP-I-1 / 052 appear in the list.
    expected = set(VISIBLE[role][1].split()) & {"skargi", "restricted"}
    assert [row["id"] for row in response.json()["results"]] == [
        world.cases[name].pk for name in ["skargi", "restricted"] if name in expected
    ]


@pytest.mark.parametrize("role", ROLES)
def test_permission_matrix_for_the_address_book(world: World, role: str) -> None:
    # The address book is shared by the whole garrison.
    client = world.client(role)
    listed = client.get("/api/correspondents/").json()["results"]
    assert [row["id"] for row in listed] == [world.correspondent.pk]
    assert client.get(f"/api/correspondents/{world.correspondent.pk}/").status_code == 200


ENDPOINTS = [
    ("delete", "/api/auth/token/"),
    ("get", "/api/incoming/"),
    ("post", "/api/incoming/"),
    ("get", "/api/incoming/1/"),
    ("post", "/api/incoming/1/assign/"),
    ("get", "/api/outgoing/"),
    ("post", "/api/outgoing/"),
    ("get", "/api/outgoing/1/"),
    ("get", "/api/cases/"),
    ("post", "/api/cases/"),
    ("get", "/api/cases/1/"),
    ("post", "/api/cases/1/assign/"),
    ("post", "/api/cases/1/state/"),
    ("post", "/api/cases/1/share/"),
    ("post", "/api/cases/1/kind/"),
    ("post", "/api/cases/1/extend/"),
    ("post", "/api/cases/1/attach-item/"),
    ("get", "/api/case-list/"),
    ("get", "/api/correspondents/"),
    ("post", "/api/correspondents/"),
    ("get", "/api/correspondents/1/"),
    ("get", "/api/cases/1/documents/"),
    ("post", "/api/cases/1/documents/"),
    ("get", "/api/incoming/1/documents/"),
    ("post", "/api/incoming/1/documents/"),
    ("get", "/api/outgoing/1/documents/"),
    ("post", "/api/outgoing/1/documents/"),
    ("get", "/api/documents/1/"),
    ("post", "/api/documents/1/versions/"),
    ("get", "/api/document-versions/1/download/"),
    ("get", "/api/search/"),
    ("get", "/api/search/saved/"),
    ("post", "/api/search/saved/"),
    ("get", "/api/search/saved/1/"),
    ("delete", "/api/search/saved/1/"),
    ("get", "/api/search/saved/1/results/"),
    ("get", "/api/schema/"),
    ("get", "/api/no-such-thing/"),
]


@pytest.mark.parametrize(("method", "url"), ENDPOINTS, ids=[f"{m} {u}" for m, u in ENDPOINTS])
def test_anonymous_requests_get_401_everywhere(world: World, method: str, url: str) -> None:
    response = getattr(APIClient(), method)(url, {}, format="json")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert response.json()["error"]["code"] == "not_authenticated"


# --- log-in tokens ------------------------------------------------------------------------


def test_a_token_for_the_right_password_works_and_the_login_is_audited(garrison: Garrison) -> None:
    response = APIClient().post(
        "/api/auth/token/", {"username": "clerk_kwp", "password": PASSWORD}, format="json"
    )
    assert response.status_code == 200
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {response.json()['token']}")
    assert client.get("/api/incoming/").status_code == 200
    assert AuditEntry.objects.filter(action="login", actor=garrison.people["clerk"]).exists()


def test_a_wrong_password_is_refused_and_audited(garrison: Garrison) -> None:
    response = APIClient().post(
        "/api/auth/token/", {"username": "clerk_kwp", "password": "zgadywanie"}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_credentials"
    assert response.json()["error"]["message"] == "Nieprawidłowa nazwa użytkownika lub hasło."
    assert not Token.objects.exists()
    assert AuditEntry.objects.filter(action="login_failed").count() == 1


def test_an_inactive_person_gets_no_token_and_loses_the_one_they_had(garrison: Garrison) -> None:
    clerk = garrison.people["clerk"]
    client = client_for(clerk)
    clerk.is_active = False
    clerk.save()
    assert client.get("/api/incoming/").status_code == 401
    response = APIClient().post(
        "/api/auth/token/", {"username": "clerk_kwp", "password": PASSWORD}, format="json"
    )
    assert response.status_code == 400


def test_a_bad_token_is_401(garrison: Garrison) -> None:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token 0123456789abcdef")
    response = client.get("/api/incoming/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert response.json()["error"]["code"] == "authentication_failed"


def test_a_revoked_token_stops_working(garrison: Garrison) -> None:
    client = client_for(garrison.people["head"])
    assert client.delete("/api/auth/token/").status_code == 204
    assert client.get("/api/cases/").status_code == 401
    assert AuditEntry.objects.filter(action="logout", actor=garrison.people["head"]).exists()


def test_too_many_token_requests_are_slowed_down(garrison: Garrison) -> None:
    client = APIClient()
    body = {"username": "clerk_kwp", "password": "zgadywanie"}
    statuses = [client.post("/api/auth/token/", body, format="json").status_code for _ in range(21)]
    assert statuses[:20] == [400] * 20
    assert statuses[20] == 429


# --- incoming register --------------------------------------------------------------------


def test_registering_an_incoming_item_returns_it_with_number_deadline_and_labels(
    garrison: Garrison,
) -> None:
    g = garrison
    response = client_for(g.people["clerk"]).post(
        "/api/incoming/",
        {
            "subject": "Skarga na funkcjonariusza",
            "channel": "email",
            "kind": "complaint",
            "received_at": "2026-01-15T09:30:00+01:00",
            "letter_date": "2026-01-12",
            "assigned_cell": g.cells["kwp_i_1"].pk,
            "sender_name": "Jan Kowalski",
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    item = response.json()
    assert item["registration_number"] == "KWP/RPW/1/2026"
    assert item["unit"] == {"id": g.kwp.pk, "label": "KWP"}  # the clerk's own unit by default
    assert item["assigned_cell"] == {"id": g.cells["kwp_i_1"].pk, "label": "KWP-I-1"}
    assert item["received_at"] == "2026-01-15T09:30:00+01:00"
    assert item["letter_date"] == "2026-01-12"
    assert item["channel_label"] == "e-mail"
    assert item["deadline"]["due_date"] == "2026-02-16"  # a month, 15.02 is a Sunday
    assert item["deadline"]["basis"] and item["deadline"]["explanation"]
    assert item["registered_by"]["label"] == "Clerk Kwp"
    [assignment] = item["assignments"]
    assert assignment["to_cell"]["label"] == "KWP-I-1" and assignment["is_current"]


def test_unknown_register_values_come_out_as_null(garrison: Garrison) -> None:
    response = client_for(garrison.people["clerk"]).post(
        "/api/incoming/", {"subject": "Pismo", "channel": "paper"}, format="json"
    )
    item = response.json()
    for field in [
        "sender",
        "sender_name",
        "letter_date",
        "letter_reference",
        "attachments_count",
        "assigned_cell",
        "assigned_person",
        "case",
        "paper_location",
        "remarks",
    ]:
        assert item[field] is None, field
    assert item["deadline"] == {
        "due_date": None,
        "basis": None,
        "explanation": None,
        "status": "none",
    }


def test_opening_an_incoming_item_is_audited(world: World) -> None:
    item = world.items["open"]
    response = world.client("head").get(f"/api/incoming/{item.pk}/")
    assert response.status_code == 200
    assert response.json()["subject"] == "Skarga na hałas"
    assert AuditEntry.objects.filter(
        action="view", object_id=str(item.pk), actor=world.person("head")
    ).exists()


def test_a_hidden_item_answers_like_a_missing_one(world: World) -> None:
    client = world.client("kadry")
    hidden = client.get(f"/api/incoming/{world.items['open'].pk}/")
    missing = client.get("/api/incoming/999999/")
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json() == missing.json()


def test_the_incoming_register_filters(world: World) -> None:
    client = world.client("clerk")

    def ids(**params: Any) -> set[int]:
        response = client.get("/api/incoming/", params)
        assert response.status_code == 200, response.json()
        return {row["id"] for row in response.json()["results"]}

    items = world.items
    assert ids(cell=world.g.cells["kwp_ii"].pk) == {items["kadry"].pk}
    assert ids(q="urlop") == {items["kadry"].pk}
    assert ids(q=items["open"].registration_number) == {items["open"].pk}
    assert ids(without_case="true") == {items["open"].pk, items["kadry"].pk, items["unassigned"].pk}
    assert ids(channel="email") == set()
    assert ids(year=YEAR - 1) == set()
    assert ids(received_from=TODAY.isoformat(), received_to=TODAY.isoformat()) == {
        items[name].pk for name in ["open", "kadry", "restricted", "unassigned"]
    }


def test_bad_filters_are_refused_field_by_field(world: World) -> None:
    response = world.client("clerk").get(
        "/api/incoming/",
        {
            "channel": "gołąb",
            "received_from": "2026-02-30",
            "limit": "0",
            "cursor": "-1",
            "cell": "999999",
            "overdue": "może",
        },
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert set(error["fields"]) == {
        "channel",
        "received_from",
        "limit",
        "cursor",
        "cell",
        "overdue",
    }
    assert error["fields"]["cell"] == ["Nie ma obiektu o identyfikatorze 999999."]


def test_a_date_range_must_not_run_backwards(world: World) -> None:
    response = world.client("clerk").get(
        "/api/incoming/", {"received_from": "2026-02-01", "received_to": "2026-01-01"}
    )
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["received_to"]


def test_assigning_an_incoming_item(world: World) -> None:
    item = world.items["unassigned"]
    deadline = TODAY + datetime.timedelta(days=7)
    response = world.client("commander").post(
        f"/api/incoming/{item.pk}/assign/",
        {"to_cell": world.g.cells["kwp_i"].pk, "deadline": deadline.isoformat(), "note": "Pilne"},
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert response.json()["method"] == "handle"
    assert response.json()["deadline"] == deadline.isoformat()
    item.refresh_from_db()
    assert item.assigned_cell == world.g.cells["kwp_i"]


# --- idempotent registration --------------------------------------------------------------


def test_a_retry_with_the_same_idempotency_key_returns_the_same_entry(garrison: Garrison) -> None:
    client = client_for(garrison.people["clerk"])
    body = {"subject": "Pismo", "channel": "paper"}
    first = client.post("/api/incoming/", body, format="json", HTTP_IDEMPOTENCY_KEY="abc-1")
    retry = client.post("/api/incoming/", body, format="json", HTTP_IDEMPOTENCY_KEY="abc-1")
    assert (first.status_code, retry.status_code) == (201, 200)
    assert first.json()["id"] == retry.json()["id"]
    assert IncomingItem.objects.count() == 1
    # The retry used up no number either.
    other = client.post("/api/incoming/", body, format="json", HTTP_IDEMPOTENCY_KEY="abc-2")
    assert other.json()["number"] == 2


def test_the_client_token_field_works_like_the_header(garrison: Garrison) -> None:
    client = client_for(garrison.people["clerk"])
    body = {"subject": "Pismo", "channel": "paper", "client_token": "form-77"}
    first = client.post("/api/incoming/", body, format="json")
    retry = client.post("/api/incoming/", body, format="json", HTTP_IDEMPOTENCY_KEY="form-77")
    assert (first.status_code, retry.status_code) == (201, 200)
    assert first.json()["id"] == retry.json()["id"]
    assert IncomingItem.objects.count() == 1


def test_a_header_and_field_that_disagree_are_refused(garrison: Garrison) -> None:
    response = client_for(garrison.people["clerk"]).post(
        "/api/incoming/",
        {"subject": "Pismo", "channel": "paper", "client_token": "a"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="b",
    )
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["client_token"]
    assert IncomingItem.objects.count() == 0


def test_a_key_used_by_someone_else_is_refused(garrison: Garrison) -> None:
    body = {"subject": "Pismo", "channel": "paper"}
    client_for(garrison.people["clerk"]).post(
        "/api/incoming/", body, format="json", HTTP_IDEMPOTENCY_KEY="shared"
    )
    response = client_for(garrison.people["head"]).post(
        "/api/incoming/", body, format="json", HTTP_IDEMPOTENCY_KEY="shared"
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "duplicate"
    assert IncomingItem.objects.count() == 1


def test_an_overlong_idempotency_key_is_refused(garrison: Garrison) -> None:
    response = client_for(garrison.people["clerk"]).post(
        "/api/incoming/",
        {"subject": "Pismo", "channel": "paper"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="k" * 65,
    )
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["Idempotency-Key"]


def test_opening_a_case_and_dispatching_are_idempotent_too(world: World) -> None:
    client = world.client("handler")
    case_body = {
        "cell": world.g.cells["kwp_i_1"].pk,
        "classification": world.g.classes["053"].pk,
        "subject": "Wniosek",
    }
    first = client.post("/api/cases/", case_body, format="json", HTTP_IDEMPOTENCY_KEY="c-1")
    retry = client.post("/api/cases/", case_body, format="json", HTTP_IDEMPOTENCY_KEY="c-1")
    assert (first.status_code, retry.status_code) == (201, 200)
    assert first.json()["sign"] == retry.json()["sign"]
    out_body = {"case": first.json()["id"], "subject": "Odpowiedź", "channel": "epuap"}
    out_body["addressee_name"] = "Jan Kowalski"
    sent = client.post("/api/outgoing/", out_body, format="json", HTTP_IDEMPOTENCY_KEY="o-1")
    again = client.post("/api/outgoing/", out_body, format="json", HTTP_IDEMPOTENCY_KEY="o-1")
    assert (sent.status_code, again.status_code) == (201, 200)
    assert OutgoingItem.objects.filter(case_id=first.json()["id"]).count() == 1


# --- keyset paging ------------------------------------------------------------------------


def test_keyset_paging_walks_every_page_without_duplicates_or_gaps(garrison: Garrison) -> None:
    g = garrison
    created = [
        incoming_item_register(
            actor=g.people["clerk"], unit=g.kwp, subject=f"Pismo {n}", channel=Channel.PAPER
        ).pk
        for n in range(7)
    ]
    client = client_for(g.people["clerk"])
    seen: list[int] = []
    pages: list[int] = []
    cursor: int | None = None
    while True:
        params: dict[str, Any] = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        page = client.get("/api/incoming/", params).json()
        seen += [row["id"] for row in page["results"]]
        pages.append(len(page["results"]))
        if page["next_cursor"] is None:
            break
        cursor = page["next_cursor"]
        if len(pages) == 1:
            # A letter registered meanwhile does not shift the pages already cut.
            incoming_item_register(
                actor=g.people["clerk"], unit=g.kwp, subject="Nowe", channel=Channel.PAPER
            )
    assert pages == [3, 3, 1]
    assert seen == sorted(created, reverse=True)


# --- outgoing register --------------------------------------------------------------------


def test_registering_and_reading_a_dispatch(world: World) -> None:
    client = world.client("clerk")
    response = client.post(
        "/api/outgoing/",
        {
            "subject": "Odpowiedź na skargę",
            "channel": "paper",
            "addressee": world.correspondent.pk,
            "address": "ul. Długa 1, 20-001 Lublin",
            "registered_mail": True,
            "postage": "12.50",
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    item = response.json()
    assert item["registration_number"] == f"KWP/RPWych/3/{YEAR}"  # after the two in the world
    assert item["addressee"] == {"id": world.correspondent.pk, "label": "Jan Kowalski"}
    assert item["addressee_name"] == "Jan Kowalski"
    assert item["postage"] == "12.50"
    assert item["sent_on"] == TODAY.isoformat()

    detail = client.get(f"/api/outgoing/{item['id']}/")
    assert detail.status_code == 200
    assert AuditEntry.objects.filter(
        action="view", object_type="registry.outgoingitem", object_id=str(item["id"])
    ).exists()

    listed = client.get("/api/outgoing/", {"channel": "paper"}).json()["results"]
    assert [row["id"] for row in listed] == [item["id"]]


def test_a_dispatch_in_a_case_goes_into_its_record(world: World) -> None:
    case = world.cases["skargi"]
    response = world.client("handler2").post(
        "/api/outgoing/",
        {"case": case.pk, "subject": "Wezwanie", "channel": "email", "addressee_name": "Jan"},
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert response.json()["unit"]["label"] == "KWP"  # the case's unit
    assert case.record.filter(action=CaseRecordAction.DISPATCHED).count() == 2


# --- cases --------------------------------------------------------------------------------


def test_opening_a_case_from_an_item_shows_record_deadline_and_letters(world: World) -> None:
    g = world.g
    item = incoming_item_register(
        actor=g.people["head"],
        unit=g.kwp,
        subject="Skarga na przewlekłość",
        channel=Channel.EPUAP,
        kind="complaint",
        assigned_cell=g.cells["kwp_i_1"],
        assigned_person=g.people["handler"],
    )
    client = world.client("handler")
    response = client.post(
        "/api/cases/",
        {
            "cell": g.cells["kwp_i_1"].pk,
            "classification": g.classes["052"].pk,
            "incoming_item": item.pk,
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    case = response.json()
    assert case["sign"] == f"KWP-I-1.052.3.{YEAR}"
    assert case["subject"] == "Skarga na przewlekłość"
    assert case["handler"]["label"] == "Handler Kwp"
    assert case["classification"]["label"] == "052 Skargi"
    assert case["deadline"]["due_date"] and "KPA" in case["deadline"]["basis"]
    assert case["deadline"]["explanation"]
    assert [e["action"] for e in case["record"]] == ["opened", "deadline_set", "item_attached"]
    assert case["record"][0]["actor"] == {"id": g.people["handler"].pk, "label": "Handler Kwp"}
    assert [i["id"] for i in case["incoming_items"]] == [item.pk]

    detail = client.get(f"/api/cases/{case['id']}/")
    assert detail.status_code == 200
    assert detail.json()["record"] == case["record"]
    assert AuditEntry.objects.filter(
        action="view", object_type="cases.case", object_id=str(case["id"])
    ).exists()


def test_the_case_detail_lists_its_dispatches_and_assignments(world: World) -> None:
    case = world.cases["skargi"]
    world.client("head").post(
        f"/api/cases/{case.pk}/assign/",
        {"to_cell": world.g.cells["kwp_i_1"].pk, "to_person": world.person("handler2").pk},
        format="json",
    )
    detail = world.client("handler2").get(f"/api/cases/{case.pk}/").json()
    assert [o["id"] for o in detail["outgoing_items"]] == [world.outgoing["in_case"].pk]
    assert detail["assignments"][0]["to_person"]["label"] == "Other Handler"
    assert detail["handler"]["label"] == "Other Handler"


def test_the_case_list_filters(world: World) -> None:
    client = world.client("commander")

    def ids(**params: Any) -> set[int]:
        response = client.get("/api/cases/", params)
        assert response.status_code == 200, response.json()
        return {row["id"] for row in response.json()["results"]}

    cases = world.cases
    assert ids() == {cases["skargi"].pk, cases["kadry"].pk}
    assert ids(cell=world.g.cells["kwp_ii"].pk) == {cases["kadry"].pk}
    assert ids(q="funkcjonariusza") == {cases["skargi"].pk}
    assert ids(state="closed") == set()
    assert ids(handler=world.person("kadry").pk) == {cases["kadry"].pk}


def test_changing_the_state_of_a_case(world: World) -> None:
    case = world.cases["skargi"]
    client = world.client("handler")
    refused = client.post(f"/api/cases/{case.pk}/state/", {"state": "suspended"}, format="json")
    assert refused.status_code == 400
    assert refused.json()["error"]["fields"] == {"reason": ["Podaj powód."]}
    closed = client.post(f"/api/cases/{case.pk}/state/", {"state": "closed"}, format="json")
    assert closed.status_code == 200
    assert closed.json()["state"] == "closed" and closed.json()["state_label"] == "zakończona"
    assert closed.json()["closed_on"] == TODAY.isoformat()
    again = client.post(f"/api/cases/{case.pk}/state/", {"state": "closed"}, format="json")
    assert again.status_code == 400 and list(again.json()["error"]["fields"]) == ["state"]


def test_sharing_a_case_lets_the_other_person_open_it(world: World) -> None:
    case = world.cases["skargi"]
    kadry = world.client("kadry")
    assert kadry.get(f"/api/cases/{case.pk}/").status_code == 404
    response = world.client("handler").post(
        f"/api/cases/{case.pk}/share/",
        {"person": world.person("kadry").pk, "valid_to": TODAY.isoformat()},
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert response.json()["person"]["label"] == "Handler Kadry"
    assert kadry.get(f"/api/cases/{case.pk}/").status_code == 200


def test_changing_the_kind_recomputes_the_deadline(world: World) -> None:
    case = world.cases["skargi"]
    response = world.client("head").post(
        f"/api/cases/{case.pk}/kind/", {"kind": "certificate"}, format="json"
    )
    assert response.status_code == 200
    body = response.json()
    assert body["kind"] == "certificate" and body["deadline"]["due_date"] is not None
    assert body["record"][-1]["action"] == "deadline_set"


def test_attaching_an_item_to_a_case(world: World) -> None:
    case, item = world.cases["skargi"], world.items["open"]
    response = world.client("handler").post(
        f"/api/cases/{case.pk}/attach-item/", {"incoming_item": item.pk}, format="json"
    )
    assert response.status_code == 200, response.json()
    assert [i["id"] for i in response.json()["incoming_items"]] == [item.pk]
    again = world.client("handler").post(
        f"/api/cases/{case.pk}/attach-item/", {"incoming_item": item.pk}, format="json"
    )
    assert again.status_code == 400
    assert "już w sprawie" in again.json()["error"]["fields"]["incoming_item"][0]


def test_the_case_list_of_a_cell_class_and_year(world: World) -> None:
    g = world.g
    response = world.client("handler").get(
        "/api/case-list/",
        {"cell": g.cells["kwp_i_1"].pk, "classification": g.classes["052"].pk, "year": YEAR},
    )
    assert response.status_code == 200
    body = response.json()
    assert body["cell"]["label"] == "KWP-I-1" and body["year"] == YEAR
    assert [row["number"] for row in body["results"]] == [1, 2]
    assert body["results"][1]["correspondent_name"] is None


def test_reading_the_case_list_is_audited_like_the_ui_export(world: World) -> None:
    g = world.g
    cell = g.cells["kwp_i_1"]
    response = world.client("handler").get(
        "/api/case-list/", {"cell": cell.pk, "classification": g.classes["052"].pk, "year": YEAR}
    )
    assert response.status_code == 200
    entry = AuditEntry.objects.get(action="export", object_type="cases.caselist")
    assert entry.object_id == f"{cell.pk}:052:{YEAR}"
    assert entry.actor_username == world.person("handler").username
    assert entry.unit_id == g.kwp.pk
    assert entry.details == {"format": "json", "rows": len(response.json()["results"])}


def test_the_case_list_needs_all_three_parameters(world: World) -> None:
    response = world.client("handler").get("/api/case-list/", {"year": "dwa tysiące"})
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"cell", "classification", "year"}


def test_acts_in_substitution_show_on_whose_behalf(world: World) -> None:
    Substitution.objects.create(
        absent=world.person("head"),
        substitute=world.person("kadry"),
        date_from=TODAY,
        date_to=TODAY,
    )
    case = world.cases["skargi"]
    response = world.client("kadry").post(
        f"/api/cases/{case.pk}/assign/",
        {"to_cell": world.g.cells["kwp_i_1"].pk, "to_person": world.person("handler2").pk},
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert response.json()["on_behalf_of"]["label"] == "Head Kwp"
    record = world.client("kadry").get(f"/api/cases/{case.pk}/").json()["record"]
    assert record[-1]["on_behalf_of"] == {"id": world.person("head").pk, "label": "Head Kwp"}


# --- address book -------------------------------------------------------------------------


def test_adding_and_finding_a_correspondent(world: World) -> None:
    client = world.client("handler")
    response = client.post(
        "/api/correspondents/",
        {
            "kind": "public_body",
            "name": "Urząd Miasta Lublin",
            "street": "Plac Króla Władysława Łokietka 1",
            "postal_code": "20-109",
            "city": "Lublin",
            "edoreczenia_address": "AE:PL-12345-67890-ABCDE-12",
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    created = response.json()
    assert created["unit"]["label"] == "KWP"
    assert created["address_line"] == "Plac Króla Władysława Łokietka 1, 20-109 Lublin"
    assert created["email"] is None
    found = client.get("/api/correspondents/", {"q": "urząd lublin"}).json()["results"]
    assert [row["id"] for row in found] == [created["id"]]
    assert client.get(f"/api/correspondents/{created['id']}/").json()["name"] == (
        "Urząd Miasta Lublin"
    )
    assert client.get("/api/correspondents/999999/").status_code == 404


# --- errors -------------------------------------------------------------------------------

COUNTED = [IncomingItem, OutgoingItem, Case, Assignment, CaseShare, CaseRecordEntry, Correspondent]

# (role, url, body, field named in the error): every POST with input that must be refused.
BAD_INPUT: list[tuple[str, str, Callable[[World], dict[str, Any]], str]] = [
    ("clerk", "/api/auth/token/", lambda w: {"username": "clerk_kwp"}, "password"),
    ("clerk", "/api/incoming/", lambda w: {"channel": "paper"}, "subject"),
    ("clerk", "/api/incoming/", lambda w: {"subject": "x", "channel": "gołąb"}, "channel"),
    ("clerk", "/api/incoming/", lambda w: {"subject": "x" * 501, "channel": "paper"}, "subject"),
    (
        "clerk",
        "/api/incoming/",
        lambda w: {"subject": 7, "channel": "paper", "unit": "KWP"},
        "unit",
    ),
    (
        "clerk",
        "/api/incoming/",
        lambda w: {"subject": "x", "channel": "paper", "letter_date": "2026-13-01"},
        "letter_date",
    ),
    (
        "clerk",
        "/api/incoming/",
        lambda w: {"subject": "x", "channel": "paper", "received_at": "wczoraj"},
        "received_at",
    ),
    (
        "clerk",
        "/api/incoming/",
        lambda w: {"subject": "x", "channel": "paper", "received_at": "2999-01-01T10:00:00Z"},
        "received_at",
    ),
    (
        "clerk",
        "/api/incoming/",
        lambda w: {"subject": "x", "channel": "paper", "attachments_count": -1},
        "attachments_count",
    ),
    (
        "clerk",
        "/api/incoming/",
        lambda w: {"subject": "x", "channel": "paper", "attachments_count": "dużo"},
        "attachments_count",
    ),
    (
        "clerk",
        "/api/incoming/",
        lambda w: {"subject": "x", "channel": "paper", "assigned_cell": 999999},
        "assigned_cell",
    ),
    (
        "clerk",
        "/api/incoming/",
        lambda w: {"subject": "x", "channel": "paper", "sender": 1.5},
        "sender",
    ),
    (
        "clerk",
        "/api/incoming/",
        lambda w: {"subject": "x", "channel": "paper", "is_restricted": "może"},
        "is_restricted",
    ),
    (
        "commander",
        "/api/incoming/",
        lambda w: {
            "subject": "x",
            "channel": "paper",
            "assigned_cell": w.g.cells["kwp_ii"].pk,
            "assigned_person": w.person("handler").pk,
        },
        "assigned_person",
    ),
    (
        "commander",
        "/api/incoming/{unassigned}/assign/",
        lambda w: {"method": "handle"},
        "to_cell",
    ),
    (
        "commander",
        "/api/incoming/{unassigned}/assign/",
        lambda w: {"to_cell": w.g.cells["kwp_i"].pk, "method": "na_wczoraj"},
        "method",
    ),
    (
        "commander",
        "/api/incoming/{unassigned}/assign/",
        lambda w: {"to_cell": w.g.cells["kwp_i"].pk, "deadline": "2000-01-01"},
        "deadline",
    ),
    (
        "commander",
        "/api/incoming/{unassigned}/assign/",
        lambda w: {"to_cell": w.g.cells["kmp_wk"].pk},
        "to_cell",
    ),
    (
        "clerk",
        "/api/outgoing/",
        lambda w: {"subject": "x", "channel": "paper", "addressee_name": "Jan"},
        "address",
    ),
    (
        "clerk",
        "/api/outgoing/",
        lambda w: {"subject": "x", "channel": "edoreczenia", "addressee_name": "Jan"},
        "edoreczenia_address",
    ),
    (
        "clerk",
        "/api/outgoing/",
        lambda w: {"subject": "x", "channel": "email", "addressee_name": "Jan", "postage": "-1"},
        "postage",
    ),
    (
        "clerk",
        "/api/outgoing/",
        lambda w: {"subject": "x", "channel": "email", "addressee_name": "Jan", "postage": "tanio"},
        "postage",
    ),
    ("clerk", "/api/outgoing/", lambda w: {"subject": "x", "channel": "email"}, "addressee_name"),
    (
        "clerk",
        "/api/outgoing/",
        lambda w: {"subject": "x", "channel": "email", "addressee_name": "J", "case": 999999},
        "case",
    ),
    (
        "handler",
        "/api/cases/",
        lambda w: {"cell": w.g.cells["kwp_i_1"].pk, "subject": "x"},
        "classification",
    ),
    (
        "handler",
        "/api/cases/",
        lambda w: {
            "cell": w.g.cells["kwp_i_1"].pk,
            "classification": w.g.classes["05"].pk,
            "subject": "x",
        },
        "classification",
    ),
    (
        "handler",
        "/api/cases/",
        lambda w: {
            "cell": w.g.cells["kwp_i_1"].pk,
            "classification": w.g.classes["052"].pk,
            "subject": "x",
            "opened_on": "2999-01-01",
        },
        "opened_on",
    ),
    (
        "handler",
        "/api/cases/",
        lambda w: {
            "cell": w.g.cells["kwp_i_1"].pk,
            "classification": w.g.classes["052"].pk,
            "incoming_item": w.items["kmp"].pk,
        },
        "incoming_item",
    ),
    (
        "handler",
        "/api/cases/",
        lambda w: {
            "cell": w.g.cells["kwp_i_1"].pk,
            "classification": w.g.classes["052"].pk,
            "subject": "x",
            "kind": "pilna",
        },
        "kind",
    ),
    (
        "head",
        "/api/cases/{skargi}/assign/",
        lambda w: {"to_cell": w.g.cells["kwp_i_1"].pk, "to_person": w.person("kadry").pk},
        "to_person",
    ),
    ("handler", "/api/cases/{skargi}/state/", lambda w: {"state": "pending"}, "state"),
    ("handler", "/api/cases/{skargi}/state/", lambda w: {"state": "suspended"}, "reason"),
    ("handler", "/api/cases/{skargi}/share/", lambda w: {}, "person"),
    (
        "handler",
        "/api/cases/{skargi}/share/",
        lambda w: {"person": w.person("kadry").pk, "valid_to": "jutro"},
        "valid_to",
    ),
    ("handler", "/api/cases/{skargi}/kind/", lambda w: {"kind": "pilna"}, "kind"),
    ("handler", "/api/cases/{skargi}/attach-item/", lambda w: {}, "incoming_item"),
    (
        "handler",
        "/api/cases/{skargi}/attach-item/",
        lambda w: {"incoming_item": w.items["kadry"].pk},
        "incoming_item",
    ),
    ("clerk", "/api/correspondents/", lambda w: {"name": "Jan"}, "kind"),
    (
        "clerk",
        "/api/correspondents/",
        lambda w: {"kind": "public_body", "name": "Urząd"},
        "edoreczenia_address",
    ),
    (
        "clerk",
        "/api/correspondents/",
        lambda w: {"kind": "person", "name": "Jan", "postal_code": "20109"},
        "postal_code",
    ),
    (
        "clerk",
        "/api/correspondents/",
        lambda w: {"kind": "person", "name": "Jan", "email": "jan(at)example"},
        "email",
    ),
    (
        "clerk",
        "/api/correspondents/",
        lambda w: {"kind": "person", "name": "Jan", "edoreczenia_address": "AE:PL-1"},
        "edoreczenia_address",
    ),
    (
        "clerk",
        "/api/correspondents/",
        lambda w: {"kind": "person", "name": "Jan", "country": "POL"},
        "country",
    ),
]


@pytest.mark.parametrize(
    ("role", "url", "body", "field"),
    BAD_INPUT,
    ids=[f"{url} {field} {n}" for n, (_, url, _, field) in enumerate(BAD_INPUT)],
)
def test_bad_input_gets_a_structured_400_and_writes_nothing(
    world: World, role: str, url: str, body: Callable[[World], dict[str, Any]], field: str
) -> None:
    url = url.format(unassigned=world.items["unassigned"].pk, skargi=world.cases["skargi"].pk)
    before = {model: model.objects.count() for model in COUNTED}
    response = world.client(role).post(url, body(world), format="json")
    assert response.status_code == 400, response.json()
    error = response.json()["error"]
    assert error["code"] == "invalid" and error["message"]
    assert field in error["fields"], error
    assert all(isinstance(m, str) and m for m in error["fields"][field])
    assert {model: model.objects.count() for model in COUNTED} == before


def test_messages_are_in_polish(world: World) -> None:
    response = world.client("clerk").post("/api/incoming/", {}, format="json")
    assert response.json()["error"] == {
        "code": "invalid",
        "message": "Dane są niepoprawne.",
        "fields": {"subject": ["To pole jest wymagane."], "channel": ["To pole jest wymagane."]},
    }
    anonymous = APIClient().get("/api/incoming/").json()["error"]
    assert anonymous["message"] == "Nie podano danych uwierzytelniających."


def test_a_refusal_by_the_rules_is_403_with_the_services_message(world: World) -> None:
    response = world.client("handler2").post(
        f"/api/cases/{world.cases['skargi'].pk}/state/", {"state": "closed"}, format="json"
    )
    assert response.status_code == 403
    assert response.json()["error"] == {
        "code": "forbidden",
        "message": "Stan sprawy zmienia prowadzący albo przełożony.",
        "fields": {},
    }


def test_malformed_json_and_non_object_bodies_are_400(world: World) -> None:
    client = world.client("clerk")
    broken = client.post("/api/incoming/", "{subject:", content_type="application/json")
    assert broken.status_code == 400
    assert broken.json()["error"]["code"] == "parse_error"
    a_list = client.post("/api/incoming/", [1, 2], format="json")
    assert a_list.status_code == 400
    assert list(a_list.json()["error"]["fields"]) == ["non_field_errors"]


def test_unknown_paths_and_ids_are_json_404(world: World) -> None:
    client = world.client("commander")
    for url in ["/api/nothing/", "/api/incoming/abc/", f"/api/cases/{2**70}/", "/api/incoming"]:
        response = client.get(url)
        assert response.status_code == 404, url
        assert response.json()["error"]["code"] in {"not_found"}, url


def test_a_wrong_method_is_405(world: World) -> None:
    response = world.client("commander").delete(f"/api/cases/{world.cases['skargi'].pk}/")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


def test_a_session_without_csrf_token_is_refused(world: World) -> None:
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(world.person("clerk"))
    assert client.get("/api/incoming/").status_code == 200
    response = client.post("/api/incoming/", {"subject": "x", "channel": "paper"}, format="json")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "csrf_failed"


def test_an_unexpected_failure_is_a_json_500(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(**kwargs: Any) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr("garnizon.api.views.correspondents_search", broken)
    response = world.client("clerk").get("/api/correspondents/")
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "server_error"
    assert "boom" not in json.dumps(response.json())


# --- schema and docs ----------------------------------------------------------------------

API_PATHS = {
    "/api/auth/token/",
    "/api/incoming/",
    "/api/incoming/{id}/",
    "/api/incoming/{id}/assign/",
    "/api/outgoing/",
    "/api/outgoing/{id}/",
    "/api/cases/",
    "/api/cases/{id}/",
    "/api/cases/{id}/assign/",
    "/api/cases/{id}/state/",
    "/api/cases/{id}/share/",
    "/api/cases/{id}/kind/",
    "/api/cases/{id}/extend/",
    "/api/cases/{id}/attach-item/",
    "/api/case-list/",
    "/api/correspondents/",
    "/api/correspondents/{id}/",
    "/api/cases/{id}/documents/",
    "/api/incoming/{id}/documents/",
    "/api/outgoing/{id}/documents/",
    "/api/documents/{id}/",
    "/api/documents/{id}/versions/",
    "/api/document-versions/{id}/download/",
    "/api/search/",
    "/api/search/saved/",
    "/api/search/saved/{saved_id}/",
    "/api/search/saved/{saved_id}/results/",
}


def test_the_schema_is_valid_openapi_with_every_path(garrison: Garrison) -> None:
    from drf_spectacular.validation import validate_schema

    response = client_for(garrison.people["clerk"]).get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    schema = json.loads(response.content)
    validate_schema(schema)
    assert schema["openapi"].startswith("3.")
    assert set(schema["paths"]) == API_PATHS
    assert {"tokenAuth", "cookieAuth"} <= set(schema["components"]["securitySchemes"])


def test_schema_generation_has_no_warnings(tmp_path: Any) -> None:
    call_command(
        "spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml")
    )


def test_the_docs_page_is_for_logged_in_people_only(garrison: Garrison) -> None:
    anonymous = APIClient().get("/api/docs/")
    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith("/login/?next=/api/docs/")
    client = APIClient()
    client.force_login(garrison.people["clerk"])
    response = client.get("/api/docs/")
    assert response.status_code == 200
    assert b"swagger" in response.content.lower()
    # No public CDN: the garrison's network cannot reach one.
    assert b"cdn.jsdelivr" not in response.content and b"/static/" in response.content


def test_case_state_values_in_the_schema_match_the_model(garrison: Garrison) -> None:
    schema = json.loads(
        client_for(garrison.people["clerk"]).get("/api/schema/", {"format": "json"}).content
    )
    assert schema["components"]["schemas"]["CaseStateEnum"]["enum"] == list(CaseState.values)


def test_extending_a_deadline_through_the_api(world: World) -> None:
    from garnizon.cases.deadlines import add_months

    g = world.g
    case = case_open(
        actor=g.people["handler"],
        cell=g.cells["kwp_i_1"],
        classification=g.classes["052"],
        subject="Wniosek UDIP",
        kind="public_information",
    )
    today = timezone.localdate()
    client = world.client("handler")
    url = f"/api/cases/{case.pk}/extend/"
    response = client.post(url, {"new_due_date": "9999-12-31", "reason": "x"}, format="json")
    assert response.status_code == 400
    assert "new_due_date" in response.json()["error"]["fields"]
    new_date = add_months(today, 2)
    response = client.post(
        url, {"new_due_date": new_date.isoformat(), "reason": "obszerny wniosek"}, format="json"
    )
    assert response.status_code == 200, response.json()
    assert response.json()["deadline"]["due_date"] == new_date.isoformat()
    assert (
        world.client("handler2")
        .post(url, {"new_due_date": new_date.isoformat(), "reason": "x"}, format="json")
        .status_code
        == 403
    )


def test_api_dates_far_outside_the_registers_years_are_field_errors(world: World) -> None:
    client = world.client("clerk")
    response = client.post(
        "/api/incoming/",
        {"subject": "x", "channel": "paper", "received_at": "0001-01-01T00:10:00+02:00"},
        format="json",
    )
    assert response.status_code == 400
    assert "received_at" in response.json()["error"]["fields"]
