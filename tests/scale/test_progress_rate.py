"""Progress writes per job are bounded by ``progress_interval``, so many jobs cannot flood the
database. Counted as real UPDATE statements sent to PostgreSQL while a real job runs."""

from __future__ import annotations

import math
import time

from sqlalchemy import event

from moments.service.db import make_engine, make_session_factory
from moments.service.jobs.progress import STAGE_WEIGHTS
from moments.service.jobs.run import run_job
from moments.service.storage import get_storage
from moments.service.store import JobStore

from .conftest import derive


def _run_counting_writes(settings, add_job, source) -> tuple[int, float, str]:
    engine = make_engine(settings.database_url)
    progress_writes = 0

    @event.listens_for(engine, "before_cursor_execute")
    def count(conn, cursor, statement, parameters, context, executemany) -> None:
        nonlocal progress_writes
        if statement.startswith("UPDATE jobs SET progress"):
            progress_writes += 1

    store = JobStore(make_session_factory(engine), lease_seconds=60, max_attempts=3)
    job = add_job(settings, source, duration=10)
    started = time.monotonic()
    status = run_job(job.id, settings, store=store, storage=get_storage(settings))
    elapsed = time.monotonic() - started
    engine.dispose()
    return progress_writes, elapsed, status


def test_progress_interval_bounds_database_writes(pg_settings, add_job, media_dir):
    source = media_dir / "example.mp4"  # 42 s: a few seconds of work, many engine reports
    unthrottled = derive(pg_settings, progress_interval=0)
    throttled = derive(pg_settings, progress_interval=1.0)

    many, _, status = _run_counting_writes(unthrottled, add_job, source)
    assert status == "completed"
    few, elapsed, status = _run_counting_writes(throttled, add_job, source)
    assert status == "completed"

    # At most one write per interval, plus one at each stage change.
    bound = len(STAGE_WEIGHTS) + math.ceil(elapsed / throttled.progress_interval) + 1
    assert few <= bound, (few, bound, elapsed)
    assert many >= 2 * few, (many, few)  # the throttle is what keeps the count down
    print(f"progress writes: {many} unthrottled, {few} at 1 s over {elapsed:.1f}s")
