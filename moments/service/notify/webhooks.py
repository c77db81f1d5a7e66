"""Sending one webhook request, and checking the URLs users register.

A webhook URL names a host chosen by a user, so both registering it and calling it must keep
requests off this server's own network. Checking the name once at registration is not enough:
the name's owner can make it resolve to a public address then and to 127.0.0.1 at delivery
("DNS rebinding"). So every connection the sender opens resolves the name once, refuses it if
any address it got is not public (:func:`is_public_address`), and connects to exactly the
addresses it checked (:class:`PinnedBackend`); the URL's host still goes in the ``Host`` header
and, for https, in TLS SNI and certificate verification. Redirects are never followed.

What a user sees of a delivery is success or a plain sentence (:class:`SendResult.public`):
never the receiver's status code or body, which would turn webhooks into a way of probing
whatever answers. The details go to the server log.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import socket
import ssl
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpcore
import httpx

from .signing import HEADER, sign

if TYPE_CHECKING:
    from ..settings import Settings

log = logging.getLogger(__name__)

USER_AGENT = "Moments-Webhooks/1"

Resolver = Callable[[str, int], list[str]]
"""``(host, port) -> addresses`` (as strings), in the order to try them."""

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

NAT64_WELL_KNOWN = ipaddress.IPv6Network("64:ff9b::/96")
"""RFC 6052: the IPv4 address is the last 32 bits."""
NAT64_LOCAL_USE = ipaddress.IPv6Network("64:ff9b:1::/48")
"""RFC 8215: local-use translation; where the IPv4 address sits depends on the site's prefix
length, so the whole block is refused."""
IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")
"""Deprecated IPv4-compatible addresses (::a.b.c.d), and :: and ::1."""

NOT_GLOBAL = [
    ipaddress.ip_network(n)
    for n in (
        # IANA's special-purpose registries (addresses not globally reachable), listed here as
        # well because the ipaddress flags of older Pythons miss some of them
        "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
        "172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16",
        "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
        "::/128", "::1/128", "100::/64", "2001::/23", "2001:db8::/32", "3fff::/20", "5f00::/16",
        "fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8",
    )
]  # fmt: skip

NOT_PUBLIC = "its host resolves to an address that is not public"
BLOCKED_SENTENCE = (
    "The webhook was not called: its host resolves to a private or internal network address."
)
UNREACHABLE_SENTENCE = "The receiver could not be reached."
REFUSED_SENTENCE = "The receiver did not accept the notification."
FAILED_SENTENCE = "The notification could not be delivered."
BAD_URL_SENTENCE = "The webhook URL is not acceptable; it was not called."
DELETED_SENTENCE = "The webhook was deleted."
SENTENCES = frozenset(
    (BLOCKED_SENTENCE, UNREACHABLE_SENTENCE, REFUSED_SENTENCE, FAILED_SENTENCE,
     BAD_URL_SENTENCE, DELETED_SENTENCE)
)  # fmt: skip
"""Everything a delivery log may say about a failed webhook delivery."""


@dataclass(frozen=True)
class SendResult:
    ok: bool
    status_code: int | None = None
    """The receiver's HTTP status: for the server log and the database, never shown to users."""
    error: str | None = None
    """What went wrong, in detail: for the server log only."""
    retry: bool = True
    """False when trying again cannot help (e.g. APNs says the device token is dead)."""
    public: str | None = None
    """What the user is told about a failure: a plain sentence, no status code, no body."""

    @property
    def shown(self) -> str | None:
        """The sentence for the delivery log (None on success)."""
        return None if self.ok else (self.public or FAILED_SENTENCE)


# -- which addresses a webhook may reach -----------------------------------------------------


def embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address] | None:
    """The IPv4 addresses an IPv6 address stands for (IPv4-mapped, NAT64 well-known prefix,
    6to4, Teredo server and client), or None when it embeds none."""
    if address.ipv4_mapped is not None:
        return [address.ipv4_mapped]
    if address in NAT64_WELL_KNOWN:
        return [ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)]
    if address.sixtofour is not None:
        return [address.sixtofour]
    if address.teredo is not None:
        return list(address.teredo)
    return None


