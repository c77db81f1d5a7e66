"""Waiting on service state (the generic deadline-bounded polling lives in tests/helpers.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from moments.service.storage import Storage, upload_key
from moments.service.store import JobStore, JobView, new_job_id
from tests.helpers import wait_for


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


def wait_until_working(store, job_id: str, timeout: float = 90):
    """Until the engine is really working on the job (past the probe), not merely claimed."""

    def working():
        view = store.get(job_id)
        assert not view.finished, f"job finished early: {view.status} {view.error}"
        return view if view.status == "processing" and view.progress > 2 else None

    return wait_for(working, timeout, "the job to be past the probe")
