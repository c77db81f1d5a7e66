"""Sign-up, login, token refresh, logout and password change; ``/me``; API keys."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Body, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from ..accounts.quota import usage_of
from ..accounts.store import EmailTaken, RefreshRejected, UserView
from ..paths import API_PREFIX
from ..problems import Problem
from ..ratelimit import limited_by_address
from .deps import AccountsDep, AccountServices, CurrentUser
from .passwords import MIN_LENGTH, hash_password, needs_rehash, verify_password
from .tokens import issue_access_token

router = APIRouter(prefix=API_PREFIX, tags=["account"])


class Credentials(BaseModel):
    email: str = Field(min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")
    password: str = Field(min_length=1, max_length=1024)


class RefreshIn(BaseModel):
    refresh_token: str = Field(min_length=1, max_length=200)


class LogoutIn(BaseModel):
    refresh_token: str | None = Field(None, max_length=200)


class UserOut(BaseModel):
    id: str
    email: str
    plan: str
    created_at: datetime


class TokensOut(BaseModel):
    token_type: str = "Bearer"
    access_token: str
    expires_in: int
    refresh_token: str | None = None
    user: UserOut


class MeOut(BaseModel):
    user: UserOut
    plan: str
    used: int
    limit: int | None = Field(description="Reels per month; null means unlimited.")
    remaining: int | None
    period: str
    resets_at: datetime


class PasswordChange(BaseModel):
    current_password: str = Field(min_length=1, max_length=1024)
    new_password: str = Field(min_length=1, max_length=1024)


class KeyIn(BaseModel):
    name: str = Field("", max_length=100)


class KeyOut(BaseModel):
    id: str
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None
    key: str | None = Field(None, description="The key itself: shown only when it is created.")


def _user_out(user: UserView) -> UserOut:
    return UserOut(id=user.id, email=user.email, plan=user.plan, created_at=user.created_at)


def _tokens(
    acc: AccountServices, user: UserView, refresh: str | None, key_id: str | None = None
) -> TokensOut:
    token, _ = issue_access_token(
        acc.secret, user.id, user.token_version, acc.settings.access_token_seconds, key_id=key_id
    )
    return TokensOut(
        access_token=token,
        expires_in=acc.settings.access_token_seconds,
        refresh_token=refresh,
        user=_user_out(user),
    )


def _refresh_lifetime(acc: AccountServices) -> timedelta:
    return timedelta(days=acc.settings.refresh_token_days)


def _check_strength(password: str) -> None:
    if len(password) < MIN_LENGTH:
        raise Problem(
            422,
            f"Choose a password of at least {MIN_LENGTH} characters.",
            kind="weak-password",
            title="Password too short",
        )


@router.post(
    "/auth/signup",
    status_code=201,
    response_model=TokensOut,
    dependencies=[limited_by_address("auth")],
)
def signup(body: Credentials, acc: AccountsDep) -> TokensOut:
    """Create an account (auth_mode=accounts); answers with tokens, as a login would."""
    settings = acc.settings
    if settings.auth_mode != "accounts" or not settings.allow_signup:
        raise Problem(403, "Sign-up is closed on this server.", kind="signup-closed")
    _check_strength(body.password)
    try:
        user = acc.accounts.create_user(
            body.email, hash_password(body.password), settings.default_plan
        )
    except EmailTaken:
        raise Problem(
            409, "There is already an account with this email.", kind="email-taken"
        ) from None
    return _tokens(acc, user, acc.accounts.issue_refresh_token(user.id, _refresh_lifetime(acc)))


@router.post("/auth/login", response_model=TokensOut, dependencies=[limited_by_address("auth")])
def login(body: Credentials, acc: AccountsDep) -> TokensOut:
    """Email and password for an access token (15 min) and a refresh token."""
    user, password_hash = acc.accounts.credentials(body.email)
    if user is None or not verify_password(password_hash, body.password):
        raise Problem(401, "The email or password is wrong.", kind="bad-credentials")
    assert password_hash is not None
    if needs_rehash(password_hash):
        acc.accounts.set_password_hash(user.id, hash_password(body.password))
    return _tokens(acc, user, acc.accounts.issue_refresh_token(user.id, _refresh_lifetime(acc)))


@router.post("/auth/refresh", response_model=TokensOut, dependencies=[limited_by_address("auth")])
def refresh(body: RefreshIn, acc: AccountsDep) -> TokensOut:
    """Spend a refresh token for a new access token and a new refresh token (rotation)."""
    try:
        user, new_refresh = acc.accounts.rotate_refresh_token(
            body.refresh_token, _refresh_lifetime(acc)
        )
    except RefreshRejected as exc:
        raise Problem(401, str(exc), kind="bad-refresh-token") from None
    return _tokens(acc, user, new_refresh)


@router.post("/auth/token", response_model=TokensOut)
def access_token(request: Request, user: CurrentUser, acc: AccountsDep) -> TokensOut:
    """A short-lived access token for the signed-in caller (e.g. a web page holding an API key,
    for ``?access_token=`` on video, poster and event-stream URLs). A token made with an API
    key, or with a token made from one, stops working when that key is revoked."""
    return _tokens(acc, user, None, key_id=getattr(request.state, "api_key_id", None))


@router.post("/auth/logout", status_code=204)
def logout(
    user: CurrentUser, acc: AccountsDep, body: Annotated[LogoutIn | None, Body()] = None
) -> Response:
    """Revoke the refresh token's sessions and every access token issued so far."""
    if body is not None and body.refresh_token:
        acc.accounts.revoke_family_of(body.refresh_token)
    acc.accounts.revoke_access_tokens(user.id)
    return Response(status_code=204)


