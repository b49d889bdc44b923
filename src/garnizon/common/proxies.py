"""The client's address behind a reverse proxy (`GARNIZON_TRUSTED_PROXIES`).

Behind nginx or a load balancer every request comes from the proxy, so the
audit trail, the portal's rate limits per address and the visit bookings would
all see one address. The proxy says who its client was in `X-Forwarded-For`;
anyone can send that header, so it is believed only from a trusted proxy, and
only as far as the chain stays trusted: reading the list from the right, the
first address that is not itself a trusted proxy is the client. With no trusted
proxies configured (the default) the header is ignored.

The middleware rewrites `REMOTE_ADDR` before anything else reads it and keeps
the proxy's own address in `garnizon.proxy_addr`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable
from functools import lru_cache

from django.conf import settings
from django.http import HttpRequest, HttpResponse

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
# More hops than this in one header is not a real chain of proxies.
MAX_HOPS = 20


@lru_cache(maxsize=8)
def trusted_networks(entries: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    """The configured proxies as networks ("10.0.0.5", "10.0.0.0/8", "::1")."""
    networks = []
    for entry in entries:
        entry = entry.strip()
        if entry:
            networks.append(ipaddress.ip_network(entry, strict=False))
    return tuple(networks)


def _address(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    value = value.strip()
    if value.startswith("[") and "]" in value:  # "[2001:db8::1]:443"
        value = value[1 : value.index("]")]
    elif value.count(":") == 1:  # "203.0.113.9:51234"
        value = value.split(":", 1)[0]
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        return None


def client_address(remote_addr: str, forwarded_for: str, trusted: Iterable[IPNetwork]) -> str:
    """Who the request came from: `remote_addr`, or the forwarded client of trusted proxies."""
    trusted = tuple(trusted)
    peer = _address(remote_addr)
    if not trusted or peer is None or not any(peer in net for net in trusted):
        return remote_addr
    hops = [hop for hop in forwarded_for.split(",") if hop.strip()]
    if not hops or len(hops) > MAX_HOPS:
        return remote_addr
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:  # a garbled entry: trust nothing further left
            return remote_addr
        if not any(address in net for net in trusted):
            return str(address)
    return str(_address(hops[0]))  # every hop is a trusted proxy: the first one sent it


class TrustedProxyMiddleware:
    """Sets `REMOTE_ADDR` to the client's address when the request came through a trusted proxy."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        entries = tuple(getattr(settings, "GARNIZON_TRUSTED_PROXIES", ()) or ())
        if entries:
            remote = request.META.get("REMOTE_ADDR", "")
            client = client_address(
                remote,
                request.META.get("HTTP_X_FORWARDED_FOR", ""),
                trusted_networks(entries),
            )
            if client != remote:
                request.META["garnizon.proxy_addr"] = remote
                request.META["REMOTE_ADDR"] = client
        return self.get_response(request)
