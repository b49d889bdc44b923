"""Database-level immutability of the audit trail and of the case record.

Triggers refuse UPDATE and DELETE on `audit_auditentry` and
`cases_caserecordentry` (and TRUNCATE on PostgreSQL, which bypasses row
triggers), and let the single `audit_audithead` row only move forward one
entry at a time. Somebody with full database access can still drop them; the
hash chain is what catches that, the triggers stop every ordinary path
(ORM, admin, a careless script, a bad migration).

The statements live here, frozen with the migration. To empty these tables
(`flush` in tests) or to tamper on purpose in a test, lift the triggers for
one transaction with `garnizon.audit.services.audit_immutability_suspended`.

On SQLite a later migration that rebuilds one of these tables (AlterField,
some AddFields) drops its triggers with the old table; such a migration must
create them again. tests/test_audit.py checks that they are all in place.
"""

from __future__ import annotations

from typing import Any

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models
from django.db.backends.base.base import BaseDatabaseWrapper

APPEND_ONLY_TABLES = ("audit_auditentry", "cases_caserecordentry")
HEAD_TABLE = "audit_audithead"

_REFUSAL = "wpisów nie wolno zmieniać ani usuwać (tylko dopisywanie)"
_HEAD_REFUSAL = "nagłówek dziennika zdarzeń przesuwa się tylko o jeden wpis naprzód"

# SQLite: RAISE(ABORT) fails the statement with SQLITE_CONSTRAINT, which Django
# turns into IntegrityError, the same class PostgreSQL gives for SQLSTATE 23000.
SQLITE_CREATE = [
    *(
        f"CREATE TRIGGER {table}_no_{op.lower()} BEFORE {op} ON {table} "
        f"BEGIN SELECT RAISE(ABORT, '{table}: {_REFUSAL}'); END"
        for table in APPEND_ONLY_TABLES
        for op in ("UPDATE", "DELETE")
    ),
    f"CREATE TRIGGER {HEAD_TABLE}_no_delete BEFORE DELETE ON {HEAD_TABLE} "
    f"BEGIN SELECT RAISE(ABORT, '{HEAD_TABLE}: {_HEAD_REFUSAL}'); END",
    f"CREATE TRIGGER {HEAD_TABLE}_forward_only BEFORE UPDATE ON {HEAD_TABLE} "
    "WHEN NEW.id <> OLD.id OR NEW.last_seq <> OLD.last_seq + 1 "
    f"BEGIN SELECT RAISE(ABORT, '{HEAD_TABLE}: {_HEAD_REFUSAL}'); END",
]
SQLITE_DROP = [
    *(
        f"DROP TRIGGER IF EXISTS {table}_no_{op.lower()}"
        for table in APPEND_ONLY_TABLES
        for op in ("UPDATE", "DELETE")
    ),
    f"DROP TRIGGER IF EXISTS {HEAD_TABLE}_no_delete",
    f"DROP TRIGGER IF EXISTS {HEAD_TABLE}_forward_only",
]

# PostgreSQL: the messages are built by concatenation, not RAISE's % format,
# so the SQL contains no % for the driver to mistake for a parameter.
POSTGRESQL_CREATE = [
    f"""
    CREATE OR REPLACE FUNCTION garnizon_refuse_change() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION USING
            MESSAGE = TG_TABLE_NAME || ': {_REFUSAL} (' || TG_OP || ')',
            ERRCODE = 'integrity_constraint_violation';
    END
    $$
    """,
    f"""
    CREATE OR REPLACE FUNCTION garnizon_audit_head_forward_only() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP <> 'UPDATE' OR NEW.id <> OLD.id OR NEW.last_seq <> OLD.last_seq + 1 THEN
            RAISE EXCEPTION USING
                MESSAGE = TG_TABLE_NAME || ': {_HEAD_REFUSAL} (' || TG_OP || ')',
                ERRCODE = 'integrity_constraint_violation';
        END IF;
        RETURN NEW;
    END
    $$
    """,
    *(
        sql
        for table in APPEND_ONLY_TABLES
        for sql in (
            f"CREATE TRIGGER {table}_immutable BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION garnizon_refuse_change()",
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION garnizon_refuse_change()",
        )
    ),
    f"CREATE TRIGGER {HEAD_TABLE}_forward_only BEFORE UPDATE OR DELETE ON {HEAD_TABLE} "
    "FOR EACH ROW EXECUTE FUNCTION garnizon_audit_head_forward_only()",
    f"CREATE TRIGGER {HEAD_TABLE}_no_truncate BEFORE TRUNCATE ON {HEAD_TABLE} "
    "FOR EACH STATEMENT EXECUTE FUNCTION garnizon_refuse_change()",
]
POSTGRESQL_DROP = [
    *(
        sql
        for table in APPEND_ONLY_TABLES
        for sql in (
            f"DROP TRIGGER IF EXISTS {table}_immutable ON {table}",
            f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}",
        )
    ),
    f"DROP TRIGGER IF EXISTS {HEAD_TABLE}_forward_only ON {HEAD_TABLE}",
    f"DROP TRIGGER IF EXISTS {HEAD_TABLE}_no_truncate ON {HEAD_TABLE}",
    "DROP FUNCTION IF EXISTS garnizon_refuse_change()",
    "DROP FUNCTION IF EXISTS garnizon_audit_head_forward_only()",
]

_STATEMENTS = {
    "sqlite": (SQLITE_CREATE, SQLITE_DROP),
    "postgresql": (POSTGRESQL_CREATE, POSTGRESQL_DROP),
}


def _forwards(apps: Any, schema_editor: Any) -> None:
    _execute(schema_editor.connection, _statements(schema_editor.connection)[0])


def _backwards(apps: Any, schema_editor: Any) -> None:
    _execute(schema_editor.connection, _statements(schema_editor.connection)[1])


def _statements(connection: BaseDatabaseWrapper) -> tuple[list[str], list[str]]:
    # Fail loudly: silently migrating without the triggers would leave the
    # trail unprotected on a database nobody tested.
    if connection.vendor not in _STATEMENTS:
        raise NotImplementedError(
            f"Brak wyzwalaczy niezmienności dla bazy {connection.vendor!r}; "
            "obsługiwane są SQLite i PostgreSQL."
        )
    return _STATEMENTS[connection.vendor]


def _execute(connection: BaseDatabaseWrapper, statements: list[str]) -> None:
    with connection.cursor() as cursor:
        for sql in statements:
            cursor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0002_initial"),
        ("cases", "0002_initial"),
    ]

    operations = [
        # Part of immutability: SET_NULL would UPDATE entries when a person is
        # deleted (refused by the trigger, and it would break the hash chain).
        migrations.AlterField(
            model_name="auditentry",
            name="actor",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.RunPython(_forwards, _backwards, elidable=False),
    ]
