"""Waiting helpers for service tests: poll real state with a deadline (never bare sleeps)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(check: Callable[[], T], timeout: float, what: str, every: float = 0.05) -> T:
    """Call ``check`` until it returns something truthy; fail the test after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(every)


def pid_alive(pid: int) -> bool:
    import os

    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def wait_until_working(store, job_id: str, timeout: float = 90):
    """Until the engine is really working on the job (past the probe), not merely claimed."""

    def working():
        view = store.get(job_id)
        assert not view.finished, f"job finished early: {view.status} {view.error}"
        return view if view.status == "processing" and view.progress > 2 else None

    return wait_for(working, timeout, "the job to be past the probe")
