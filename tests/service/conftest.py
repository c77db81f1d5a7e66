"""Real service objects for tests: Settings on tmp_path, a migrated SQLite DB, LocalStorage and a
started EmbeddedDispatcher. Shared by the core and API tests: use these fixtures, not globals.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from moments.service import db
from moments.service.settings import Settings
from moments.service.storage import LocalStorage, get_storage
from moments.service.store import JobStore, JobView
from tests.helpers import fast_settings

from .helpers import add_upload_job, embedded_pool


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings on a fresh data dir; small worker count and short lease so tests stay fast."""
    return fast_settings(tmp_path)


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
        return add_upload_job(store, storage, source, {"duration": 10, **options})

    return add


@pytest.fixture
def dispatcher(migrated: Settings) -> Iterator:
    """A started EmbeddedDispatcher on the test settings; stopped after the test."""
    with embedded_pool(migrated) as dispatcher:
        yield dispatcher


# API fixtures (live uvicorn server, small test clip) live in their own module.
from .conftest_api import api, heavy_video, small_video, start_api  # noqa: E402, F401
