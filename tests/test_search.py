"""Polish full-text search: analysis, both backends, need-to-know, indexing, the command.

Runs on SQLite (FTS5) and on PostgreSQL (tsvector + GIN) through the usual
GARNIZON_DATABASE_URL switch; every test asserts the same on both.
"""

from __future__ import annotations

import datetime
import json
import os
from io import StringIO

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction
from django.utils import timezone

from garnizon.audit.models import AuditEntry
from garnizon.cases.models import Case
from garnizon.cases.selectors import cases_visible_to
from garnizon.cases.services import case_open
from garnizon.common.errors import DomainError, NotVisible
from garnizon.common.models import Lease as LeaseRow
from garnizon.documents.models import DocumentVersion
from garnizon.documents.selectors import versions_visible_to
from garnizon.documents.services import document_add, document_add_version
from garnizon.registry.models import Channel, CorrespondentKind, IncomingItem, OutgoingItem
from garnizon.registry.selectors import incoming_visible_to, outgoing_visible_to
from garnizon.registry.services import (
    correspondent_create,
    incoming_item_register,
    outgoing_item_register,
)
from garnizon.search import folding
from garnizon.search.analysis import analyse, code_token, fold, lemma
from garnizon.search.backends import get_backend
from garnizon.search.indexing import index_objects
from garnizon.search.models import (
    FoldedTerm,
    ObjectType,
    RebuildChange,
    SavedSearch,
    SearchEntry,
)
from garnizon.search.query import parse
from garnizon.search.rebuild import rebuild
from garnizon.search.services import (
    SearchFilters,
    saved_search_delete,
    saved_search_save,
    saved_searches,
    search,
)

pytestmark = pytest.mark.django_db

EDORECZENIA = "AE:PL-12345-67890-ABCDE-12"


@pytest.fixture(autouse=True)
def _blob_dir(settings, tmp_path):
    settings.GARNIZON_BLOB_DIR = tmp_path / "blobs"


@pytest.fixture
def corpus(garrison, django_capture_on_commit_callbacks):
    """A few objects of every type, indexed by the signals as in production."""
    g = garrison
    p = g.people
    with django_capture_on_commit_callbacks(execute=True):
        caller = correspondent_create(
            actor=p["clerk"],
            kind=CorrespondentKind.PERSON,
            name="Anna Wiśniewska",
            city="Lublin",
            phone="+48 81 532 11 22",
        )
        theft = incoming_item_register(
            actor=p["clerk"],
            unit=g.kwp,
            subject="Zawiadomienie o kradzieży samochodu w Puławach",
            channel=Channel.EMAIL,
            sender_name="Jan Kowalski",
            assigned_cell=g.cells["kwp_i_1"],
        )
        burglary = incoming_item_register(
            actor=p["clerk"],
            unit=g.kwp,
            subject="Włamanie do piwnicy przy ulicy Lipowej",
            channel=Channel.PAPER,
            assigned_cell=g.cells["kwp_ii"],
        )
        phoned = incoming_item_register(
            actor=p["clerk"],
            unit=g.kwp,
            subject="Prośba o informację o mandacie",
            channel=Channel.PAPER,
            sender=caller,
            sender_name=caller.name,
            assigned_cell=g.cells["kwp_i_1"],
        )
        secret = incoming_item_register(
            actor=p["head"],
            unit=g.kwp,
            subject="Zgłoszenie sygnalisty o korupcji przy zakupie samochodu",
            channel=Channel.PAPER,
            assigned_cell=g.cells["kwp_i_1"],
            assigned_person=p["handler"],
            is_restricted=True,
        )
        kmp_item = incoming_item_register(
            actor=p["kmp_clerk"],
            unit=g.kmp,
            subject="Kradzież roweru na Czechowie",
            channel=Channel.PORTAL,
            assigned_cell=g.cells["kmp_wk"],
        )
        case = case_open(
            actor=p["handler"],
            cell=g.cells["kwp_i_1"],
            classification=g.classes["052"],
            subject="Skarga na działania policjantów w Puławach",
        )
        hidden_case = case_open(
            actor=p["handler"],
            cell=g.cells["kwp_i_1"],
            classification=g.classes["053"],
            subject="Wniosek o wgląd w akta kradzieży",
        )
        document = document_add(
            actor=p["handler"],
            file=SimpleUploadedFile("protokol.txt", b"protokol"),
            title="Protokół oględzin",
            case=case,
            text=(
                "Protokół oględzin miejsca włamania. Nieznany sprawca wybił szybę "
                "w samochodzie marki Opel zaparkowanym w Puławach przy ulicy Lubelskiej. "
                "Zabezpieczono ślady linii papilarnych."
            ),
        )
        answer = outgoing_item_register(
            actor=p["handler"],
            unit=g.kwp,
            subject="Odpowiedź na skargę",
            channel=Channel.EDORECZENIA,
            addressee_name="Jan Kowalski",
            edoreczenia_address=EDORECZENIA,
            case=case,
        )
    # Restricted after the fact: the signal re-indexes its access tokens.
    with django_capture_on_commit_callbacks(execute=True):
        hidden_case.is_restricted = True
        hidden_case.save(update_fields=["is_restricted"])
    return {
        "g": g,
        "theft": theft,
        "burglary": burglary,
        "phoned": phoned,
        "secret": secret,
        "kmp_item": kmp_item,
        "case": case,
        "hidden_case": hidden_case,
        "document": document,
        "version": document.versions.get(),
        "answer": answer,
    }


def keys(results) -> set[tuple[str, int]]:
    """(object type, object id) of a results page's hits."""
    return {(h.object_type, h.object_id) for h in results.hits}


def found(person, query, filters=None) -> set[tuple[str, int]]:
    results = search(person, query, filters, audit=False)
    assert len(results.hits) == min(results.total, results.page_size)
    return keys(results)


def kwp_letter(g, subject: str, *, channel: str = Channel.PAPER, cell: str = "kwp_i_1"):
    """A letter registered by the KWP's clerk and assigned to one of its cells."""
    return incoming_item_register(
        actor=g.people["clerk"],
        unit=g.kwp,
        subject=subject,
        channel=channel,
        assigned_cell=g.cells[cell],
    )


def inc(obj) -> tuple[str, int]:
    return (ObjectType.INCOMING, obj.pk)


# --- analysis --------------------------------------------------------------------------------


def test_analysis_gives_surface_and_lemma_aligned():
    a = analyse("Kradzież samochodu w Puławach")
    assert a.surface == ["kradzież", "samochodu", "w", "puławach"]
    assert a.lemma == ["kradzież", "samochód", "w", "puławy"]
    assert fold("Łódź, żółć") == "Lodz, zolc"


def test_codes_are_kept_whole_as_an_extra_token_and_also_split():
    a = analyse("Dotyczy sprawy I.0151.3.2026 oraz KWP/RPW/12/2026.")
    assert code_token("I.0151.3.2026") in a.surface
    assert code_token("kwp/rpw/12/2026") in a.surface
    assert "0151" in a.surface and "rpw" in a.surface
    assert code_token("I.0151.3.2026") != code_token("I.01513.2026")
    assert code_token("I.0151.3.2026").isalnum()


def test_analysis_streams_stay_aligned_and_stop_at_the_word_cap():
    a = analyse("— Sprawa I.0151.3.2026: kradzież ... samochodu!  ")
    surface, lemmas = a.columns()
    assert surface.split() == a.surface and lemmas.split() == a.lemma
    assert len(a.surface) == len(a.lemma) == len(a) == 8  # sprawa, the code, its 4 parts, 2 words
    assert a.surface[1] == a.lemma[1] == code_token("I.0151.3.2026")
    assert "  " not in surface and "  " not in lemmas  # pieces without words add nothing
    assert len(analyse("— ... !")) == 0 and analyse("— ... !").columns() == ("", "")
    capped = analyse("kradzieży samochodu " * 10, max_words=5)
    assert capped.surface == ["kradzieży", "samochodu", "kradzieży", "samochodu", "kradzieży"]
    assert capped.lemma == ["kradzież", "samochód", "kradzież", "samochód", "kradzież"]
    assert len(analyse("kradzieży samochodu " * 10, max_words=20)) == 20


def fts5_tokens(*texts: str) -> list[list[tuple[str, int]]]:
    """The (term, position) pairs FTS5's tokenizer reads from each text, as the
    index's surface column is configured."""
    import sqlite3

    db = sqlite3.connect(":memory:")
    db.execute("CREATE VIRTUAL TABLE t USING fts5(c, tokenize = 'unicode61 remove_diacritics 0')")
    db.execute("CREATE VIRTUAL TABLE v USING fts5vocab(t, 'instance')")
    db.executemany("INSERT INTO t(rowid, c) VALUES (?, ?)", enumerate(texts, start=1))
    return [
        db.execute("SELECT term, offset FROM v WHERE doc = ? ORDER BY offset", [row]).fetchall()
        for row in range(1, len(texts) + 1)
    ]


