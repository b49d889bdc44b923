"""Importing JRWA schemes from CSV, archival categories and the `garnizon jrwa` command."""

from __future__ import annotations

import datetime
import io
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from garnizon.audit.models import AuditEntry
from garnizon.jrwa.categories import ArchivalCategory, is_lowering, parse_category
from garnizon.jrwa.importer import SchemeImportError, import_scheme
from garnizon.jrwa.models import Classification, ClassificationScheme

REPO = Path(__file__).resolve().parents[1]
EXAMPLE_FILE = REPO / "src" / "garnizon" / "jrwa" / "data" / "jrwa-example.csv"
DAY = datetime.date(2026, 1, 1)

GOOD = """symbol,heading,category_owner,category_other,remarks
0,Zarządzanie,,,
05,"Skargi, wnioski i petycje",,,
052,Skargi i wnioski,,,
0520,Skargi,A,Bc,Termin 1 miesiąc
0521,Wnioski,a,,
053,Petycje,be10,B5,
1,Kadry,,,
10,Akta osobowe,B50,Bc,
"""


def write(tmp_path: Path, text: str, *, name: str = "wykaz.csv", bom: bool = False) -> Path:
    path = tmp_path / name
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    return path


def run_import(file, *, name: str = "JRWA z pliku", version: str = "1", **kwargs):
    return import_scheme(
        file=file,
        name=name,
        version=version,
        valid_from=DAY,
        is_example=kwargs.pop("is_example", False),
        **kwargs,
    )


def rejection(file) -> list[tuple[int, str]]:
    with pytest.raises(SchemeImportError) as caught:
        run_import(file)
    return caught.value.errors


def database_state() -> tuple[int, int, int]:
    return (
        ClassificationScheme.objects.count(),
        Classification.objects.count(),
        AuditEntry.objects.count(),
    )


# --- a good file ---------------------------------------------------------------------


@pytest.mark.django_db
def test_it_imports_a_good_file_with_parents_terminal_classes_and_categories(tmp_path):
    scheme = run_import(write(tmp_path, GOOD))

    classes = {c.symbol: c for c in scheme.classes.select_related("parent")}
    assert list(classes) == ["0", "05", "052", "0520", "0521", "053", "1", "10"]
    assert classes["0"].parent is None
    assert classes["0520"].parent == classes["052"]
    assert classes["052"].parent == classes["05"]
    assert classes["05"].heading == "Skargi, wnioski i petycje"
    assert {s for s, c in classes.items() if c.is_terminal} == {"0520", "0521", "053", "10"}
    assert (classes["0520"].category_owner, classes["0520"].category_other) == ("A", "Bc")
    assert classes["0520"].remarks == "Termin 1 miesiąc"
    assert (classes["052"].category_owner, classes["052"].category_other) == ("", "")


@pytest.mark.django_db
def test_an_empty_category_other_of_a_terminal_class_defaults_to_bc(tmp_path):
    scheme = run_import(write(tmp_path, GOOD))

    assert scheme.classes.get(symbol="0521").category_other == "Bc"


@pytest.mark.django_db
def test_categories_are_stored_in_canonical_form(tmp_path):
    scheme = run_import(write(tmp_path, GOOD))

    petitions = scheme.classes.get(symbol="053")
    assert (petitions.category_owner, petitions.category_other) == ("BE10", "B5")
    assert scheme.classes.get(symbol="0521").category_owner == "A"


@pytest.mark.django_db
def test_it_records_the_source_and_an_audit_entry(tmp_path, garrison):
    actor = garrison.people["admin"]
    path = write(tmp_path, GOOD)

    scheme = run_import(path, actor=actor)

    assert scheme.source_name == "wykaz.csv"
    assert len(scheme.source_sha256) == 64
    assert scheme.imported_by == actor
    entry = AuditEntry.objects.get(action="import", object_id=str(scheme.pk))
    assert entry.actor_username == actor.username
    assert entry.object_type == "jrwa.classificationscheme"
    assert entry.details["classes"] == 8
    assert entry.details["terminal_classes"] == 4
    assert entry.details["source_sha256"] == scheme.source_sha256


@pytest.mark.django_db
def test_it_accepts_a_bom_and_the_semicolon_delimiter(tmp_path):
    text = GOOD.replace(",", ";").replace('"Skargi; wnioski i petycje"', "Skargi, wnioski")

    scheme = run_import(write(tmp_path, text, bom=True))

    assert scheme.classes.count() == 8
    assert scheme.classes.get(symbol="05").heading == "Skargi, wnioski"
    assert scheme.classes.get(symbol="0").heading == "Zarządzanie"


