"""X-Forwarded-For is believed only from MOMENTS_TRUSTED_PROXIES (issue 16): changing it on
every request must not escape the per-address login limit. Real app under real uvicorn; the
requests come from loopback, where uvicorn by itself would believe the header."""

from __future__ import annotations

import itertools

import pytest
from pydantic import ValidationError

from moments.service.proxies import uvicorn_args, uvicorn_options
from moments.service.settings import Settings

GUESS = {"email": "victim@example.com", "password": "guess guess guess"}
_addresses = (f"203.0.113.{n}" for n in itertools.count(1))


def _limited_settings(settings: Settings, **extra) -> Settings:
    return settings.model_copy(
        update={"auth_mode": "accounts", "rate_limit_auth": "3/minute", **extra}
    )


def _logins(api, forwarded_for) -> list[int]:
    """Five login attempts, each with the X-Forwarded-For ``forwarded_for()`` gives."""
    client = api.anonymous()
    return [
        client.post(
            "/api/v1/auth/login", json=GUESS, headers={"X-Forwarded-For": forwarded_for()}
        ).status_code
        for _ in range(5)
    ]


def test_by_default_a_rotating_forwarded_for_does_not_escape_the_login_limit(
    settings, start_api
):
    api = start_api(_limited_settings(settings))
    assert _logins(api, lambda: next(_addresses)) == [401, 401, 401, 429, 429]


def test_a_proxy_not_named_is_not_believed(settings, start_api):
    """Trusting some other proxy does not make loopback trusted (as uvicorn's own default
    would): the server must be started with exactly the configured proxies."""
    api = start_api(_limited_settings(settings, trusted_proxies=["10.9.9.9"]))
    assert _logins(api, lambda: next(_addresses)) == [401, 401, 401, 429, 429]


def test_a_named_proxy_is_believed(settings, start_api):
    api = start_api(_limited_settings(settings, trusted_proxies=["127.0.0.1"]))
    # Each client behind the proxy has its own budget...
    assert _logins(api, lambda: next(_addresses)) == [401] * 5
    # ...and one client is limited however the proxy's connection is reused.
    same = next(_addresses)
    assert _logins(api, lambda: f"{same}, 127.0.0.1") == [401, 401, 401, 429, 429]


def test_a_server_started_with_uvicorns_own_defaults_is_not_fooled(settings, start_api):
    """Started by hand (``uvicorn --factory``: proxy headers believed from 127.0.0.1), the
    server replaces the peer from the header; the app then counts all such requests together."""
    api = start_api(
        _limited_settings(settings), proxy_headers=True, forwarded_allow_ips="127.0.0.1"
    )
    assert _logins(api, lambda: next(_addresses)) == [401, 401, 401, 429, 429]
    # Requests without the header are counted by their real address, apart from those.
    plain = api.anonymous()
    assert plain.post("/api/v1/auth/login", json=GUESS).status_code == 401


def test_the_setting_and_the_server_options():
    default = Settings(_env_file=None)
    assert default.trusted_proxies == []
    assert uvicorn_options(default) == {"proxy_headers": False}
    assert uvicorn_args(default) == ["--no-proxy-headers"]
    named = Settings(trusted_proxies="127.0.0.1, 10.0.0.0/8", _env_file=None)
    assert named.trusted_proxies == ["127.0.0.1", "10.0.0.0/8"]
    # As a worker started with the API's settings in its environment reads them (JSON lists).
    assert Settings(trusted_proxies='["10.0.0.0/8"]', _env_file=None).trusted_proxies == [
        "10.0.0.0/8"
    ]
    assert Settings(trusted_proxies="[]", _env_file=None).trusted_proxies == []
    assert uvicorn_options(named) == {
        "proxy_headers": True,
        "forwarded_allow_ips": ["127.0.0.1", "10.0.0.0/8"],
    }
    assert uvicorn_args(named)[-1] == "127.0.0.1,10.0.0.0/8"
    with pytest.raises(ValidationError):
        Settings(trusted_proxies="*", _env_file=None)  # "everyone" is not a proxy