@pytest.mark.parametrize(
    "text",
    [
        "Kradzież samochodu w Puławach, ul. Lipowa 5/7 — zgłoszenie z dnia 12.03.2026 r.",
        "Biało-czerwony „żuraw” (o'connor) e-mail: jan_kowalski@example.pl; 3½ ² µ ŁÓDŹ",
        "Sprawa I.0151.3.2026 oraz KWP/RPW/12/2026 " + "x" * 70,
        "zero\u200bwidth İstanbul 東京 Ελλάδα кириллица ﷺ \ue000 a\u0301",
        "słowo\u00a0twarda\tspacja\nnowa\x1clinia ...  !!",
        "ZAWIADOMIENIE o Przestępstwie: Jan KOWALSKI, Zamość, ŻÓŁTA Ćma, ĄĘ Ńś ſ",
    ],
)
def test_the_surface_column_tokenizes_as_the_surface_words(text):
    """Where the index gets the text itself, as written, FTS5 reads the same
    words from it at the same positions as from the words joined."""
    a = analyse(text)
    as_indexed, joined = fts5_tokens(a.columns()[0], " ".join(a.surface))
    assert as_indexed == joined
    if a.as_written:  # and those are the surface words (FTS5 folds case as Python does here)
        assert [term for term, _offset in as_indexed] == [w.casefold() for w in a.surface]


def test_every_latin_letter_is_read_by_fts5_as_analysed_or_not_taken_as_written():
    """Each letter and digit below U+0250, in both cases, in a piece of its own:
    either FTS5 reads from the piece as written exactly its surface words, or
    the analysis joins the words instead (e.g. "İ", lower-cased with a mark)."""
    characters = [chr(c) for c in range(0x20, 0x250) if chr(c).isalnum()]
    texts = [f"Xa{c}b a{c.lower()}b" for c in characters]
    analysed = [analyse(t) for t in texts]
    read = fts5_tokens(*(a.columns()[0] for a in analysed))
    joined = fts5_tokens(*(" ".join(a.surface) for a in analysed))
    for text, a, as_indexed, as_words in zip(texts, analysed, read, joined, strict=True):
        if a.as_written:
            assert as_indexed == as_words, text
    assert not analyse("İstanbul").as_written
    assert sum(a.as_written for a in analysed) > 400  # the Latin letters stay as written


@pytest.mark.parametrize("compiled", [True, False], ids=["C", "Python"])
def test_the_streams_are_joined_alike_in_c_and_in_python(compiled):
    """The compiled one-pass join (built by `pip install`, which CI runs) gives
    what its Python reference gives, piece by piece."""
    from garnizon.search import _streams, analysis

    join = _streams.join_streams if compiled else analysis.join_streams_py
    cache = {"Ala": ("ala", "ala"), "—": ("", ""), "I.1/2": ("zziq1v2 i 1 2", "zziq1v2 i 1 2")}
    cache["ma,"] = ("ma", "mieć")
    assert join(["Ala", "ma,", "—", "Ala"], cache, set()) == (
        [cache["Ala"], cache["ma,"], cache["—"], cache["Ala"]],
        "ala mieć ala",
        None,
    )
    assert join(["Ala", "I.1/2", "—"], cache, {"I.1/2"}) == (
        [cache["Ala"], cache["I.1/2"], cache["—"]],
        "ala zziq1v2 i 1 2",
        "ala zziq1v2 i 1 2",
    )
    assert join(["—"], cache, {"x"}) == ([cache["—"]], "", None)
    assert join([], cache, set()) == ([], "", None)
    assert join(["Ala", "kot"], cache, set()) is None  # "kot" not cached
    assert analysis.join_streams is _streams.join_streams  # what analysis uses here


def test_a_long_text_is_analysed_only_up_to_the_word_cap():
    from garnizon.search import analysis

    a = analyse("jeden dwa " * 10 + "zupełnienowesłowo", max_words=5)
    assert a.surface == ["jeden", "dwa", "jeden", "dwa", "jeden"] and len(a.lemma) == 5
    assert "zupełnienowesłowo" not in analysis._PIECES  # beyond the cap: never looked at


def test_the_piece_cache_is_emptied_between_documents_not_within_one(monkeypatch):
    from garnizon.search import analysis

    monkeypatch.setattr(analysis, "_PIECES_MAX", 3)
    a = analyse("aaa bbb ccc ddd I.0151.3.2026 eee fff ggg")
    assert code_token("I.0151.3.2026") in a.columns()[0].split()  # its piece kept its mark
    analyse("hhh")
    assert "aaa" not in analysis._PIECES and "hhh" in analysis._PIECES


def test_the_surface_column_is_the_text_only_where_it_may_be():
    assert analyse("Kradzież samochodu, ul. Lipowa 5.").as_written
    assert not analyse("Sprawa I.0151.3.2026").as_written  # a code is one token of its own
    assert not analyse("x" * 70).as_written  # an overlong word is cut
    assert not analyse("Ελλάδα").as_written  # outside the Latin letters both tokenizers agree on
    capped = analyse("kradzieży samochodu " * 10, max_words=5)
    assert not capped.as_written and capped.columns()[0] == " ".join(capped.surface)


def test_the_streaming_dictionary_lemmatises_inflected_polish():
    assert lemma("samochodu") == "samochód"
    assert lemma("włamania") == "włamanie"
    assert lemma("puławach") == "puławy"
    # The reason both forms are indexed: the lemma of the nominative differs.
    assert lemma("włamanie") == "włamać"


def test_query_parsing_knows_phrases_prefixes_and_codes():
    q = parse('"kradzieży samochodu" Puław* I.0151.3.2026 x* "')
    kinds = [(t.kind, t.tokens) for t in q.terms]
    assert ("phrase", ("kradzieży", "samochodu")) in kinds
    assert ("prefix", ("puław",)) in kinds
    assert ("code", (code_token("i.0151.3.2026"),)) in kinds
    # A one-letter prefix is too broad and is dropped, an unclosed quote ignored.
    assert all(t.tokens != ("x",) for t in q.terms)
    assert not parse('  " ').terms


# --- full text -------------------------------------------------------------------------------


def test_inflected_forms_find_each_other(corpus):
    handler = corpus["g"].people["handler"]
    version = (ObjectType.VERSION, corpus["version"].pk)
    assert inc(corpus["theft"]) in found(handler, "samochód")
    assert inc(corpus["theft"]) in found(handler, "kradzież samochodów")
    assert version in found(handler, "samochód Puławy")
    commander = corpus["g"].people["commander"]
    # "włamania" finds "Włamanie" (lemma of the query = surface of the text) and
    # the protocol's "włamania"; "włamanie" finds both too.
    for query in ("włamania", "włamanie", "włamaniu"):
        hits = found(commander, query)
        assert inc(corpus["burglary"]) in hits, query
        assert version in hits, query


def test_all_words_must_match(corpus):
    handler = corpus["g"].people["handler"]
    assert inc(corpus["theft"]) in found(handler, "kradzież Puławy")
    assert inc(corpus["theft"]) not in found(handler, "kradzież Lublin")
    # The sender's city comes from the address book (the item has no city of its own).
    assert inc(corpus["phoned"]) in found(handler, "mandacie Lublin")


def test_diacritics_are_a_fallback_when_nothing_matches_exactly(corpus):
    handler = corpus["g"].people["handler"]
    results = search(handler, "kradziez samochodu pulawach", audit=False)
    assert results.fallback
    assert inc(corpus["theft"]) in {(h.object_type, h.object_id) for h in results.hits}
    exact = search(handler, "kradzież", audit=False)
    assert not exact.fallback and exact.total >= 1


def test_folded_matching_works_both_ways_for_words_prefixes_and_phrases(
    corpus, django_capture_on_commit_callbacks
):
    """The term map stands in for folded copies of the text: a query typed
    without diacritics finds words written with them (words, prefixes, phrases),
    and a query with diacritics finds a letter typed without them."""
    g = corpus["g"]
    handler = g.people["handler"]
    with django_capture_on_commit_callbacks(execute=True):
        plain = kwp_letter(
            g, "Zgloszenie kradziezy roweru przy ulicy Zolkiewskiego", channel=Channel.EMAIL
        )
    # Exact forms find only the first letter; the fallback finds both spellings.
    assert found(handler, "kradzieży") >= {inc(corpus["theft"])}
    assert inc(plain) not in found(handler, "kradzieży")
    both = search(handler, "kradzieży roweru", audit=False)
    assert both.fallback and keys(both) == {inc(plain)}
    prefix = search(handler, "Pulaw*", audit=False)
    assert prefix.fallback and inc(corpus["theft"]) in keys(prefix)
    phrase = search(handler, '"kradziezy samochodu"', audit=False)
    assert phrase.fallback and inc(corpus["theft"]) in keys(phrase)
    assert inc(corpus["theft"]) not in found(handler, '"samochodu kradziezy"')
    # The last resort: the folded stem as a prefix ("kradziez*"), unfolded too.
    assert inc(corpus["theft"]) in found(handler, "kradziezx")
    assert not found(handler, "qwxyzzv")


