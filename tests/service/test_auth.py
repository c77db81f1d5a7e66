"""Sign-up, login, refresh rotation, logout, API keys, and attacks on the access token."""

from __future__ import annotations

import base64
import json
import time

import jwt
import pytest

from moments.service.auth.passwords import hash_password, verify_password
from moments.service.auth.tokens import ALGORITHM, ISSUER, load_secret

from .auth_helpers import accounts_settings, client_for, sign_up


@pytest.fixture
def accounts_api(settings, start_api):
    return start_api(accounts_settings(settings))


def _secret(api) -> bytes:
    return api.server.config.app.state.accounts.secret


def _claims(api, user_id: str, **changes) -> dict:
    now = int(time.time())
    claims = {"iss": ISSUER, "sub": user_id, "ver": 0, "typ": "access", "jti": "x",
              "iat": now, "exp": now + 600}  # fmt: skip
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def test_signup_login_and_me(accounts_api):
    tokens = sign_up(accounts_api, "Ann@Example.com")
    assert tokens["token_type"] == "Bearer" and tokens["expires_in"] == 900
    assert tokens["user"]["email"] == "ann@example.com"
    me = client_for(accounts_api, tokens["access_token"]).get("/api/v1/me")
    assert me.status_code == 200
    assert me.json()["user"]["email"] == "ann@example.com"

    anon = accounts_api.anonymous()
    bad = anon.post(
        "/api/v1/auth/login", json={"email": "ann@example.com", "password": "wrong password!"}
    )
    assert bad.status_code == 401
    assert bad.json()["type"] == "urn:moments:problem:bad-credentials"
    good = anon.post(
        "/api/v1/auth/login",
        json={"email": "ann@example.com", "password": "correct horse battery"},
    )
    assert good.status_code == 200
    assert client_for(accounts_api, good.json()["access_token"]).get("/api/v1/me").is_success
    again = anon.post(
        "/api/v1/auth/signup", json={"email": "ann@example.com", "password": "another password"}
    )
    assert again.status_code == 409


def test_short_password_and_closed_signup(settings, start_api, accounts_api):
    anon = accounts_api.anonymous()
    short = anon.post("/api/v1/auth/signup", json={"email": "b@example.com", "password": "short"})
    assert short.status_code == 422
    local = start_api(settings)  # auth_mode=local: one account, nobody signs up
    closed = local.anonymous().post(
        "/api/v1/auth/signup", json={"email": "c@example.com", "password": "long enough pw"}
    )
    assert closed.status_code == 403


def test_passwords_are_argon2id():
    stored = hash_password("correct horse battery")
    assert stored.startswith("$argon2id$")
    assert verify_password(stored, "correct horse battery")
    assert not verify_password(stored, "Correct horse battery")
    assert not verify_password(None, "anything")


def test_requests_without_credentials_are_401_but_public_paths_stay_open(accounts_api):
    anon = accounts_api.anonymous()
    for path in ("/api/v1/jobs", "/api/v1/me", "/api/v1/webhooks", f"/api/v1/jobs/{'0' * 32}"):
        response = anon.get(path)
        assert response.status_code == 401, path
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert response.headers["content-type"] == "application/problem+json"
    assert (
        anon.post("/api/v1/upload", content=b"x", headers={"Content-Type": "video/mp4"}).status_code
        == 401
    )
    for path in ("/health", "/docs", "/openapi.json", "/api/v1/upload/formats"):
        assert anon.get(path).status_code == 200, path


def test_refresh_rotates_and_reuse_revokes_the_family(accounts_api):
    tokens = sign_up(accounts_api, "rot@example.com")
    anon = accounts_api.anonymous()
    first = tokens["refresh_token"]
    rotated = anon.post("/api/v1/auth/refresh", json={"refresh_token": first})
    assert rotated.status_code == 200
    second = rotated.json()["refresh_token"]
    assert second != first
    assert client_for(accounts_api, rotated.json()["access_token"]).get("/api/v1/me").is_success

    # The spent token comes back (stolen copy): refused, and the whole family is revoked.
    replay = anon.post("/api/v1/auth/refresh", json={"refresh_token": first})
    assert replay.status_code == 401
    assert "already used" in replay.json()["detail"]
    assert anon.post("/api/v1/auth/refresh", json={"refresh_token": second}).status_code == 401
    assert anon.post("/api/v1/auth/refresh", json={"refresh_token": "mr_nope"}).status_code == 401


