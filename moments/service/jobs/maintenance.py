"""Housekeeping the supervisor runs periodically: stale-job recovery and retention."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from ..db.models import utcnow
from ..settings import Settings
from ..sources import SourceStore
from ..storage import Storage
from ..store import JobStore
from .analyses import release_input
from .scratch import clear_job_scratch, purge_old_scratch

log = logging.getLogger(__name__)


def recover_stale_jobs(store: JobStore, settings: Settings) -> tuple[list[str], list[str]]:
    """Jobs whose worker died (lease ran out): back to pending, or failed after max_attempts."""
    requeued, failed = store.recover_stale(settings.max_attempts)
    if requeued or failed:
        log.warning("recovered stale jobs: requeued %s, failed %s", requeued, failed)
    return requeued, failed


def purge_expired(
    store: JobStore, storage: Storage, settings: Settings, now: datetime | None = None
) -> list[str]:
    """Delete jobs finished more than ``retention_hours`` ago: their upload (with its kept
    analysis, unless a re-cut still reads them), reel, poster, row; and sources uploaded more
    than ``retention_hours`` ago.

    Files go first, then the row, so a crash half-way leaves a row to retry on, never orphans.
    """
    before = (now or utcnow()) - timedelta(hours=settings.retention_hours)
    purged = []
    for job in store.expired(before):
        # A re-cut shares its original's upload: it goes with the last job that reads it.
        release_input(store, storage, job)
        storage.delete_prefix(f"reels/{job.id}")
        clear_job_scratch(settings, job.id)
        store.delete(job.id)
        purged.append(job.id)
    sources = SourceStore(store.sessions)
    for source in sources.expired(before):
        storage.delete_prefix(f"sources/{source.id}")  # its upload and kept analyses
        sources.delete(source.id)
        purged.append(source.id)
    purge_old_scratch(settings, before.timestamp())
    if purged:
        log.info("purged %d expired jobs", len(purged))
    return purged