def test_the_term_map_holds_words_with_diacritics_under_their_folded_form(
    corpus, django_capture_on_commit_callbacks
):
    words = dict(FoldedTerm.objects.values_list("term", "folded"))
    assert words["kradzieży"] == "kradziezy"
    assert words["puławach"] == "pulawach" and words["puławy"] == "pulawy"
    assert words["wiśniewska"] == "wisniewska"
    assert "samochodu" not in words  # no diacritics: the folded query finds it as it is
    assert all(fold(term) == folded != term for term, folded in words.items())
    # Words already recorded (and committed) are not offered again.
    analysed = analyse("Kradzieży w Puławach")
    folding.forget_known()
    with django_capture_on_commit_callbacks(execute=True):
        assert folding.record([analysed]) == 4  # kradzieży, kradzież, puławach, puławy
    assert folding.record([analysed]) == 0


def test_phrases_keep_word_order(corpus):
    handler = corpus["g"].people["handler"]
    assert inc(corpus["theft"]) in found(handler, '"kradzieży samochodu"')
    assert inc(corpus["theft"]) in found(handler, '"kradzież samochodu"')
    assert inc(corpus["theft"]) not in found(handler, '"samochodu kradzieży"')
    assert inc(corpus["theft"]) not in found(handler, '"kradzieży w"')


def test_prefix_queries(corpus):
    handler = corpus["g"].people["handler"]
    hits = found(handler, "Puław*")
    assert {inc(corpus["theft"]), (ObjectType.CASE, corpus["case"].pk)} <= hits
    assert inc(corpus["theft"]) not in found(handler, "Puławx*")


def test_ranking_puts_the_better_match_first(corpus, django_capture_on_commit_callbacks):
    g = corpus["g"]
    with django_capture_on_commit_callbacks(execute=True):
        strong = kwp_letter(g, "Kradzież, kradzież i jeszcze raz kradzież")
    results = search(g.people["handler"], "kradzież", audit=False)
    assert (results.hits[0].object_type, results.hits[0].object_id) == inc(strong)


def test_fragments_are_highlighted_and_escaped(corpus, django_capture_on_commit_callbacks):
    g = corpus["g"]
    handler = g.people["handler"]
    hit = next(
        h
        for h in search(handler, "samochód", audit=False).hits
        if h.object_id == corpus["theft"].pk
    )
    assert "<mark>samochodu</mark>" in hit.fragment
    with django_capture_on_commit_callbacks(execute=True):
        kwp_letter(g, "<script>alert(1)</script> zielony rower")
    fragment = search(handler, "rower zielony", audit=False).hits[0].fragment
    assert "<script>" not in fragment and "&lt;script&gt;" in fragment
    assert "<mark>zielony</mark>" in fragment and "<mark>rower</mark>" in fragment
    folded = search(handler, "kradziez", audit=False)
    assert folded.fallback and any("<mark>kradzieży</mark>" in h.fragment for h in folded.hits)


def test_filters_and_facets(corpus):
    g = corpus["g"]
    commander = g.people["commander"]
    results = search(commander, "kradzież", audit=False)
    types = {f.value: f.count for f in results.facets["object_type"]}
    assert sum(types.values()) == results.total
    only_incoming = search(
        commander, "kradzież", SearchFilters(object_type=ObjectType.INCOMING), audit=False
    )
    assert only_incoming.total == types[ObjectType.INCOMING]
    assert all(h.object_type == ObjectType.INCOMING for h in only_incoming.hits)
    by_channel = found(commander, "samochód", SearchFilters(channel=Channel.EMAIL))
    assert by_channel == {inc(corpus["theft"])}
    by_class = found(commander, "Puławy", SearchFilters(classification_id=g.classes["052"].pk))
    assert (ObjectType.CASE, corpus["case"].pk) in by_class
    assert inc(corpus["theft"]) not in by_class
    cells = {f.label: f.count for f in results.facets["cell"]}
    assert cells and all(count > 0 for count in cells.values())
    tomorrow = datetime.date.today() + datetime.timedelta(days=2)
    assert found(commander, "kradzież", SearchFilters(date_from=tomorrow)) == set()
    state = found(commander, "Puławy", SearchFilters(state="open"))
    assert state == {(ObjectType.CASE, corpus["case"].pk)}


def test_filters_alone_browse_and_an_empty_search_finds_nothing(corpus):
    handler = corpus["g"].people["handler"]
    assert search(handler, "", audit=False).total == 0
    browse = search(handler, "", SearchFilters(object_type=ObjectType.CASE), audit=False)
    # The handler handles both cases, the restricted one too.
    assert {h.object_id for h in browse.hits} == {corpus["case"].pk, corpus["hidden_case"].pk}
    assert browse.total == 2


def test_bad_input_is_refused_with_a_polish_message(corpus):
    handler = corpus["g"].people["handler"]
    with pytest.raises(DomainError) as long:
        search(handler, "a" * 501)
    assert "za długie" in str(long.value.message)
    with pytest.raises(DomainError) as dates:
        search(
            handler,
            "x",
            SearchFilters(date_from=datetime.date(2026, 2, 1), date_to=datetime.date(2026, 1, 1)),
        )
    assert "późniejsza" in str(dates.value.message)
    # Operators of either engine in a query are plain text, never a syntax error.
    for query in ["AND OR NOT NEAR(", "a:b & | ! <->", "'\\", "*", '"""', "-x +y ^z"]:
        search(handler, query, audit=False)


# --- exact look-ups --------------------------------------------------------------------------


def test_exact_lookups_go_straight_to_the_object(corpus):
    g = corpus["g"]
    handler = g.people["handler"]
    case = corpus["case"]
    by_sign = search(handler, case.sign, audit=False)
    assert by_sign.redirect_url == f"/cases/{case.pk}/"
    assert search(handler, case.sign.lower(), audit=False).redirect_url == f"/cases/{case.pk}/"
    theft = corpus["theft"]
    by_number = search(handler, theft.registration_number, audit=False)
    assert [(h.object_type, h.object_id) for h in by_number.exact] == [inc(theft)]
    by_address = search(g.people["clerk"], EDORECZENIA, audit=False)
    assert (ObjectType.OUTGOING, corpus["answer"].pk) in {
        (h.object_type, h.object_id) for h in by_address.exact
    }
    for phone in ("815321122", "+48 81 532-11-22", "81 532 11 22"):
        by_phone = search(handler, phone, audit=False)
        assert inc(corpus["phoned"]) in {(h.object_type, h.object_id) for h in by_phone.exact}
    by_identifier = search(handler, corpus["document"].identifier, audit=False)
    assert by_identifier.redirect_url == f"/documents/{corpus['document'].pk}/"


def test_exact_lookups_respect_need_to_know(corpus):
    g = corpus["g"]
    outsider = g.people["kmp_handler"]
    for text in (corpus["case"].sign, corpus["theft"].registration_number, EDORECZENIA):
        results = search(outsider, text, audit=False)
        assert results.exact == [] and results.redirect_url is None
        assert results.hits == [] and results.total == 0


def test_the_case_sign_is_found_in_document_text(corpus, django_capture_on_commit_callbacks):
    g = corpus["g"]
    sign = corpus["case"].sign
    with django_capture_on_commit_callbacks(execute=True):
        item = kwp_letter(g, f"Uzupełnienie do sprawy {sign}")
    results = search(g.people["handler"], sign, audit=False)
    assert inc(item) in {(h.object_type, h.object_id) for h in results.hits}
    assert results.redirect_url == f"/cases/{corpus['case'].pk}/"


# --- need-to-know ----------------------------------------------------------------------------


def expected_visible(person) -> set[tuple[str, int]]:
    """What the registers themselves let `person` open (their own selectors)."""
    newest = {
        v.document_id: v.pk for v in DocumentVersion.objects.order_by("document_id", "number")
    }
    return (
        {inc(i) for i in incoming_visible_to(person)}
        | {(ObjectType.OUTGOING, o.pk) for o in outgoing_visible_to(person)}
        | {(ObjectType.CASE, c.pk) for c in cases_visible_to(person)}
        | {
            (ObjectType.VERSION, v.pk)
            for v in versions_visible_to(person)
            if newest[v.document_id] == v.pk
        }
    )


ALL_ROLES = [
    "clerk",
    "handler",
    "handler2",
    "head",
    "commander",
    "archivist",
    "admin",
    "auditor",
    "kadry",
    "kmp_clerk",
    "kmp_handler",
    "kmp_commander",
]