def test_refresh_tokens_and_api_keys_are_stored_hashed(accounts_api):
    import sqlite3

    tokens = sign_up(accounts_api, "hash@example.com")
    key = client_for(accounts_api, tokens["access_token"]).post("/api/v1/keys", json={}).json()
    db = accounts_api.services.settings.data_dir / "moments.db"
    dump = "\n".join(sqlite3.connect(db).iterdump())
    assert tokens["refresh_token"] not in dump
    assert key["key"] not in dump
    assert "correct horse battery" not in dump


def test_logout_revokes_access_and_refresh_tokens(accounts_api):
    tokens = sign_up(accounts_api, "out@example.com")
    client = client_for(accounts_api, tokens["access_token"])
    assert (
        client.post(
            "/api/v1/auth/logout", json={"refresh_token": tokens["refresh_token"]}
        ).status_code
        == 204
    )
    revoked = client.get("/api/v1/me")
    assert revoked.status_code == 401
    assert "revoked" in revoked.json()["detail"]
    refresh = accounts_api.anonymous().post(
        "/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    assert refresh.status_code == 401


def test_api_keys_shown_once_listed_without_secret_and_revocable(accounts_api):
    tokens = sign_up(accounts_api, "keys@example.com")
    client = client_for(accounts_api, tokens["access_token"])
    created = client.post("/api/v1/keys", json={"name": "backend"})
    assert created.status_code == 201
    key = created.json()
    assert key["key"].startswith("mk_") and key["prefix"] == key["key"][:10]
    listed = client.get("/api/v1/keys").json()
    assert [k["id"] for k in listed] == [key["id"]]
    assert listed[0]["key"] is None
    by_key = client_for(accounts_api, key["key"])
    assert by_key.get("/api/v1/me").json()["user"]["email"] == "keys@example.com"
    assert client.delete(f"/api/v1/keys/{key['id']}").status_code == 204
    assert by_key.get("/api/v1/me").status_code == 401
    assert client.delete(f"/api/v1/keys/{key['id']}").status_code == 404


# -- attacks on the access token --------------------------------------------------------------


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_alg_none_token_is_refused(accounts_api):
    user_id = sign_up(accounts_api, "none@example.com")["user"]["id"]
    forged = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(_claims(accounts_api, user_id))}."
    response = client_for(accounts_api, forged).get("/api/v1/me")
    assert response.status_code == 401


def test_token_signed_with_another_key_is_refused(accounts_api):
    user_id = sign_up(accounts_api, "wrongkey@example.com")["user"]["id"]
    forged = jwt.encode(_claims(accounts_api, user_id), b"not-the-server-key" * 3, ALGORITHM)
    assert client_for(accounts_api, forged).get("/api/v1/me").status_code == 401
    # HS512 with the right key: the algorithm is pinned, so still refused.
    other_alg = jwt.encode(_claims(accounts_api, user_id), _secret(accounts_api), "HS512")
    assert client_for(accounts_api, other_alg).get("/api/v1/me").status_code == 401
    # And the same claims signed properly do work (the refusals above are about the key/alg).
    genuine = jwt.encode(_claims(accounts_api, user_id), _secret(accounts_api), ALGORITHM)
    assert client_for(accounts_api, genuine).get("/api/v1/me").status_code == 200


def test_expired_token_is_refused(accounts_api):
    user_id = sign_up(accounts_api, "expired@example.com")["user"]["id"]
    past = int(time.time()) - 3600
    token = jwt.encode(
        _claims(accounts_api, user_id, iat=past - 900, exp=past), _secret(accounts_api), ALGORITHM
    )
    response = client_for(accounts_api, token).get("/api/v1/me")
    assert response.status_code == 401
    assert "expired" in response.json()["detail"]


