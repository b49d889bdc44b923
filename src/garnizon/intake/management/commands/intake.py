"""`garnizon intake add|scan|mail|status|retry|separator`: files into the intake pipeline."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from garnizon.common.errors import DomainError
from garnizon.intake.barcodes import separator_sheet_pdf
from garnizon.intake.channels.hotfolder import scan_hot_folder
from garnizon.intake.channels.imap import PollResult, configured_mailboxes, poll_mailbox
from garnizon.intake.models import IntakeItem, IntakeMode, IntakeState
from garnizon.intake.services import intake_add_file, intake_retry
from garnizon.org.models import Person, Unit
from garnizon.registry.models import Channel

BAR_WIDTH = 30


class Command(BaseCommand):
    help = "Przyjmowanie plików: add, scan, mail, status, retry."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        add = sub.add_parser("add", help="pliki lub foldery (rekurencyjnie) do przyjęcia")
        add.add_argument("paths", nargs="+")
        scan = sub.add_parser("scan", help="jedno przejrzenie gorącego folderu")
        scan.add_argument("folder")
        scan.add_argument(
            "--settle", type=float, default=2.0, help="sekundy między dwoma spojrzeniami"
        )
        for p in (add, scan):
            p.add_argument("--unit", required=True, help="symbol jednostki")
            p.add_argument("--as", dest="username", required=True, help="kto przyjmuje (login)")
            p.add_argument("--channel", default=Channel.PAPER, choices=Channel.values)
            p.add_argument("--sync", action="store_true", help="przetwórz od razu, bez kolejki")
            p.add_argument(
                "--mode",
                default=IntakeMode.REGISTER,
                choices=IntakeMode.values,
                help="register: nowe pisma; match: skany do pism z etykietami",
            )
        separator = sub.add_parser("separator", help="kartka rozdzielająca (PDF) do wydruku")
        separator.add_argument("--out", required=True, help="plik PDF do zapisania")
        mail = sub.add_parser("mail", help="jedno sprawdzenie skrzynek IMAP jednostek")
        mail.add_argument("--mailbox", help="tylko ta skrzynka (nazwa z ustawień)")
        mail.add_argument("--sync", action="store_true", help="przetwórz od razu, bez kolejki")
        status = sub.add_parser("status", help="pliki w przyjęciu według stanu")
        status.add_argument("--state", choices=IntakeState.values)
        retry = sub.add_parser("retry", help="ponów przyjęcie, które się nie powiodło")
        retry.add_argument("item_id", type=int)
        retry.add_argument("--sync", action="store_true")

    def handle(self, *args, **options) -> None:
        action = options["action"]
        try:
            if action == "add":
                self._add(options)
            elif action == "scan":
                self._scan(options)
            elif action == "mail":
                self._mail(options)
            elif action == "separator":
                Path(options["out"]).write_bytes(separator_sheet_pdf())
                self.stdout.write(
                    _("Zapisano kartkę rozdzielającą: %(path)s") % {"path": options["out"]}
                )
            elif action == "status":
                self._status(options.get("state"))
            else:
                item = intake_retry(item_id=options["item_id"], run_now=options["sync"])
                self.stdout.write(f"#{item.pk}: {item.get_state_display()} {item.error_message}")
        except DomainError as error:
            raise CommandError(str(error.message)) from error

    # --- add ---------------------------------------------------------------------------------
    def _add(self, options) -> None:
        unit, person = _unit_and_person(options)
        files = list(_expand(options["paths"]))
        if not files:
            raise CommandError(_("Nie znaleziono żadnych plików."))
        results: list[tuple[str, IntakeItem | None, bool, str]] = []
        for index, path in enumerate(files, start=1):
            self._progress(index, len(files), path.name)
            try:
                result = intake_add_file(
                    path=path,
                    unit=unit,
                    channel=options["channel"],
                    requested_by=person,
                    run_now=options["sync"],
                    mode=options["mode"],
                )
                results.append((path.name, result.item, result.created, ""))
            except DomainError as error:
                results.append((path.name, None, True, str(error.message)))
        self.stderr.write("")
        self._summary(results)

    def _progress(self, done: int, total: int, name: str) -> None:
        filled = BAR_WIDTH * done // total
        bar = "#" * filled + "-" * (BAR_WIDTH - filled)
        self.stderr.write(f"\r[{bar}] {done}/{total} {name[:40]:<40}", ending="")
        self.stderr.flush()

    def _summary(self, results: list[tuple[str, IntakeItem | None, bool, str]]) -> None:
        counts: Counter[str] = Counter()
        failures: list[tuple[str, str]] = []
        waiting: list[tuple[str, str]] = []
        for name, item, created, error in results:
            if item is None:
                counts["failed"] += 1
                failures.append((name, error))
            elif not created:
                counts["duplicate"] += 1
            else:
                _tally(name, item, counts, failures, waiting)
        self.stdout.write(_("Zarejestrowano: %(n)s") % {"n": counts["done"]})
        if counts["split"]:
            self.stdout.write(
                _("Podzielono na części (kartki rozdzielające): %(n)s") % {"n": counts["split"]}
            )
        if counts["waiting"]:
            self.stdout.write(
                _("Czeka na przypisanie przez kancelarię: %(n)s") % {"n": counts["waiting"]}
            )
            for name, reason in waiting:
                self.stdout.write(f"  {name}: {reason}")
        if counts["queued"]:
            self.stdout.write(_("W kolejce: %(n)s (garnizon db_worker)") % {"n": counts["queued"]})
        if counts["duplicate"]:
            self.stdout.write(
                _("Pominięto (już przyjęte wcześniej): %(n)s") % {"n": counts["duplicate"]}
            )
        self.stdout.write(_("Niepowodzenia: %(n)s") % {"n": counts["failed"]})
        for name, reason in failures:
            self.stdout.write(f"  {name}: {reason}")
        if failures:
            raise CommandError(_("Nie wszystkie pliki przyjęto."), returncode=1)

    # --- scan --------------------------------------------------------------------------------
    def _scan(self, options) -> None:
        unit, person = _unit_and_person(options)
        folder = Path(options["folder"])
        if not folder.is_dir():
            raise CommandError(f"Nie ma folderu {folder}.")
        report = scan_hot_folder(
            folder,
            unit=unit,
            requested_by=person,
            channel=options["channel"],
            mode=options["mode"],
            run_now=options["sync"],
            settle_seconds=options["settle"],
        )
        if report.unstable:
            self.stdout.write(
                _("Jeszcze zapisywane (następnym razem): %(n)s") % {"n": len(report.unstable)}
            )
        results = [(i.original_filename, i, True, "") for i in report.taken]
        results += [(name, None, True, reason) for name, reason in report.refused]
        self._summary(results)

    # --- mail --------------------------------------------------------------------------------
    def _mail(self, options) -> None:
        mailboxes = configured_mailboxes()
        if options.get("mailbox"):
            mailboxes = [m for m in mailboxes if m.name == options["mailbox"]]
            if not mailboxes:
                raise CommandError(
                    _("Nie ma skrzynki „%(name)s” w GARNIZON_IMAP_MAILBOXES.")
                    % {"name": options["mailbox"]}
                )
        if not mailboxes:
            raise CommandError(_("Nie skonfigurowano żadnej skrzynki (GARNIZON_IMAP_MAILBOXES)."))
        results: list[tuple[str, IntakeItem | None, bool, str]] = []
        broken = []
        for config in mailboxes:
            polled = poll_mailbox(
                config,
                run_now=options["sync"],
                progress=lambda done, total, name=config.name: self._progress(done, total, name),
            )
            self.stderr.write("")
            self._mail_report(polled)
            results += [(i.original_filename, i, True, "") for i in polled.taken]
            results += [(i.original_filename, i, True, "") for i in polled.refused]
            results += [
                (_("wiadomość UID %(uid)s") % {"uid": uid}, None, True, reason)
                for uid, reason in polled.failures
            ]
            if polled.error:
                broken.append(polled)
        self._summary(results)  # raises (exit status 1) when a message failed
        if broken:
            raise CommandError(_("Nie wszystkie skrzynki udało się sprawdzić."), returncode=1)

    def _mail_report(self, polled: PollResult) -> None:
        line = _("%(name)s: wiadomości przyjęte: %(taken)s") % {
            "name": polled.mailbox,
            "taken": len(polled.taken),
        }
        if polled.busy:
            line = _("%(name)s: sprawdzana właśnie przez inny proces; pominięto.") % {
                "name": polled.mailbox
            }
        else:
            if polled.refused:
                line += "; " + _("odrzucone (za duże, w kwarantannie): %(n)s") % {
                    "n": len(polled.refused)
                }
            if polled.moved_only:
                line += "; " + _("przeniesione (przyjęte wcześniej): %(n)s") % {
                    "n": polled.moved_only
                }
        self.stdout.write(line)
        if polled.error:
            self.stdout.write(f"  {polled.error}")

    # --- status ------------------------------------------------------------------------------
    def _status(self, state: str | None) -> None:
        items = IntakeItem.objects.select_related("unit", "incoming_item").order_by("state", "id")
        if state:
            items = items.filter(state=state)
        count = 0
        for item in items:
            count += 1
            number = item.incoming_item.registration_number if item.incoming_item else "-"
            line = (
                f"#{item.pk}\t{item.get_state_display()}\t{item.unit.symbol}\t{item.channel}\t"
                f"{item.original_filename}\t{number}"
            )
            if item.error_message:
                line += f"\t{item.error_message}"
            self.stdout.write(line)
        self.stdout.write(_("Razem: %(n)s") % {"n": count})


def _unit_and_person(options) -> tuple[Unit, Person]:
    unit = Unit.objects.filter(symbol=options["unit"]).first()
    if unit is None:
        raise CommandError(f"Nie ma jednostki {options['unit']}.")
    person = Person.objects.filter(username=options["username"], is_active=True).first()
    if person is None:
        raise CommandError(f"Nie ma aktywnego użytkownika {options['username']}.")
    return unit, person


def _expand(paths: list[str]):
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for root, dirs, names in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(names):
                    if not name.startswith("."):
                        yield Path(root) / name
        elif path.is_file():
            yield path
        else:
            raise CommandError(f"Nie ma pliku ani folderu {raw}.")


def _tally(
    name: str,
    item: IntakeItem,
    counts: Counter[str],
    failures: list[tuple[str, str]],
    waiting: list[tuple[str, str]],
) -> None:
    """Count one item's outcome; a batch split at separator sheets counts by its parts,
    and a message's or a part's failed attachments are failures of their own."""
    if item.state == IntakeState.DONE:
        children = list(item.children.order_by("pk"))
        if item.incoming_item_id is None and children:
            counts["split"] += 1
        else:
            counts["done"] += 1
        for child in children:
            label = f"{name} → #{child.pk} {child.original_filename}"
            if item.incoming_item_id is None:
                _tally(label, child, counts, failures, waiting)
            elif child.state in (IntakeState.FAILED, IntakeState.QUARANTINED):
                failures.append((label, f"{child.get_state_display()}: {child.error_message}"))
    elif item.state == IntakeState.AWAITING_MATCH:
        counts["waiting"] += 1
        waiting.append((name, f"#{item.pk}: {item.error_message}"))
    elif item.state in (IntakeState.FAILED, IntakeState.QUARANTINED):
        counts["failed"] += 1
        failures.append((name, f"#{item.pk} {item.get_state_display()}: {item.error_message}"))
    else:
        counts["queued"] += 1