@pytest.mark.parametrize("role", ALL_ROLES)
def test_every_role_finds_exactly_what_the_registers_show_it(corpus, role):
    person = corpus["g"].people[role]
    expected = expected_visible(person)
    everything = SearchFilters(date_from=datetime.date(2000, 1, 1))
    results = search(person, "", everything, audit=False)
    assert {(h.object_type, h.object_id) for h in results.hits} == expected
    assert results.total == len(expected)
    for facet, values in results.facets.items():
        if facet in ("object_type", "unit"):
            assert sum(v.count for v in values) == results.total, facet
    # Full text over the same objects: every hit is visible, and the counts say so.
    all_entries = {(e.object_type, e.object_id) for e in SearchEntry.objects.all()}
    for query in ("kradzież", "samochód", "Puławy", "skarga", "korupcja", "w"):
        hits = search(person, query, audit=False)
        ids = {(h.object_type, h.object_id) for h in hits.hits}
        assert ids <= expected, query
        assert hits.total == len(ids), query
        assert sum(v.count for v in hits.facets["object_type"]) == hits.total
    assert expected <= all_entries


def test_restricted_items_and_cases_only_for_the_people_named_on_them(corpus):
    g = corpus["g"]
    p = g.people
    secret = inc(corpus["secret"])
    hidden = (ObjectType.CASE, corpus["hidden_case"].pk)
    seeing_secret = {r for r in ALL_ROLES if secret in found(p[r], "korupcji")}
    # The registrar (head) and the personal assignee; not the cell, not the unit.
    assert seeing_secret == {"head", "handler"}
    seeing_hidden = {r for r in ALL_ROLES if hidden in found(p[r], "wgląd akta")}
    assert seeing_hidden == {"handler"}
    # Nor do the counts of the others hint at them.
    commander = search(p["commander"], "korupcji", audit=False)
    assert commander.total == 0 and all(not v for v in commander.facets.values())


def test_a_substitute_finds_what_the_absent_colleague_may_open(corpus):
    from garnizon.org.models import Substitution

    g = corpus["g"]
    today = datetime.date.today()
    Substitution.objects.create(
        absent=g.people["handler"],
        substitute=g.people["handler2"],
        date_from=today,
        date_to=today + datetime.timedelta(days=3),
        created_by=g.people["head"],
    )
    assert inc(corpus["secret"]) in found(g.people["handler2"], "korupcji")


# --- indexing ----------------------------------------------------------------------------------


def test_changes_reindex_after_commit_and_deletes_remove(
    corpus, django_capture_on_commit_callbacks
):
    g = corpus["g"]
    commander = g.people["commander"]
    theft = IncomingItem.objects.get(pk=corpus["theft"].pk)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        theft.subject = "Zawiadomienie o zniszczeniu motocykla"
        theft.save()
    assert callbacks
    assert inc(theft) in found(commander, "motocykl")
    assert inc(theft) not in found(commander, "samochód")
    with django_capture_on_commit_callbacks(execute=True):
        lonely = outgoing_item_register(
            actor=g.people["clerk"],
            unit=g.kwp,
            subject="Zaproszenie na odprawę",
            channel=Channel.PAPER,
            addressee_name="Komenda Powiatowa",
            address="ul. Partyzancka 1, 21-100 Lubartów",
        )
    assert (ObjectType.OUTGOING, lonely.pk) in found(commander, "odprawa")
    with django_capture_on_commit_callbacks(execute=True):
        OutgoingItem.objects.get(pk=lonely.pk).delete()
    assert found(commander, "odprawa") == set()
    assert not SearchEntry.objects.filter(object_type=ObjectType.OUTGOING, object_id=lonely.pk)


def test_a_rolled_back_change_is_not_indexed(corpus, django_capture_on_commit_callbacks):
    from django.db import transaction

    g = corpus["g"]
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        kwp_letter(g, "Pismo wycofane")
        raise RuntimeError
    assert callbacks == []
    assert found(g.people["commander"], "wycofane") == set()


def test_a_new_version_replaces_the_old_text(corpus, django_capture_on_commit_callbacks):
    g = corpus["g"]
    handler = g.people["handler"]
    document = corpus["document"]
    with django_capture_on_commit_callbacks(execute=True):
        newer = document_add_version(
            actor=handler, document=document, file=SimpleUploadedFile("v2.txt", b"druga wersja")
        )
    hits = found(handler, "oględzin")  # the title stays in the new version's entry
    assert (ObjectType.VERSION, newer.pk) in hits
    assert (ObjectType.VERSION, corpus["version"].pk) not in hits
    assert found(handler, "papilarnych") == set()  # the old version's text is gone


def test_a_rebuild_reads_each_documents_newest_version_only(corpus):
    from garnizon.search.indexing import source_ids

    g = corpus["g"]
    newer = document_add_version(
        actor=g.people["handler"],
        document=corpus["document"],
        file=SimpleUploadedFile("v2.txt", b"druga wersja"),
    )
    ids = list(source_ids(ObjectType.VERSION))
    assert newer.pk in ids and corpus["version"].pk not in ids
    newest = {
        v.document_id: v.pk for v in DocumentVersion.objects.order_by("document_id", "number")
    }
    assert ids == sorted(newest.values())


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's planner statistics")
def test_a_cases_assignments_are_found_by_index_when_most_have_no_case(corpus):
    """With SQLite's statistics of a garrison (9.4 million assignments, nearly all
    of register items, so the case column is NULL in nearly every row) the
    access tokens' look-up of cases' assignments still uses an index; it
    scanned the whole table (0.9 s a batch) before the partial index asg_case."""
    from garnizon.cases.models import Assignment

    query = Assignment.objects.filter(case_id__in=[1, 2, 3], is_current=True).values_list(
        "case_id", "to_person_id", "to_cell_id"
    )
    sql, params = query.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
        cursor.execute("DELETE FROM sqlite_stat1 WHERE tbl = 'cases_assignment'")
        cursor.executemany(
            "INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES ('cases_assignment', %s, %s)",
            [
                ("cases_assignment_case_id_b0be0e7a", "9378512 9378512"),
                ("cases_assignment_incoming_item_id_a261e21b", "9378512 2"),
                ("asg_case", "327829 2"),
            ],
        )
        cursor.execute("ANALYZE sqlite_schema")  # the planner reads the statistics again
        cursor.execute("EXPLAIN QUERY PLAN " + sql, params)
        plan = " ".join(row[-1] for row in cursor.fetchall())
        cursor.execute("DELETE FROM sqlite_stat1")
        cursor.execute("ANALYZE sqlite_schema")
    assert "USING INDEX asg_case" in plan and "SCAN cases_assignment" not in plan, plan


def test_reindex_rebuilds_everything_with_a_progress_bar(corpus):
    handler = corpus["g"].people["handler"]
    before = {q: found(handler, q) for q in ("kradzież", "Puławy", "włamania")}
    get_backend().clear()
    SearchEntry.objects.all().delete()
    assert found(handler, "kradzież") == set()
    out, err = StringIO(), StringIO()
    call_command("search", "reindex", "--batch", "2", stdout=out, stderr=err)
    assert "Zaindeksowano" in out.getvalue()
    assert "[##############################]" in err.getvalue()
    assert {q: found(handler, q) for q in before} == before
    # Again over a full index: an upsert, nothing doubled.
    count = SearchEntry.objects.count()
    call_command("search", "reindex", stdout=StringIO(), stderr=StringIO())
    assert SearchEntry.objects.count() == count
    assert {q: found(handler, q) for q in before} == before


@pytest.mark.django_db(transaction=True)
def test_reindex_in_worker_processes_builds_the_same_index(corpus):
    handler = corpus["g"].people["handler"]
    queries = ("kradzież", "Puławy", "włamania", "oględzin")
    before = {q: found(handler, q) for q in queries}
    tokens = set(SearchEntry.objects.values_list("object_type", "object_id", "acl"))
    get_backend().clear()
    SearchEntry.objects.all().delete()
    out = StringIO()
    call_command(
        "search", "reindex", "--workers", "2", "--batch", "1", stdout=out, stderr=StringIO()
    )
    assert "Zaindeksowano" in out.getvalue()
    assert set(SearchEntry.objects.values_list("object_type", "object_id", "acl")) == tokens
    assert {q: found(handler, q) for q in queries} == before


def test_reindex_prunes_entries_of_objects_that_are_gone(corpus):
    stray = SearchEntry.objects.create(object_type=ObjectType.CASE, object_id=987654)
    get_backend().write([(stray.pk, analyse("zbłąkany wpis"), "")])
    call_command("search", "reindex", stdout=StringIO(), stderr=StringIO())
    assert not SearchEntry.objects.filter(pk=stray.pk).exists()


def test_the_intake_index_step_indexes_the_item_and_its_document(corpus):
    from garnizon.intake.models import IntakeItem
    from garnizon.intake.steps import IntakeContext
    from garnizon.search.steps import Index

    g = corpus["g"]
    get_backend().clear()
    SearchEntry.objects.all().delete()
    item = IntakeItem.objects.create(
        unit=g.kwp,
        channel=Channel.PAPER,
        source_key="k1",
        original_filename="skan.pdf",
        requested_by=g.people["clerk"],
        incoming_item=corpus["theft"],
        document=corpus["document"],
    )
    step = Index()
    assert step.name == "index"
    ctx = IntakeContext(item=item)
    assert step.able_to_run(ctx)
    outcome = step.run(ctx)
    assert outcome.status == "ok" and not outcome.stops
    hits = found(g.people["handler"], "samochód")
    assert {inc(corpus["theft"]), (ObjectType.VERSION, corpus["version"].pk)} <= hits
    empty = IntakeItem.objects.create(
        unit=g.kwp,
        channel=Channel.PAPER,
        source_key="k2",
        original_filename="x.pdf",
        requested_by=g.people["clerk"],
    )
    assert not step.able_to_run(IntakeContext(item=empty))