def _flags_public(address: IPAddress) -> bool:
    if any(address in network for network in NOT_GLOBAL):
        return False
    if (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    ):
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.is_site_local:
        return False
    return address.is_global


def is_public_address(address: str | IPAddress) -> bool:
    """Whether a webhook may connect to ``address``: not private, loopback, link-local,
    multicast, reserved, unspecified or shared (100.64/10), and no IPv6 form embedding such an
    IPv4 address. Anything that does not parse as an address is not public."""
    try:
        ip = ipaddress.ip_address(address) if isinstance(address, str) else address
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv4Address):
        return _flags_public(ip)
    if ip in NAT64_LOCAL_USE or ip in IPV4_COMPATIBLE:
        return False
    embedded = embedded_ipv4(ip)
    if embedded is not None and not all(_flags_public(v4) for v4 in embedded):
        return False
    if ip.ipv4_mapped is not None or ip in NAT64_WELL_KNOWN:
        return True  # decided by the IPv4 address it stands for (the prefix reads as reserved)
    return _flags_public(ip)


def system_resolver(host: str, port: int) -> list[str]:
    """The system's resolver (``getaddrinfo``): every TCP address of ``host``, in order."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    seen: list[str] = []
    for info in infos:
        address = str(info[4][0])
        if address not in seen:
            seen.append(address)
    return seen


class BlockedAddress(httpcore.ConnectError):
    """The host resolved to an address a webhook may not reach; nothing was sent."""


def resolve_checked(host: str, port: int, resolve: Resolver, allow_private: bool) -> list[str]:
    """``host``'s addresses, resolved once; BlockedAddress if any of them is not public
    (unless ``allow_private``), OSError if there are none."""
    bare = host.strip("[]")
    try:
        addresses = [str(ipaddress.ip_address(bare))]
    except ValueError:
        addresses = list(resolve(bare, port))
    if not addresses:
        raise OSError(f"{host!r} has no address")
    if not allow_private:
        bad = [a for a in addresses if not is_public_address(a)]
        if bad:
            raise BlockedAddress(f"{host!r} resolves to {', '.join(bad)}, which is not public")
    return addresses


class PinnedBackend(httpcore.SyncBackend):
    """httpcore's network backend, but every TCP connection resolves its host once, checks
    every address (see :func:`resolve_checked`) and connects only to those addresses.

    TLS is started afterwards by httpcore on this stream with the URL's host name, so SNI and
    certificate checks are for the name, not the address.
    """

    def __init__(self, resolve: Resolver, allow_private: bool) -> None:
        self.resolve = resolve
        self.allow_private = allow_private

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        try:
            addresses = resolve_checked(host, port, self.resolve, self.allow_private)
        except BlockedAddress:
            raise
        except (OSError, UnicodeError, ValueError) as exc:
            raise httpcore.ConnectError(f"cannot resolve {host!r}: {exc}") from None
        last: Exception | None = None
        for address in addresses:
            try:
                return super().connect_tcp(
                    address, port, timeout, local_address, socket_options or []
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last


class PinnedTransport(httpx.HTTPTransport):
    """httpx's transport on a :class:`PinnedBackend`, without proxies (a proxy would resolve
    the name itself) and without keep-alive (each delivery resolves the name afresh)."""

    def __init__(self, backend: PinnedBackend, verify: ssl.SSLContext | bool = True) -> None:
        ssl_context = httpx.create_ssl_context(verify=verify, trust_env=False)
        super().__init__(verify=ssl_context, trust_env=False)
        assert isinstance(self._pool, httpcore.ConnectionPool)  # httpx's, replaced below
        self._pool.close()
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context,
            max_connections=10,
            max_keepalive_connections=0,
            network_backend=backend,
        )


def allows_private(settings: Settings) -> bool:
    """Whether webhooks may target loopback/private addresses under ``settings``."""
    if settings.webhook_allow_private is not None:
        return settings.webhook_allow_private
    return settings.auth_mode == "local"


def _url_problem(url: str) -> tuple[str | None, str, int]:
    """Why ``url`` cannot be a webhook URL (or None), with its host and port."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError, TypeError):
        return "the URL is not a valid URL", "", 0
    if parsed.scheme not in ("http", "https") or not parsed.host:
        return "the URL must be an absolute http(s) URL", "", 0
    if parsed.userinfo:
        return "the URL must not contain credentials", "", 0
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    if not 0 < port < 65536:
        return "the URL's port is not valid", "", 0
    return None, parsed.host, port


