"""Webhook signatures, Stripe-style: ``Moments-Signature: t=<unix time>,v1=<hex>``.

``v1`` is HMAC-SHA256 over ``"<t>.<raw body>"`` with the webhook's secret. Receivers recompute
it, compare in constant time, and refuse timestamps older than a few minutes (replays).
"""

from __future__ import annotations

import hashlib
import hmac
import time

HEADER = "Moments-Signature"
TOLERANCE_SECONDS = 300


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def verify(
    secret: str,
    body: bytes,
    header: str,
    tolerance: float = TOLERANCE_SECONDS,
    now: float | None = None,
) -> bool:
    """What a receiver does (also used by our tests)."""
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        parts.setdefault(key, []).append(value)
    try:
        t = int(parts["t"][0])
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - t) > tolerance:
        return False
    expected = sign(secret, body, t).split("v1=", 1)[1]
    return any(hmac.compare_digest(expected, v) for v in parts.get("v1", []))


def callback_secret(key: bytes, job_id: str) -> str:
    """The signing secret of one job's ``callback_url``: derived from the server's own secret
    (the access-token key), so nothing more is stored and every API instance agrees on it."""
    mac = hmac.new(key, f"job-callback:{job_id}".encode(), hashlib.sha256).hexdigest()
    return f"cbsec_{mac}"
