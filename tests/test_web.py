"""The staff web UI: pages, forms, and the permission matrix for every view and role."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from garnizon.audit.models import AuditEntry
from garnizon.cases.models import Case, CaseState
from garnizon.cases.services import case_open
from garnizon.registry.models import Channel, IncomingItem
from garnizon.registry.services import incoming_item_register, outgoing_item_register
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

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


@pytest.fixture
def world(garrison):
    g = garrison
    item = incoming_item_register(
        actor=g.people["clerk"],
        unit=g.kwp,
        subject="Skarga na hałas",
        channel=Channel.PAPER,
        assigned_cell=g.cells["kwp_i_1"],
        sender_name="Jan Kowalski",
    )
    case = case_open(
        actor=g.people["handler"],
        cell=g.cells["kwp_i_1"],
        classification=g.classes["052"],
        subject="Skarga na hałas",
    )
    outgoing = outgoing_item_register(
        actor=g.people["clerk"],
        unit=g.kwp,
        subject="Zawiadomienie",
        channel=Channel.EMAIL,
        addressee_name="Jan Kowalski",
    )
    return {"g": g, "item": item, "case": case, "outgoing": outgoing}


def client_for(person) -> Client:
    client = Client()
    assert client.login(username=person.username, password=PASSWORD)
    return client


def _pages(world) -> dict[str, str]:
    g = world["g"]
    return {
        "my_work": reverse("web:my_work"),
        "overview": reverse("web:overview"),
        "incoming_list": reverse("web:incoming_list"),
        "incoming_new": reverse("web:incoming_new"),
        "incoming_detail": reverse("web:incoming_detail", args=[world["item"].pk]),
        "outgoing_list": reverse("web:outgoing_list"),
        "outgoing_new": reverse("web:outgoing_new"),
        "outgoing_detail": reverse("web:outgoing_detail", args=[world["outgoing"].pk]),
        "case_search": reverse("web:case_search"),
        "case_new": reverse("web:case_new"),
        "case_detail": reverse("web:case_detail", args=[world["case"].pk]),
        "case_list_export": reverse("web:case_list_export")
        + f"?cell={g.cells['kwp_i_1'].pk}&classification={g.classes['052'].pk}",
        "correspondent_list": reverse("web:correspondent_list"),
        "correspondent_new": reverse("web:correspondent_new"),
        "deadline_calculator": reverse("web:deadline_calculator"),
        "substitutions": reverse("web:substitutions"),
        "audit_log": reverse("web:audit_log"),
        "search": reverse("web:search") + "?q=skarga",
        "incoming_label_pdf": reverse("web:incoming_label_pdf", args=[world["item"].pk]),
        "incoming_label_print": reverse("web:incoming_label_print", args=[world["item"].pk]),
    }


# Expected status of every page for every role. 404, not 403, for what a role
# may not see, so the existence of an item or case does not leak.
EVERYONE = dict.fromkeys(ROLES, 200)
MATRIX: dict[str, dict[str, int]] = {
    "my_work": EVERYONE,
    "overview": EVERYONE,
    "incoming_list": EVERYONE,
    "incoming_new": {
        **dict.fromkeys(ROLES, 404),
        "clerk": 200,
        "head": 200,
        "commander": 200,
        "kmp_clerk": 200,
        "kmp_commander": 200,
    },
    "incoming_detail": {
        **dict.fromkeys(ROLES, 404),
        "clerk": 200,
        "handler": 200,
        "handler2": 200,
        "head": 200,
        "commander": 200,
        "archivist": 200,
    },
    "outgoing_list": EVERYONE,
    "outgoing_new": EVERYONE,
    "outgoing_detail": {
        **dict.fromkeys(ROLES, 404),
        "clerk": 200,
        "commander": 200,
        "archivist": 200,
    },
    "case_search": EVERYONE,
    "case_new": EVERYONE,
    "case_detail": {
        **dict.fromkeys(ROLES, 404),
        "handler": 200,
        "handler2": 200,
        "head": 200,
        "commander": 200,
        "archivist": 200,
    },
    "case_list_export": EVERYONE,
    "correspondent_list": EVERYONE,
    "correspondent_new": EVERYONE,
    "deadline_calculator": EVERYONE,
    "substitutions": EVERYONE,
    "audit_log": {**dict.fromkeys(ROLES, 404), "auditor": 200},
    "search": EVERYONE,
}
# A label is printed by whoever may open the item.
MATRIX["incoming_label_pdf"] = MATRIX["incoming_label_print"] = MATRIX["incoming_detail"]
CASE_LIST_SHOWS_CASE = {"handler", "handler2", "head", "commander", "archivist"}


def test_the_matrix_covers_every_page(world):
    from garnizon.web.urls import urlpatterns

    names = {p.name for p in urlpatterns} - {"login", "logout"}
    post_only = {
        "incoming_assign",
        "incoming_open_case",
        "case_assign",
        "case_state",
        "case_share",
        "case_kind",
        "case_extend",
        "substitution_end",
    }
    assert names - post_only == set(MATRIX) == set(_pages(world))


@pytest.mark.parametrize("role", ROLES)
def test_permission_matrix_for_every_page(world, role):
    client = client_for(world["g"].people[role])
    got = {name: client.get(url).status_code for name, url in _pages(world).items()}
    expected = {name: MATRIX[name][role] for name in got}
    assert got == expected
    listing = client.get(_pages(world)["case_list_export"]).content.decode()
    assert (world["case"].sign in listing) == (role in CASE_LIST_SHOWS_CASE)


def test_anonymous_users_are_sent_to_log_in(world):
    client = Client()
    for url in _pages(world).values():
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_the_register_shows_only_what_a_user_may_see(world):
    g = world["g"]
    hidden = incoming_item_register(
        actor=g.people["clerk"],
        unit=g.kwp,
        subject="Kadrowa",
        channel=Channel.PAPER,
        assigned_cell=g.cells["kwp_ii"],
    )
    page = client_for(g.people["handler"]).get(reverse("web:incoming_list")).content.decode()
    assert world["item"].registration_number in page
    assert hidden.registration_number not in page
    assert "Jan Kowalski" in page  # the visible item's sender


def test_registering_an_item_from_the_form_and_going_on_to_the_next(world):
    g = world["g"]
    client = client_for(g.people["clerk"])
    form_page = client.get(reverse("web:incoming_new")).content.decode()
    assert "autofocus" in form_page
    token = form_page.split('name="client_token" value="')[1].split('"')[0]
    data = {
        "client_token": token,
        "unit": g.kwp.pk,
        "channel": Channel.EMAIL,
        "subject": "Wniosek o informację publiczną",
        "kind": "public_information",
        "sender_name": "",
        "next": "1",
    }
    response = client.post(reverse("web:incoming_new"), data)
    assert response.status_code == 302 and response["Location"] == reverse("web:incoming_new")
    item = IncomingItem.objects.get(subject="Wniosek o informację publiczną")
    assert item.due_date is not None and "art. 13" in item.deadline_basis
    # The same form sent again (double click, back button) creates nothing new.
    client.post(reverse("web:incoming_new"), data)
    assert IncomingItem.objects.filter(subject="Wniosek o informację publiczną").count() == 1
    detail = client.get(reverse("web:incoming_detail", args=[item.pk])).content.decode()
    assert "brak danych" in detail  # no sender, no letter date
    assert item.deadline_explanation.split(",")[0] in detail


def test_form_errors_are_summarised_in_polish_and_nothing_is_saved(world):
    g = world["g"]
    client = client_for(g.people["clerk"])
    response = client.post(
        reverse("web:incoming_new"),
        {
            "client_token": "t1",
            "unit": g.kwp.pk,
            "channel": "pigeon",
            "subject": "",
            "kind": "none",
            "letter_date": "2999-01-01",
        },
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert 'class="error-summary"' in body and "Popraw błędy" in body
    assert 'href="#id_subject"' in body
    response = client.post(
        reverse("web:incoming_new"),
        {
            "client_token": "t2",
            "unit": g.kwp.pk,
            "channel": "paper",
            "subject": "X",
            "kind": "none",
            "letter_date": "2999-01-01",
        },
    )
    assert "Data pisma nie może być późniejsza" in response.content.decode()
    assert IncomingItem.objects.count() == 1  # only the fixture's item


def test_opening_a_case_from_an_item_and_the_case_page(world):
    g = world["g"]
    client = client_for(g.people["handler"])
    response = client.post(
        reverse("web:incoming_open_case", args=[world["item"].pk]),
        {
            "client_token": "c1",
            "cell": g.cells["kwp_i_1"].pk,
            "classification": g.classes["052"].pk,
            "subject": "",
            "kind": "complaint",
        },
    )
    assert response.status_code == 302
    case = Case.objects.get(incoming_items=world["item"])
    page = client.get(response["Location"]).content.decode()
    assert case.sign in page and "Metryka sprawy" in page and "art. 237" in page
    assert AuditEntry.objects.filter(action="view", object_id=str(case.pk)).exists()


def test_case_actions_from_the_case_page(world):
    g = world["g"]
    case = world["case"]
    client = client_for(g.people["handler"])
    response = client.post(
        reverse("web:case_state", args=[case.pk]), {"new_state": CaseState.SUSPENDED, "reason": ""}
    )
    assert response.status_code == 400 and "Podaj powód" in response.content.decode()
    assert f'href="/cases/{case.pk}/"' in response.content.decode()  # the way back
    response = client.post(
        reverse("web:case_state", args=[case.pk]), {"new_state": CaseState.CLOSED, "reason": ""}
    )
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.state == CaseState.CLOSED and case.closed_on == timezone.localdate()
    # Someone who cannot see the case gets a 404, not a form naming it.
    response = client_for(g.people["kadry"]).post(
        reverse("web:case_state", args=[case.pk]), {"new_state": CaseState.REOPENED}
    )
    assert response.status_code == 404
    assert case.sign not in response.content.decode()


def test_case_list_exports_as_csv_and_pdf(world):
    g = world["g"]
    client = client_for(g.people["head"])
    base = _pages(world)["case_list_export"]
    csv_response = client.get(base + "&format=csv")
    assert csv_response["Content-Type"].startswith("text/csv")
    text = csv_response.content.decode("utf-8-sig")
    assert world["case"].sign in text and text.splitlines()[0].startswith("Lp.")
    pdf = client.get(base + "&format=pdf")
    assert pdf["Content-Type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
    assert AuditEntry.objects.filter(action="export", object_type="cases.caselist").count() == 2


def test_the_overview_shows_overdue_work_per_cell(world):
    g = world["g"]
    Case.objects.filter(pk=world["case"].pk).update(
        due_date=timezone.localdate() - timezone.timedelta(days=3)
    )
    page = client_for(g.people["commander"]).get(reverse("web:overview")).content.decode()
    assert world["case"].sign in page and "po terminie" in page


def test_the_deadline_calculator_explains_the_count(world):
    client = client_for(world["g"].people["clerk"])
    page = client.get(
        reverse("web:deadline_calculator"), {"kind": "complaint", "start": "2026-01-15"}
    ).content.decode()
    assert "16.02.2026" in page and "niedziela" in page and "art. 237" in page


def test_the_ui_speaks_english_when_asked(world):
    client = client_for(world["g"].people["clerk"])
    client.post(reverse("set_language"), {"language": "en", "next": "/"})
    page = client.get(reverse("web:my_work")).content.decode()
    assert 'lang="en"' in page and "My work" in page and "Moja praca" not in page


def test_arranging_a_substitution_lets_the_substitute_act(world):
    g = world["g"]
    today = timezone.localdate()
    client = client_for(g.people["head"])
    response = client.post(
        reverse("web:substitutions"),
        {
            "absent": g.people["handler"].pk,
            "substitute": g.people["kadry"].pk,
            "date_from": today.isoformat(),
            "date_to": today.isoformat(),
            "reason": "urlop",
        },
    )
    assert response.status_code == 302
    page = client_for(g.people["kadry"]).get(reverse("web:case_detail", args=[world["case"].pk]))
    assert page.status_code == 200
    # A colleague may not arrange a substitution for someone else.
    response = client_for(g.people["handler2"]).post(
        reverse("web:substitutions"),
        {
            "absent": g.people["handler"].pk,
            "substitute": g.people["handler2"].pk,
            "date_from": today.isoformat(),
            "date_to": today.isoformat(),
        },
    )
    assert "przełożony" in response.content.decode()
    audit_entry = AuditEntry.objects.filter(
        object_type="cases.case", action="view", actor=g.people["kadry"]
    ).get()
    assert audit_entry.on_behalf_of_username == g.people["handler"].username


def test_the_audit_log_shows_an_auditor_their_units_entries(world):
    g = world["g"]
    page = client_for(g.people["auditor"]).get(reverse("web:audit_log")).content.decode()
    assert world["item"].registration_number in page
    assert "Dziennik zdarzeń" in client_for(g.people["auditor"]).get("/").content.decode()
    assert "Dziennik zdarzeń" not in client_for(g.people["clerk"]).get("/").content.decode()


def test_a_garrison_wide_commander_sees_every_unit_in_the_overview(world):
    from garnizon.org.models import Position, Role

    g = world["g"]
    kmp_case = case_open(
        actor=g.people["kmp_handler"],
        cell=g.cells["kmp_wk"],
        classification=g.classes["052"],
        subject="Sprawa KMP",
    )
    Case.objects.filter(pk=kmp_case.pk).update(
        due_date=timezone.localdate() - timezone.timedelta(days=1)
    )
    page = client_for(g.people["commander"]).get(reverse("web:overview")).content.decode()
    assert "Według jednostek" not in page and kmp_case.sign not in page
    Position.objects.filter(person=g.people["commander"], role=Role.UNIT_COMMANDER).update(
        garrison_wide=True
    )
    page = client_for(g.people["commander"]).get(reverse("web:overview")).content.decode()
    assert "Według jednostek" in page and "KMP-LU" in page and kmp_case.sign in page


# --- review fixes: need-to-know on the case page, audit, bad input, query counts ----------


def _restricted_letter_in_case(g, case, subject, **fields):
    """A restricted letter inside an ordinary case (data from before such attaching was
    refused, or attached by someone entitled to both)."""
    item = incoming_item_register(
        actor=g.people["head"],
        unit=g.kwp,
        subject=subject,
        channel=Channel.PAPER,
        is_restricted=True,
        **fields,
    )
    IncomingItem.objects.filter(pk=item.pk).update(case=case)
    return item


def test_the_case_page_lists_only_the_letters_the_viewer_may_see(world):
    from garnizon.registry.selectors import incoming_visible_to

    g = world["g"]
    case = world["case"]
    secret = _restricted_letter_in_case(g, case, "SYGNALISTA-TAJNE")
    IncomingItem.objects.filter(pk=world["item"].pk).update(case=case)
    assert not incoming_visible_to(g.people["handler2"]).filter(pk=secret.pk).exists()
    page = (
        client_for(g.people["handler2"])
        .get(reverse("web:case_detail", args=[case.pk]))
        .content.decode()
    )
    assert world["item"].registration_number in page
    assert "SYGNALISTA-TAJNE" not in page and secret.registration_number not in page
    # The person named on it (the registrar) still sees it in the case.
    page = (
        client_for(g.people["head"])
        .get(reverse("web:case_detail", args=[case.pk]))
        .content.decode()
    )
    assert "SYGNALISTA-TAJNE" in page


def test_the_csv_case_list_takes_letter_data_only_from_visible_letters(world):
    import datetime

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    g = world["g"]
    case = world["case"]
    _restricted_letter_in_case(
        g,
        case,
        "Tajne",
        letter_reference="TAJNE/1",
        letter_date=datetime.date(2026, 1, 2),
        received_at=timezone.now() - timezone.timedelta(days=2),
    )
    IncomingItem.objects.filter(pk=world["item"].pk).update(
        case=case, letter_reference="JAWNE/2", letter_date=datetime.date(2026, 1, 5)
    )
    url = _pages(world)["case_list_export"] + "&format=csv"
    client = client_for(g.people["handler2"])
    text = client.get(url).content.decode("utf-8-sig")
    assert "JAWNE/2" in text and "05.01.2026" in text
    assert "TAJNE/1" not in text and "02.01.2026" not in text
    # One query for the list, however many cases it has.
    with CaptureQueriesContext(connection) as one_case:
        client.get(url)
    for number in range(5):
        case_open(
            actor=g.people["handler"],
            cell=g.cells["kwp_i_1"],
            classification=g.classes["052"],
            subject=f"Sprawa {number}",
        )
    with CaptureQueriesContext(connection) as six_cases:
        text = client.get(url).content.decode("utf-8-sig")
    assert len(text.splitlines()) == 7
    assert len(six_cases.captured_queries) == len(one_case.captured_queries)


def test_viewing_a_dispatch_in_substitution_is_audited_on_whose_behalf(world):
    from garnizon.org.models import Substitution

    g = world["g"]
    out = outgoing_item_register(
        actor=g.people["handler"],
        unit=g.kwp,
        case=world["case"],
        subject="Odpowiedź",
        channel=Channel.EMAIL,
        addressee_name="Jan Kowalski",
    )
    today = timezone.localdate()
    Substitution.objects.create(
        absent=g.people["handler2"], substitute=g.people["kadry"], date_from=today, date_to=today
    )
    response = client_for(g.people["kadry"]).get(reverse("web:outgoing_detail", args=[out.pk]))
    assert response.status_code == 200
    entry = AuditEntry.objects.filter(
        action="view", object_type="registry.outgoingitem", object_id=str(out.pk)
    ).get()
    assert entry.actor_username == g.people["kadry"].username
    assert entry.on_behalf_of_username == g.people["handler2"].username
    # Own rights: no "w zastępstwie".
    client_for(g.people["handler"]).get(reverse("web:outgoing_detail", args=[out.pk]))
    entry = AuditEntry.objects.filter(
        action="view",
        object_type="registry.outgoingitem",
        actor_username=g.people["handler"].username,
    ).get()
    assert entry.on_behalf_of_username == ""


HUGE = "99999999999999999999"


@pytest.mark.parametrize(
    "url",
    [
        f"/incoming/?year={HUGE}",
        f"/incoming/?cursor={HUGE}",
        f"/incoming/?unit={HUGE}",
        f"/incoming/?cell={HUGE}",
        "/incoming/?cursor=-5",
        "/incoming/?year=0",
        f"/cases/?cell={HUGE}",
        f"/cases/?cursor={HUGE}",
        f"/cases/?year={HUGE}",
        f"/cases/?classification={HUGE}",
        f"/outgoing/?year={HUGE}",
        f"/outgoing/?cursor={HUGE}",
        f"/cases/list/?cell={HUGE}&classification=1",
        "/cases/list/?cell=1&classification=1&year=0",
        f"/audit/?cursor={HUGE}",
        "/deadlines/?kind=petition&start=9999-12-20",
        "/deadlines/?kind=certificate&start=9999-12-30",
        "/deadlines/?kind=complaint&start=0001-01-01",
    ],
)
def test_out_of_range_numbers_and_dates_in_addresses_are_no_server_error(world, url):
    who = world["g"].people["auditor" if url.startswith("/audit") else "commander"]
    client = client_for(who)
    client.raise_request_exception = False
    assert client.get(url).status_code in (200, 404)


def test_the_deadline_calculator_explains_a_date_it_cannot_count(world):
    client = client_for(world["g"].people["clerk"])
    page = client.get(
        reverse("web:deadline_calculator"), {"kind": "petition", "start": "9999-12-20"}
    ).content.decode()
    assert "Podaj datę od 01.01.1990 do 31.12.2100" in page


def test_the_deadline_calculator_shows_a_counting_error_on_the_form(world, monkeypatch):
    from garnizon.web import views

    def refuse(kind, start):
        raise ValueError("Terminy liczy się dla dat z lat 1900–9000, a podano 20.12.9999.")

    monkeypatch.setattr(views, "compute_deadline", refuse)
    response = client_for(world["g"].people["clerk"]).get(
        reverse("web:deadline_calculator"), {"kind": "petition", "start": "2026-01-15"}
    )
    assert response.status_code == 200
    assert "Terminy liczy się dla dat z lat 1900–9000" in response.content.decode()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("received_at", "0001-01-01T00:10"),
        ("received_at", "1989-12-31T23:59"),
        ("letter_date", "0001-01-01"),
    ],
)
def test_registering_with_an_absurd_date_is_a_form_error(world, field, value):
    g = world["g"]
    client = client_for(g.people["clerk"])
    client.raise_request_exception = False
    response = client.post(
        reverse("web:incoming_new"),
        {
            "client_token": "abc",
            "unit": g.kwp.pk,
            "subject": "x",
            "channel": "paper",
            "kind": "none",
            field: value,
        },
    )
    assert response.status_code == 200
    assert "Podaj datę od 01.01.1990" in response.content.decode()
    assert IncomingItem.objects.count() == 1


@pytest.mark.parametrize(
    ("url_name", "data"),
    [
        ("case_extend", {"new_due_date": "9999-12-31", "reason": "zwłoka"}),
        ("case_share", {"person": "", "valid_to": "9999-12-31"}),
        ("case_assign", {"deadline": "0001-01-01"}),
    ],
)
def test_case_actions_refuse_absurd_dates(world, url_name, data):
    g = world["g"]
    case = world["case"]
    client = client_for(g.people["head"])
    client.raise_request_exception = False
    if url_name == "case_share":
        data = {**data, "person": g.people["kadry"].pk}
    if url_name == "case_assign":
        data = {**data, "to_cell": g.cells["kwp_i_1"].pk}
    response = client.post(reverse(f"web:{url_name}", args=[case.pk]), data)
    assert response.status_code == 400
    assert "Podaj datę od 01.01.1990 do 31.12.2100" in response.content.decode()


def test_the_register_page_reads_its_cells_in_one_go(garrison, django_assert_max_num_queries):
    from garnizon.org.models import Cell

    g = garrison
    section = Cell.objects.create(unit=g.kwp, parent=g.cells["kwp_i_1"], name="Sekcja", symbol="A")
    for number in range(40):
        incoming_item_register(
            actor=g.people["clerk"],
            unit=g.kwp,
            subject=f"Pismo {number}",
            channel=Channel.PAPER,
            assigned_cell=section if number % 2 else g.cells["kwp_i_1"],
        )
    client = client_for(g.people["commander"])
    with django_assert_max_num_queries(20):
        page = client.get(reverse("web:incoming_list")).content.decode()
    assert page.count("KWP-I-1-A") == 20 and page.count("Pismo ") == 40


def test_the_other_list_pages_read_their_cells_in_one_go(garrison, django_assert_max_num_queries):
    from garnizon.org.models import Cell

    g = garrison
    parent = g.cells["kwp_i_1"]
    for depth in range(4):  # a deep tree: KWP-I-1-A-B-C-D
        parent = Cell.objects.create(
            unit=g.kwp, parent=parent, name=f"Poziom {depth}", symbol="ABCD"[depth]
        )
        for number in range(5):
            Cell.objects.create(
                unit=g.kwp, parent=parent, name=f"Zespół {number}", symbol=f"Z{number}"
            )
        case_open(
            actor=g.people["commander"],
            cell=parent.children.get(symbol="Z0"),
            classification=g.classes["052"],
            subject=f"Sprawa {depth}",
        )
    for number in range(10):
        incoming_item_register(
            actor=g.people["clerk"],
            unit=g.kwp,
            subject=f"Pismo {number}",
            channel=Channel.PAPER,
            assigned_cell=g.cells["kwp_i"],
        )
    client = client_for(g.people["commander"])
    with django_assert_max_num_queries(20):
        page = client.get(reverse("web:case_search")).content.decode()
    assert "KWP-I-1-A-B-C-D-Z4" in page
    with django_assert_max_num_queries(20):
        page = client.get(reverse("web:overview")).content.decode()
    assert "KWP-I-1-A-B-C-D-Z0" in page
    with django_assert_max_num_queries(20):
        page = client.get(reverse("web:my_work")).content.decode()
    assert page.count("<td>KWP-I</td>") == 10


def test_a_restricted_item_is_registered_to_a_named_person_from_the_form(world):
    g = world["g"]
    client = client_for(g.people["clerk"])
    data = {
        "client_token": "r1",
        "unit": g.kwp.pk,
        "channel": "paper",
        "kind": "none",
        "subject": "Zgłoszenie sygnalisty",
        "is_restricted": "on",
        "assigned_cell": g.cells["kwp_i_1"].pk,
    }
    response = client.post(reverse("web:incoming_new"), data)
    assert response.status_code == 200 and "wskazanej osoby" in response.content.decode()
    data |= {"client_token": "r2", "assigned_person": g.people["handler"].pk}
    assert client.post(reverse("web:incoming_new"), data).status_code == 302
    item = IncomingItem.objects.get(subject="Zgłoszenie sygnalisty")
    assert item.is_restricted and item.assigned_person == g.people["handler"]


def test_registering_a_dispatch_in_a_case_from_the_form(world):
    from garnizon.registry.models import OutgoingItem

    g, case = world["g"], world["case"]
    client = client_for(g.people["handler"])
    page = client.get(reverse("web:outgoing_new") + f"?case={case.sign}").content.decode()
    token = page.split('name="client_token" value="')[1].split('"')[0]
    response = client.post(
        reverse("web:outgoing_new"),
        {
            "client_token": token,
            "unit": g.kwp.pk,
            "case_sign": case.sign,
            "channel": "paper",
            "addressee_name": "Jan Kowalski",
            "address": "ul. Krótka 1, 20-001 Lublin",
            "subject": "Odpowiedź na skargę",
            "return_receipt": "on",
        },
    )
    assert response.status_code == 302 and response["Location"].endswith(f"/cases/{case.pk}/")
    dispatch = OutgoingItem.objects.get(subject="Odpowiedź na skargę")
    assert dispatch.case == case and dispatch.return_receipt and dispatch.registered_mail


def test_the_menu_offers_registering_and_visits_exactly_to_whom_the_pages_let_in(garrison):
    """One rule (org.access) behind the menu, the forms and the registry service."""
    import re

    from garnizon.org.access import Scope, registering_units
    from garnizon.org.models import Cell, Role, Substitution, Unit, UnitKind
    from garnizon.registry.services import can_register_in
    from tests.factories import make_person

    g = garrison
    people = dict(g.people)
    today = timezone.localdate()
    # A case handler holding the absent KMP clerk's post.
    Substitution.objects.create(
        absent=g.people["kmp_clerk"],
        substitute=g.people["kmp_handler"],
        date_from=today,
        date_to=today,
    )
    # A garrison-wide registry clerk, and the clerk of a unit that has been wound up.
    people["wide_clerk"] = make_person(
        "wide_clerk", g.kwp, g.cells["kwp_kan"], Role.REGISTRY_CLERK, garrison_wide=True
    )
    closed = Unit.objects.create(
        symbol="KPP-X", name="KPP zlikwidowana", kind=UnitKind.COUNTY, superior=g.kwp
    )
    people["closed_clerk"] = make_person(
        "closed_clerk",
        closed,
        Cell.objects.create(unit=closed, name="Kancelaria", symbol="KAN"),
        Role.REGISTRY_CLERK,
    )
    closed.is_active = False
    closed.save()

    intake, visits = reverse("intake:list"), reverse("staff_visits:index")
    may_register: dict[str, bool] = {}
    for name, person in people.items():
        client = client_for(person)
        page = client.get(reverse("web:my_work")).content.decode()
        menu = re.search(r"<nav .*?</nav>", page, re.S)
        assert menu is not None
        registers = client.get(reverse("web:incoming_new")).status_code == 200
        may_register[name] = registers
        assert client.get(intake).status_code == (200 if registers else 404), name
        assert (f'href="{intake}"' in menu.group()) == registers, name
        register_page = client.get(reverse("web:incoming_list")).content.decode()
        assert (reverse("web:incoming_new") in register_page) == registers, name
        runs_visits = client.get(visits).status_code == 200
        assert (f'href="{visits}"' in menu.group()) == runs_visits, name
        # The registry's service allows exactly the units the form offers.
        scope = Scope.for_person(person)
        offered = set(registering_units(scope).values_list("pk", flat=True))
        for unit in Unit.objects.filter(is_active=True):
            assert can_register_in(scope, unit.pk) == (unit.pk in offered), (name, unit)
    assert {name for name, yes in may_register.items() if yes} == {
        "clerk",
        "head",
        "commander",
        "kmp_clerk",
        "kmp_commander",
        "kmp_handler",  # through the substitution
        "wide_clerk",
    }
