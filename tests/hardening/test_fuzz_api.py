"""API fuzzing: Schemathesis with every check against the live server's own /openapi.json.

Zero server errors, zero answers that break the schema, and authentication that cannot be
skipped: without a credential, every operation but the public ones answers 401. Bounded by
``MAX_EXAMPLES`` per operation so it fits in CI.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from .fuzz import GENEROUS_ENV, SELF_REVOKING, new_api_key, run_schemathesis
from .server_process import ServerProcess

MAX_EXAMPLES = 15
PUBLIC = {
    ("GET", "/health"),
    ("GET", "/ready"),
    ("GET", "/api/v1/upload/formats"),
    ("POST", "/api/v1/auth/login"),
    ("POST", "/api/v1/auth/signup"),
    ("POST", "/api/v1/auth/refresh"),
}
"""Operations anyone may call; everything else needs a credential."""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    data_dir = tmp_path_factory.mktemp("fuzz") / "data"
    process = ServerProcess(data_dir, {**GENEROUS_ENV, "MOMENTS_WORKERS": "1"}).start()
    yield process
    process.stop()


def token_of(server: ServerProcess) -> str:
    return server.headers["Authorization"].removeprefix("Bearer ")


def test_schemathesis_finds_nothing(server: ServerProcess, tmp_path: Path) -> None:
    result = run_schemathesis(
        server.base_url,
        token_of(server),
        tmp_path / "main",
        max_examples=MAX_EXAMPLES,
        exclude=SELF_REVOKING,
    )
    assert result.operations >= 25, result.output[-3000:]
    assert result.cases > 500, result.output[-3000:]
    assert (result.failures, result.errors) == (0, 0), result.output[-8000:]
    assert result.returncode == 0, result.output[-8000:]

    # The operations that revoke their own credential, with a throwaway key.
    revoking = run_schemathesis(
        server.base_url,
        new_api_key(server.base_url, token_of(server)),
        tmp_path / "revoking",
        max_examples=MAX_EXAMPLES,
        include=SELF_REVOKING,
    )
    assert revoking.operations == 2, revoking.output[-3000:]
    assert (revoking.failures, revoking.errors, revoking.returncode) == (0, 0, 0), revoking.output[
        -8000:
    ]
    # The main key still works (only the throwaway one was revoked).
    with server.client() as client:
        assert client.get("/api/v1/me").status_code == 200


def test_every_private_operation_needs_a_credential(server: ServerProcess) -> None:
    schema = httpx.get(f"{server.base_url}/openapi.json", timeout=30).json()
    checked = 0
    with httpx.Client(base_url=server.base_url, timeout=30) as anonymous:
        for template, item in schema["paths"].items():
            path = re.sub(r"\{[^}]+\}", "0" * 32, template)
            for method, operation in item.items():
                method = method.upper()
                if (method, template) in PUBLIC:
                    assert "security" not in operation, (method, template)
                    continue
                assert operation.get("security") == [{"bearer": []}], (method, template)
                for headers in ({}, {"Authorization": "Bearer mk_not-a-key"}):
                    response = anonymous.request(
                        method,
                        path,
                        headers={"Tus-Resumable": "1.0.0", **headers},
                        params={"access_token": "not.a.jwt"} if method == "GET" else None,
                    )
                    assert response.status_code == 401, (method, template, response.text)
                    assert response.headers["content-type"] == "application/problem+json"
                    assert response.headers["www-authenticate"].startswith("Bearer")
                checked += 1
    assert checked >= 20
