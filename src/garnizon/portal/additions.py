"""The limits on documents a citizen adds to a filing (`identity.submission_addition_add`).

Defined here once: the service enforces them, the account page's view checks
them early (before storing the files) and shows them in its hint text.

- types and size of each file: the filing's own service (its `Flow`), else the
  portal's (`conf.ALLOWED_TYPES`, `GARNIZON_MAX_UPLOAD_MB`);
- files in one sending: `GARNIZON_PORTAL_MAX_ATTACHMENTS` (as when filing);
- files added to one filing in all: twice that.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext as _

from garnizon.common.errors import DomainError
from garnizon.portal import conf
from garnizon.portal.models import Submission


@dataclass(frozen=True)
class AdditionLimits:
    types: dict[str, str]  # MIME type -> name shown
    strip_metadata: bool  # the service's photos are stored without metadata
    max_bytes: int  # each file
    per_sending: int  # files in one sending
    per_submission: int  # files added to the filing in all
    added: int  # files added so far

    @property
    def left(self) -> int:
        return max(self.per_submission - self.added, 0)

    @property
    def max_mb(self) -> int:
        return self.max_bytes // (1024 * 1024)

    def hint(self) -> str:
        """The file field's hint: what may be sent, as the service checks it."""
        return _(
            "%(types)s; każdy plik do %(mb)s MB; najwyżej %(count)s plików naraz "
            "i %(total)s do jednego zgłoszenia (pozostało: %(left)s)."
        ) % {
            "types": ", ".join(dict.fromkeys(self.types.values())),
            "mb": self.max_mb,
            "count": self.per_sending,
            "total": self.per_submission,
            "left": self.left,
        }

    def check_count(self, count: int) -> None:
        """Refuse `count` more files: none, too many at once, or past the filing's total."""
        if count < 1:
            raise DomainError(_("Wybierz co najmniej jeden plik."), field="files")
        if count > self.per_sending:
            raise DomainError(
                _("Możesz dodać najwyżej %(n)s plików.") % {"n": self.per_sending}, field="files"
            )
        if self.added + count > self.per_submission:
            raise DomainError(
                _("Do jednego zgłoszenia możesz dosłać najwyżej %(n)s plików.")
                % {"n": self.per_submission},
                field="files",
            )

    def check_file(self, attachment: dict[str, Any]) -> None:
        """Refuse a stored file (`portal_attachment_store`) of another type or too large."""
        if attachment["size"] > self.max_bytes:
            raise DomainError(
                _("Plik %(name)s jest za duży. Plik może mieć najwyżej %(mb)s MB.")
                % {"name": attachment["name"], "mb": self.max_mb},
                field="files",
            )
        if attachment["mime"] not in self.types:
            raise DomainError(
                _("Plik %(name)s ma niedozwolony rodzaj. Dodaj plik: %(types)s.")
                % {
                    "name": attachment["name"],
                    "types": ", ".join(dict.fromkeys(self.types.values())),
                },
                field="files",
            )


def addition_limits(submission: Submission) -> AdditionLimits:
    """The limits for adding files to `submission` now (counting what it already has)."""
    from garnizon.portal.eservices import FLOWS

    flow = FLOWS.get(submission.service)
    return AdditionLimits(
        types=(flow.attachment_types if flow else None) or conf.ALLOWED_TYPES,
        strip_metadata=flow.strip_photo_metadata if flow is not None else False,
        max_bytes=flow.max_bytes if flow is not None else conf.max_attachment_bytes(),
        per_sending=conf.max_attachments(),
        per_submission=conf.max_attachments() * 2,
        added=submission.additions.count(),
    )