@pytest.mark.django_db
def test_it_accepts_a_text_stream_and_a_binary_stream():
    first = run_import(io.StringIO("\ufeff" + GOOD), version="1")
    second = run_import(io.BytesIO(GOOD.encode("utf-8")), version="2")

    assert first.classes.count() == second.classes.count() == 8
    assert first.classes.get(symbol="0").heading == "Zarządzanie"


@pytest.mark.django_db
def test_it_accepts_columns_in_any_order_without_remarks_and_with_comments(tmp_path):
    text = (
        "# Przykład\n"
        "\n"
        "heading;symbol;category_other;category_owner\n"
        "Zarządzanie;0;;\n"
        "# komentarz w środku\n"
        "Skargi;01;;A\n"
    )

    scheme = run_import(write(tmp_path, text))

    complaints = scheme.classes.get(symbol="01")
    assert (complaints.heading, complaints.category_owner, complaints.category_other) == (
        "Skargi",
        "A",
        "Bc",
    )


@pytest.mark.django_db
def test_activate_makes_the_version_current_and_retires_others_of_the_same_name(tmp_path):
    path = write(tmp_path, GOOD)
    old = run_import(path, version="1", activate=True)
    other_name = run_import(path, name="Inny wykaz", version="1", activate=True)

    new = run_import(path, version="2", activate=True)

    old.refresh_from_db()
    other_name.refresh_from_db()
    assert new.is_active
    assert not old.is_active
    assert other_name.is_active
    entry = AuditEntry.objects.get(action="import", object_id=str(new.pk))
    assert entry.details["deactivated_scheme_ids"] == [old.pk]


@pytest.mark.django_db
def test_without_activate_the_new_version_is_not_current(tmp_path):
    path = write(tmp_path, GOOD)
    old = run_import(path, version="1", activate=True)

    new = run_import(path, version="2")

    old.refresh_from_db()
    assert old.is_active
    assert not new.is_active


# --- errors, each with its line number -----------------------------------------------

HEADER = "symbol,heading,category_owner,category_other,remarks\n"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "line", "fragment"),
    [
        ("0,Zarządzanie,,,\n0a,Zła klasa,A,,\n", 3, "Nieprawidłowy symbol klasy „0a”"),
        ("0,Zarządzanie,,,\n01234,Za długi,A,,\n", 3, "od 1 do 4 cyfr"),
        ("0,Zarządzanie,A,,\n0,Znowu,A,,\n", 3, "Symbol 0 powtarza się (pierwszy raz w wierszu 2)"),
        ("0,Zarządzanie,,,\n0123,Sierota,A,,\n", 3, "nie ma w pliku klasy nadrzędnej 012"),
        ("0,Zarządzanie,,,\n01,,A,,\n", 3, "Klasa 01 nie ma hasła"),
        ("0,Zarządzanie,,,\n01,Organizacja,,Bc,\n", 3, "wymaga kategorii archiwalnej"),
        ("0,Zarządzanie,,,\n01,Organizacja,B7x,,\n", 3, "Nieprawidłowa kategoria archiwalna „B7x”"),
        ("0,Zarządzanie,,,\n01,Organizacja,A,C,\n", 3, "kolumna category_other"),
        ("0,Zarządzanie,A,Bc,\n01,Organizacja,A,,\n", 2, "nie może mieć kategorii archiwalnej"),
        ("0,Zarządzanie,,,\n01,Organizacja,A,Bc,uwagi,nadmiar\n", 3, "Za dużo pól"),
    ],
    ids=[
        "symbol-not-digits",
        "symbol-too-long",
        "duplicate",
        "missing-parent",
        "no-heading",
        "terminal-without-owner-category",
        "bad-owner-category",
        "bad-other-category",
        "non-terminal-with-category",
        "too-many-fields",
    ],
)
def test_it_reports_each_error_with_its_line_number(tmp_path, body, line, fragment):
    errors = rejection(write(tmp_path, HEADER + body))

    assert any(number == line and fragment in message for number, message in errors), errors


@pytest.mark.django_db
def test_line_numbers_count_comments_blank_lines_and_the_bom(tmp_path):
    text = "# komentarz\n\n" + HEADER + "0,Zarządzanie,,,\n\n01,,A,,\n"

    errors = rejection(write(tmp_path, text, bom=True))

    assert errors == [(6, "Klasa 01 nie ma hasła.")]


