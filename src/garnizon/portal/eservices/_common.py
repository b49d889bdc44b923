"""What several e-services share: the register remarks about the filer's contact."""

from __future__ import annotations

from typing import Any

PORTAL_REMARK = "Złożono przez portal e-usług."

#: Labels of the fields most services share, for the plain-text copy the staff read.
COMMON_LABELS = {
    "name": "Imię i nazwisko",
    "email": "E-mail",
    "address": "Adres do korespondencji",
    "subject": "Dotyczy",
    "text": "Treść",
}


def contact_remarks(fields: dict[str, Any]) -> list[str]:
    """The register remarks every filing starts with: the channel and how to reach the filer."""
    remarks = [PORTAL_REMARK]
    contact = "; ".join(
        part
        for part in (str(fields.get("email") or ""), str(fields.get("address") or ""))
        if part.strip()
    )
    if contact:
        remarks.append(f"Kontakt: {contact}")
    return remarks
