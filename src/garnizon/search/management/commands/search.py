"""`garnizon search "QUERY" --as USERNAME [--json]` and
`garnizon search reindex [--batch N] [--workers N]`."""

from __future__ import annotations

import datetime
import json
import time

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from garnizon.common.errors import DomainError
from garnizon.org.models import Person, Unit
from garnizon.search.indexing import prune
from garnizon.search.models import ObjectType
from garnizon.search.rebuild import rebuild
from garnizon.search.services import Hit, SearchFilters, SearchResults, search

BAR_WIDTH = 30


class Command(BaseCommand):
    help = (
        'Wyszukiwanie: garnizon search "ZAPYTANIE" --as LOGIN [--json] '
        "albo garnizon search reindex [--batch N] [--workers N]."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("words", nargs="+", help='zapytanie albo "reindex"')
        parser.add_argument("--as", dest="username", help="czyimi oczami szukać (login)")
        parser.add_argument("--json", action="store_true", help="wynik jako JSON")
        parser.add_argument("--page", type=int, default=1)
        parser.add_argument("--type", dest="object_type", choices=ObjectType.values)
        parser.add_argument("--unit", help="symbol jednostki")
        parser.add_argument("--channel", default="")
        parser.add_argument("--state", default="")
        parser.add_argument("--kind", default="")
        parser.add_argument("--from", dest="date_from", type=datetime.date.fromisoformat)
        parser.add_argument("--to", dest="date_to", type=datetime.date.fromisoformat)
        parser.add_argument("--batch", type=int, default=1000, help="reindex: obiektów w partii")
        parser.add_argument(
            "--workers", type=int, default=1, help="reindex: procesów analizujących tekst"
        )
        parser.add_argument(
            "--no-prune", action="store_true", help="reindex: nie usuwaj osieroconych wpisów"
        )

    def handle(self, *args, **options) -> None:
        if options["words"] == ["reindex"] and not options["username"]:
            self._reindex(options)
            return
        if not options["username"]:
            raise CommandError(_("Podaj --as LOGIN: czyimi oczami szukać."))
        person = Person.objects.filter(username=options["username"]).first()
        if person is None:
            raise CommandError(_("Nie ma użytkownika %(u)s.") % {"u": options["username"]})
        filters = SearchFilters(
            object_type=options["object_type"] or "",
            channel=options["channel"],
            state=options["state"],
            kind=options["kind"],
            date_from=options["date_from"],
            date_to=options["date_to"],
        )
        if options["unit"]:
            unit = Unit.objects.filter(symbol=options["unit"]).first()
            if unit is None:
                raise CommandError(_("Nie ma jednostki %(u)s.") % {"u": options["unit"]})
            filters.unit_id = unit.pk
        try:
            results = search(person, " ".join(options["words"]), filters, options["page"])
        except DomainError as error:
            raise CommandError(str(error.message)) from error
        if options["json"]:
            self.stdout.write(json.dumps(_as_json(results), ensure_ascii=False, indent=2))
            return
        for hit in results.exact:
            self.stdout.write(f"= {hit.type_label}: {hit.reference} {hit.title} ({hit.url})")
        count = f"{results.total}+" if results.total_is_estimate else str(results.total)
        self.stdout.write(_("Wyników: %(n)s") % {"n": count})
        if results.fallback:
            self.stdout.write(_("(bez rozróżniania polskich znaków)"))
        for index, hit in enumerate(results.hits, start=(results.page - 1) * results.page_size + 1):
            self.stdout.write(f"{index:>3}. {hit.type_label}: {hit.reference} {hit.title}")
            fragment = _plain(hit.fragment)
            if fragment:
                self.stdout.write(f"     {fragment}")

    def _reindex(self, options) -> None:
        """A new index built beside the one in use and swapped in (search.rebuild)."""
        batch = max(1, options["batch"])
        workers = max(1, options["workers"])
        started = time.monotonic()
        labels = {t.value: str(t.label) for t in ObjectType}
        current: list[str] = []

        def progress(object_type: str, done: int, total: int) -> None:
            if current and current[-1] != object_type:
                self.stderr.write("")
            if not current or current[-1] != object_type:
                current.append(object_type)
            self._progress(done, total, labels[object_type])

        try:
            written = rebuild(workers=workers, batch=batch, progress=progress)
        except DomainError as error:
            if current:
                self.stderr.write("")
            raise CommandError(str(error.message)) from error
        self.stderr.write("")
        if not options["no_prune"]:
            for object_type in ObjectType:
                prune(object_type)
        elapsed = time.monotonic() - started
        self.stdout.write(
            _("Zaindeksowano %(n)s obiektów w %(s).1f s (%(r).0f/s).")
            % {"n": written, "s": elapsed, "r": written / elapsed if elapsed else 0}
        )

    def _progress(self, done: int, total: int, name: str) -> None:
        filled = BAR_WIDTH * done // total if total else BAR_WIDTH
        bar = "#" * filled + "-" * (BAR_WIDTH - filled)
        self.stderr.write(f"\r[{bar}] {done}/{total} {name[:30]:<30}", ending="")
        self.stderr.flush()


def _plain(fragment: str) -> str:
    import html

    return html.unescape(fragment.replace("<mark>", "[").replace("</mark>", "]"))


def _as_json(results: SearchResults) -> dict:
    def hit(h: Hit) -> dict:
        return {
            "type": h.object_type,
            "id": h.object_id,
            "reference": h.reference,
            "title": h.title,
            "url": h.url,
            "date": h.date.isoformat() if h.date else None,
            "fragment": _plain(h.fragment),
        }

    return {
        "query": results.query,
        "total": results.total,
        "total_is_estimate": results.total_is_estimate,
        "ranked_newest": results.ranked_newest,
        "fallback": results.fallback,
        "page": results.page,
        "exact": [hit(h) for h in results.exact],
        "results": [hit(h) for h in results.hits],
        "facets": {
            name: [{"value": v.value, "label": v.label, "count": v.count} for v in values]
            for name, values in results.facets.items()
        },
    }
