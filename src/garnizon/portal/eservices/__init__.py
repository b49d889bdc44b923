"""The portal's e-services, one module each; `FLOWS` lists them in the start page's order.

A module defines its pages (forms in the module or in `portal.forms`), its
`Flow` with the `Registration` of a filing, and exports it as `FLOW`.
"""

from __future__ import annotations

from garnizon.portal.eservices import (
    certificate,
    complaint,
    letter,
    petition,
    public_information,
    road_video,
    threat,
)
from garnizon.portal.flows import Flow

FLOWS: dict[str, Flow] = {
    module.FLOW.service: module.FLOW
    for module in (
        letter,
        complaint,
        public_information,
        petition,
        certificate,
        road_video,
        threat,
    )
    if getattr(module, "FLOW", None) is not None
}