def test_token_without_exp_is_refused(accounts_api):
    user_id = sign_up(accounts_api, "noexp@example.com")["user"]["id"]
    token = jwt.encode(_claims(accounts_api, user_id, exp=None), _secret(accounts_api), ALGORITHM)
    assert client_for(accounts_api, token).get("/api/v1/me").status_code == 401


def test_refresh_token_is_not_an_access_token(accounts_api):
    tokens = sign_up(accounts_api, "typ@example.com")
    assert client_for(accounts_api, tokens["refresh_token"]).get("/api/v1/me").status_code == 401
    user_id = tokens["user"]["id"]
    other_typ = jwt.encode(
        _claims(accounts_api, user_id, typ="refresh"), _secret(accounts_api), ALGORITHM
    )
    assert client_for(accounts_api, other_typ).get("/api/v1/me").status_code == 401


def test_access_token_in_query_only_for_get_and_never_an_api_key(api):
    token = api.client.post("/api/v1/auth/token").json()["access_token"]
    anon = api.anonymous()
    assert anon.get(f"/api/v1/me?access_token={token}").status_code == 200
    assert anon.get(f"/api/v1/me?access_token={api.api_key}").status_code == 401
    assert anon.post(f"/api/v1/auth/token?access_token={token}").status_code == 401


def test_secret_is_generated_once_and_kept_private(tmp_path):
    first = load_secret(None, tmp_path)
    assert load_secret(None, tmp_path) == first and len(first) >= 48
    assert (tmp_path / "jwt-secret").stat().st_mode & 0o777 == 0o600
    assert load_secret("configured", tmp_path) == b"configured"


def test_password_change_signs_every_session_out_and_keeps_the_account(accounts_api):
    tokens = sign_up(accounts_api, "pw@example.com")
    other_session = accounts_api.anonymous().post(
        "/api/v1/auth/login",
        json={"email": "pw@example.com", "password": "correct horse battery"},
    )
    assert other_session.status_code == 200
    client = client_for(accounts_api, tokens["access_token"])
    assert client.get("/api/v1/me").is_success  # the old token is checked (and cached) first

    wrong = client.post(
        "/api/v1/auth/password",
        json={"current_password": "not it at all", "new_password": "a new long password"},
    )
    assert wrong.status_code == 403 and wrong.json()["type"].endswith(":bad-credentials")
    short = client.post(
        "/api/v1/auth/password",
        json={"current_password": "correct horse battery", "new_password": "short"},
    )
    assert short.status_code == 422 and short.json()["type"].endswith(":weak-password")
    assert client.get("/api/v1/me").is_success  # refused changes sign nobody out

    changed = client.post(
        "/api/v1/auth/password",
        json={"current_password": "correct horse battery", "new_password": "a new long password"},
    )
    assert changed.status_code == 200
    fresh = changed.json()
    assert client_for(accounts_api, fresh["access_token"]).get("/api/v1/me").is_success
    assert client.get("/api/v1/me").status_code == 401  # old access token
    anon = accounts_api.anonymous()
    for old in (tokens["refresh_token"], other_session.json()["refresh_token"]):
        assert anon.post("/api/v1/auth/refresh", json={"refresh_token": old}).status_code == 401
    assert anon.post(
        "/api/v1/auth/refresh", json={"refresh_token": fresh["refresh_token"]}
    ).is_success
    login = {"email": "pw@example.com"}
    old_login = anon.post("/api/v1/auth/login", json={**login, "password": "correct horse battery"})
    assert old_login.status_code == 401
    new_login = anon.post("/api/v1/auth/login", json={**login, "password": "a new long password"})
    assert new_login.status_code == 200


def test_an_account_without_a_password_cannot_change_one(api):
    response = api.client.post(
        "/api/v1/auth/password",
        json={"current_password": "anything", "new_password": "a new long password"},
    )
    assert response.status_code == 409
    assert response.json()["type"].endswith(":no-password")
    assert api.client.get("/api/v1/me").is_success  # the local account's key still works
