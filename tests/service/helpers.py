"""Service test helpers: jobs made as the API makes them, an embedded pool for the length of a
test, and waiting on service state (the generic deadline-bounded polling is in tests/helpers.py)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from moments.service.jobs.analyses import SOURCES
from moments.service.jobs.embedded import EmbeddedDispatcher
from moments.service.settings import Settings
from moments.service.sources import SourceStore, new_source_id, source_key
from moments.service.storage import Storage, upload_key
from moments.service.store import JobStore, JobView, new_job_id
from tests.helpers import wait_for


@contextmanager
def embedded_pool(
    settings: Settings, *, workers: int | None = None
) -> Iterator[EmbeddedDispatcher]:
    """An EmbeddedDispatcher on ``settings``, started; stopped on the way out (its running jobs
    ended and handed back as pending)."""
    dispatcher = EmbeddedDispatcher(settings, workers=workers)
    dispatcher.start()
    try:
        yield dispatcher
    finally:
        dispatcher.stop()


def add_upload_job(
    store: JobStore, storage: Storage, source: Path, options: dict[str, Any]
) -> JobView:
    """Store a real file as an upload and create its pending job (as the API does)."""
    job_id = new_job_id()
    key = upload_key(job_id, source.suffix)
    with source.open("rb") as f:
        size = storage.write(key, f)
    return store.create(
        job_id=job_id, input_key=key, filename=source.name, input_size=size, options=options
    )


def reel_job(store: JobStore, storage: Storage, clips: list[Path], *, duration: float) -> JobView:
    """Each clip stored as a source named ``take-<i>.mp4``, and a pending reel job of them all
    (as the API makes)."""
    sources = SourceStore(store.sessions)
    ids = []
    for i, clip in enumerate(clips):
        source_id = new_source_id()
        key = source_key(source_id, ".mp4")
        with clip.open("rb") as f:
            size = storage.write(key, f)
        sources.create(
            source_id=source_id,
            owner_id=None,
            filename=f"take-{i}.mp4",
            input_key=key,
            size_bytes=size,
            facts={"kind": "video"},
        )
        ids.append(source_id)
    return store.create(
        job_id=new_job_id(),
        input_key=sources.get(ids[0]).input_key,
        filename=f"{len(ids)} clips",
        input_size=0,
        options={"duration": duration, SOURCES: ids},
    )


def wait_until_working(store, job_id: str, timeout: float = 90):
    """Until the engine is really working on the job (past the probe), not merely claimed."""

    def working():
        view = store.get(job_id)
        assert not view.finished, f"job finished early: {view.status} {view.error}"
        return view if view.status == "processing" and view.progress > 2 else None

    return wait_for(working, timeout, "the job to be past the probe")
