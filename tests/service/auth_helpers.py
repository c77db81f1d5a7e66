"""Helpers for the account tests: a second user, a signed-in client, an accounts-mode server."""

from __future__ import annotations

import httpx

from moments.service.accounts.store import AccountStore, UserView
from moments.service.db import make_engine, make_session_factory
from moments.service.settings import Settings

from .conftest_api import LiveApi


def account_store(settings: Settings) -> AccountStore:
    return AccountStore(make_session_factory(make_engine(settings.database_url)))


def other_user(api: LiveApi, email: str = "mallory@example.com") -> tuple[UserView, httpx.Client]:
    """Another account with its own API key, and a client signed in as it."""
    accounts = account_store(api.services.settings)
    user = accounts.create_user(email, None, "free")
    _, key = accounts.create_api_key(user.id, "test")
    client = api.anonymous()
    client.headers["Authorization"] = f"Bearer {key}"
    return user, client


def accounts_settings(settings: Settings, **extra) -> Settings:
    """Multi-user mode, quick outbox and retries, loopback webhooks allowed (the receiver)."""
    return settings.model_copy(
        update={
            "auth_mode": "accounts",
            "webhook_allow_private": True,
            "webhook_backoff_seconds": 0.2,
            "outbox_interval": 0.05,
            **extra,
        }
    )


def sign_up(api: LiveApi, email: str, password: str = "correct horse battery") -> dict:
    response = api.anonymous().post(
        "/api/v1/auth/signup", json={"email": email, "password": password}
    )
    assert response.status_code == 201, response.text
    return response.json()


def client_for(api: LiveApi, token: str) -> httpx.Client:
    client = api.anonymous()
    client.headers["Authorization"] = f"Bearer {token}"
    return client
