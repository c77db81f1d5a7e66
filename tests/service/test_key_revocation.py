"""Revoking an API key reaches everything made from it (issue 16): the access tokens minted
with the key, and the tokens those tokens minted, on this instance at once and on another
instance within the credential cache's bounded lifetime. Real servers, real tokens."""

from __future__ import annotations

import time

import pytest
from pydantic import ValidationError

from moments.service.settings import Settings
from tests.helpers import wait_for

from .auth_helpers import accounts_settings, client_for, sign_up


def _mint(client) -> str:
    response = client.post("/api/v1/auth/token")
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def test_a_revoked_key_takes_every_token_made_from_it_along(settings, start_api):
    api = start_api(accounts_settings(settings))
    session = client_for(api, sign_up(api, "chain@example.com")["access_token"])
    created = session.post("/api/v1/keys", json={"name": "backend"})
    assert created.status_code == 201, created.text
    key = created.json()

    by_key = client_for(api, key["key"])
    token = _mint(by_key)  # T: minted with the key
    by_token = client_for(api, token)
    grandchild = _mint(by_token)  # minted with T, before the revocation
    by_grandchild = client_for(api, grandchild)
    for client in (by_key, by_token, by_grandchild):  # all work, and are now in the cache
        assert client.get("/api/v1/me").status_code == 200

    assert session.delete(f"/api/v1/keys/{key['id']}").status_code == 204

    assert by_key.get("/api/v1/me").status_code == 401
    refused = by_token.get("/api/v1/me")
    assert refused.status_code == 401
    assert refused.json()["detail"] == "The API key this access token was made from was revoked."
    assert by_token.post("/api/v1/auth/token").status_code == 401  # cannot mint
    assert by_token.post("/api/v1/keys", json={"name": "persist"}).status_code == 401
    assert by_grandchild.get("/api/v1/me").status_code == 401
    assert by_grandchild.post("/api/v1/auth/token").status_code == 401
    anonymous = api.anonymous()
    assert anonymous.get("/api/v1/me", params={"access_token": token}).status_code == 401
    # Only one key was created: the refused request made none.
    names = [k["name"] for k in session.get("/api/v1/keys").json()]
    assert names == ["backend"]
    # The password session the key was made in is not derived from the key: it goes on.
    assert session.get("/api/v1/me").status_code == 200
    assert client_for(api, _mint(session)).get("/api/v1/me").status_code == 200


def test_keys_made_with_a_revoked_key_are_revoked_with_it(settings, start_api):
    """Whoever held the key could make more keys with it, directly or through a token: those
    die with it, down every generation; keys made in a password session do not."""
    api = start_api(accounts_settings(settings))
    session = client_for(api, sign_up(api, "offspring@example.com")["access_token"])
    root = session.post("/api/v1/keys", json={"name": "root"}).json()
    other = session.post("/api/v1/keys", json={"name": "other"}).json()
    by_root = client_for(api, root["key"])
    child = by_root.post("/api/v1/keys", json={"name": "child"}).json()  # made with the key
    by_token = client_for(api, _mint(by_root))
    minted = by_token.post("/api/v1/keys", json={"name": "minted"}).json()  # with a token of it
    grandchild = client_for(api, child["key"]).post("/api/v1/keys", json={"name": "gc"}).json()
    offspring = [child, minted, grandchild]
    for key in [root, other, *offspring]:
        assert client_for(api, key["key"]).get("/api/v1/me").status_code == 200

    assert session.delete(f"/api/v1/keys/{root['id']}").status_code == 204

    for key in [root, *offspring]:
        assert client_for(api, key["key"]).get("/api/v1/me").status_code == 401, key["name"]
    assert client_for(api, other["key"]).get("/api/v1/me").status_code == 200
    listed = {k["name"]: k["revoked_at"] for k in session.get("/api/v1/keys").json()}
    assert listed["other"] is None
    assert all(listed[name] for name in ("root", "child", "minted", "gc"))


def test_another_instance_drops_a_revoked_keys_tokens_within_the_cache_time(
    settings, start_api
):
    """Two API instances on one database: the key is revoked through the first, while the
    second has its tokens cached; the second refuses them once its cache time has passed."""
    shared = accounts_settings(settings, auth_cache_seconds=1.0)
    first, second = start_api(shared), start_api(shared)
    session = client_for(first, sign_up(first, "two@example.com")["access_token"])
    key = session.post("/api/v1/keys", json={}).json()
    token = _mint(client_for(first, key["key"]))
    there = client_for(second, token)
    assert there.get("/api/v1/me").status_code == 200  # cached on the second instance

    assert session.delete(f"/api/v1/keys/{key['id']}").status_code == 204
    revoked_at = time.monotonic()
    wait_for(lambda: there.get("/api/v1/me").status_code == 401, 5, "the token to be refused")
    assert time.monotonic() - revoked_at < 1.0 + 1.5  # the cache time, plus a request's slack
    assert client_for(second, key["key"]).get("/api/v1/me").status_code == 401


def test_the_credential_cache_time_is_bounded(tmp_path):
    assert Settings(data_dir=tmp_path, auth_cache_seconds=60, _env_file=None)
    with pytest.raises(ValidationError):
        Settings(data_dir=tmp_path, auth_cache_seconds=3600, _env_file=None)
