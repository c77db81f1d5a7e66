"""Rate limits per user and per client address, with ``RateLimit-*`` and ``Retry-After``.

Counters live in the ``limits`` library's storage: in memory on one machine, or Redis
(``rate_limit_storage=redis://...``) so every API instance shares them. The moving-window
strategy counts the requests of the last window exactly (no burst at window edges).

Headers follow the IETF draft (draft-ietf-httpapi-ratelimit-headers): ``RateLimit-Limit``,
``RateLimit-Remaining``, ``RateLimit-Reset`` (seconds) and ``RateLimit-Policy``, for the
tighter of the two counters the request was checked against.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fastapi import Depends, Request
from limits import RateLimitItem, parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter
from starlette.concurrency import run_in_threadpool

from . import proxies
from .api.problems import Problem
from .asgi import HttpMiddleware, WatchedSend
from .auth.deps import CurrentUser

if TYPE_CHECKING:
    from starlette.types import Message, Receive, Scope, Send

    from .settings import Settings

STATE_KEY = "ratelimit_headers"


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset_seconds: int
    policy: str

    def headers(self) -> dict[str, str]:
        headers = {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_seconds),
            "RateLimit-Policy": self.policy,
        }
        if not self.allowed:
            headers["Retry-After"] = str(max(1, self.reset_seconds))
        return headers


class RateLimiter:
    """Named policies ("upload": "30/hour", ...) checked against several keys at once."""

    def __init__(self, storage_uri: str, policies: dict[str, str]):
        self._limiter = MovingWindowRateLimiter(storage_from_string(storage_uri))
        self.in_memory = storage_uri.startswith("memory://")
        """No I/O in a check: it can run in the event loop instead of a worker thread."""
        self._items: dict[str, RateLimitItem] = {name: parse(t) for name, t in policies.items()}

    @classmethod
    def from_settings(cls, settings: Settings) -> RateLimiter:
        return cls(
            settings.rate_limit_storage,
            {
                "upload": settings.rate_limit_upload,
                "poll": settings.rate_limit_poll,
                "auth": settings.rate_limit_auth,
            },
        )

    def hit(self, policy: str, keys: list[str]) -> Decision:
        """Count one request against every key; refused if any key has no room left.

        Nothing is counted for a refused request, so a client that waits as told gets in.
        """
        item = self._items[policy]
        namespace = [policy]
        allowed = all(self._limiter.test(item, *namespace, key) for key in keys)
        if allowed:
            for key in keys:
                self._limiter.hit(item, *namespace, key)
        tightest = None
        for key in keys:
            stats = self._limiter.get_window_stats(item, *namespace, key)
            if tightest is None or stats.remaining < tightest.remaining:
                tightest = stats
        assert tightest is not None
        reset = max(0, math.ceil(tightest.reset_time - time.time()))
        window = item.get_expiry()
        return Decision(
            allowed=allowed,
            limit=item.amount,
            remaining=max(0, tightest.remaining),
            reset_seconds=reset,
            policy=f"{item.amount};w={window}",
        )


def client_address(request: Request) -> str:
    """The client's address; forwarded headers count only from MOMENTS_TRUSTED_PROXIES (see
    :mod:`moments.service.proxies`)."""
    return proxies.client_address(request, request.app.state.accounts.settings)


def enforce(request: Request, policy: str, user_id: str | None) -> None:
    """Check ``policy`` for this user and address; 429 problem when over."""
    limiter: RateLimiter | None = getattr(request.app.state.accounts, "limiter", None)
    if limiter is None:
        return
    keys = [f"ip:{client_address(request)}"]
    if user_id is not None:
        keys.append(f"user:{user_id}")
    decision = limiter.hit(policy, keys)
    if not decision.allowed:
        raise Problem(
            429,
            f"Too many requests; try again in {max(1, decision.reset_seconds)} seconds.",
            kind="rate-limited",
            title="Too many requests",
            headers=decision.headers(),
        )
    setattr(request.state, STATE_KEY, decision.headers())


async def _enforce_soon(request: Request, policy: str, user_id: str | None) -> None:
    """:func:`enforce`, in the event loop when the counters are in memory (a worker-thread
    round trip would cost more than the check), else in a worker thread (Redis is I/O)."""
    limiter: RateLimiter | None = getattr(request.app.state.accounts, "limiter", None)
    if limiter is None or limiter.in_memory:
        enforce(request, policy, user_id)
    else:
        await run_in_threadpool(enforce, request, policy, user_id)


def limited(policy: str) -> Any:
    """A route dependency: rate-limit ``policy`` for the signed-in user and the address."""

    async def dependency(request: Request, user: CurrentUser) -> None:
        await _enforce_soon(request, policy, user.id)

    return Depends(dependency)


def limited_by_address(policy: str) -> Any:
    """For routes before sign-in (login, sign-up): the address alone."""

    async def dependency(request: Request) -> None:
        await _enforce_soon(request, policy, None)

    return Depends(dependency)


class RateLimitHeaders(HttpMiddleware):
    """ASGI middleware: adds the headers a rate-limited route left in ``request.state``."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        def with_headers(message: Message) -> Message:
            extra: dict[str, str] | None = scope.get("state", {}).get(STATE_KEY)
            if not extra:
                return message
            headers = list(message.get("headers", []))
            present = {k.lower() for k, _ in headers}
            for name, value in extra.items():
                if name.lower().encode() not in present:
                    headers.append((name.lower().encode(), value.encode()))
            return {**message, "headers": headers}

        await self.app(scope, receive, WatchedSend(send, with_headers))
