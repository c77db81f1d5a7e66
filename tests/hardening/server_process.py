"""The real service in a child process (uvicorn), for tests that kill it or load it.

A server in the test's own process would share its GIL with the load generator, and cannot be
SIGKILLed; this one is started exactly as ``uvicorn --factory`` would in production, on a data
folder and settings given through the environment.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from moments.service.http_limits import uvicorn_args as limit_args
from tests.helpers import stop_process

START_SECONDS = 60.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    """``create_app()`` under uvicorn in a child process; ``env`` adds MOMENTS_* settings."""

    def __init__(self, data_dir: Path, env: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.env = {
            **os.environ,
            "MOMENTS_DATA_DIR": str(data_dir),
            "MOMENTS_LOG_FORMAT": "text",
            **(env or {}),
        }
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def headers(self) -> dict[str, str]:
        key = (self.data_dir / "local-api-key").read_text().strip()
        return {"Authorization": f"Bearer {key}"}

    def proxy_args(self) -> list[str]:
        """uvicorn's proxy options as ``moments serve`` sets them, from the child's settings."""
        from moments.service.proxies import uvicorn_args
        from moments.service.settings import Settings

        trusted = self.env.get("MOMENTS_TRUSTED_PROXIES", "")
        return uvicorn_args(Settings(trusted_proxies=trusted, _env_file=None))

    def start(self) -> ServerProcess:
        self.port = free_port()
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        log = (self.data_dir.parent / f"server-{self.port}.log").open("wb")
        self.process = subprocess.Popen(
            [
                sys.executable, "-m", "uvicorn", "moments.service.api.app:create_app",
                "--factory", "--host", "127.0.0.1", "--port", str(self.port),
                "--log-level", "warning", *self.proxy_args(), *limit_args(),
            ],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        log.close()
        deadline = time.monotonic() + START_SECONDS
        while True:
            try:
                if httpx.get(self.base_url + "/health", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            if self.process.poll() is not None:
                raise AssertionError(f"the server exited with {self.process.returncode}")
            if time.monotonic() > deadline:
                raise AssertionError("the server did not start in time")
            time.sleep(0.1)  # polling interval of a bounded start-up wait

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as in a crash or the OOM killer."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)
        self.process = None

    def client(self, **kwargs) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, headers=self.headers, timeout=30, **kwargs)