# --- audit, saved searches, command ------------------------------------------------------------


def test_every_search_is_recorded_in_the_audit_trail(corpus):
    handler = corpus["g"].people["handler"]
    before = AuditEntry.objects.count()
    search(handler, "kradzież", SearchFilters(channel=Channel.EMAIL))
    entry = AuditEntry.objects.order_by("-seq").first()
    assert AuditEntry.objects.count() == before + 1
    assert (entry.action, entry.object_type, entry.actor_id) == ("view", "search.query", handler.pk)
    assert entry.details["query"] == "kradzież"
    assert entry.details["filters"] == {"channel": "email"}
    assert entry.details["total"] == 1


def test_saved_searches_belong_to_one_person(corpus):
    g = corpus["g"]
    handler, other = g.people["handler"], g.people["handler2"]
    saved = saved_search_save(
        person=handler, name="Kradzieże", query="kradzież", filters=SearchFilters(channel="email")
    )
    again = saved_search_save(person=handler, name="Kradzieże", query="kradzież samochodu")
    assert again.pk == saved.pk and again.query == "kradzież samochodu" and again.filters == {}
    assert list(saved_searches(other)) == []
    with pytest.raises(NotVisible):
        saved_search_delete(person=other, saved_id=saved.pk)
    with pytest.raises(DomainError) as empty:
        saved_search_save(person=handler, name="  ", query="x")
    assert "nazwę" in str(empty.value.message)
    saved_search_delete(person=handler, saved_id=saved.pk)
    assert not SavedSearch.objects.exists()
    restored = SearchFilters.from_dict({"channel": "email", "date_from": "2026-01-02"})
    assert restored == SearchFilters(channel="email", date_from=datetime.date(2026, 1, 2))


def test_the_command_shows_what_a_user_would_see(corpus):
    out = StringIO()
    call_command("search", "kradzież", "--as", "commander_kwp", "--json", stdout=out)
    data = json.loads(out.getvalue())
    assert data["total"] == len(data["results"]) >= 1
    assert corpus["theft"].registration_number in {r["reference"] for r in data["results"]}
    assert {r["type"] for r in data["results"]} <= set(ObjectType.values)
    out = StringIO()
    call_command("search", "kradzież", "--as", "commander_kmp", "--json", stdout=out)
    data = json.loads(out.getvalue())
    assert [r["id"] for r in data["results"]] == [corpus["kmp_item"].pk]
    out = StringIO()
    call_command("search", "samochód", "--as", "handler_kwp", stdout=out)
    assert "[samochodu]" in out.getvalue() and "Wyników:" in out.getvalue()
    with pytest.raises(Exception, match="--as"):
        call_command("search", "kradzież", stdout=StringIO())


def test_the_backend_follows_the_database():
    assert get_backend().vendor == connection.vendor


# --- the page and the API ----------------------------------------------------------------------


def client_for(person):
    from django.test import Client

    from tests.factories import PASSWORD

    client = Client()
    assert client.login(username=person.username, password=PASSWORD)
    return client


def test_the_search_page_shows_hits_fragments_facets_and_saved_searches(corpus):
    g = corpus["g"]
    client = client_for(g.people["handler"])
    page = client.get("/search/", {"q": "samochód"})
    assert page.status_code == 200
    html = page.content.decode()
    assert corpus["theft"].registration_number in html
    assert "<mark>samochodu</mark>" in html
    assert 'aria-label="Zawężanie wyników"' in html
    assert 'action="/search/"' in html  # the box in the layout's header
    # Narrowed by a facet link: only e-mails.
    narrowed = client.get("/search/", {"q": "samochód", "channel": "email"}).content.decode()
    assert corpus["theft"].registration_number in narrowed
    assert corpus["document"].identifier not in narrowed
    # A case sign goes straight to the case; exact=0 shows the list instead.
    sign = corpus["case"].sign
    assert client.get("/search/", {"q": sign})["Location"] == f"/cases/{corpus['case'].pk}/"
    assert client.get("/search/", {"q": sign, "exact": "0"}).status_code == 200
    # Bad input: a message to act on, not an error page.
    bad = client.get("/search/", {"q": "x", "from": "15.03.2026"})
    assert bad.status_code == 200 and "RRRR-MM-DD" in bad.content.decode()
    saved = client.post("/search/", {"q": "kradzież", "channel": "email", "name": "Maile"})
    assert saved.status_code == 302
    listing = client.get("/search/").content.decode()
    assert "Maile" in listing and "channel=email" in listing
    mine = SavedSearch.objects.get(person=g.people["handler"])
    other = client_for(g.people["handler2"])
    assert other.post("/search/", {"delete": mine.pk}).status_code == 302
    assert SavedSearch.objects.filter(pk=mine.pk).exists()


def test_the_api_answers_what_the_user_may_see(corpus):
    from rest_framework.test import APIClient

    g = corpus["g"]
    client = APIClient()
    client.force_authenticate(g.people["kmp_commander"])
    response = client.get("/api/search/", {"q": "kradzież"})
    assert response.status_code == 200
    data = response.json()
    assert [(r["type"], r["id"]) for r in data["results"]] == [inc(corpus["kmp_item"])]
    assert data["total"] == 1 and data["total_is_estimate"] is False
    assert data["facets"]["unit"] == [
        {"value": str(g.kmp.pk), "label": "KMP-LU", "count": 1, "selected": False}
    ]
    client.force_authenticate(g.people["handler"])
    exact = client.get("/api/search/", {"q": corpus["case"].sign}).json()
    assert exact["exact"][0]["url"] == f"/cases/{corpus['case'].pk}/"
    bad = client.get("/api/search/", {"q": "x", "date_from": "2026-02-01", "date_to": "2026-01-01"})
    assert bad.status_code == 400
    assert "późniejsza" in bad.json()["error"]["message"]
    assert client.get("/api/search/", {"type": "nonsense"}).status_code == 400


# --- need-to-know kept current in the index ----------------------------------------------------


def assert_every_role_matches_the_registers(g, extra=()) -> None:
    """For every role (and `extra` people): browsing everything in search shows
    exactly what the registers' own selectors show."""
    everything = SearchFilters(date_from=datetime.date(2000, 1, 1))
    for person in [*(g.people[r] for r in ALL_ROLES), *extra]:
        results = search(person, "", everything, page_size=100, audit=False)
        seen = {(h.object_type, h.object_id) for h in results.hits}
        assert seen == expected_visible(person), person.username
        assert results.total == len(seen), person.username


def test_entries_carry_the_access_tokens_of_their_object(corpus):
    g = corpus["g"]
    p = g.people
    secret = SearchEntry.objects.get(object_type=ObjectType.INCOMING, object_id=corpus["secret"].pk)
    # Restricted: only the people named on it, no cell, unit or register token.
    assert set(secret.acl.split()) == {f"p{p['head'].pk}", f"p{p['handler'].pk}"}
    version = SearchEntry.objects.get(
        object_type=ObjectType.VERSION, object_id=corpus["version"].pk
    )
    case = SearchEntry.objects.get(object_type=ObjectType.CASE, object_id=corpus["case"].pk)
    # A document inherits its case's tokens.
    assert version.acl == case.acl and f"k{corpus['case'].pk}" in case.acl.split()


def test_a_dekretacja_moves_visibility_with_the_item_and_its_documents(
    corpus, django_capture_on_commit_callbacks
):
    from garnizon.cases.services import assign

    g = corpus["g"]
    p = g.people
    burglary = corpus["burglary"]
    with django_capture_on_commit_callbacks(execute=True):
        document_add(
            actor=p["clerk"],
            file=SimpleUploadedFile("skan.txt", b"skan"),
            title="Skan zawiadomienia",
            incoming_item=burglary,
            text="Zawiadomienie o włamaniu do piwnicy, sprawca nieznany.",
        )
    assert {inc(burglary)} <= found(p["kadry"], "piwnica")
    assert found(p["handler2"], "piwnica") == set()
    with django_capture_on_commit_callbacks(execute=True):
        assign(
            actor=p["commander"],
            incoming_item=burglary,
            to_cell=g.cells["kwp_i_1"],
            to_person=p["handler2"],
        )
    # The item and its document follow the item to the new cell and person.
    assert len(found(p["handler2"], "piwnica")) == 2
    assert found(p["kadry"], "piwnica") == set()
    assert_every_role_matches_the_registers(g)


