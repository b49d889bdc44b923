"""Importing a JRWA scheme version from a CSV file (the format is in docs/jrwa-format.md).

The file is checked as a whole before anything is written: every problem is
collected with its line number, and one bad line rejects the whole file, so a
half-imported filing plan never exists.
"""

from __future__ import annotations

import csv
import datetime
import hashlib
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from garnizon.audit.services import audit_record
from garnizon.common.errors import DomainError
from garnizon.jrwa.categories import BC, parse_category
from garnizon.jrwa.models import Classification, ClassificationScheme

REQUIRED_COLUMNS = ("symbol", "heading", "category_owner", "category_other")
OPTIONAL_COLUMNS = ("remarks",)
FILE_LEVEL = 0  # the "line" of a problem that concerns the whole file

_SYMBOL = re.compile(r"^[0-9]{1,4}$")
_HEADING_MAX = Classification._meta.get_field("heading").max_length or 500

ImportSource = str | Path | IO[str] | IO[bytes]


class SchemeImportError(DomainError):
    """The file was rejected; `errors` lists (line number, message), line 0 = whole file."""

    def __init__(self, errors: Iterable[tuple[int, str]]):
        self.errors: list[tuple[int, str]] = sorted(errors, key=lambda error: error[0])
        super().__init__(self._render(), code="jrwa_import")

    def _render(self) -> str:
        lines = [
            _("Plik JRWA odrzucony w całości (błędów: %(count)d); nic nie zapisano.")
            % {"count": len(self.errors)}
        ]
        for line, message in self.errors:
            where = _("cały plik") if line == FILE_LEVEL else _("wiersz %(line)d") % {"line": line}
            lines.append(f"  {where}: {message}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self._render()


@dataclass
class ClassRow:
    """One checked line of the file."""

    line: int
    symbol: str
    heading: str
    category_owner: str
    category_other: str
    remarks: str
    is_terminal: bool = False


def import_scheme(
    *,
    file: ImportSource,
    name: str,
    version: str,
    valid_from: datetime.date,
    is_example: bool,
    actor: Any | None = None,
    activate: bool = False,
) -> ClassificationScheme:
    """Create a scheme version with all its classes from `file` (a path or a stream).

    Raises SchemeImportError (nothing written) when the file breaks any rule or
    the name and version already exist. With `activate`, the new version becomes
    the current one and other versions of the same name stop being current.
    """
    name, version = name.strip(), version.strip()
    raw, source_name = _read_bytes(file)
    rows, errors = parse_scheme(raw)
    errors.extend(_check_identity(name, version))
    if errors:
        raise SchemeImportError(errors)
    try:
        with transaction.atomic():
            return _write_scheme(
                rows=rows,
                name=name,
                version=version,
                valid_from=valid_from,
                is_example=is_example,
                actor=actor,
                activate=activate,
                source_name=source_name,
                source_sha256=hashlib.sha256(raw).hexdigest(),
            )
    except IntegrityError as error:
        # Another import of the same name and version committed first.
        if ClassificationScheme.objects.filter(name=name, version=version).exists():
            raise SchemeImportError([(FILE_LEVEL, _duplicate_message(name, version))]) from error
        raise


def parse_scheme(raw: bytes) -> tuple[list[ClassRow], list[tuple[int, str]]]:
    """Check the file's content; return its classes in symbol order and every problem found."""
    errors: list[tuple[int, str]] = []
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        return [], [(line, _("Plik nie jest zapisany w kodowaniu UTF-8."))]

    records = list(_records(text))
    if not records:
        return [], [(FILE_LEVEL, _("Plik jest pusty."))]
    header_line, header = records[0]
    columns = _check_header(header_line, header, errors)
    if columns is None:
        return [], errors

    rows = [
        row
        for line, fields in records[1:]
        if (row := _read_row(line, fields, columns, errors)) is not None
    ]
    if not rows and not errors:
        errors.append((FILE_LEVEL, _("Plik nie zawiera żadnej klasy (jest tylko nagłówek).")))
    _check_structure(rows, errors)
    return sorted(rows, key=lambda row: row.symbol), errors


def activate_scheme(scheme: ClassificationScheme) -> list[int]:
    """Make `scheme` the current version of its name; return the ids that stopped being current."""
    others = ClassificationScheme.objects.filter(name=scheme.name, is_active=True).exclude(
        pk=scheme.pk
    )
    deactivated = list(others.values_list("pk", flat=True))
    others.update(is_active=False)
    if not scheme.is_active:
        scheme.is_active = True
        scheme.save(update_fields=["is_active"])
    return deactivated


# --- helpers -------------------------------------------------------------------------


def _read_bytes(file: ImportSource) -> tuple[bytes, str]:
    if isinstance(file, str | Path):
        path = Path(file)
        return path.read_bytes(), path.name
    content = file.read()
    raw = content.encode("utf-8") if isinstance(content, str) else content
    return raw, Path(str(getattr(file, "name", "") or "")).name


def _records(text: str) -> Iterable[tuple[int, list[str]]]:
    """(first line number, fields) of every record that is not blank or a # comment."""
    delimiter = _detect_delimiter(text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    while True:
        line = reader.line_num + 1
        try:
            fields = next(reader)
        except StopIteration:
            return
        if not any(field.strip() for field in fields) or fields[0].lstrip().startswith("#"):
            continue
        yield line, fields


def _detect_delimiter(text: str) -> str:
    """`;` or `,`, whichever the header (the first real line) uses more."""
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            return ";" if stripped.count(";") > stripped.count(",") else ","
    return ","


def _check_header(
    line: int, header: list[str], errors: list[tuple[int, str]]
) -> dict[str, int] | None:
    names = [column.strip().lower() for column in header]
    known = REQUIRED_COLUMNS + OPTIONAL_COLUMNS
    problems: list[str] = []
    unknown = [column for column in names if column not in known]
    if unknown:
        problems.append(_("nieznane kolumny: %(columns)s") % {"columns": ", ".join(unknown)})
    repeated = sorted({column for column in names if names.count(column) > 1})
    if repeated:
        problems.append(_("powtórzone kolumny: %(columns)s") % {"columns": ", ".join(repeated)})
    missing = [column for column in REQUIRED_COLUMNS if column not in names]
    if missing:
        problems.append(_("brak kolumn: %(columns)s") % {"columns": ", ".join(missing)})
    if problems:
        errors.append(
            (
                line,
                _("Nieprawidłowy nagłówek (%(problems)s). Oczekiwany nagłówek: %(expected)s.")
                % {"problems": "; ".join(problems), "expected": ",".join(known)},
            )
        )
        return None
    return {column: index for index, column in enumerate(names)}


def _read_row(
    line: int, fields: list[str], columns: dict[str, int], errors: list[tuple[int, str]]
) -> ClassRow | None:
    if len(fields) > len(columns):
        errors.append(
            (
                line,
                _("Za dużo pól: %(found)d zamiast %(expected)d (sprawdź separator i cudzysłowy).")
                % {"found": len(fields), "expected": len(columns)},
            )
        )
        return None

    def value(column: str) -> str:
        index = columns.get(column)
        return fields[index].strip() if index is not None and index < len(fields) else ""

    symbol = value("symbol")
    if not _SYMBOL.match(symbol):
        errors.append(
            (
                line,
                _("Nieprawidłowy symbol klasy „%(symbol)s”: wymagane od 1 do 4 cyfr.")
                % {"symbol": symbol},
            )
        )
        return None
    heading = value("heading")
    if not heading:
        errors.append((line, _("Klasa %(symbol)s nie ma hasła.") % {"symbol": symbol}))
    elif len(heading) > _HEADING_MAX:
        errors.append(
            (
                line,
                _("Hasło klasy %(symbol)s jest za długie (najwyżej %(max)d znaków).")
                % {"symbol": symbol, "max": _HEADING_MAX},
            )
        )
    return ClassRow(
        line=line,
        symbol=symbol,
        heading=heading,
        category_owner=value("category_owner"),
        category_other=value("category_other"),
        remarks=value("remarks"),
    )


def _check_structure(rows: list[ClassRow], errors: list[tuple[int, str]]) -> None:
    """Uniqueness, parents, terminal classes and their categories."""
    first_line: dict[str, int] = {}
    for row in rows:
        if row.symbol in first_line:
            errors.append(
                (
                    row.line,
                    _("Symbol %(symbol)s powtarza się (pierwszy raz w wierszu %(first)d).")
                    % {"symbol": row.symbol, "first": first_line[row.symbol]},
                )
            )
        else:
            first_line[row.symbol] = row.line
    parents = {row.symbol[:-1] for row in rows if len(row.symbol) > 1}
    for row in rows:
        parent = row.symbol[:-1]
        if parent and parent not in first_line:
            errors.append(
                (
                    row.line,
                    _("Klasa %(symbol)s nie ma w pliku klasy nadrzędnej %(parent)s.")
                    % {"symbol": row.symbol, "parent": parent},
                )
            )
        row.is_terminal = row.symbol not in parents
        if row.is_terminal:
            _check_terminal_categories(row, errors)
        elif row.category_owner or row.category_other:
            errors.append(
                (
                    row.line,
                    _(
                        "Klasa %(symbol)s ma podklasy, więc nie jest końcowa i nie może mieć "
                        "kategorii archiwalnej (kategorie podaje się tylko w klasach końcowych)."
                    )
                    % {"symbol": row.symbol},
                )
            )


def _check_terminal_categories(row: ClassRow, errors: list[tuple[int, str]]) -> None:
    if not row.category_owner:
        errors.append(
            (
                row.line,
                _(
                    "Klasa końcowa %(symbol)s wymaga kategorii archiwalnej dla komórki "
                    "merytorycznej (category_owner)."
                )
                % {"symbol": row.symbol},
            )
        )
    else:
        try:
            row.category_owner = str(parse_category(row.category_owner))
        except ValueError as error:
            errors.append((row.line, _column_message(row.symbol, "category_owner", error)))
    if not row.category_other:
        row.category_other = str(BC)
        return
    try:
        row.category_other = str(parse_category(row.category_other))
    except ValueError as error:
        errors.append((row.line, _column_message(row.symbol, "category_other", error)))


def _column_message(symbol: str, column: str, error: ValueError) -> str:
    return _("Klasa %(symbol)s, kolumna %(column)s: %(problem)s") % {
        "symbol": symbol,
        "column": column,
        "problem": error,
    }


def _check_identity(name: str, version: str) -> list[tuple[int, str]]:
    errors: list[tuple[int, str]] = []
    if not name:
        errors.append((FILE_LEVEL, _("Podaj nazwę wykazu.")))
    if not version:
        errors.append((FILE_LEVEL, _("Podaj wersję wykazu.")))
    exists = ClassificationScheme.objects.filter(name=name, version=version).exists
    if name and version and exists():
        errors.append((FILE_LEVEL, _duplicate_message(name, version)))
    return errors


def _duplicate_message(name: str, version: str) -> str:
    return _(
        "Wykaz „%(name)s” w wersji „%(version)s” już istnieje; nadaj nowemu plikowi inną wersję."
    ) % {"name": name, "version": version}


def _write_scheme(
    *,
    rows: list[ClassRow],
    name: str,
    version: str,
    valid_from: datetime.date,
    is_example: bool,
    actor: Any | None,
    activate: bool,
    source_name: str,
    source_sha256: str,
) -> ClassificationScheme:
    scheme = ClassificationScheme.objects.create(
        name=name,
        version=version,
        valid_from=valid_from,
        is_example=is_example,
        source_name=source_name[:255],
        source_sha256=source_sha256,
        imported_by=actor if getattr(actor, "pk", None) else None,
    )
    # Symbol order puts every parent before its children; parents are linked
    # by a second statement once the ids are known.
    classes = Classification.objects.bulk_create(
        Classification(
            scheme=scheme,
            symbol=row.symbol,
            heading=row.heading,
            is_terminal=row.is_terminal,
            category_owner=row.category_owner if row.is_terminal else "",
            category_other=row.category_other if row.is_terminal else "",
            remarks=row.remarks,
        )
        for row in rows
    )
    by_symbol = {item.symbol: item for item in classes}
    children = [item for item in classes if len(item.symbol) > 1]
    for item in children:
        item.parent = by_symbol[item.symbol[:-1]]
    Classification.objects.bulk_update(children, ["parent"], batch_size=500)
    deactivated = activate_scheme(scheme) if activate else []
    audit_record(
        actor=actor,
        action="import",
        obj=scheme,
        details={
            "name": name,
            "version": version,
            "valid_from": valid_from.isoformat(),
            "is_example": is_example,
            "classes": len(rows),
            "terminal_classes": sum(1 for row in rows if row.is_terminal),
            "source_name": source_name,
            "source_sha256": source_sha256,
            "activated": activate,
            "deactivated_scheme_ids": deactivated,
        },
    )
    return scheme
