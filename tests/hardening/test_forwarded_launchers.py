"""Every way the server is started passes the trusted proxies to uvicorn (issue 16): with
MOMENTS_TRUSTED_PROXIES naming some other address, loopback is not believed, as uvicorn's own
default (believe 127.0.0.1) would. Real child processes: ``moments serve`` as the Dockerfile
runs it, and the test/benchmark ServerProcess."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.helpers import stop_process

from .server_process import START_SECONDS, ServerProcess, free_port

ENV = {
    "MOMENTS_TRUSTED_PROXIES": "10.9.9.9",
    "MOMENTS_RATE_LIMIT_AUTH": "3/minute",
    "MOMENTS_LOG_FORMAT": "text",
}
GUESS = {"email": "victim@example.com", "password": "guess guess guess"}


def _moments_serve(data_dir: Path) -> Iterator[str]:
    port = free_port()
    env = {**os.environ, **ENV, "MOMENTS_DATA_DIR": str(data_dir), "MOMENTS_WORKERS": "1"}
    log = (data_dir.parent / "serve.log").open("wb")
    cli = [sys.executable, "-c", "from moments.cli import app; app()"]
    process = subprocess.Popen(
        [*cli, "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    log.close()
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_SECONDS
        while True:
            try:
                if httpx.get(base + "/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, "moments serve exited"
            assert time.monotonic() < deadline, "moments serve did not start in time"
            time.sleep(0.1)  # polling interval of a bounded start-up wait
        yield base
    finally:
        stop_process(process)


def _server_process(data_dir: Path) -> Iterator[str]:
    server = ServerProcess(data_dir, {**ENV, "MOMENTS_WORKERS": "1"}).start()
    try:
        yield server.base_url
    finally:
        server.stop()


@pytest.fixture(params=["moments serve", "ServerProcess"])
def base_url(request, tmp_path) -> Iterator[str]:
    start = _moments_serve if request.param == "moments serve" else _server_process
    yield from start(tmp_path / "data")


def test_loopback_is_not_a_trusted_proxy_unless_named(base_url):
    with httpx.Client(base_url=base_url, timeout=30) as client:
        codes = [
            client.post(
                "/api/v1/auth/login", json=GUESS, headers={"X-Forwarded-For": f"198.51.100.{n}"}
            ).status_code
            for n in range(5)
        ]
    assert codes == [401, 401, 401, 429, 429]
