"""CeleryDispatcher: the API's side of the Celery queue (send, cancel, health, stats).

The API process runs no jobs itself; ``moments worker`` processes do. It does run a recovery
:class:`~.celery_app.Sweeper`, so jobs are recovered even while every worker is busy.
"""

from __future__ import annotations

import logging
from typing import Any

from ..settings import Settings
from ..store import JobStore
from .celery_app import Sweeper, make_celery, send_job

log = logging.getLogger(__name__)

BROKER_TIMEOUT_SECONDS = 2.0


class CeleryDispatcher:
    def __init__(self, settings: Settings):
        import redis

        self.settings = settings
        self.app = make_celery(settings)
        self.store = JobStore.from_settings(settings)
        self._redis = redis.Redis.from_url(
            settings.redis_url,
            socket_timeout=BROKER_TIMEOUT_SECONDS,
            socket_connect_timeout=BROKER_TIMEOUT_SECONDS,
        )
        self._sweeper: Sweeper | None = None

    def start(self) -> None:
        if self._sweeper is None:
            self._sweeper = Sweeper(self.settings, self.submit, store=self.store)
            self._sweeper.start()

    def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.stop()
            self._sweeper.join(timeout=10)
            self._sweeper = None
        self._redis.close()

    def submit(self, job_id: str) -> None:
        send_job(self.app, self.settings, job_id)

    def cancel(self, job_id: str) -> None:
        """Cancel in the database (a running job's worker sees it within 0.5 s and stops) and
        revoke the message, so a worker that has not started it drops it unseen."""
        self.store.request_cancel(job_id)
        try:
            self.app.control.revoke(job_id)
        except Exception:  # the row is what counts: claim() never starts a cancelled job
            log.warning("could not revoke the task of job %s", job_id, exc_info=True)

    def healthy(self) -> bool:
        try:
            return bool(self._redis.ping())
        except Exception:
            return False

    def stats(self) -> dict[str, Any]:
        try:
            waiting: int | None = int(self._redis.llen(self.settings.celery_queue))
        except Exception:
            waiting = None
        return {
            "queue": "celery",
            "broker_messages": waiting,
            "queued": self.store.count("pending"),
            "busy": self.store.count("processing"),
        }
