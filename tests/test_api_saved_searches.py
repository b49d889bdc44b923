"""Saved searches through the API: one's own only, run with today's permissions."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from garnizon.registry.models import Channel
from garnizon.registry.services import incoming_item_register
from garnizon.search.models import SavedSearch
from tests.test_api import client_for


@pytest.fixture(autouse=True)
def _blob_dir(settings, tmp_path):
    settings.GARNIZON_BLOB_DIR = tmp_path / "blobs"


@pytest.fixture
def letters(garrison, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        kwp = incoming_item_register(
            actor=garrison.people["clerk"],
            unit=garrison.kwp,
            subject="Wniosek o udostępnienie nagrania z monitoringu",
            channel=Channel.EMAIL,
        )
        kmp = incoming_item_register(
            actor=garrison.people["kmp_clerk"],
            unit=garrison.kmp,
            subject="Nagranie z monitoringu miejskiego",
            channel=Channel.PAPER,
        )
    return kwp, kmp


def test_a_search_is_saved_listed_overwritten_run_and_deleted(garrison, letters):
    kwp, _kmp = letters
    client = client_for(garrison.people["clerk"])
    created = client.post(
        "/api/search/saved/",
        {"name": "Monitoring", "q": "nagranie monitoring", "channel": "email"},
        format="json",
    )
    assert created.status_code == 201, created.content
    saved = created.json()
    assert saved["name"] == "Monitoring" and saved["q"] == "nagranie monitoring"
    assert saved["filters"] == {"channel": "email"}

    again = client.post(
        "/api/search/saved/", {"name": "Monitoring", "q": "monitoringu"}, format="json"
    )
    assert again.status_code == 200 and again.json()["id"] == saved["id"]
    assert again.json()["filters"] == {}
    assert [s["name"] for s in client.get("/api/search/saved/").json()] == ["Monitoring"]

    results = client.get(f"/api/search/saved/{saved['id']}/results/").json()
    # The clerk of KWP sees KWP's register only: the KMP letter is not found.
    assert [(hit["type"], hit["id"]) for hit in results["results"]] == [("incoming", kwp.pk)]

    assert client.delete(f"/api/search/saved/{saved['id']}/").status_code == 204
    assert not SavedSearch.objects.exists()
    assert client.get(f"/api/search/saved/{saved['id']}/").status_code == 404


def test_someone_elses_saved_search_is_not_found(garrison, letters):
    owner = client_for(garrison.people["clerk"])
    saved = owner.post("/api/search/saved/", {"name": "Moje", "q": "nagranie"}, format="json")
    other = client_for(garrison.people["kmp_clerk"])
    saved_id = saved.json()["id"]
    assert other.get("/api/search/saved/").json() == []
    for response in (
        other.get(f"/api/search/saved/{saved_id}/"),
        other.get(f"/api/search/saved/{saved_id}/results/"),
        other.delete(f"/api/search/saved/{saved_id}/"),
    ):
        assert response.status_code == 404
    assert SavedSearch.objects.filter(pk=saved_id).exists()


def test_bad_input_is_refused_with_a_message(garrison):
    client = client_for(garrison.people["clerk"])
    response = client.post("/api/search/saved/", {"name": "   ", "q": "x"}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["fields"]["name"] == ["To pole nie może być puste."]
    response = client.post("/api/search/saved/", {"name": "Daty", "date_from": "wczoraj"})
    assert response.status_code == 400
    assert APIClient().get("/api/search/saved/").status_code == 401
