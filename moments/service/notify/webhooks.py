"""Sending one webhook request, and checking the URLs users register."""

from __future__ import annotations

import ipaddress
import json
import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from .signing import HEADER, sign

USER_AGENT = "Moments-Webhooks/1"


@dataclass(frozen=True)
class SendResult:
    ok: bool
    status_code: int | None = None
    error: str | None = None
    retry: bool = True
    """False when trying again cannot help (e.g. APNs says the device token is dead)."""


def check_url(url: str, allow_private: bool) -> str | None:
    """Why ``url`` is not acceptable as a webhook target, or None.

    With ``allow_private`` off, names resolving to loopback, private, link-local or reserved
    addresses are refused, so webhooks cannot be used to reach the internal network.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "the URL must be an absolute http(s) URL"
    if parts.username or parts.password:
        return "the URL must not contain credentials"
    if allow_private:
        return None
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or 443, proto=socket.IPPROTO_TCP)
    except OSError:
        return f"the host {parts.hostname!r} does not resolve"
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global:
            return f"the host {parts.hostname!r} is not a public address"
    return None


class WebhookSender:
    """POSTs signed JSON with a short timeout; any 2xx is success."""

    def __init__(self, timeout: float):
        self._client = httpx.Client(
            timeout=timeout, follow_redirects=False, headers={"User-Agent": USER_AGENT}
        )

    def send(
        self, url: str, secret: str, event: str, delivery_id: str, payload: dict[str, Any]
    ) -> SendResult:
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
            return SendResult(False, None, f"{type(exc).__name__}: {exc}"[:500])
        if 200 <= response.status_code < 300:
            return SendResult(True, response.status_code)
        return SendResult(False, response.status_code, f"HTTP {response.status_code}")

    def close(self) -> None:
        self._client.close()
