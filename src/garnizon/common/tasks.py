"""Queueing many tasks at once."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db.models.signals import pre_save
from django.tasks import Task, task_backends
from django.tasks.signals import task_enqueued


def enqueue_many(task: Task, calls: Sequence[tuple[Any, ...]]) -> None:
    """Queue `task` once per argument tuple of `calls`, in one INSERT where possible.

    With the database backend (the project's) the rows are built exactly as its
    `enqueue` builds them and written by one `bulk_create`, inside the caller's
    transaction; any other backend gets one `enqueue` per call.
    """
    if not calls:
        return
    backend = task_backends[task.backend]
    from django_tasks_db.backend import DatabaseBackend

    if not isinstance(backend, DatabaseBackend):
        for args in calls:
            task.enqueue(*args)
        return
    from django_tasks_db.compat import normalize_json
    from django_tasks_db.models import DBTaskResult

    backend.validate_task(task)
    rows = [
        DBTaskResult(
            id=backend._get_id(),
            args_kwargs=normalize_json({"args": list(args), "kwargs": {}}),
            priority=task.priority,
            task_path=task.module_path,
            queue_name=task.queue_name,
            run_after=task.run_after,
            backend_name=backend.alias,
        )
        for args in calls
    ]
    for row in rows:
        # What the backend's `pre_save` receiver does, which bulk_create does not call.
        pre_save.send(sender=DBTaskResult, instance=row, raw=False, using=None, update_fields=None)
    DBTaskResult.objects.bulk_create(rows)
    for row in rows:
        task_enqueued.send(type(backend), task_result=row.task_result)