@pytest.mark.django_db
def test_a_multi_line_quoted_field_keeps_the_following_line_numbers_right(tmp_path):
    text = HEADER + '0,Zarządzanie,,,"uwagi\nw dwóch wierszach"\n01,Organizacja,X,,\n'

    errors = rejection(write(tmp_path, text))

    assert [line for line, _ in errors] == [4]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("content", "line", "fragment"),
    [
        (b"", 0, "Plik jest pusty"),
        (b"\xef\xbb\xbf\n\n", 0, "Plik jest pusty"),
        (HEADER.encode(), 0, "nie zawiera żadnej klasy"),
        (b"symbol,heading,category\n0,Zarz\xc4\x85dzanie,A\n", 1, "Nieprawidłowy nagłówek"),
        (b"symbol,heading,category_owner,category_other,symbol\n", 1, "powtórzone kolumny"),
        (HEADER.encode() + b"0,Zarz\xc4\x85dzanie,,,\n01,Z\xb3a,A,,\n", 3, "UTF-8"),
    ],
    ids=[
        "empty",
        "only-bom-and-blank-lines",
        "header-only",
        "bad-header",
        "repeated-column",
        "not-utf8",
    ],
)
def test_it_rejects_files_without_valid_content(tmp_path, content, line, fragment):
    path = tmp_path / "wykaz.csv"
    path.write_bytes(content)

    errors = rejection(path)

    assert any(number == line and fragment in message for number, message in errors), errors


@pytest.mark.django_db
def test_it_collects_every_error_in_one_pass(tmp_path):
    body = "0,Zarządzanie,,,\n01,,A,,\n0x,Zły,A,,\n02,Dobra,A,,\n02,Znowu,Q,,\n"

    errors = rejection(write(tmp_path, HEADER + body))

    assert [line for line, _ in errors] == [3, 4, 6, 6]


@pytest.mark.django_db
def test_a_rejected_file_leaves_the_database_unchanged(tmp_path):
    run_import(write(tmp_path, GOOD, name="good.csv"), version="1", activate=True)
    before = database_state()
    bad = GOOD + "0530,Podklasa petycji,A,Bc,\n"  # makes 053 non-terminal with categories

    errors = rejection(write(tmp_path, bad, name="bad.csv"))

    assert errors
    assert database_state() == before
    assert ClassificationScheme.objects.get().is_active


@pytest.mark.django_db
def test_a_duplicate_name_and_version_is_rejected_as_a_whole_file_error(tmp_path):
    path = write(tmp_path, GOOD)
    first = run_import(path)
    before = database_state()

    with pytest.raises(SchemeImportError) as caught:
        run_import(path)

    assert caught.value.errors[0][0] == 0
    assert "już istnieje" in caught.value.errors[0][1]
    assert "cały plik" in str(caught.value)
    assert database_state() == before
    assert first.classes.count() == 8


@pytest.mark.django_db
def test_the_error_reads_well(tmp_path):
    errors_text = ""
    try:
        run_import(write(tmp_path, HEADER + "0,Zarządzanie,,,\n01,,A,,\n"))
    except SchemeImportError as error:
        errors_text = str(error)

    assert errors_text.splitlines() == [
        "Plik JRWA odrzucony w całości (błędów: 1); nic nie zapisano.",
        "  wiersz 3: Klasa 01 nie ma hasła.",
    ]


# --- archival categories ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("A", ArchivalCategory("A")),
        (" a ", ArchivalCategory("A")),
        ("B5", ArchivalCategory("B", 5)),
        ("B10", ArchivalCategory("B", 10)),
        ("b50", ArchivalCategory("B", 50)),
        ("BE5", ArchivalCategory("BE", 5)),
        ("Be10", ArchivalCategory("BE", 10)),
        ("Bc", ArchivalCategory("Bc")),
        ("BC", ArchivalCategory("Bc")),
    ],
)
def test_it_parses_archival_categories(text, expected):
    assert parse_category(text) == expected


@pytest.mark.parametrize("text", ["", "B", "BE", "B0", "B05", "B-5", "C", "AB", "Bc5", "B1000"])
def test_it_rejects_invalid_categories_with_a_polish_message(text):
    with pytest.raises(ValueError, match="kategori"):
        parse_category(text)


def test_categories_print_in_canonical_form():
    assert [str(parse_category(t)) for t in ["a", "b5", "be10", "bc"]] == ["A", "B5", "BE10", "Bc"]


@pytest.mark.parametrize(
    ("old", "new", "lowering"),
    [
        ("A", "A", False),
        ("A", "BE50", True),
        ("A", "B50", True),
        ("A", "Bc", True),
        ("BE10", "A", False),
        ("BE10", "BE25", False),
        ("BE10", "BE5", True),
        ("BE10", "B10", True),
        ("B10", "BE10", False),
        ("B10", "B50", False),
        ("B10", "B5", True),
        ("B50", "BE5", True),
        ("B5", "Bc", True),
        ("Bc", "B5", False),
        ("Bc", "Bc", False),
    ],
)
def test_it_tells_whether_a_change_lowers_the_category(old, new, lowering):
    assert is_lowering(old, new) is lowering
    assert is_lowering(parse_category(old), parse_category(new)) is lowering


