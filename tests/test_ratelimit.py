"""Rate limits counted in the database: shared across processes, exact under concurrency."""

from __future__ import annotations

import datetime
import threading

import pytest
from django.db import connection
from django.utils import timezone

from garnizon.common.models import RateCounter
from garnizon.common.ratelimit import (
    RateCheck,
    rate_counters_purge,
    rate_limit_hit,
    rate_limits_reached,
)


@pytest.mark.django_db
def test_the_limit_is_passed_on_the_attempt_after_the_last_allowed():
    results = [rate_limit_hit("t", "10.0.0.1", limit=3, window_seconds=3600) for _ in range(5)]
    assert results == [False, False, False, True, True]
    # Another subject and another limit name count on their own.
    assert rate_limit_hit("t", "10.0.0.2", limit=3, window_seconds=3600) is False
    assert rate_limit_hit("u", "10.0.0.1", limit=3, window_seconds=3600) is False


@pytest.mark.django_db
def test_reaching_the_limit_is_read_without_counting_an_attempt():
    checks = [RateCheck("t", "10.0.0.1", 2, 3600), RateCheck("t", "10.0.0.2", 2, 3600)]
    assert rate_limits_reached(checks) == [False, False]
    rate_limit_hit("t", "10.0.0.1", limit=2, window_seconds=3600)
    assert rate_limits_reached(checks) == [False, False]
    rate_limit_hit("t", "10.0.0.1", limit=2, window_seconds=3600)
    for _ in range(3):  # looking does not count
        assert rate_limits_reached(checks) == [True, False]
    assert list(RateCounter.objects.values_list("count", flat=True)) == [2]
    assert rate_limits_reached([]) == []
    # The same subject under another limit name, or in its own case, is its own count.
    assert rate_limits_reached([RateCheck("u", "10.0.0.1", 2, 3600)]) == [False]
    assert rate_limits_reached([RateCheck("t", " 10.0.0.1 ", 2, 3600)]) == [True]


@pytest.mark.django_db
def test_subjects_are_stored_hashed_and_case_insensitively():
    rate_limit_hit("mail", "Jan.Kowalski@Example.pl", limit=1, window_seconds=3600)
    assert rate_limit_hit("mail", "jan.kowalski@example.pl ", limit=1, window_seconds=3600)
    keys = list(RateCounter.objects.values_list("key", flat=True))
    assert len(keys) == 1 and "example" not in keys[0].lower()


@pytest.mark.django_db
def test_ended_windows_are_purged():
    rate_limit_hit("t", "a", limit=1, window_seconds=3600)
    RateCounter.objects.create(
        key="old", count=5, expires_at=timezone.now() - datetime.timedelta(seconds=1)
    )
    assert "1 expired" in rate_counters_purge()
    assert list(RateCounter.objects.values_list("count", flat=True)) == [1]


@pytest.mark.concurrency
@pytest.mark.django_db(transaction=True)
def test_concurrent_hits_from_several_connections_are_all_counted():
    threads, per_thread = 4, 15
    errors: list[BaseException] = []

    def hammer() -> None:
        try:
            for _ in range(per_thread):
                rate_limit_hit("c", "10.9.9.9", limit=10_000, window_seconds=3600)
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)
        finally:
            connection.close()

    workers = [threading.Thread(target=hammer) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert errors == []
    assert RateCounter.objects.get().count == threads * per_thread
