"""Shared fixtures: a small garrison with people in every role."""

from __future__ import annotations

import pytest

from tests.factories import Garrison, make_garrison
from tests.smtp import smtp_server  # noqa: F401 (a fixture for every test module)


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings) -> None:
    # Real hashers cost ~0.3 s per demo user; tests create dozens.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _fresh_folded_terms() -> None:
    # The search's term map is rolled back with each test's transaction, even
    # where its on-commit callbacks ran: this process must not remember it.
    from garnizon.search.folding import forget_known

    forget_known()


@pytest.fixture
def garrison(db) -> Garrison:
    return make_garrison()


@pytest.fixture
def portal_isolated(settings, tmp_path):
    """A blob store of the test's own and an empty cache (rate counts, cached pages)."""
    from django.core.cache import cache

    settings.GARNIZON_BLOB_DIR = tmp_path / "blobs"
    cache.clear()
    yield
    cache.clear()
