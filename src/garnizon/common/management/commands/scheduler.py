"""`garnizon scheduler [--once]`: periodic jobs (`garnizon.common.scheduler`)."""

from __future__ import annotations

import signal
from types import FrameType

from django.core.management.base import BaseCommand, CommandParser
from django.utils.translation import gettext as _

from garnizon.common.scheduler import JOBS, default_owner, run_forever, run_pending


class Command(BaseCommand):
    help = "Zadania okresowe: ponowienie utkniętych plików, gorące foldery, poczta."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--once", action="store_true", help="wykonaj zadania, których czas nadszedł, i zakończ"
        )

    def handle(self, *args: object, once: bool = False, **options: object) -> None:
        owner = default_owner()
        if once:
            results = run_pending(JOBS, owner=owner)
            for result in results:
                self.stdout.write(
                    _("%(job)s: %(outcome)s (%(seconds).1f s) %(message)s")
                    % {
                        "job": result.job,
                        "outcome": result.outcome,
                        "seconds": result.seconds,
                        "message": result.message,
                    }
                )
            if not results:
                self.stdout.write(_("Żadne zadanie nie czekało na wykonanie."))
            return
        stopping: list[int] = []

        def stop(signum: int, frame: FrameType | None) -> None:
            stopping.append(signum)

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        self.stdout.write(_("Harmonogram %(owner)s uruchomiony.") % {"owner": owner})
        # The loop sleeps at most MAX_SLEEP seconds, so a stop takes effect within that.
        run_forever(JOBS, owner=owner, stop=lambda: bool(stopping))