# -- sending -------------------------------------------------------------------------------


class WebhookSender:
    """POSTs signed JSON with a short timeout; any 2xx is success.

    ``resolve`` is the name resolver (the system's by default; tests give one they control, as
    no real DNS can be steered); ``allow_private`` lets webhooks reach loopback and private
    addresses (single-user machines, tests). Both are read at each connection.
    """

    def __init__(
        self,
        timeout: float,
        *,
        allow_private: bool = False,
        resolve: Resolver = system_resolver,
        verify: ssl.SSLContext | bool = True,
    ):
        self._backend = PinnedBackend(resolve, allow_private)
        self._client = httpx.Client(
            transport=PinnedTransport(self._backend, verify),
            timeout=timeout,
            follow_redirects=False,
            trust_env=False,
            headers={"User-Agent": USER_AGENT},
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> WebhookSender:
        return cls(settings.webhook_timeout, allow_private=allows_private(settings))

    @property
    def resolve(self) -> Resolver:
        return self._backend.resolve

    @resolve.setter
    def resolve(self, resolve: Resolver) -> None:
        self._backend.resolve = resolve

    @property
    def allow_private(self) -> bool:
        return self._backend.allow_private

    def check_url(self, url: str) -> str | None:
        """Why ``url`` is not acceptable as a webhook target, or None (same resolver and
        rules as delivery; delivery checks again, as the name may resolve elsewhere by then)."""
        return check_url(url, self.allow_private, self.resolve)

    def send(
        self, url: str, secret: str, event: str, delivery_id: str, payload: dict[str, Any]
    ) -> SendResult:
        problem, _, _ = _url_problem(url)
        if problem is not None:
            return SendResult(False, None, problem, retry=False, public=BAD_URL_SENTENCE)
        body = json.dumps(payload, separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json",
            HEADER: sign(secret, body),
            "Moments-Event": event,
            "Moments-Delivery": delivery_id,
        }
        try:
            response = self._client.post(url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            detail = f"{type(exc).__name__}: {exc}"[:500]
            if isinstance(exc.__cause__, BlockedAddress):
                return SendResult(False, None, detail, retry=False, public=BLOCKED_SENTENCE)
            return SendResult(False, None, detail, public=UNREACHABLE_SENTENCE)
        if 200 <= response.status_code < 300:
            return SendResult(True, response.status_code)
        return SendResult(
            False, response.status_code, f"HTTP {response.status_code}", public=REFUSED_SENTENCE
        )

    def close(self) -> None:
        self._client.close()


def check_url(url: str, allow_private: bool, resolve: Resolver = system_resolver) -> str | None:
    """Why ``url`` is not acceptable as a webhook target, or None.

    With ``allow_private`` off, hosts resolving to any address that is not public are refused,
    so webhooks cannot be used to reach the internal network.
    """
    problem, host, port = _url_problem(url)
    if problem is not None or allow_private:
        return problem
    try:
        resolve_checked(host, port, resolve, allow_private)
    except BlockedAddress:
        return NOT_PUBLIC
    except (OSError, UnicodeError, ValueError):
        return f"the host {host!r} does not resolve"
    return None
