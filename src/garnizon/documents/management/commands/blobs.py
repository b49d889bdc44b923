"""`garnizon blobs verify`: every document version's file is present and whole."""

from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from garnizon.documents.blobstore import get_blob_store
from garnizon.documents.models import DocumentVersion


class Command(BaseCommand):
    help = "Magazyn plików: sprawdzenie skrótów SHA-256 i plików osieroconych."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="{verify}")
        actions.add_parser(
            "verify",
            help=(
                "Sprawdza, czy plik każdej wersji dokumentu istnieje i ma właściwy skrót, "
                "oraz wypisuje pliki osierocone; kończy się kodem 1 przy każdym problemie."
            ),
        )

    def handle(self, *args: Any, **options: Any) -> None:
        store = get_blob_store()
        referenced = set(
            DocumentVersion.objects.values_list("blob_sha256", flat=True).distinct().iterator()
        )
        missing = corrupted = 0
        for sha256 in sorted(referenced):
            problem = store.check(sha256)
            if problem is None:
                continue
            versions = ", ".join(
                str(v) for v in DocumentVersion.objects.filter(blob_sha256=sha256)[:5]
            )
            if problem == "missing":
                missing += 1
                self.stderr.write(f"BRAK PLIKU {sha256} (wersje: {versions})")
            else:
                corrupted += 1
                self.stderr.write(f"USZKODZONY {sha256} (wersje: {versions})")
        # Thumbnails are derived (they can be made again), so only kept off the orphan list.
        thumbnails = set(DocumentVersion.objects.values_list("thumbnail_sha256", flat=True))
        orphans = 0
        for sha256 in store.iter_blobs():
            if sha256 not in referenced and sha256 not in thumbnails:
                orphans += 1
                self.stdout.write(f"osierocony {store.path(sha256)}")
        self.stdout.write(
            f"Sprawdzono plików: {len(referenced)}; brakujących: {missing}; "
            f"uszkodzonych: {corrupted}; osieroconych: {orphans}."
        )
        if missing or corrupted or orphans:
            self.stderr.write("Magazyn plików wymaga uwagi.")
            sys.exit(1)
        self.stdout.write("Magazyn plików jest spójny.")
