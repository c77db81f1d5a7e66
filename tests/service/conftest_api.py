"""API test fixtures: the real app served by a real uvicorn on a free loopback port.

Imported by ``tests/service/conftest.py``. The server runs in a background thread of the test
process (so tests can also reach the app's own store and storage); jobs run in the embedded
dispatcher's worker processes, exactly as in production.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import uvicorn

from moments.service.accounts.store import AccountStore
from moments.service.api.app import create_app
from moments.service.api.deps import Services
from moments.service.auth.setup import local_key_path
from moments.service.db import Job, make_engine, make_session_factory
from moments.service.db.models import utcnow
from moments.service.proxies import uvicorn_options
from moments.service.settings import Settings
from moments.service.storage import poster_key, reel_key, upload_key
from moments.service.store import JobView, new_job_id
from tests.engine.media_factory import make_video
from tests.helpers import made_once, wait_for

START_TIMEOUT = 30.0


@dataclass
class LiveApi:
    base_url: str
    client: httpx.Client
    """Signed in as the server's local account (its API key, as a first start writes it)."""
    services: Services
    server: uvicorn.Server
    api_key: str = ""
    user_id: str = ""

    @property
    def auth(self) -> dict[str, str]:
        """The Authorization header the client sends (for raw sockets and other clients)."""
        return {"Authorization": f"Bearer {self.api_key}"}

    def anonymous(self) -> httpx.Client:
        """A client without credentials (closed with the server)."""
        client = httpx.Client(base_url=self.base_url, timeout=30.0)
        self._extra_clients.append(client)
        return client

    def __post_init__(self) -> None:
        self._extra_clients: list[httpx.Client] = []

    def status(self, job_id: str) -> dict[str, Any]:
        response = self.client.get(f"/api/v1/jobs/{job_id}/status")
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture
def start_api() -> Iterator[Callable[..., LiveApi]]:
    """Start the real app on ``settings`` under uvicorn; everything stops after the test."""
    started: list[tuple[uvicorn.Server, threading.Thread, httpx.Client]] = []
    started_apis: list[LiveApi] = []

    def start(settings: Settings, **uvicorn_config: Any) -> LiveApi:
        """``uvicorn_config`` overrides how ``moments serve`` would configure uvicorn."""
        app = create_app(settings)
        config = uvicorn.Config(
            app, host="127.0.0.1", port=0, log_level="warning", lifespan="on",
            **{**uvicorn_options(settings), **uvicorn_config},
        )  # fmt: skip
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
        thread.start()
        wait_for(lambda: server.started or not thread.is_alive(), START_TIMEOUT, "uvicorn")
        assert server.started, "uvicorn did not start"
        port = server.servers[0].sockets[0].getsockname()[1]
        base_url = f"http://127.0.0.1:{port}"
        api_key = local_api_key(settings)
        client = httpx.Client(
            base_url=base_url, timeout=30.0, headers={"Authorization": f"Bearer {api_key}"}
        )
        started.append((server, thread, client))
        live = LiveApi(base_url, client, app.state.services, server, api_key, local_owner(settings))
        started_apis.append(live)
        return live

    yield start
    for live in started_apis:
        for extra in live._extra_clients:
            extra.close()
    for server, thread, client in started:
        client.close()
        server.should_exit = True
        thread.join(timeout=15)
        assert not thread.is_alive(), "uvicorn did not stop"


@pytest.fixture
def api(settings: Settings, start_api: Callable[[Settings], LiveApi]) -> LiveApi:
    """The API on the shared test settings (1 worker, short lease)."""
    return start_api(settings)


@pytest.fixture(scope="session")
def small_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """6 s of 320x180 moving pattern with a tone: quick for the engine, real H.264/AAC."""
    return make_video(
        tmp_path_factory.mktemp("api-media") / "clip.mp4", seconds=6.0, width=320, height=180
    )


HEAVY_SECONDS = 20.0