def test_a_case_dekretacja_to_another_cell_and_a_new_handler(
    corpus, django_capture_on_commit_callbacks
):
    from garnizon.cases.services import assign

    g = corpus["g"]
    p = g.people
    case = corpus["case"]
    # An information copy to another cell: that cell sees the case, its letters
    # and its documents while the assignment is current.
    with django_capture_on_commit_callbacks(execute=True):
        assign(actor=p["commander"], case=case, to_cell=g.cells["kwp_ii"], method="inform")
    assert (ObjectType.CASE, case.pk) in found(p["kadry"], "skarga")
    assert (ObjectType.VERSION, corpus["version"].pk) in found(p["kadry"], "oględzin")
    assert_every_role_matches_the_registers(g)
    with django_capture_on_commit_callbacks(execute=True):
        assign(actor=p["head"], case=case, to_cell=g.cells["kwp_i_1"], to_person=p["handler2"])
    assert_every_role_matches_the_registers(g)


def test_restricting_an_item_or_a_case_hides_it_at_once(corpus, django_capture_on_commit_callbacks):
    g = corpus["g"]
    p = g.people
    theft = IncomingItem.objects.get(pk=corpus["theft"].pk)
    case = Case.objects.get(pk=corpus["case"].pk)
    assert inc(theft) in found(p["handler2"], "kradzież")
    with django_capture_on_commit_callbacks(execute=True):
        theft.is_restricted = True
        theft.save(update_fields=["is_restricted"])
        case.is_restricted = True
        case.save(update_fields=["is_restricted"])
    assert inc(theft) not in found(p["handler2"], "kradzież")
    # The case's letter and document go with it; its handler keeps them.
    assert found(p["handler2"], "oględzin") == set()
    assert (ObjectType.OUTGOING, corpus["answer"].pk) not in found(p["clerk"], "odpowiedź")
    assert (ObjectType.VERSION, corpus["version"].pk) in found(p["handler"], "oględzin")
    assert_every_role_matches_the_registers(g)


def test_a_case_moved_to_another_cell_takes_its_letters_and_documents(
    corpus, django_capture_on_commit_callbacks
):
    g = corpus["g"]
    p = g.people
    case = Case.objects.get(pk=corpus["case"].pk)
    with django_capture_on_commit_callbacks(execute=True):
        case.cell = g.cells["kwp_ii"]
        case.handler = p["kadry"]
        case.save(update_fields=["cell", "handler"])
    assert (ObjectType.VERSION, corpus["version"].pk) in found(p["kadry"], "oględzin")
    assert found(p["handler2"], "oględzin") == set()
    assert_every_role_matches_the_registers(g)


def test_moving_items_and_documents_between_cases(corpus, django_capture_on_commit_callbacks):
    g = corpus["g"]
    p = g.people
    hidden = corpus["hidden_case"]  # restricted, handled by "handler"
    answer = OutgoingItem.objects.get(pk=corpus["answer"].pk)
    document = corpus["document"]
    with django_capture_on_commit_callbacks(execute=True):
        answer.case = hidden
        answer.save(update_fields=["case"])
        document.case = hidden
        document.save(update_fields=["case"])
    # In a restricted case the letter leaves the unit's register; the document
    # is seen only by the case's handler now.
    assert (ObjectType.OUTGOING, answer.pk) not in found(p["clerk"], "odpowiedź")
    assert found(p["handler2"], "oględzin") == set()
    assert found(p["handler"], "oględzin") == {(ObjectType.VERSION, corpus["version"].pk)}
    assert_every_role_matches_the_registers(g)


def test_shares_are_read_at_query_time_and_end_on_their_date(
    corpus, django_capture_on_commit_callbacks
):
    from garnizon.cases.models import CaseShare
    from garnizon.cases.services import case_share, case_unshare

    g = corpus["g"]
    p = g.people
    hidden = corpus["hidden_case"]
    assert found(p["kmp_handler"], "wgląd akta") == set()
    share = case_share(actor=p["handler"], case=hidden, person=p["kmp_handler"])
    # No reindexing needed (nothing was captured): the share is read by the query.
    assert (ObjectType.CASE, hidden.pk) in found(p["kmp_handler"], "wgląd akta")
    cell_share = case_share(actor=p["handler"], case=hidden, cell=g.cells["kwp_ii"])
    assert (ObjectType.CASE, hidden.pk) in found(p["kadry"], "wgląd akta")
    assert_every_role_matches_the_registers(g)
    case_unshare(actor=p["handler"], share=share)
    assert found(p["kmp_handler"], "wgląd akta") == set()
    # An expired share is over by itself.
    CaseShare.objects.filter(pk=cell_share.pk).update(
        valid_to=datetime.date.today() - datetime.timedelta(days=1)
    )
    assert found(p["kadry"], "wgląd akta") == set()
    assert_every_role_matches_the_registers(g)


def test_the_cell_tree_and_garrison_wide_roles_are_resolved_at_query_time(corpus):
    from garnizon.org.models import Cell, Role
    from tests.factories import make_person

    g = corpus["g"]
    p = g.people
    # Moving the personnel cell under the head's cell: the head sees its items
    # without any reindexing (the sub-cells come from the cell tree per query).
    assert inc(corpus["burglary"]) not in found(p["head"], "piwnica")
    personnel = Cell.objects.get(pk=g.cells["kwp_ii"].pk)
    personnel.parent = g.cells["kwp_i"]
    personnel.save()
    assert inc(corpus["burglary"]) in found(p["head"], "piwnica")
    chief = make_person(
        "chief_kwp", g.kwp, g.cells["kwp_i"], Role.UNIT_COMMANDER, garrison_wide=True
    )
    registrar = make_person(
        "registry_kwp", g.kwp, g.cells["kwp_kan"], Role.REGISTRY_CLERK, garrison_wide=True
    )
    assert inc(corpus["kmp_item"]) in found(chief, "rower")
    assert inc(corpus["secret"]) not in found(chief, "korupcji")
    # A word on both a visible item and the restricted one: ranked without the hidden
    # one (garrison-wide tokens rank their text apart from the access check).
    samochod = found(chief, "samochodu")
    assert inc(corpus["theft"]) in samochod and inc(corpus["secret"]) not in samochod
    assert_every_role_matches_the_registers(g, extra=[chief, registrar])


def test_an_unattached_document_only_for_its_creator_until_attached(
    corpus, django_capture_on_commit_callbacks
):
    from garnizon.documents.models import Document

    g = corpus["g"]
    p = g.people
    with django_capture_on_commit_callbacks(execute=True):
        document = corpus["document"]
        Document.objects.filter(pk=document.pk).update(case=None)
        from garnizon.search.signals import queue

        queue(ObjectType.VERSION, [corpus["version"].pk])
    assert found(p["handler"], "oględzin") == {(ObjectType.VERSION, corpus["version"].pk)}
    assert found(p["handler2"], "oględzin") == set()
    assert_every_role_matches_the_registers(g)


@pytest.mark.parametrize("with_filter", [False, True])
def test_many_matches_give_a_marked_estimate_and_rank_the_newest(
    corpus, monkeypatch, with_filter, django_capture_on_commit_callbacks
):
    from garnizon.search import services

    g = corpus["g"]
    commander = g.people["commander"]
    with django_capture_on_commit_callbacks(execute=True):
        for n in range(4):
            kwp_letter(g, f"Pismo w sprawie numer {n}", cell="kwp_ii")
    filters = SearchFilters(unit_id=g.kwp.pk) if with_filter else None
    full = search(commander, "w", filters, page_size=100, audit=False)
    visible = [(h.object_type, h.object_id) for h in full.hits]
    assert full.total == len(visible) >= 6 and not full.total_is_estimate
    assert full.ranked_newest is None
    monkeypatch.setattr(services, "COUNT_LIMIT", 3)
    monkeypatch.setattr(services, "RANK_LIMIT", 2)
    capped = search(commander, "w", filters, audit=False)
    assert (capped.total, capped.total_is_estimate, capped.ranked_newest) == (3, True, 2)
    # The facets count the newest two, the ones ranked.
    assert sum(v.count for v in capped.facets["object_type"]) == 2
    # The count cap no higher than the ranked ones: counted by the same read.
    monkeypatch.setattr(services, "COUNT_LIMIT", 2)
    same = search(commander, "w", filters, audit=False)
    assert (same.total, same.total_is_estimate, same.ranked_newest) == (2, True, 2)
    # Between the ranked and the count cap: an exact count.
    monkeypatch.setattr(services, "COUNT_LIMIT", 100)
    between = search(commander, "w", filters, audit=False)
    assert (between.total, between.total_is_estimate) == (full.total, False)
    assert between.ranked_newest == 2
    # Only the two newest visible matches are ranked, nothing invisible creeps in.
    entries = {
        (e.object_type, e.object_id): e.pk
        for e in SearchEntry.objects.all()
        if (e.object_type, e.object_id) in set(visible)
    }
    newest = sorted(entries, key=entries.get)[-2:]
    assert sorted((h.object_type, h.object_id) for h in capped.hits) == sorted(newest)


