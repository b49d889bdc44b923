"""Each e-service as a list of question pages, kept in the session until it is filed.

A flow's draft lives in the session under `portal:<service>`: the answers of each
page, the stored attachments and the secret per-form token that makes a resubmit
return the first filing. Nothing of it travels in hidden fields.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.contrib.sessions.backends.base import SessionBase
from django.utils.functional import Promise

from garnizon.org.models import Cell, Unit
from garnizon.portal import conf, forms

if TYPE_CHECKING:
    from garnizon.portal.models import Submission

ATTACHMENTS = "zalaczniki"


@dataclass(frozen=True)
class Step:
    slug: str
    form: type[forms.PortalForm]
    title: str | Promise
    when: Callable[[dict[str, Any]], bool] = lambda answers: True


@dataclass
class Registration:
    """How a filing is entered in the register: built by a flow from the filed fields.

    `kind` is the deadline kind (cases.deadlines.DeadlineKind); `remarks` are
    joined into the entry's remarks; `cell` routes the entry to a cell of the unit
    (say the traffic department); `email` is where notifications go.
    """

    kind: str
    subject: str
    sender_name: str
    remarks: list[str] = field(default_factory=list)
    anonymous: bool = False
    cell: Cell | None = None
    email: str = ""


@dataclass(frozen=True)
class Flow:
    """One e-service: its pages and what filing it means.

    - `register(fields, unit)` returns the `Registration` of a filing.
    - `labels` name each field in the plain-text copy the staff read.
    - `unit_of(draft)` picks the unit (default: the `jednostka` page's answer);
      a service routed by place (threat map, road video) supplies its own.
    - `after_file(submission, fields)` runs inside the filing's transaction
      (say, to record a threat report's point).
    - `validate(fields, attachments)` raises DomainError when the answers and
      files together are not enough (say, a fee proof missing); it runs on the
      check page and again when filing.
    - `attachment_types` (MIME type -> name shown) and `max_attachment_mb`
      override the portal's defaults for this service's files.
    - `strip_photo_metadata`: photos are stored without their EXIF and text
      metadata (GPS position, camera serial, owner), losslessly
      (documents/imagemeta.py); for services that may be used anonymously.
    """

    service: str
    title: str | Promise
    summary: str | Promise
    what_next: str | Promise
    register: Callable[[dict[str, Any], Unit], Registration]
    steps: list[Step] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    unit_of: Callable[[dict[str, Any]], Unit | None] | None = None
    after_file: Callable[[Submission, dict[str, Any]], None] | None = None
    validate: Callable[[dict[str, Any], list[dict[str, Any]]], None] | None = None
    attachment_types: dict[str, str] | None = None
    max_attachment_mb: int | None = None
    strip_photo_metadata: bool = False

    def active_steps(self, answers: dict[str, Any]) -> list[Step]:
        return [step for step in self.steps if step.when(answers)]

    def step(self, slug: str) -> Step | None:
        return next((s for s in self.steps if s.slug == slug), None)

    def first_missing(self, draft: dict[str, Any]) -> Step | None:
        answers = merged(draft)
        for step in self.active_steps(answers):
            if step.slug != ATTACHMENTS and step.slug not in draft["pages"]:
                return step
        return None

    def next_after(self, slug: str, draft: dict[str, Any]) -> Step | None:
        steps = self.active_steps(merged(draft))
        slugs = [s.slug for s in steps]
        if slug not in slugs:
            return steps[0] if steps else None
        index = slugs.index(slug)
        return steps[index + 1] if index + 1 < len(steps) else None

    def previous_before(self, slug: str, draft: dict[str, Any]) -> Step | None:
        steps = self.active_steps(merged(draft))
        slugs = [s.slug for s in steps]
        if slug not in slugs or slugs.index(slug) == 0:
            return None
        return steps[slugs.index(slug) - 1]

    @property
    def max_bytes(self) -> int:
        """The largest attachment this service takes."""
        if self.max_attachment_mb is not None:
            return self.max_attachment_mb * 1024 * 1024
        return conf.max_attachment_bytes()

    def unit(self, draft: dict[str, Any]) -> Unit | None:
        return self.unit_of(draft) if self.unit_of is not None else draft_unit(draft)

    def fields(self, draft: dict[str, Any]) -> dict[str, Any]:
        """The answers of the pages still in the flow (a skipped page's answers drop out)."""
        answers: dict[str, Any] = {}
        for step in self.active_steps(merged(draft)):
            answers.update(draft["pages"].get(step.slug, {}))
        answers.pop("unit", None)
        return answers


def merged(draft: dict[str, Any]) -> dict[str, Any]:
    answers: dict[str, Any] = {}
    for page in draft["pages"].values():
        answers.update(page)
    return answers


def draft_get(session: SessionBase, service: str) -> dict[str, Any]:
    """The service's draft in this session, started (with a fresh form token) if missing."""
    key = f"portal:{service}"
    draft = session.get(key)
    if not draft:
        draft = {"token": secrets.token_hex(32), "pages": {}, "attachments": []}
        session[key] = draft
    return draft


def draft_peek(session: SessionBase, service: str) -> dict[str, Any] | None:
    """The service's draft in this session, or None (nothing is started)."""
    return session.get(f"portal:{service}") or None


def draft_save(session: SessionBase, service: str, draft: dict[str, Any]) -> None:
    session[f"portal:{service}"] = draft
    session.modified = True


def draft_clear(session: SessionBase, service: str) -> None:
    session.pop(f"portal:{service}", None)


def draft_unit(draft: dict[str, Any]) -> Unit | None:
    unit_id = draft["pages"].get("jednostka", {}).get("unit")
    if unit_id is None:
        return None
    # get(), not first(): one unit by its key, no ordering to build.
    try:
        return Unit.objects.get(pk=unit_id, is_active=True)
    except Unit.DoesNotExist:
        return None
