"""FastAPI dependencies: who is calling (``CurrentUser``), and the account services.

A request authenticates with ``Authorization: Bearer <credential>``, where the credential is
an access token (JWT from login/refresh/``POST /auth/token``) or an API key (``mk_...``).
GET/HEAD requests may instead carry an access token as ``?access_token=`` — for what a browser
cannot add headers to (``<video src>``, ``EventSource``). API keys are never taken from URLs:
URLs end up in logs and histories, and keys live for months.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, Request

from ..accounts.store import AccountStore, UserView
from ..api.problems import Problem
from ..db.models import utcnow
from .tokens import InvalidToken, decode_access_token, looks_like_jwt

if TYPE_CHECKING:
    from ..settings import Settings


@dataclass
class AccountServices:
    """Built once by the app's lifespan (``app.state.accounts``)."""

    settings: Settings
    accounts: AccountStore
    secret: bytes
    limiter: Any = None
    metrics: Any = None
    outbox: Any = None
    clock: Callable[[], datetime] = field(default=utcnow)
    """Current time for quotas; tests move it to check the monthly reset."""


def get_account_services(request: Request) -> AccountServices:
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


def authenticate(request: Request, services: AccountServices) -> UserView:
    """The user behind the request's credential, or a 401 problem."""
    credential = credential_of(request)
    if credential is None:
        raise unauthorized("Sign in first: send 'Authorization: Bearer <API key or access token>'.")
    if looks_like_jwt(credential):
        try:
            claims = decode_access_token(services.secret, credential)
        except InvalidToken as exc:
            raise unauthorized(str(exc)) from None
        user = services.accounts.get_user(claims.user_id)
        if user is None or user.token_version != claims.version:
            raise unauthorized("The access token was revoked; sign in again.")
    else:
        user = services.accounts.user_for_api_key(credential)
        if user is None:
            raise unauthorized("The API key is not valid or was revoked.")
    request.state.user = user
    return user


def current_user(request: Request, services: AccountsDep) -> UserView:
    return authenticate(request, services)


CurrentUser = Annotated[UserView, Depends(current_user)]
"""The signed-in user; use on every route that touches a user's jobs or settings."""