def test_a_bulk_update_is_followed_by_reindex_dependents(
    corpus, django_capture_on_commit_callbacks
):
    from garnizon.search.signals import reindex_dependents

    g = corpus["g"]
    case = corpus["case"]
    Case.objects.filter(pk=case.pk).update(is_restricted=True)  # no signal
    assert (ObjectType.VERSION, corpus["version"].pk) in found(g.people["handler2"], "oględzin")
    with django_capture_on_commit_callbacks(execute=True):
        reindex_dependents(ObjectType.CASE, [case.pk])
    assert found(g.people["handler2"], "oględzin") == set()
    assert_every_role_matches_the_registers(g)


# --- the full rebuild: a new index built beside the one in use, swapped in ----------------


def _tables() -> set[str]:
    return set(connection.introspection.table_names())


def _index_names() -> set[str]:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT indexname FROM pg_indexes WHERE tablename = 'search_searchentry' "
                "UNION ALL SELECT conname FROM pg_constraint "
                "WHERE conrelid = 'search_searchentry'::regclass "
                "UNION ALL SELECT pg_get_serial_sequence('search_searchentry', 'id')"
            )
        else:
            cursor.execute(
                "SELECT name FROM sqlite_master WHERE tbl_name IN ('search_searchentry', "
                "'search_fts') OR name LIKE 'search_fts%'"
            )
        return {row[0] for row in cursor.fetchall()}


def test_the_swap_leaves_a_working_index_under_the_same_names(
    corpus, django_capture_on_commit_callbacks
):
    g = corpus["g"]
    handler, commander = g.people["handler"], g.people["commander"]
    queries = ("kradzież", "Puławy", "włamania", "oględzin", "skarga")
    before = {q: found(handler, q) for q in queries}
    entries = set(SearchEntry.objects.values_list("object_type", "object_id", "acl"))
    names = _index_names()
    written = rebuild(batch=2)
    assert written == len(entries)
    assert {q: found(handler, q) for q in queries} == before
    assert set(SearchEntry.objects.values_list("object_type", "object_id", "acl")) == entries
    assert _index_names() == names  # the indexes, constraints and sequence renamed into place
    assert not {"search_fts_build", "search_searchentry_build"} & _tables()
    assert not RebuildChange.objects.exists()
    # The signals write to the new index as before, and nothing is logged any more.
    with django_capture_on_commit_callbacks(execute=True):
        item = kwp_letter(g, "Zawiadomienie o zniszczeniu ciągnika")
    assert inc(item) in found(commander, "ciągnik")
    assert not RebuildChange.objects.exists()
    # And again over the rebuilt index.
    rebuild()
    assert {q: found(handler, q) for q in queries} == before
    assert inc(item) in found(commander, "ciągnik")
    assert _index_names() == names


def test_changes_made_during_a_rebuild_are_not_lost(corpus, django_capture_on_commit_callbacks):
    """Changed, added and deleted between the load and the swap: the old index
    has them at once (the signals), the new one after the swap (the log)."""
    g = corpus["g"]
    commander = g.people["commander"]
    theft, answer = corpus["theft"], corpus["answer"]
    seen: dict[str, object] = {}

    def meanwhile() -> None:
        with django_capture_on_commit_callbacks(execute=True):
            item = IncomingItem.objects.get(pk=theft.pk)
            item.subject = "Zawiadomienie o zniszczeniu motocykla"
            item.save()
            seen["new"] = kwp_letter(g, "Prośba o zwrot hulajnogi")
            OutgoingItem.objects.get(pk=answer.pk).delete()
        # The index in use already answers with the changes; they are logged.
        assert inc(theft) in found(commander, "motocykl")
        assert inc(seen["new"]) in found(commander, "hulajnoga")
        seen["logged"] = set(RebuildChange.objects.values_list("object_type", "object_id"))

    rebuild(before_swap=meanwhile)
    assert (ObjectType.INCOMING, theft.pk) in seen["logged"]
    assert (ObjectType.OUTGOING, answer.pk) in seen["logged"]
    assert inc(theft) in found(commander, "motocykl")
    assert inc(theft) not in found(commander, "samochód")
    assert inc(seen["new"]) in found(commander, "hulajnoga")
    assert (ObjectType.OUTGOING, answer.pk) not in found(commander, "odpowiedź skargę")
    assert not SearchEntry.objects.filter(object_type=ObjectType.OUTGOING, object_id=answer.pk)
    assert not RebuildChange.objects.exists()


def test_a_stale_copy_written_by_the_rebuild_is_replaced_at_the_swap(corpus):
    """The rebuild read an object before it changed and wrote it after the signal
    had indexed the change: the logged object is indexed again before the swap."""
    commander = corpus["g"].people["commander"]
    theft = corpus["theft"]

    def meanwhile() -> None:
        # The change, indexed into the index in use and logged ...
        IncomingItem.objects.filter(pk=theft.pk).update(subject="Kradzież skutera w Dęblinie")
        index_objects(ObjectType.INCOMING, [theft.pk])
        # ... then the rebuild's stale copy of the object written into the new index.
        stale = [(theft.pk, {**_fields(theft.pk), "acl": "r"}, analyse("kradzież samochodu"))]
        backend = get_backend()
        with transaction.atomic():
            backend.build_forget(ObjectType.INCOMING, [theft.pk])
            backend.build_write(ObjectType.INCOMING, stale)

    rebuild(before_swap=meanwhile)
    assert inc(theft) in found(commander, "skuter Dęblin")
    assert inc(theft) not in found(commander, "samochodu")


def _fields(object_id: int) -> dict:
    from garnizon.search.models import ENTRY_FIELDS

    entry = SearchEntry.objects.get(object_type=ObjectType.INCOMING, object_id=object_id)
    return {name: getattr(entry, name) for name in ENTRY_FIELDS}


def test_an_unfinished_rebuild_leaves_the_index_serving_and_the_next_one_starts_afresh(
    corpus, django_capture_on_commit_callbacks
):
    g = corpus["g"]
    handler = g.people["handler"]
    before = found(handler, "kradzież")
    backend = get_backend()
    with transaction.atomic():
        backend.build_begin()  # ... and the process dies here
    assert found(handler, "kradzież") == before
    with django_capture_on_commit_callbacks(execute=True):
        kwp_letter(g, "Kradzież przyczepy")
    assert RebuildChange.objects.exists()  # a rebuild seems to run: changes are logged
    after = found(handler, "kradzież")
    assert len(after) == len(before) + 1
    rebuild()
    assert found(handler, "kradzież") == after
    assert not RebuildChange.objects.exists()


def test_a_second_rebuild_is_refused_while_one_runs_and_the_first_finishes(corpus):
    """Two rebuilds at once would drop each other's new index: the second is refused
    with who runs the first, and the first goes on to the swap."""
    handler = corpus["g"].people["handler"]
    before = found(handler, "kradzież")
    refused: list[str] = []

    def second_rebuild() -> None:
        with pytest.raises(DomainError) as error:
            rebuild()
        refused.append(str(error.value.message))
        err = StringIO()
        with pytest.raises(CommandError, match="już przebudowywany"):
            call_command("search", "reindex", stdout=StringIO(), stderr=err)

    rebuild(before_swap=second_rebuild)
    assert len(refused) == 1
    assert "już przebudowywany" in refused[0] and f":{os.getpid()}:" in refused[0]
    assert found(handler, "kradzież") == before  # the first one swapped its index in
    # Released at the end: the next rebuild runs.
    rebuild()
    assert found(handler, "kradzież") == before


def test_a_rebuild_whose_lease_was_taken_over_stops_before_the_swap(corpus):
    """A rebuild that stalled past its lease, taken over by another machine, must not
    swap in its (stale) index: it stops with a message, the index in use unchanged."""
    handler = corpus["g"].people["handler"]
    before = found(handler, "kradzież")
    index_rows = SearchEntry.objects.count()

    def taken_over() -> None:
        LeaseRow.objects.filter(name="search:rebuild").update(
            owner="kpp-swidnik:4242:0a1b2c3d",
            lease_until=timezone.now() + datetime.timedelta(minutes=5),
        )

    with pytest.raises(DomainError, match="przejął ją inny proces"):
        rebuild(before_swap=taken_over)
    assert found(handler, "kradzież") == before
    assert SearchEntry.objects.count() == index_rows
    # Not released by the loser: the other holder keeps it.
    assert LeaseRow.objects.get(name="search:rebuild").owner == "kpp-swidnik:4242:0a1b2c3d"
    # Once that lease expires (its holder died), a rebuild runs again.
    LeaseRow.objects.update(lease_until=timezone.now() - datetime.timedelta(seconds=1))
    rebuild()
    assert found(handler, "kradzież") == before


