"""The search index: one entry per searchable object, and saved searches.

An entry holds the columns results are filtered and counted by, a title and a
short stored text for highlighted fragments. The analysed text itself lives
in the backend's index: an FTS5 table `search_fts` on SQLite (rowid = entry
id) or the `tsv` tsvector column of this table on PostgreSQL (created by
migrations 0002 and 0003 on their database only; 0005 replaced the folded
copies of the text by `FoldedTerm`). Who may see an entry is stored with it as access tokens
(`acl`, see `garnizon.search.acl`), kept current by the signals.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

# Characters of an object's text kept for fragments (about three pages).
STORED_TEXT_LENGTH = 8000
# The columns of an entry written by indexing (besides its object and `indexed_at`).
ENTRY_FIELDS = [
    "document_id",
    "unit_id",
    "cell_id",
    "classification_id",
    "channel",
    "date",
    "state",
    "kind",
    "reference",
    "title",
    "body",
    "acl",
]


class ObjectType(models.TextChoices):
    INCOMING = "incoming", _("przesyłka wpływająca")
    OUTGOING = "outgoing", _("przesyłka wychodząca")
    CASE = "case", _("sprawa")
    VERSION = "version", _("dokument")


class SearchEntry(models.Model):
    object_type = models.CharField(max_length=10, choices=ObjectType.choices)
    object_id = models.BigIntegerField()
    # The document of a version (visibility follows the document).
    document_id = models.BigIntegerField(null=True, blank=True)
    unit = models.ForeignKey(
        "org.Unit", null=True, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    cell = models.ForeignKey(
        "org.Cell", null=True, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    classification = models.ForeignKey(
        "jrwa.Classification",
        null=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    channel = models.CharField(max_length=20, blank=True)
    date = models.DateField(null=True)
    state = models.CharField(max_length=20, blank=True)
    kind = models.CharField(max_length=40, blank=True)
    reference = models.CharField(max_length=120, blank=True)
    title = models.CharField(max_length=500, blank=True)
    body = models.TextField(blank=True)
    # Access tokens, space-separated (see garnizon.search.acl); also in the full-text index.
    acl = models.TextField(blank=True, default="")
    indexed_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["object_type", "object_id"], name="search_entry_object")
        ]
        indexes = [
            models.Index(fields=["document_id"], name="search_entry_document"),
            models.Index(fields=["date"], name="search_entry_date"),
        ]
        verbose_name = _("wpis indeksu wyszukiwania")
        verbose_name_plural = _("indeks wyszukiwania")

    def __str__(self) -> str:
        return f"{self.object_type}:{self.object_id}"


class SavedSearch(models.Model):
    """A query with its filters that one person saved under a name."""

    person = models.ForeignKey("org.Person", on_delete=models.CASCADE, related_name="+")
    name = models.CharField(_("nazwa"), max_length=100)
    query = models.CharField(_("zapytanie"), max_length=500, blank=True)
    filters = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [models.UniqueConstraint(fields=["person", "name"], name="saved_search_name")]
        verbose_name = _("zapisane wyszukiwanie")
        verbose_name_plural = _("zapisane wyszukiwania")

    def __str__(self) -> str:
        return self.name

    def query_string(self) -> str:
        """The search page's parameters for this search (without the exact jump)."""
        from urllib.parse import urlencode

        names = {
            "object_type": "type",
            "unit_id": "unit",
            "cell_id": "cell",
            "classification_id": "classification",
            "date_from": "from",
            "date_to": "to",
        }
        params = {"q": self.query, "exact": "0"}
        params.update({names.get(k, k): v for k, v in self.filters.items()})
        return urlencode(params)


class RebuildChange(models.Model):
    """An object (re)indexed or removed while a full rebuild runs.

    `garnizon search reindex` builds a fresh index beside the one in use and
    swaps it in at the end; whatever the signals index meanwhile is recorded
    here (only while a rebuild is running) and applied to the new index in the
    transaction that swaps it in, so no change made during a rebuild is lost
    (see `garnizon.search.rebuild`)."""

    object_type = models.CharField(max_length=10)
    object_id = models.BigIntegerField()

    class Meta:
        db_table = "search_rebuild_log"

    def __str__(self) -> str:
        return f"{self.object_type}:{self.object_id}"


class FoldedTerm(models.Model):
    """A word of the index that has diacritics, under its folded form
    ("kradzieży" under "kradziezy").

    The index holds words only as written and as lemmas; a query typed without
    diacritics is answered by looking its folded forms up here and searching
    for the indexed words they stand for (`garnizon.search.folding`). Rows are
    added as text is indexed and never removed: a word no longer in any
    document only adds an alternative that finds nothing."""

    folded = models.CharField(max_length=64)
    term = models.CharField(max_length=64)

    class Meta:
        db_table = "search_folded_term"
        constraints = [
            models.UniqueConstraint(fields=["folded", "term"], name="search_folded_term_unique")
        ]

    def __str__(self) -> str:
        return f"{self.folded} -> {self.term}"
