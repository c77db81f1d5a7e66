"""Waiting on service state (the generic deadline-bounded polling lives in tests/helpers.py)."""

from __future__ import annotations

from tests.helpers import wait_for


def wait_until_working(store, job_id: str, timeout: float = 90):
    """Until the engine is really working on the job (past the probe), not merely claimed."""

    def working():
        view = store.get(job_id)
        assert not view.finished, f"job finished early: {view.status} {view.error}"
        return view if view.status == "processing" and view.progress > 2 else None

    return wait_for(working, timeout, "the job to be past the probe")
