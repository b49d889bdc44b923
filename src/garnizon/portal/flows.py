"""Each e-service as a list of question pages, kept in the session until it is filed.

A flow's draft lives in the session under `portal:<service>`: the answers of each
page, the stored attachments and the secret per-form token that makes a resubmit
return the first filing. Nothing of it travels in hidden fields.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.contrib.sessions.backends.base import SessionBase
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from garnizon.org.models import Unit
from garnizon.portal import forms
from garnizon.portal.models import EService

ATTACHMENTS = "zalaczniki"


@dataclass(frozen=True)
class Step:
    slug: str
    form: type[forms.PortalForm]
    title: str | Promise
    when: Callable[[dict[str, Any]], bool] = lambda answers: True


@dataclass(frozen=True)
class Flow:
    service: str
    title: str | Promise
    summary: str | Promise
    what_next: str | Promise
    steps: list[Step] = field(default_factory=list)

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


def _named(answers: dict[str, Any]) -> bool:
    return answers.get("anonymous") is False


FLOWS: dict[str, Flow] = {
    EService.LETTER: Flow(
        service=EService.LETTER,
        title=_("Napisz do jednostki Policji"),
        summary=_(
            "Pismo w dowolnej sprawie do jednej z 21 jednostek Policji garnizonu lubelskiego, "
            "z załącznikami."
        ),
        what_next=_(
            "Pismo trafiło do rejestru przesyłek jednostki. Kancelaria skieruje je do właściwej "
            "komórki. Odpowiedź przyjdzie na podany adres e-mail albo pocztą."
        ),
        steps=[
            Step("jednostka", forms.UnitForm, _("Jednostka")),
            Step("nadawca", forms.SenderForm, _("Twoje dane")),
            Step("tresc", forms.LetterForm, _("Treść pisma")),
            Step(ATTACHMENTS, forms.AttachmentsForm, _("Załączniki")),
        ],
    ),
    EService.COMPLAINT: Flow(
        service=EService.COMPLAINT,
        title=_("Złóż skargę lub wniosek"),
        summary=_(
            "Skarga na działanie Policji albo wniosek o poprawę jej pracy. Termin rozpatrzenia: "
            "miesiąc, a dla posła lub senatora 14 dni. Można złożyć anonimowo, ale wtedy "
            "skarga nie będzie rozpatrzona."
        ),
        what_next=_(
            "Skarga lub wniosek trafił do rejestru przesyłek jednostki. Jeśli jednostka nie jest "
            "właściwa, przekaże go właściwej w ciągu 7 dni i powiadomi Cię o tym."
        ),
        steps=[
            Step("jednostka", forms.UnitForm, _("Jednostka")),
            Step("rodzaj", forms.ComplaintKindForm, _("Skarga czy wniosek")),
            Step("tresc", forms.ComplaintContentForm, _("Treść")),
            Step("anonimowosc", forms.AnonymityForm, _("Twoje dane")),
            Step("dane", forms.FilerForm, _("Dane wnoszącego"), when=_named),
            Step(ATTACHMENTS, forms.AttachmentsForm, _("Załączniki")),
        ],
    ),
}


def draft_get(session: SessionBase, service: str) -> dict[str, Any]:
    """The service's draft in this session, started (with a fresh form token) if missing."""
    key = f"portal:{service}"
    draft = session.get(key)
    if not draft:
        draft = {"token": secrets.token_hex(32), "pages": {}, "attachments": []}
        session[key] = draft
    return draft


def draft_save(session: SessionBase, service: str, draft: dict[str, Any]) -> None:
    session[f"portal:{service}"] = draft
    session.modified = True


def draft_clear(session: SessionBase, service: str) -> None:
    session.pop(f"portal:{service}", None)


def draft_unit(draft: dict[str, Any]) -> Unit | None:
    unit_id = draft["pages"].get("jednostka", {}).get("unit")
    if unit_id is None:
        return None
    return Unit.objects.filter(pk=unit_id, is_active=True).first()
