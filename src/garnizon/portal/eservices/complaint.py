"""A complaint or motion (skarga, wniosek; KPA art. 227–241) to any of the 21 units.

1 month; 14 days for a member of parliament or senator; an anonymous one is
registered and marked, and gets no deadline (it is left unexamined).
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _

from garnizon.cases.deadlines import DeadlineKind
from garnizon.org.models import Unit
from garnizon.portal import forms
from garnizon.portal.eservices._common import COMMON_LABELS, contact_remarks
from garnizon.portal.flows import ATTACHMENTS, Flow, Registration, Step
from garnizon.portal.models import EService

ANONYMOUS_REMARK = (
    "Skarga/wniosek anonimowy: pozostawia się bez rozpoznania (brak danych wnoszącego)."
)


def _named(answers: dict[str, Any]) -> bool:
    return answers.get("anonymous") is False


def register(fields: dict[str, Any], unit: Unit) -> Registration:
    subject = str(fields.get("subject", "")).strip()
    remarks = contact_remarks(fields)
    prefix = "Skarga" if fields.get("kind") == "skarga" else "Wniosek"
    if fields.get("anonymous"):
        remarks.append(ANONYMOUS_REMARK)
        return Registration(
            kind=DeadlineKind.NONE,
            subject=f"{prefix} (anonimowa): {subject}",
            sender_name="brak danych (anonimowo)",
            remarks=remarks,
            anonymous=True,
        )
    if fields.get("is_mp"):
        remarks.append("Wnoszący oświadczył, że jest posłem albo senatorem (art. 237 § 2 KPA).")
        kind = DeadlineKind.COMPLAINT_MP
    else:
        kind = DeadlineKind.COMPLAINT
    return Registration(
        kind=kind,
        subject=f"{prefix}: {subject}",
        sender_name=str(fields["name"]),
        remarks=remarks,
        email=str(fields.get("email") or ""),
    )


FLOW = Flow(
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
    register=register,
    labels={
        "kind": "Rodzaj",
        "anonymous": "Anonimowo",
        **COMMON_LABELS,
        "is_mp": "Poseł albo senator",
    },
    steps=[
        Step("jednostka", forms.UnitForm, _("Jednostka")),
        Step("rodzaj", forms.ComplaintKindForm, _("Skarga czy wniosek")),
        Step("tresc", forms.ComplaintContentForm, _("Treść")),
        Step("anonimowosc", forms.AnonymityForm, _("Twoje dane")),
        Step("dane", forms.FilerForm, _("Dane wnoszącego"), when=_named),
        Step(ATTACHMENTS, forms.AttachmentsForm, _("Załączniki")),
    ],
)
