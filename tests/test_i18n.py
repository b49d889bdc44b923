"""Translations: the English catalogue is complete and used, Polish plural forms work.

The source strings are Polish; English comes from locale/en, and locale/pl only
supplies the three Polish plural forms (the msgid/msgid_plural pair has just two).
The .mo files are git-ignored: `./dev setup` compiles them, and so does this module
when they are missing or older than the .po files.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import translation
from django.utils.translation.reloader import translation_file_changed

from garnizon.cases.deadlines import term_label
from garnizon.registry.models import IncomingItem
from tests.factories import PASSWORD

LOCALE_DIR = Path(settings.LOCALE_PATHS[0])
LANGS = ("en", "pl")
EN_PO = LOCALE_DIR / "en" / "LC_MESSAGES" / "django.po"
PL_PO = LOCALE_DIR / "pl" / "LC_MESSAGES" / "django.po"
PL_PLURAL_FORMS = (
    "nplurals=3; plural=(n==1 ? 0 : (n%10>=2 && n%10<=4) && (n%100<12 || n%100>14) ? 1 : 2);"
)


def _stale(lang: str) -> bool:
    po = LOCALE_DIR / lang / "LC_MESSAGES" / "django.po"
    mo = po.with_suffix(".mo")
    return not mo.exists() or mo.stat().st_mtime < po.stat().st_mtime


@pytest.fixture(scope="module", autouse=True)
def _compiled_catalogs() -> None:
    """Compile the catalogues if needed (a clean checkout has no .mo files)."""
    if any(_stale(lang) for lang in LANGS):
        # compilemessages looks in ./locale and in LOCALE_PATHS; run it from the
        # package so both point at the same catalogues whatever pytest's cwd.
        with contextlib.chdir(LOCALE_DIR.parent):
            call_command("compilemessages", locale=list(LANGS), verbosity=0)
        # Catalogues loaded before compiling (possibly empty) are cached per process.
        translation_file_changed(None, LOCALE_DIR / "en" / "LC_MESSAGES" / "django.mo")


@pytest.fixture(autouse=True)
def _restore_active_language():
    """LocaleMiddleware activates the request's language in this thread and leaves it
    active after the response; put the previous one back so later tests stay Polish."""
    with translation.override(translation.get_language()):
        yield


# --- a small .po reader (polib is not a dependency) ---------------------------


@dataclass
class Entry:
    msgid: str = ""
    msgid_plural: str | None = None
    msgstr: dict[int, str] = field(default_factory=dict)
    flags: set[str] = field(default_factory=set)


_UNESCAPE = {"n": "\n", "t": "\t", '"': '"', "\\": "\\"}


def _unquote(text: str) -> str:
    text = text.strip()
    assert text.startswith('"') and text.endswith('"'), text
    return re.sub(r"\\(.)", lambda m: _UNESCAPE[m.group(1)], text[1:-1])


def read_po(path: Path) -> list[Entry]:
    """Entries of a .po file, the header first; obsolete (#~) entries are skipped."""
    entries: list[Entry] = []
    for block in re.split(r"\n\s*\n", path.read_text(encoding="utf-8")):
        lines = [line for line in block.splitlines() if line.strip()]
        if not lines or all(line.startswith("#") for line in lines):
            continue
        entry = Entry()
        target: tuple[str, int] = ("msgid", 0)
        for line in lines:
            if line.startswith("#,"):
                entry.flags |= {flag.strip() for flag in line[2:].split(",")}
            elif line.startswith("#"):
                continue
            elif match := re.match(
                r'(msgctxt|msgid_plural|msgid|msgstr)(?:\[(\d+)\])?\s+(".*")$', line
            ):
                keyword, index, value = match.groups()
                target = (keyword, int(index or 0))
                _append(entry, target, _unquote(value))
            else:
                _append(entry, target, _unquote(line))
        entries.append(entry)
    assert entries and entries[0].msgid == "", f"{path} has no header"
    return entries


def _append(entry: Entry, target: tuple[str, int], text: str) -> None:
    keyword, index = target
    if keyword == "msgid":
        entry.msgid += text
    elif keyword == "msgid_plural":
        entry.msgid_plural = (entry.msgid_plural or "") + text
    elif keyword == "msgstr":
        entry.msgstr[index] = entry.msgstr.get(index, "") + text


def _placeholders(text: str) -> list[str]:
    """%-placeholders, {brace} fields and HTML tags: they must survive translation."""
    found = re.findall(r"%\(\w+\)[sdif]|%[sdif]|\{\w*\}|</?\w+[^>]*>", text)
    return sorted(found)


# --- (a) the catalogues are complete --------------------------------------------


def test_english_header():
    header = read_po(EN_PO)[0]
    assert "fuzzy" not in header.flags
    assert "Language: en\n" in header.msgstr[0]
    assert "Plural-Forms: nplurals=2; plural=(n != 1);\n" in header.msgstr[0]
    assert "Content-Type: text/plain; charset=UTF-8\n" in header.msgstr[0]


def test_every_english_entry_is_translated_and_not_fuzzy():
    entries = read_po(EN_PO)[1:]
    assert len(entries) > 500
    fuzzy = [e.msgid for e in entries if "fuzzy" in e.flags]
    assert not fuzzy, f"fuzzy entries: {fuzzy}"
    untranslated = []
    for e in entries:
        expected_forms = 2 if e.msgid_plural is not None else 1
        forms = [e.msgstr.get(i, "") for i in range(expected_forms)]
        if not all(form.strip() for form in forms):
            untranslated.append(e.msgid)
    assert not untranslated, f"untranslated entries: {untranslated}"


def test_english_translations_keep_placeholders_and_markup():
    broken = []
    for e in read_po(EN_PO)[1:]:
        sources = [e.msgid, e.msgid if e.msgid_plural is None else e.msgid_plural]
        for index, translated in e.msgstr.items():
            source = sources[min(index, 1)]
            if _placeholders(translated) != _placeholders(source):
                broken.append((e.msgid, translated))
    assert not broken


@pytest.mark.skipif(shutil.which("msgfmt") is None, reason="GNU gettext is not installed")
@pytest.mark.parametrize("po", [EN_PO, PL_PO], ids=["en", "pl"])
def test_msgfmt_accepts_the_catalogue(po):
    result = subprocess.run(
        ["msgfmt", "--check", "--statistics", "-o", "/dev/null", str(po)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "fuzzy" not in result.stderr
    if po == EN_PO:
        assert "untranslated" not in result.stderr, result.stderr


def test_polish_catalogue_supplies_only_plural_forms():
    header, *entries = read_po(PL_PO)
    assert "fuzzy" not in header.flags
    assert "Language: pl\n" in header.msgstr[0]
    assert f"Plural-Forms: {PL_PLURAL_FORMS}\n" in header.msgstr[0]
    assert not [e.msgid for e in entries if "fuzzy" in e.flags]
    plurals = [e for e in entries if e.msgid_plural is not None]
    assert plurals
    for e in plurals:
        forms = [e.msgstr.get(i, "") for i in range(3)]
        assert all(forms), f"{e.msgid!r} needs three Polish forms"
        assert len(set(forms)) >= 2, e.msgid
    # Singular strings are already Polish: nothing to translate.
    assert not [e.msgid for e in entries if e.msgid_plural is None and e.msgstr.get(0)]


# --- (b) English at runtime ---------------------------------------------------------


@pytest.mark.parametrize(
    ("polish", "english"),
    [
        ("Moja praca", "My work"),
        ("Rejestr przesyłek wpływających", "Incoming register"),
        ("Rejestr przesyłek wychodzących", "Outgoing register"),
        ("brak danych", "no data"),
        ("Znak sprawy", "Case sign"),
        ("Metryka sprawy", "Case record"),
        ("Dekretuj", "Assign"),
        ("po terminie", "overdue"),
        ("termin wkrótce", "due soon"),
        ("Książka adresowa", "Address book"),
        ("w zastępstwie", "on behalf of"),
        ("art. 35 § 3 KPA", "art. 35 § 3 KPA"),
    ],
)
def test_key_strings_in_english(polish, english):
    with translation.override("en"):
        assert translation.gettext(polish) == english
    with translation.override("pl"):
        assert translation.gettext(polish) == polish


def test_lazy_labels_and_plurals_in_english():
    with translation.override("en"):
        assert str(IncomingItem._meta.verbose_name) == "incoming item"
        assert term_label("certificate") == "7 days"
        assert term_label("kpa_complex") == "2 months"
        assert term_label("kpa_investigation") == "1 month"


# --- (c) a staff page after switching the language ------------------------------------


def test_staff_page_switches_to_english(garrison):
    client = Client()
    assert client.login(username=garrison.people["clerk"].username, password=PASSWORD)
    my_work = reverse("web:my_work")

    polish = client.get(my_work)
    assert polish.status_code == 200
    assert "Moja praca" in polish.content.decode()

    switched = client.post(reverse("set_language"), {"language": "en", "next": my_work})
    assert switched.status_code == 302

    response = client.get(my_work)
    assert response.status_code == 200
    html = response.content.decode()
    assert '<html lang="en">' in html
    assert "My work" in html
    assert "Moja praca" not in html
    assert "Incoming register" in html


# --- (d) Polish plural forms ------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "days", "months"),
    [
        (1, "1 dzień", "1 miesiąc"),
        (3, "3 dni", "3 miesiące"),
        (5, "5 dni", "5 miesięcy"),
        (12, "12 dni", "12 miesięcy"),
        (22, "22 dni", "22 miesiące"),
        (25, "25 dni", "25 miesięcy"),
    ],
)
def test_polish_plural_forms(n, days, months):
    with translation.override("pl"):
        assert translation.ngettext("%(n)d dzień", "%(n)d dni", n) % {"n": n} == days
        assert translation.ngettext("%(n)d miesiąc", "%(n)d miesiące", n) % {"n": n} == months


def test_polish_plural_has_three_distinct_forms():
    with translation.override("pl"):
        forms = {
            translation.ngettext("%(n)d miesiąc", "%(n)d miesiące", n) % {"n": n} for n in (1, 3, 5)
        }
    assert forms == {"1 miesiąc", "3 miesiące", "5 miesięcy"}
