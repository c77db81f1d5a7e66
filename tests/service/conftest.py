"""Real service objects for tests: Settings on tmp_path, a migrated SQLite DB, LocalStorage and a
started EmbeddedDispatcher. Shared by the core and API tests: use these fixtures, not globals.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from moments.service import db
from moments.service.settings import Settings
from moments.service.storage import LocalStorage, get_storage, upload_key
from moments.service.store import JobStore, JobView, new_job_id


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings on a fresh data dir; small worker count and short lease so tests stay fast."""
    return Settings(
        data_dir=tmp_path / "data",
        workers=1,
        job_lease_seconds=3.0,
        progress_interval=0.1,
        _env_file=None,
    )


@pytest.fixture
def migrated(settings: Settings) -> Settings:
    """``settings`` with its database upgraded to the latest migration."""
    db.upgrade(settings)
    return settings


@pytest.fixture
def store(migrated: Settings) -> JobStore:
    return JobStore.from_settings(migrated)


@pytest.fixture
def storage(settings: Settings) -> LocalStorage:
    storage = get_storage(settings)
    assert isinstance(storage, LocalStorage)
    return storage


@pytest.fixture
def add_job(store: JobStore, storage: LocalStorage) -> Callable[..., JobView]:
    """Store a real file as an upload and create its pending job (as the API does)."""

    def add(source: Path, **options) -> JobView:
        job_id = new_job_id()
        key = upload_key(job_id, source.suffix)
        with source.open("rb") as f:
            size = storage.write(key, f)
        return store.create(
            job_id=job_id,
            input_key=key,
            filename=source.name,
            input_size=size,
            options={"duration": 10, **options},
        )

    return add


@pytest.fixture
def dispatcher(migrated: Settings) -> Iterator:
    """A started EmbeddedDispatcher on the test settings; stopped after the test."""
    from moments.service.jobs.embedded import EmbeddedDispatcher

    dispatcher = EmbeddedDispatcher(migrated)
    dispatcher.start()
    try:
        yield dispatcher
    finally:
        dispatcher.stop()


# API fixtures (live uvicorn server, small test clip) live in their own module.
from .conftest_api import api, small_video, start_api  # noqa: E402, F401
