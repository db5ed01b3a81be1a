"""The client's address and the request's own origin, behind the reverse proxies the
settings say are there (``TRUSTED_PROXY_COUNT``, ``BEHIND_TLS_PROXY``).

Each proxy appends the address it received the request from to ``X-Forwarded-For``, so
with N trusted proxies in front the client is the N-th address from the right: anything
further left was written by the client and proves nothing. With no trusted proxy the
header is ignored and the client is the connection's own address.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from django.conf import settings


def _valid(address: str) -> str | None:
    address = address.strip()
    if address.startswith("[") and "]" in address:  # [v6]:port
        address = address[1 : address.index("]")]
    elif address.count(":") == 1:  # v4:port
        address = address.split(":", 1)[0]
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return None


def address_from(*, forwarded_for: str, remote_addr: str, trusted_proxies: int) -> str | None:
    """The client address given the headers a request arrived with."""
    if trusted_proxies <= 0:
        return _valid(remote_addr or "")
    hops = [hop for hop in (forwarded_for or "").split(",") if hop.strip()]
    if len(hops) < trusted_proxies:
        # Fewer hops than proxies: the request did not come through all of them (or a
        # proxy is misconfigured); the nearest address we can trust is the connection's.
        return _valid(remote_addr or "")
    return _valid(hops[-trusted_proxies]) or _valid(remote_addr or "")


def client_address(request: Any) -> str | None:
    """The client address of a Django request (also django-axes' address callable)."""
    meta = getattr(request, "META", {})
    return address_from(
        forwarded_for=meta.get("HTTP_X_FORWARDED_FOR", ""),
        remote_addr=meta.get("REMOTE_ADDR", ""),
        trusted_proxies=getattr(settings, "TRUSTED_PROXY_COUNT", 0),
    )
