"""Diacritics-insensitive search by a term map instead of two folded streams.

The folded streams (`fsurface`, `flemma` in FTS5; the `ftsv` tsvector and its
GIN index on PostgreSQL) doubled what every document costs to index. They are
replaced by `search_folded_term`: every indexed word with diacritics under its
folded form, looked up when a query falls back to folded matching
(`garnizon.search.folding`). The map is filled here from the words already in
the index, and the index keeps its entries (SQLite copies the exact streams
into a table without the folded ones).
"""

from django.db import migrations, models

SQLITE_NEW = """
CREATE VIRTUAL TABLE search_fts_new USING fts5(
    surface, lemma, acl,
    tokenize = 'unicode61 remove_diacritics 0'
)
"""
SQLITE_OLD = """
CREATE VIRTUAL TABLE search_fts USING fts5(
    surface, lemma, fsurface, flemma, acl,
    tokenize = 'unicode61 remove_diacritics 0'
)
"""
_BATCH = 5000


def _store_terms(apps, words) -> None:
    from garnizon.search.analysis import fold

    folded_term = apps.get_model("search", "FoldedTerm")
    rows = []
    for word in words:
        folded = fold(word)
        if folded != word and "~" not in word and len(word) <= 64:
            rows.append(folded_term(folded=folded, term=word))
        if len(rows) >= _BATCH:
            folded_term.objects.bulk_create(rows, ignore_conflicts=True)
            rows = []
    folded_term.objects.bulk_create(rows, ignore_conflicts=True)


def forward(apps, schema_editor) -> None:
    vendor = schema_editor.connection.vendor
    with schema_editor.connection.cursor() as cursor:
        if vendor == "sqlite":
            cursor.execute(
                "CREATE VIRTUAL TABLE temp.search_fts_vocab USING fts5vocab(main, search_fts, 'row')"
            )
            cursor.execute("SELECT term FROM temp.search_fts_vocab")
            _store_terms(apps, (row[0] for row in cursor.fetchall()))
            cursor.execute("DROP TABLE temp.search_fts_vocab")
            cursor.execute(SQLITE_NEW)
            cursor.execute(
                "INSERT INTO search_fts_new(rowid, surface, lemma, acl) "
                "SELECT rowid, surface, lemma, acl FROM search_fts"
            )
            cursor.execute("DROP TABLE search_fts")
            cursor.execute("ALTER TABLE search_fts_new RENAME TO search_fts")
        elif vendor == "postgresql":
            cursor.execute(
                "SELECT word FROM ts_stat('SELECT tsv FROM search_searchentry WHERE tsv IS NOT NULL')"
            )
            _store_terms(apps, (row[0] for row in cursor.fetchall()))
            cursor.execute("DROP INDEX IF EXISTS search_entry_ftsv")
            cursor.execute("ALTER TABLE search_searchentry DROP COLUMN IF EXISTS ftsv")


def backward(apps, schema_editor) -> None:
    """Back to the folded streams, empty: run `garnizon search reindex` afterwards."""
    vendor = schema_editor.connection.vendor
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("DELETE FROM search_searchentry")
        if vendor == "sqlite":
            cursor.execute("DROP TABLE IF EXISTS search_fts")
            cursor.execute(SQLITE_OLD)
        elif vendor == "postgresql":
            cursor.execute("UPDATE search_searchentry SET tsv = NULL")
            cursor.execute("ALTER TABLE search_searchentry ADD COLUMN ftsv tsvector")
            cursor.execute("CREATE INDEX search_entry_ftsv ON search_searchentry USING gin (ftsv)")


class Migration(migrations.Migration):
    dependencies = [("search", "0004_rebuild_log")]

    operations = [
        migrations.CreateModel(
            name="FoldedTerm",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("folded", models.CharField(max_length=64)),
                ("term", models.CharField(max_length=64)),
            ],
            options={
                "db_table": "search_folded_term",
                "constraints": [
                    models.UniqueConstraint(
                        fields=("folded", "term"), name="search_folded_term_unique"
                    )
                ],
            },
        ),
        migrations.RunPython(forward, backward),
    ]
