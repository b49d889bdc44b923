"""Shared fixtures: a small garrison with people in every role."""

from __future__ import annotations

import pytest

from tests.factories import Garrison, make_garrison


@pytest.fixture
def garrison(db) -> Garrison:
    return make_garrison()