@pytest.fixture(scope="session")
def heavy_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """20 s of 1280x720 noise texture in non-square pixels, with a tone: real work.

    For tests that need a job still running (cancel, kill, limits) whatever the engine's speed:
    noise is costly to decode and to encode, and non-square pixels can never be copied into the
    reel, so every reel frame is decoded, stretched and encoded (about 10 s of processor time
    for a full-length reel when this was written, as a rotated clip that could not be copied
    then). Made once per run (tests.helpers.made_once): several conftest modules import this
    fixture, and under pytest-xdist both workers would otherwise make it (12.6 s of processor
    time each, measured 2026-12-07).
    """

    def make(path: Path) -> None:
        rng = np.random.default_rng(7)
        texture = rng.integers(0, 256, (720 * 2, 1280 * 2, 3), dtype=np.uint8)

        def noise(index: int, width: int, height: int) -> np.ndarray:
            # A panning texture plus fresh grain on every frame: nothing repeats exactly.
            x, y = (index * 7) % width, (index * 3) % height
            frame = texture[y : y + height, x : x + width].astype(np.int16)
            frame += rng.integers(-16, 17, (height, width, 1), dtype=np.int16)
            return np.clip(frame, 0, 255).astype(np.uint8)

        make_video(
            path,
            seconds=HEAVY_SECONDS,
            width=1280,
            height=720,
            sar=(4, 3),
            frame_fn=noise,
            video_options={"crf": "28"},  # keeps the file near 30 MB
        )

    return made_once(tmp_path_factory, "heavy-noise-720p.mp4", make)


def add_completed_job(
    services: Services, reel: Path, poster: bytes | None = b"\xff\xd8poster\xff\xd9"
) -> JobView:
    """A job that finished, built with the real store and storage but without running the engine.

    For tests of serving a reel (ranges, caching); the full flow tests use the real engine.
    """
    job_id = new_job_id()
    key = upload_key(job_id, "mp4")
    services.storage.write(key, [reel.read_bytes()])
    with reel.open("rb") as f:
        services.storage.write(reel_key(job_id), f)
    if poster is not None:
        services.storage.write(poster_key(job_id), [poster])
    return insert_finished_job(
        services,
        job_id=job_id,
        input_key=key,
        input_size=reel.stat().st_size,
        output_key=reel_key(job_id),
        poster_key=poster_key(job_id) if poster is not None else None,
        result={"duration": 2.0, "width": 320, "height": 180, "segments": [], "timings": {}},
    )


def local_api_key(settings: Settings) -> str:
    """The key the server wrote for its local account at first start (auth_mode=local)."""
    path = local_key_path(settings)
    return path.read_text().strip() if path.is_file() else ""


def local_owner(settings: Settings) -> str:
    """Id of the local account (owner of rows the tests insert unless told otherwise)."""
    accounts = AccountStore(make_session_factory(make_engine(settings.database_url)))
    user = accounts.local_user()
    return user.id if user else ""


def insert_finished_job(
    services: Services,
    status: str = "completed",
    *,
    job_id: str | None = None,
    created_at: datetime | None = None,
    **values: Any,
) -> JobView:
    """Write a finished job row straight to the real database.

    Inserted as finished in one step because a pending row would be claimed by the live workers.
    It belongs to the local account (the test client's) unless ``owner_id`` is given.
    """
    now = created_at or utcnow()
    job_id = job_id or new_job_id()
    row: dict[str, Any] = {
        "id": job_id,
        "status": status,
        "progress": 100.0 if status == "completed" else 10.0,
        "stage": None,
        "message": {"completed": "Your reel is ready"}.get(status, status.title()),
        "options": {"duration": 10, "aspect": "source"},
        "filename": "Holiday at the beach.mov",
        "input_key": upload_key(job_id, "mp4"),
        "input_size": 1000,
        "error": "could not decode the video" if status == "failed" else None,
        "attempts": 1,
        "created_at": now,
        "updated_at": now,
        "started_at": now,
        "finished_at": now,
        "owner_id": local_owner(services.settings) or None,
    }
    row.update(values)
    sessions = make_session_factory(make_engine(services.settings.database_url))
    with sessions() as session, session.begin():
        session.add(Job(**row))
    view = services.store.get(job_id)
    assert view is not None
    return view
