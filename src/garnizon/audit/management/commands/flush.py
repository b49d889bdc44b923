"""`flush` that can empty the append-only tables.

Django's `flush` empties every table: on SQLite with `DELETE FROM`, which the
immutability triggers refuse, and on PostgreSQL with `TRUNCATE`, which they
refuse too. Django's test runner flushes after every transactional test, so
without this override every such test that writes an audit entry or a case
record line would fail at teardown. The triggers are lifted only inside the
flush's transaction and come back before it commits.
"""

from __future__ import annotations

from typing import Any

from django.core.management.commands import flush

from garnizon.audit.services import audit_immutability_suspended


class Command(flush.Command):
    help = (
        f"{flush.Command.help} Usuwa także dziennik zdarzeń i metryki spraw "
        "(na czas tej operacji zdejmuje ich zabezpieczenia w bazie)."
    )

    def handle(self, **options: Any) -> None:
        with audit_immutability_suspended(using=options["database"]):
            super().handle(**options)
