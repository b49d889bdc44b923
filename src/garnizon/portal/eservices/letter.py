"""A general letter to any of the 21 units, with attachments (no statutory deadline)."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _

from garnizon.cases.deadlines import DeadlineKind
from garnizon.org.models import Unit
from garnizon.portal import forms
from garnizon.portal.eservices._common import COMMON_LABELS, contact_remarks
from garnizon.portal.flows import ATTACHMENTS, Flow, Registration, Step
from garnizon.portal.models import EService


def register(fields: dict[str, Any], unit: Unit) -> Registration:
    return Registration(
        kind=DeadlineKind.NONE,
        subject=str(fields.get("subject", "")).strip(),
        sender_name=str(fields["name"]),
        remarks=contact_remarks(fields),
        email=str(fields.get("email") or ""),
    )


FLOW = Flow(
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
    register=register,
    labels=COMMON_LABELS,
    steps=[
        Step("jednostka", forms.UnitForm, _("Jednostka")),
        Step("nadawca", forms.SenderForm, _("Twoje dane")),
        Step("tresc", forms.LetterForm, _("Treść pisma")),
        Step(ATTACHMENTS, forms.AttachmentsForm, _("Załączniki")),
    ],
)
