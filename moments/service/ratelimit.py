"""Rate limits per user and per client address, with ``RateLimit-*`` and ``Retry-After``.

Counters live in the ``limits`` library's storage: in memory on one machine, or Redis
(``rate_limit_storage=redis://...``) so every API instance shares them. The moving-window
strategy counts the requests of the last window exactly (no burst at window edges).

Headers follow the IETF draft (draft-ietf-httpapi-ratelimit-headers): ``RateLimit-Limit``,
``RateLimit-Remaining``, ``RateLimit-Reset`` (seconds) and ``RateLimit-Policy``, for the
tighter of the two counters the request was checked against.

Uploads are counted by what they cost: an upload that became a job counts one, and
its bytes count against a byte budget, once the job exists (:func:`charge_upload`). Before the
bytes come, :func:`upload_room` only looks whether there is room (429 if not); a refused
upload (empty, too large, not a video, over quota) counts nothing. The budgets depend on the
auth mode when not set: a local install gets ones a developer iterating on a client does not
hit.
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
from .asgi import HttpMiddleware, WatchedSend
from .auth.deps import CurrentUser
from .problems import Problem

if TYPE_CHECKING:
    from starlette.types import Message, Receive, Scope, Send

    from .settings import Settings

STATE_KEY = "ratelimit_headers"
UPLOAD_DEFAULTS = {"local": "1000/hour", "accounts": "30/hour"}
"""Uploads that became jobs, per user and per address, when rate_limit_upload is unset."""
UPLOAD_BYTES_DEFAULTS: dict[str, str | None] = {"local": None, "accounts": f"{50 * 1024**3}/day"}
"""Bytes of uploads that became jobs, when rate_limit_upload_bytes is unset (local: none)."""


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

    def __init__(self, storage_uri: str, policies: dict[str, str | None]):
        self._limiter = MovingWindowRateLimiter(storage_from_string(storage_uri))
        self.in_memory = storage_uri.startswith("memory://")
        """No I/O in a check: it can run in the event loop instead of a worker thread."""
        self._items: dict[str, RateLimitItem] = {
            name: parse(t) for name, t in policies.items() if t is not None
        }
        """A policy given as None has no limit."""

    @classmethod
    def from_settings(cls, settings: Settings) -> RateLimiter:
        mode = settings.auth_mode
        upload_bytes = settings.rate_limit_upload_bytes or UPLOAD_BYTES_DEFAULTS[mode]
        return cls(
            settings.rate_limit_storage,
            {
                "upload": settings.rate_limit_upload or UPLOAD_DEFAULTS[mode],
                "upload_bytes": None if upload_bytes == "none" else upload_bytes,
                "poll": settings.rate_limit_poll,
                "auth": settings.rate_limit_auth,
            },
        )

    def limits(self, policy: str) -> bool:
        """Whether ``policy`` has a limit at all."""
        return policy in self._items

    def hit(self, policy: str, keys: list[str]) -> Decision:
        """Count one request against every key; refused if any key has no room left.

        Nothing is counted for a refused request, so a client that waits as told gets in.
        """
        return self._decide(policy, keys, 1, count=True)

    def room(self, policy: str, keys: list[str], cost: int = 1) -> Decision:
        """Whether ``cost`` more would fit under every key, counting nothing."""
        return self._decide(policy, keys, cost, count=False)

    def charge(self, policy: str, keys: list[str], cost: int = 1) -> Decision:
        """Count ``cost`` against every key, whatever room is left: it was spent already (an
        upload that became a job). A key short of room is filled up to its limit."""
        item = self._items[policy]
        for key in keys:
            if not self._limiter.hit(item, policy, key, cost=cost):
                left = self._limiter.get_window_stats(item, policy, key).remaining
                if left > 0:
                    self._limiter.hit(item, policy, key, cost=min(left, item.amount))
        decision = self._decide(policy, keys, 0, count=False)
        return Decision(True, decision.limit, decision.remaining, decision.reset_seconds,
                        decision.policy)  # fmt: skip

    def _decide(self, policy: str, keys: list[str], cost: int, *, count: bool) -> Decision:
        item = self._items[policy]
        namespace = [policy]
        cost = min(cost, item.amount)  # more than the whole budget waits for an empty window
        allowed = cost == 0 or all(
            self._limiter.test(item, *namespace, key, cost=cost) for key in keys
        )
        if allowed and count:
            for key in keys:
                self._limiter.hit(item, *namespace, key, cost=cost)
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


def _keys(request: Request, user_id: str | None) -> list[str]:
    keys = [f"ip:{client_address(request)}"]
    if user_id is not None:
        keys.append(f"user:{user_id}")
    return keys


def _refuse(decision: Decision, what: str = "Too many requests") -> Problem:
    return Problem(
        429,
        f"{what}; try again in {max(1, decision.reset_seconds)} seconds.",
        kind="rate-limited",
        title="Too many requests",
        headers=decision.headers(),
    )


def enforce(request: Request, policy: str, user_id: str | None) -> None:
    """Check ``policy`` for this user and address; 429 problem when over."""
    limiter: RateLimiter | None = getattr(request.app.state.accounts, "limiter", None)
    if limiter is None:
        return
    decision = limiter.hit(policy, _keys(request, user_id))
    if not decision.allowed:
        raise _refuse(decision)
    setattr(request.state, STATE_KEY, decision.headers())


def check_upload_room(request: Request, user_id: str, size: int | None) -> None:
    """Before an upload's bytes come: 429 when no further upload (or not ``size`` more bytes,
    when the client said how many) fits this hour's budgets. Nothing is counted here."""
    limiter: RateLimiter | None = getattr(request.app.state.accounts, "limiter", None)
    if limiter is None:
        return
    keys = _keys(request, user_id)
    decision = limiter.room("upload", keys)
    if not decision.allowed:
        raise _refuse(decision, "Too many uploads")
    if limiter.limits("upload_bytes"):
        by_bytes = limiter.room("upload_bytes", keys, max(1, size or 1))
        if not by_bytes.allowed:
            raise _refuse(by_bytes, "Too many bytes uploaded")
    setattr(request.state, STATE_KEY, decision.headers())


def charge_upload(request: Request, user_id: str, size: int) -> None:
    """An upload became a job: count it, and its bytes, against the budgets."""
    limiter: RateLimiter | None = getattr(request.app.state.accounts, "limiter", None)
    if limiter is None:
        return
    keys = _keys(request, user_id)
    decision = limiter.charge("upload", keys)
    if limiter.limits("upload_bytes"):
        limiter.charge("upload_bytes", keys, max(1, size))
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


def upload_room(length_header: str) -> Any:
    """A route dependency for uploads: :func:`check_upload_room`, with the size the request
    declares in ``length_header`` (Content-Length, or tus's Upload-Length)."""

    async def dependency(request: Request, user: CurrentUser) -> None:
        value = request.headers.get(length_header, "")
        size = int(value) if value.isascii() and value.isdigit() and len(value) < 19 else None
        limiter: RateLimiter | None = getattr(request.app.state.accounts, "limiter", None)
        if limiter is None or limiter.in_memory:
            check_upload_room(request, user.id, size)
        else:
            await run_in_threadpool(check_upload_room, request, user.id, size)

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
