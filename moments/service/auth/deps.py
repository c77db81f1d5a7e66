"""FastAPI dependencies: who is calling (``CurrentUser``), and the account services.

A request authenticates with ``Authorization: Bearer <credential>``, where the credential is
an access token (JWT from login/refresh/``POST /auth/token``) or an API key (``mk_...``).
GET/HEAD requests may instead carry an access token as ``?access_token=`` — for what a browser
cannot add headers to (``<video src>``, ``EventSource``). API keys are never taken from URLs:
URLs end up in logs and histories, and keys live for months.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from ..accounts.store import AccountStore, UserView
from ..db.models import utcnow
from ..problems import Problem
from .tokens import InvalidToken, decode_access_token, looks_like_jwt

if TYPE_CHECKING:
    from ..metrics import Metrics
    from ..notify.outbox import Outbox
    from ..ratelimit import RateLimiter
    from ..settings import Settings


class CredentialCache:
    """Who is behind recently checked credentials (a :class:`Principal`), so that an app polling
    every half second does not cost a database lookup per poll.

    An entry lives ``seconds`` (never past an access token's own expiry), and none survives a
    change of accounts made through this process (a key revoked, every session signed out, a
    new plan): ``generation`` counts those. A change made through another API instance is seen
    there within ``seconds``. Keys are SHA-256 digests, so no credential is kept.
    """

    MAX_ENTRIES = 10_000

    def __init__(self, seconds: float, generation: Callable[[], int]) -> None:
        self._seconds = seconds
        self._generation = generation
        self._entries: OrderedDict[bytes, tuple[Any, float, int]] = OrderedDict()

    @staticmethod
    def _key(credential: str) -> bytes:
        return hashlib.sha256(credential.encode()).digest()

    def get(self, credential: str) -> Any:
        entry = self._entries.get(self._key(credential))
        if entry is None:
            return None
        user, until, generation = entry
        if time.monotonic() >= until or generation != self._generation():
            return None
        return user

    def generation(self) -> int:
        """Take before looking a credential up; give to :meth:`put` after."""
        return self._generation()

    def put(
        self, credential: str, user: Any, generation: int, not_after: datetime | None = None
    ) -> None:
        """Remember ``user`` (who is behind it) for ``credential``, as looked up when accounts
        were at ``generation`` (a change during the lookup then makes the entry stale at once)."""
        if self._seconds <= 0:
            return
        until = time.monotonic() + self._seconds
        if not_after is not None:
            until = min(until, time.monotonic() + (not_after - utcnow()).total_seconds())
        key = self._key(credential)
        self._entries[key] = (user, until, generation)
        self._entries.move_to_end(key)
        while len(self._entries) > self.MAX_ENTRIES:
            self._entries.popitem(last=False)


@dataclass
class AccountServices:
    """Built once by the app's lifespan (``app.state.accounts``)."""

    settings: Settings
    accounts: AccountStore
    secret: bytes
    limiter: RateLimiter | None = None
    metrics: Metrics | None = None
    outbox: Outbox | None = None
    clock: Callable[[], datetime] = field(default=utcnow)
    """Current time for quotas; tests move it to check the monthly reset."""
    credentials: CredentialCache = field(init=False)

    def __post_init__(self) -> None:
        self.credentials = CredentialCache(
            self.settings.auth_cache_seconds, lambda: self.accounts.generation
        )


async def get_account_services(request: Request) -> AccountServices:
    return request.app.state.accounts


AccountsDep = Annotated[AccountServices, Depends(get_account_services)]


def unauthorized(detail: str) -> Problem:
    return Problem(
        401,
        detail,
        kind="unauthorized",
        title="Not signed in",
        headers={"WWW-Authenticate": 'Bearer realm="moments"'},
    )


def credential_of(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    if request.method in ("GET", "HEAD"):
        token = request.query_params.get("access_token")
        if token and looks_like_jwt(token):
            return token
    return None


@dataclass(frozen=True)
class Principal:
    """Who a credential stands for: the user, and the API key it is or was minted from."""

    user: UserView
    key_id: str | None = None


def _check_credential(
    credential: str, services: AccountServices
) -> tuple[Principal, datetime | None]:
    """Who is behind ``credential`` and when it expires (access tokens), or a 401 problem.

    An access token minted from an API key dies with the key: revoking a key reaches every
    token made from it, and every token those tokens made.
    """
    if looks_like_jwt(credential):
        try:
            claims = decode_access_token(services.secret, credential)
        except InvalidToken as exc:
            raise unauthorized(str(exc)) from None
        user = services.accounts.get_user(claims.user_id)
        if user is None or user.token_version != claims.version:
            raise unauthorized("The access token was revoked; sign in again.")
        if claims.key_id is not None and not services.accounts.api_key_live(
            claims.key_id, user.id
        ):
            raise unauthorized("The API key this access token was made from was revoked.")
        return Principal(user, claims.key_id), claims.expires_at
    found = services.accounts.api_key_holder(credential)
    if found is None:
        raise unauthorized("The API key is not valid or was revoked.")
    return Principal(*found), None


async def current_user(request: Request, services: AccountsDep) -> UserView:
    """The user behind the request's credential, or a 401 problem.

    A credential checked in the last few seconds is answered from memory, in the event loop;
    otherwise the database is asked in a worker thread.
    """
    credential = credential_of(request)
    if credential is None:
        raise unauthorized("Sign in first: send 'Authorization: Bearer <API key or access token>'.")
    principal = services.credentials.get(credential)
    if principal is None:
        generation = services.credentials.generation()
        principal, expires_at = await run_in_threadpool(_check_credential, credential, services)
        services.credentials.put(credential, principal, generation, expires_at)
    request.state.user = principal.user
    request.state.api_key_id = principal.key_id
    """The API key the credential is or came from (None: a password session): tokens minted
    with this credential carry it, so they die with the key."""
    return principal.user


CurrentUser = Annotated[UserView, Depends(current_user)]
"""The signed-in user; use on every route that touches a user's jobs or settings."""
