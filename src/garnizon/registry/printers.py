"""Thermal label printers, configured by a setting (no database model).

    GARNIZON_LABEL_PRINTERS = {
        "Kancelaria KWP": "10.1.2.3:9100",
        "Kancelaria KMP-LU": "zebra-kmp-lu.policja.local",   # port 9100 by default
    }

Each name is shown to the clerk; each address is "host" or "host:port" of a
printer that takes ZPL over raw TCP (Zebra-style, port 9100).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

DEFAULT_PORT = 9100


@dataclass(frozen=True)
class LabelPrinter:
    name: str
    host: str
    port: int = DEFAULT_PORT


def _parse(name: str, address: str) -> LabelPrinter:
    address = str(address).strip()
    if address.startswith("["):  # [IPv6]:port
        host, _, port = address[1:].partition("]")
        port = port.removeprefix(":")
    elif address.count(":") == 1:
        host, port = address.split(":")
    else:  # a host name, or a bare IPv6 address
        host, port = address, ""
    try:
        number = int(port) if port else DEFAULT_PORT
    except ValueError:
        number = -1
    if not host or not 0 < number < 65536:
        raise ImproperlyConfigured(
            f"GARNIZON_LABEL_PRINTERS[{name!r}]: adres drukarki ma postać host albo host:port "
            f"(jest {address!r})."
        )
    return LabelPrinter(name=str(name), host=host, port=number)


def label_printers() -> list[LabelPrinter]:
    """The configured label printers, in the order of the setting."""
    configured = getattr(settings, "GARNIZON_LABEL_PRINTERS", None) or {}
    return [_parse(name, address) for name, address in configured.items()]


def label_printer(name: str) -> LabelPrinter | None:
    return next((p for p in label_printers() if p.name == name), None)