@router.post("/auth/password", response_model=TokensOut, dependencies=[limited_by_address("auth")])
def change_password(body: PasswordChange, user: CurrentUser, acc: AccountsDep) -> TokensOut:
    """Change your password. Every session is signed out (access and refresh tokens, not API
    keys); the answer holds fresh tokens for this one."""
    _, password_hash = acc.accounts.credentials(user.email)
    if password_hash is None:
        raise Problem(
            409,
            "This account has no password: it signs in with its API key.",
            kind="no-password",
        )
    if not verify_password(password_hash, body.current_password):
        # 403, not 401: the caller is signed in; only the password they typed is wrong.
        raise Problem(403, "The current password is wrong.", kind="bad-credentials")
    _check_strength(body.new_password)
    acc.accounts.set_password_hash(user.id, hash_password(body.new_password))
    acc.accounts.revoke_refresh_tokens(user.id)
    acc.accounts.revoke_access_tokens(user.id)
    fresh = acc.accounts.get_user(user.id)
    assert fresh is not None
    return _tokens(acc, fresh, acc.accounts.issue_refresh_token(user.id, _refresh_lifetime(acc)))


@router.get("/me", response_model=MeOut)
async def me(user: CurrentUser, acc: AccountsDep) -> MeOut:
    """Who you are, your plan and this month's reels: used, limit, and when the count resets."""
    usage = await run_in_threadpool(usage_of, acc, user)
    return MeOut(user=_user_out(user), **usage)


@router.post("/keys", status_code=201, response_model=KeyOut)
def create_key(
    request: Request, user: CurrentUser, acc: AccountsDep, body: KeyIn | None = None
) -> Any:
    """A new API key for server-to-server use. The key is in this answer only: keep it.
    A key made with another key (or a token minted from one) is revoked along with it."""
    parent = getattr(request.state, "api_key_id", None)
    view, secret = acc.accounts.create_api_key(user.id, body.name if body else "", parent)
    return KeyOut(**view.__dict__, key=secret)


@router.get("/keys", response_model=list[KeyOut])
def list_keys(user: CurrentUser, acc: AccountsDep) -> Any:
    """Your API keys (never the keys themselves)."""
    return [KeyOut(**k.__dict__) for k in acc.accounts.list_api_keys(user.id)]


@router.delete("/keys/{key_id}", status_code=204)
def revoke_key(key_id: str, user: CurrentUser, acc: AccountsDep) -> Response:
    """Revoke an API key: it stops working at once, and so does every access token made from
    it (``POST /auth/token``), and every key made with it."""
    if not acc.accounts.revoke_api_key(user.id, key_id):
        raise Problem(404, "There is no such active API key.", kind="key-not-found")
    return Response(status_code=204)