def test_is_lowering_rejects_an_invalid_category():
    with pytest.raises(ValueError):
        is_lowering("A", "X")


# --- the shipped example and the documented example --------------------------------------


@pytest.mark.django_db
def test_the_shipped_example_imports_cleanly_and_is_marked_as_an_example():
    scheme = import_scheme(
        file=EXAMPLE_FILE,
        name="JRWA przykładowy (nie urzędowy)",
        version="1",
        valid_from=DAY,
        is_example=True,
        activate=True,
    )

    classes = {c.symbol: c for c in scheme.classes.all()}
    assert scheme.is_example
    assert "PRZYKŁAD" in str(scheme)
    assert 60 <= len(classes) <= 120
    assert {s for s in classes if len(s) == 1} >= {"0", "1", "2", "3", "5", "6", "7"}
    assert max(len(s) for s in classes) == 4
    for symbol in [
        "0520",
        "0521",
        "0220",
        "053",
        "054",
        "070",
        "512",
        "5200",
        "6102",
        "620",
        "7000",
    ]:
        assert classes[symbol].is_terminal, symbol
        assert classes[symbol].category_owner, symbol
    assert EXAMPLE_FILE.read_text(encoding="utf-8").startswith("# PRZYKŁADOWY JRWA")


@pytest.mark.django_db
def test_the_example_in_the_format_documentation_imports(tmp_path):
    doc = (REPO / "docs" / "jrwa-format.md").read_text(encoding="utf-8")
    csv_text = doc.split("```csv\n", 1)[1].split("```", 1)[0]

    scheme = run_import(write(tmp_path, csv_text))

    assert scheme.classes.get(symbol="0521").category_other == "Bc"
    assert scheme.classes.get(symbol="6102").remarks == "Termin 7 dni, opłata 17 zł"


# --- the command -------------------------------------------------------------------------


def command(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("jrwa", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.mark.django_db
def test_the_command_imports_a_good_file_and_prints_a_summary(tmp_path):
    path = write(tmp_path, GOOD)

    out, _ = command(
        "import",
        str(path),
        "--name",
        "JRWA KWP",
        "--version",
        "2026",
        "--valid-from",
        "2026-01-01",
        "--activate",
    )

    scheme = ClassificationScheme.objects.get(name="JRWA KWP", version="2026")
    assert scheme.is_active
    assert not scheme.is_example
    assert scheme.valid_from == datetime.date(2026, 1, 1)
    assert "liczba klas 8, w tym końcowych 4" in out
    assert "wersja bieżąca" in out


@pytest.mark.django_db
def test_the_command_marks_an_example(tmp_path):
    command(
        "import",
        str(write(tmp_path, GOOD)),
        "--name",
        "Przykład",
        "--version",
        "1",
        "--valid-from",
        "2026-01-01",
        "--example",
    )

    assert ClassificationScheme.objects.get(name="Przykład").is_example


@pytest.mark.django_db
def test_the_command_prints_every_error_with_its_line_and_exits_with_status_1(tmp_path):
    path = write(tmp_path, HEADER + "0,Zarządzanie,,,\n01,,A,,\n0x,Zły,A,,\n")
    err = io.StringIO()

    with pytest.raises(CommandError) as caught:
        call_command(
            "jrwa",
            "import",
            str(path),
            "--name",
            "N",
            "--version",
            "1",
            "--valid-from",
            "2026-01-01",
            stderr=err,
        )

    assert caught.value.returncode == 1
    assert "błędów: 2" in str(caught.value)
    assert "wiersz 3: Klasa 01 nie ma hasła." in err.getvalue()
    assert "wiersz 4: Nieprawidłowy symbol klasy „0x”" in err.getvalue()
    assert not ClassificationScheme.objects.exists()


@pytest.mark.django_db
def test_the_command_rejects_a_missing_file(tmp_path):
    with pytest.raises(CommandError) as caught:
        command(
            "import",
            str(tmp_path / "brak.csv"),
            "--name",
            "N",
            "--version",
            "1",
            "--valid-from",
            "2026-01-01",
        )

    assert caught.value.returncode == 1


@pytest.mark.django_db
def test_the_command_lists_schemes(tmp_path):
    path = write(tmp_path, GOOD)
    run_import(path, name="JRWA KWP", version="2025", activate=True)
    run_import(path, name="JRWA przykładowy", version="1", is_example=True)

    out, _ = command("list")

    assert "JRWA KWP" in out and "2025" in out and "bieżący" in out
    assert "JRWA przykładowy" in out and "PRZYKŁAD" in out
    assert "8 (4)" in out


@pytest.mark.django_db
def test_the_command_says_when_there_are_no_schemes():
    out, _ = command("list")

    assert "Brak wykazów" in out
