"""Need-to-know in the index: the `acl` tokens on the entry and in the full-text
index (an FTS5 column on SQLite; lexemes of the tsvectors on PostgreSQL, where
the exact and the folded forms now live in two columns without weights, so the
GIN index answers word and prefix queries without rechecking rows).

The index is emptied: run `garnizon search reindex` after migrating.
"""

from django.db import migrations, models

SQLITE_CREATE = """
CREATE VIRTUAL TABLE search_fts USING fts5(
    surface, lemma, fsurface, flemma, acl,
    tokenize = 'unicode61 remove_diacritics 0'
)
"""
SQLITE_OLD = """
CREATE VIRTUAL TABLE search_fts USING fts5(
    surface, lemma, fsurface, flemma,
    tokenize = 'unicode61 remove_diacritics 0'
)
"""

POSTGRES_CREATE = [
    "UPDATE search_searchentry SET tsv = NULL",
    "ALTER TABLE search_searchentry ADD COLUMN ftsv tsvector",
    "CREATE INDEX search_entry_ftsv ON search_searchentry USING gin (ftsv)",
]
POSTGRES_DROP = [
    "DROP INDEX IF EXISTS search_entry_ftsv",
    "ALTER TABLE search_searchentry DROP COLUMN IF EXISTS ftsv",
]


def create(apps, schema_editor) -> None:
    vendor = schema_editor.connection.vendor
    schema_editor.execute("DELETE FROM search_searchentry")
    if vendor == "sqlite":
        schema_editor.execute("DROP TABLE IF EXISTS search_fts")
        schema_editor.execute(SQLITE_CREATE)
    elif vendor == "postgresql":
        for sql in POSTGRES_CREATE:
            schema_editor.execute(sql)


def drop(apps, schema_editor) -> None:
    vendor = schema_editor.connection.vendor
    schema_editor.execute("DELETE FROM search_searchentry")
    if vendor == "sqlite":
        schema_editor.execute("DROP TABLE IF EXISTS search_fts")
        schema_editor.execute(SQLITE_OLD)
    elif vendor == "postgresql":
        for sql in POSTGRES_DROP:
            schema_editor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [("search", "0002_fulltext")]

    operations = [
        migrations.AddField(
            model_name="searchentry",
            name="acl",
            field=models.TextField(blank=True, default=""),
        ),
        migrations.RunPython(create, drop),
    ]