def test_without_a_rebuild_nothing_is_logged(corpus):
    index_objects(ObjectType.INCOMING, [corpus["theft"].pk])
    assert not RebuildChange.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_the_command_rebuilds_in_worker_processes(corpus):
    handler = corpus["g"].people["handler"]
    queries = ("kradzież", "Puławy", "włamania", "oględzin")
    before = {q: found(handler, q) for q in queries}
    out, err = StringIO(), StringIO()
    call_command("search", "reindex", "--workers", "2", "--batch", "1", stdout=out, stderr=err)
    assert "Zaindeksowano" in out.getvalue()
    assert "[##############################]" in err.getvalue()
    assert {q: found(handler, q) for q in queries} == before
    assert not {"search_fts_build", "search_searchentry_build"} & _tables()


def _postgresql_cursor():
    """A server-binding psycopg cursor on Django's connection that sends
    `TsvectorBinary` values (as the backend's `write` does)."""
    import psycopg

    from garnizon.search.backends.postgresql import TsvectorBinary, TsvectorBinaryDumper

    connection.ensure_connection()
    cursor = psycopg.Cursor(connection.connection)
    cursor.adapters.register_dumper(TsvectorBinary, TsvectorBinaryDumper)
    return cursor


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's tsvectors")
def test_the_tsvector_keeps_every_position_as_postgresql_reads_it():
    from garnizon.search.backends.postgresql import tsvector

    analysed = analyse("Kradzież samochodu. Samochód skradziono; kradzież zgłoszono. " * 100)
    tsv = tsvector(analysed, "p1 c2")
    with _postgresql_cursor() as cursor:
        cursor.execute(
            "SELECT %b::tsvector @@ %s::tsquery, %b::tsvector @@ %s::tsquery, "
            "%b::tsvector @@ %s::tsquery, length(%b::tsvector)",
            [
                tsv,
                "'kradzież' <-> 'samochód' & '~p1'",  # surface form then lemma, adjacent
                tsv,
                "'kradziez'",  # no folded copies: those come from the term map
                tsv,
                "'samochodu' <-> 'samochód'",  # the surface form of the next word
                tsv,
            ],
        )
        assert cursor.fetchone() == (True, False, True, 9)


def _tsvector_cases() -> list[tuple[list[tuple[str, str]], int, str]]:
    """(forms, words indexed, access tokens): the analyser's texts and the limits."""
    texts = [
        "Kradzież samochodu w Puławach, ul. Lipowa 5/7 — zgłoszenie z dnia 12.03.2026 r.",
        "Sprawa I.0151.3.2026 oraz KWP/RPW/12/2026 " + "x" * 70,
        "Ελλάδα İstanbul ŁÓDŹ żółć 東京 a\u0301 ½",
        "kot " * 300,  # more than 256 positions of one lexeme
        "— ... !",
        "",
    ]
    cases = [(a.forms, len(a), acl) for a in map(analyse, texts) for acl in ("c12 p3 r u1", "")]
    capped = analyse("kradzieży samochodu " * 50, max_words=7)
    cases.append((capped.forms, len(capped), "o"))
    many = [(f"w{i % 5000}", f"l{i % 7}") for i in range(17000)]  # past position 16,383
    cases.append((many, 17000, "k5"))
    return cases


def test_the_binary_tsvector_is_built_alike_in_c_and_in_python():
    from garnizon.search import _streams
    from garnizon.search.backends.postgresql import tsvector_binary, tsvector_binary_py

    assert tsvector_binary is _streams.tsvector_binary  # what the rebuild uses here
    for index, (forms, limit, acl) in enumerate(_tsvector_cases()):  # every case, not a count
        built = _streams.tsvector_binary(forms, limit, acl)
        assert built == tsvector_binary_py(forms, limit, acl), index


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's tsvector input")
def test_the_binary_tsvector_is_the_one_postgresql_reads_from_the_literal():
    """The binary form equals what PostgreSQL reads from the same tokens written
    as a literal, position by position (a plain reference written here)."""
    from garnizon.search.backends import postgresql as pg

    def literal(forms: list[tuple[str, str]], limit: int, acl: str) -> str:
        words = " ".join(s for s, _base in forms if s).split()
        lemmas = " ".join(base for s, base in forms if s).split()
        tokens = []
        for position, (word, base) in enumerate(zip(words, lemmas, strict=True), start=1):
            if position > min(limit, 16383):
                break
            tokens.append(f"{pg._quote(word)}:{position}")
            if base != word:
                tokens.append(f"{pg._quote(base)}:{position}")
        return " ".join(tokens + [pg._quote(f"~{t}") for t in acl.split()])

    cases = _tsvector_cases()
    with _postgresql_cursor() as cursor:
        cursor.execute("CREATE TEMPORARY TABLE binary_tsv (n integer, tsv tsvector)")
        with cursor.copy("COPY binary_tsv FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(["integer", "tsvector"])
            for n, (forms, limit, acl) in enumerate(cases):
                copy.write_row((n, pg.TsvectorBinary(pg.tsvector_binary(forms, limit, acl))))
        cursor.execute(
            "SELECT b.n, b.tsv = l.tsv::tsvector, b.tsv::text, l.tsv::tsvector::text "
            "FROM binary_tsv b JOIN unnest(%s::text[]) WITH ORDINALITY AS l(tsv, n) "
            "ON l.n = b.n + 1 ORDER BY b.n",
            [[literal(*case) for case in cases]],
        )
        rows = cursor.fetchall()
    assert len(rows) == len(cases)
    for n, same, binary, literal in rows:
        assert same and binary == literal, n
    assert "'kot':1,2,3" in rows[6][2] and ",256" in rows[6][2] and ",257" not in rows[6][2]
    assert rows[-1][2].count("16383") and "16384" not in rows[-1][2]


@pytest.mark.django_db(transaction=True)
def test_changes_made_while_a_rebuild_runs_in_another_thread_are_not_lost(corpus):
    """The rebuild and the changes really interleave here (another connection):
    whichever way they fall, the swapped-in index has every change."""
    import threading

    g = corpus["g"]
    commander = g.people["commander"]
    items = [corpus[name] for name in ("theft", "burglary", "phoned")]
    failures: list[BaseException] = []

    def run() -> None:
        try:
            rebuild(batch=1)
        except BaseException as error:  # reported below
            failures.append(error)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    subjects = ["motocykla", "ciągnika", "hulajnogi"]
    while subjects and (thread.is_alive() or len(subjects) == 3):  # one change, or more
        item = IncomingItem.objects.get(pk=items[len(subjects) - 1].pk)
        item.subject = f"Zawiadomienie o zniszczeniu {subjects.pop()}"
        item.save()  # autocommit: the signal indexes it at once
    thread.join()
    assert not failures
    for item, word in zip(items, ["motocykl", "ciągnik", "hulajnoga"], strict=True):
        subject = IncomingItem.objects.get(pk=item.pk).subject
        if "zniszczeniu" in subject:
            assert inc(item) in found(commander, word), subject
    assert inc(items[-1]) in found(commander, "hulajnoga")
    assert not RebuildChange.objects.exists()


def test_migration_0005_keeps_the_index_and_fills_the_term_map(corpus):
    """An index of the previous shape (folded copies of the text) is migrated in
    place: its entries stay searchable and its words with diacritics go into
    the term map, so the fallback works without a reindex."""
    import importlib
    from types import SimpleNamespace

    from django.apps import apps

    migration = importlib.import_module("garnizon.search.migrations.0005_folded_terms")
    theft = corpus["theft"]
    entry_id = SearchEntry.objects.get(object_type=ObjectType.INCOMING, object_id=theft.pk).pk
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(
                "SELECT surface, lemma, acl FROM search_fts WHERE rowid = %s", [entry_id]
            )
            surface, lemma_, acl = cursor.fetchone()
            cursor.execute("DROP TABLE search_fts")
            cursor.execute(migration.SQLITE_OLD)
            cursor.execute(
                "INSERT INTO search_fts(rowid, surface, lemma, fsurface, flemma, acl) "
                "VALUES (%s, %s, %s, %s, %s, %s)",
                [entry_id, surface, lemma_, fold(surface), fold(lemma_), acl],
            )
        else:
            cursor.execute("ALTER TABLE search_searchentry ADD COLUMN ftsv tsvector")
            cursor.execute("CREATE INDEX search_entry_ftsv ON search_searchentry USING gin (ftsv)")
    FoldedTerm.objects.all().delete()
    folding.forget_known()
    migration.forward(apps, SimpleNamespace(connection=connection))
    assert FoldedTerm.objects.filter(folded="kradziezy", term="kradzieży").exists()
    handler = corpus["g"].people["handler"]
    results = search(handler, "kradziezy samochodu", audit=False)
    assert results.fallback and inc(theft) in keys(results)
    assert inc(theft) in found(handler, "kradzieży")
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("SELECT sql FROM sqlite_master WHERE name = 'search_fts'")
            assert "fsurface" not in cursor.fetchone()[0]
        else:
            cursor.execute(
                "SELECT count(*) FROM information_schema.columns "
                "WHERE table_name = 'search_searchentry' AND column_name = 'ftsv'"
            )
            assert cursor.fetchone()[0] == 0
