"""Stop an oversized upload while it streams in, not after the whole body arrived."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler, StopUpload


class MaxSizeUploadHandler(FileUploadHandler):
    """Counts each file's bytes as they arrive; past `GARNIZON_MAX_UPLOAD_MB` (plus a
    margin for several files in one form) the upload is cut off, so a multi-gigabyte
    body neither fills the temporary disk nor ties up a worker for long.

    The form then finds no file, and the page says the file was too large.
    """

    def __init__(self, request: Any = None) -> None:
        super().__init__(request)
        self.limit = int(settings.GARNIZON_MAX_UPLOAD_MB) * 1024 * 1024
        self.received = 0

    def new_file(self, *args: Any, **kwargs: Any) -> None:
        super().new_file(*args, **kwargs)
        self.received = 0

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        self.received += len(raw_data)
        if self.received > self.limit:
            if self.request is not None:
                self.request.garnizon_upload_too_large = True
            raise StopUpload(connection_reset=False)
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None
