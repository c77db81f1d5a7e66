"""Which address a request comes from, and whose ``X-Forwarded-*`` headers are believed.

Forwarded headers are believed only from the reverse proxies named in
``MOMENTS_TRUSTED_PROXIES`` (none by default). uvicorn, left to itself, believes them from
127.0.0.1, so anyone on this machine (or anything that relays for them) could claim any
address and escape per-address rate limits. Hence:

* every place that starts the server passes :func:`uvicorn_options` (or :func:`uvicorn_args`
  on a command line): uvicorn's proxy handling is off unless proxies are trusted, and then
  trusts exactly those;
* :func:`client_address` (what rate limits count by) does not trust a server started by hand
  with uvicorn's defaults either: see there.
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from starlette.requests import Request

    from .settings import Settings

UNVERIFIED = "forwarded-unverified"
"""The address key of requests whose peer may have been replaced from a header nobody vouches
for: they all share one rate-limit counter."""


def check_proxy(value: str) -> str:
    """A trusted proxy entry: an IP address or network (CIDR); ValueError otherwise."""
    text = value.strip()
    ipaddress.ip_network(text, strict=False)
    return text


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for ``uvicorn.run`` / ``uvicorn.Config``."""
    if not settings.trusted_proxies:
        return {"proxy_headers": False}
    return {"proxy_headers": True, "forwarded_allow_ips": list(settings.trusted_proxies)}


def uvicorn_args(settings: Settings) -> list[str]:
    """The same as :func:`uvicorn_options`, for the ``uvicorn`` command line."""
    if not settings.trusted_proxies:
        return ["--no-proxy-headers"]
    return ["--proxy-headers", "--forwarded-allow-ips", ",".join(settings.trusted_proxies)]


def _forwarded_hosts(request: Request) -> list[str]:
    hosts = []
    for header in request.headers.getlist("x-forwarded-for"):
        for entry in header.split(","):
            entry = entry.strip()
            if entry.startswith("["):  # [v6]:port
                entry = entry[1 : entry.find("]")] if "]" in entry else entry[1:]
            elif entry.count(":") == 1:  # v4:port
                entry = entry.split(":", 1)[0]
            if entry:
                hosts.append(entry)
    return hosts


def client_address(request: Request, settings: Settings) -> str:
    """The address a request is counted under.

    It is the peer as the server reports it. With trusted proxies configured, the server was
    told to believe them (and only them), so that is the client. With none configured, a
    request that carries ``X-Forwarded-For`` anyway, and whose reported peer is one of the
    addresses in that header, may come from a server started by hand with uvicorn's defaults,
    which replace the peer from the header: the true peer is then unknown, and every such
    request is counted together (:data:`UNVERIFIED`), so changing the header gains nothing.
    """
    host = request.client.host if request.client else "unknown"
    if settings.trusted_proxies:
        return host
    forwarded = _forwarded_hosts(request)
    if forwarded and host in forwarded:
        return UNVERIFIED
    return host
