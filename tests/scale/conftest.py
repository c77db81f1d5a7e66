"""Real servers for the scale-out tests: PostgreSQL, Redis, an S3-protocol server, and
``moments worker`` processes running Celery.

PostgreSQL (127.0.0.1:5432, trust auth) and Redis (127.0.0.1:6379) must be running: these tests
FAIL, never skip, when they are not. Each test gets its own PostgreSQL database (dropped at the
end of the session), its own Redis database number and queue name, and its own bucket, so runs
do not collide.

S3: moto's standalone server (ThreadedMotoServer, real HTTP on loopback) stands in for S3.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis
from pydantic import SecretStr

from moments.service import db
from moments.service.settings import Settings
from moments.service.storage import get_storage
from moments.service.store import JobStore, JobView
from tests.helpers import fast_settings, pid_alive, wait_for
from tests.service.helpers import add_upload_job

PG_HOST, PG_PORT = "127.0.0.1", 5432
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
MOMENTS = Path(sys.executable).with_name("moments")
WORKER_START_TIMEOUT = 60.0


# -- PostgreSQL --------------------------------------------------------------------------


def _pg_admin() -> tuple[psycopg.Connection, str]:
    """An autocommit connection to the ``test`` database as postgres (or root)."""
    errors = []
    for user in ("postgres", "root"):
        try:
            conn = psycopg.connect(
                host=PG_HOST, port=PG_PORT, user=user, dbname="test", connect_timeout=5
            )
        except psycopg.OperationalError as exc:
            errors.append(f"{user}: {exc}")
            continue
        conn.autocommit = True
        return conn, user
    pytest.fail(f"PostgreSQL at {PG_HOST}:{PG_PORT} is required: {errors}")


@pytest.fixture(scope="session")
def pg_admin() -> Iterator[tuple[psycopg.Connection, str, list[str]]]:
    conn, user = _pg_admin()
    created: list[str] = []
    yield conn, user, created
    for name in created:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    conn.close()


@pytest.fixture
def pg_url(pg_admin) -> str:
    """A fresh, empty PostgreSQL database for this test (psycopg URL)."""
    conn, user, created = pg_admin
    name = f"moments_test_{uuid.uuid4().hex[:12]}"
    conn.execute(f'CREATE DATABASE "{name}"')
    created.append(name)
    return f"postgresql+psycopg://{user}@{PG_HOST}:{PG_PORT}/{name}"


# -- Redis -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def redis_db() -> Iterator[int]:
    """An empty Redis database number for this session, flushed afterwards."""
    try:
        redis.Redis(host=REDIS_HOST, port=REDIS_PORT, socket_timeout=5).ping()
    except redis.RedisError as exc:
        pytest.fail(f"Redis at {REDIS_HOST}:{REDIS_PORT} is required: {exc}")
    for number in range(15, 0, -1):
        client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=number)
        # Claim the number with a marker so a concurrent session picks another one; a number
        # left behind by a session that was killed (its owner is gone) is taken back.
        owner = client.get("moments-test-owner")
        if owner is not None and not pid_alive(int(owner)):
            client.flushdb()
        if client.dbsize() == 0 and client.set("moments-test-owner", os.getpid(), nx=True):
            try:
                yield number
            finally:
                client.flushdb()
            return
    pytest.fail("no empty Redis database number (1-15) for the test session")


@pytest.fixture
def redis_url(redis_db: int) -> str:
    return f"redis://{REDIS_HOST}:{REDIS_PORT}/{redis_db}"


# -- S3 (moto stands in for it) ----------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """moto's S3-protocol HTTP server on loopback: stands in for AWS S3 / MinIO."""
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


# -- settings ----------------------------------------------------------------------------


@pytest.fixture
def pg_settings(tmp_path: Path, pg_url: str) -> Settings:
    """Settings on a fresh, migrated PostgreSQL database; local storage."""
    settings = fast_settings(
        tmp_path, database_url=pg_url, job_lease_seconds=2.0, recover_interval=0.5
    )
    db.upgrade(settings)
    return settings


@pytest.fixture
def s3_settings(pg_settings: Settings, s3_endpoint: str) -> Settings:
    """``pg_settings`` with S3 storage in a fresh bucket on the test S3 server."""
    return derive(
        pg_settings,
        **{
            "storage": "s3",
            "s3_endpoint_url": s3_endpoint,
            "s3_bucket": f"moments-{uuid.uuid4().hex[:12]}",
            "s3_access_key_id": "test",
            "s3_secret_access_key": "test",
            "s3_addressing_style": "path",
            "s3_create_bucket": True,
            "s3_part_bytes": 5 * 1024**2,
        },
    )


@pytest.fixture
def celery_settings(s3_settings: Settings, redis_url: str) -> Settings:
    """Everything scaled out: PostgreSQL, Celery on Redis (own queue), S3."""
    return derive(
        s3_settings,
        **{
            "queue": "celery",
            "redis_url": redis_url,
            "celery_queue": f"moments-test-{uuid.uuid4().hex[:8]}",
        },
    )


def derive(settings: Settings, **changes: Any) -> Settings:
    """A copy of ``settings`` with ``changes``, validated like settings read from the env."""
    return Settings(**{**settings.model_dump(), **changes}, _env_file=None)


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment that makes ``get_settings()`` in another process equal ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MOMENTS_")}
    for name, value in settings.model_dump().items():
        if value is None:
            continue
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        if isinstance(value, list):
            value = json.dumps(value)
        elif isinstance(value, bool):
            value = "true" if value else "false"
        env[f"MOMENTS_{name.upper()}"] = str(value)
    env.pop("DATABASE_URL", None)
    return env


# -- jobs and workers --------------------------------------------------------------------


@pytest.fixture
def add_job() -> Callable[..., JobView]:
    """Store a real file as an upload (in the settings' storage) and create its pending job."""

    def add(settings: Settings, source: Path, **options: Any) -> JobView:
        store, storage = JobStore.from_settings(settings), get_storage(settings)
        return add_upload_job(store, storage, source, {"duration": 1.5, **options})

    return add


@dataclass
class WorkerProcess:
    """One ``moments worker`` (Celery) process group and its log."""

    name: str
    process: subprocess.Popen
    log: Path

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def kill(self) -> None:
        """SIGKILL the whole worker: its main process and its pool processes, no clean-up."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()
        # Pool processes left behind by a killed main process.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)


@pytest.fixture
def start_worker(tmp_path: Path) -> Iterator[Callable[..., WorkerProcess]]:
    """Start real ``moments worker`` processes (MOMENTS_QUEUE=celery); all stopped afterwards."""
    started: list[WorkerProcess] = []

    def start(settings: Settings, name: str = "w", wait: bool = True) -> WorkerProcess:
        assert settings.queue == "celery"
        log = tmp_path / f"worker-{name}-{len(started)}.log"
        env = settings_env(settings)
        env["MOMENTS_WORKER_NAME"] = name
        with log.open("wb") as out:
            process = subprocess.Popen(
                [str(MOMENTS), "worker"],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own process group: kill() takes the pool too
            )
        worker = WorkerProcess(name, process, log)
        started.append(worker)
        if wait:
            wait_for(
                lambda: " ready." in worker.text() or process.poll() is not None,
                WORKER_START_TIMEOUT,
                f"worker {name} to start",
                every=0.1,
            )
            assert process.poll() is None, f"worker {name} exited:\n{worker.text()}"
        return worker

    yield start
    for worker in started:
        worker.stop()


# The live-API fixture of the service tests (real uvicorn on loopback), reused here.
from tests.service.conftest_api import heavy_video, start_api  # noqa: E402, F401
