"""`garnizon visits_demo`: sample appointment kinds with weekly hours and slots, for a demo.

Gives every active unit the commander's complaint reception hours (Monday
15:00-17:00, one person per 20 minutes, KPA art. 253) and certificate pick-up
(Tuesday and Thursday 9:00-12:00, 15 minutes), then generates their slots.
Running it again adds nothing.
"""

from __future__ import annotations

import datetime

from django.core.management.base import BaseCommand

from garnizon.org.models import Unit
from garnizon.portal.visits.models import AppointmentKind, OpeningRule
from garnizon.portal.visits.services import slots_generate

DEMO = [
    (
        "Przyjęcia w sprawie skarg i wniosków – Komendant",
        20,
        "sekretariat Komendanta, I piętro",
        [(0, datetime.time(15), datetime.time(17))],
    ),
    (
        "Odbiór zaświadczenia",
        15,
        "kancelaria, parter",
        [(1, datetime.time(9), datetime.time(12)), (3, datetime.time(9), datetime.time(12))],
    ),
]


class Command(BaseCommand):
    help = "Create sample visit kinds, weekly hours and slots in every active unit."

    def handle(self, *args: object, **options: object) -> None:
        created = 0
        for unit in Unit.objects.filter(is_active=True):
            for name, minutes, place, rules in DEMO:
                kind, new = AppointmentKind.objects.get_or_create(
                    unit=unit,
                    name=name,
                    defaults={
                        "duration_minutes": minutes,
                        "place": f"{unit.seat or unit.name}, {place}",
                    },
                )
                if new:
                    for weekday, starts, ends in rules:
                        OpeningRule.objects.create(
                            kind=kind, weekday=weekday, starts=starts, ends=ends
                        )
                created += slots_generate(kind=kind)["created"]
        self.stdout.write(f"visits: {created} new slots")
