"""Holding a job while it runs: the worker id its row is held by, the lease renewed by a
:class:`Heartbeat`, and the :class:`StoreCancelToken` through which the engine learns that the
job was cancelled (or is no longer ours)."""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid

from ..store import JobStore

log = logging.getLogger(__name__)

CANCEL_CHECK_SECONDS = 0.5


def new_worker_id(prefix: str = "worker") -> str:
    return f"{prefix}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


class StoreCancelToken:
    """``is_set()`` for the engine: true once the job is cancelled in the database.

    The database is asked at most every ``CANCEL_CHECK_SECONDS``; ``set()`` (from the heartbeat,
    when the job is no longer ours) takes effect at once.
    """

    def __init__(self, store: JobStore, job_id: str):
        self._store = store
        self._job_id = job_id
        self._event = threading.Event()
        self._next_check = 0.0

    def set(self) -> None:
        self._event.set()

    def is_set(self) -> bool:
        if self._event.is_set():
            return True
        now = time.monotonic()
        if now >= self._next_check:
            self._next_check = now + CANCEL_CHECK_SECONDS
            if self._store.is_cancelled(self._job_id):
                self._event.set()
        return self._event.is_set()


class Heartbeat(threading.Thread):
    """Renews the job's lease while it runs; stops the work if the job is no longer ours
    (unless ``stop_when_lost`` is false: an analysis of a source is worth keeping whoever now
    holds the job; a cancelled job still stops it through the token)."""

    def __init__(
        self,
        store: JobStore,
        job_id: str,
        worker_id: str,
        token: StoreCancelToken,
        *,
        stop_when_lost: bool = True,
    ):
        super().__init__(name=f"heartbeat-{job_id[:8]}", daemon=True)
        self._store, self._job_id, self._worker_id, self._token = store, job_id, worker_id, token
        self._stop_when_lost = stop_when_lost
        # Not ``_stop``: that name is Thread's own method, which join() calls.
        self._halt = threading.Event()
        self._every = max(0.2, store.lease_seconds / 3)

    def run(self) -> None:
        while not self._halt.wait(self._every):
            try:
                if not self._store.heartbeat(self._job_id, self._worker_id):
                    if self._stop_when_lost:
                        self._token.set()
                    return
            except Exception:  # a busy database must not kill the job; the lease has slack
                log.warning("heartbeat failed for job %s", self._job_id, exc_info=True)

    def stop(self) -> None:
        self._halt.set()


def renew(store: JobStore, job_id: str, holder: str) -> None:
    """Renew the job's lease for ``holder`` now; a failure is logged, not raised."""
    try:
        store.heartbeat(job_id, holder)
    except Exception:  # a busy database: the heartbeat thread or the next task tries again
        log.warning("could not renew the lease of job %s", job_id, exc_info=True)
