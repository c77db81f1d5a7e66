"""Each resource limit, hit by a real job in the embedded pool's worker process.

The limits are tiny here so ordinary videos go over them; the job must fail once (a poison
file is not retried) with a message that names the limit, and the pool must stay usable.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

from moments.service.jobs.limits import timeout_grace
from moments.service.settings import Settings
from tests.helpers import pid_alive, wait_for
from tests.service.conftest_api import HEAVY_SECONDS
from tests.service.helpers import embedded_pool


def run_to_end(settings: Settings, add_job, video: Path, timeout: float = 60, **options):
    with embedded_pool(settings) as dispatcher:
        job = add_job(video, **options)
        dispatcher.submit(job.id)
        store = dispatcher.store
        return wait_for(
            lambda: (v := store.get(job.id)) and v.finished and v, timeout, "the job to end"
        ), dispatcher.healthy()


def limited(migrated: Settings, **limits) -> Settings:
    return migrated.model_copy(update={"max_attempts": 3, **limits})


def test_wall_clock_limit_fails_the_job_once(migrated, add_job, heavy_video: Path) -> None:
    settings = limited(migrated, job_timeout_seconds=0.3)
    view, healthy = run_to_end(settings, add_job, heavy_video, duration=HEAVY_SECONDS)
    assert view.status == "failed", view
    assert view.error == "processing this video took longer than 0.3 seconds, the most we allow"
    assert view.attempts == 1  # not retried: the same file would time out again
    assert healthy


def test_cpu_limit_fails_the_job_once(migrated, add_job, heavy_video: Path) -> None:
    # A full-length reel of the heavy clip needs ~10 s of processor time (every frame decoded,
    # turned and encoded, whatever the engine's speed); the limit stops it between 1 and 2 s.
    settings = limited(migrated, job_cpu_seconds=1)
    view, healthy = run_to_end(settings, add_job, heavy_video, duration=HEAVY_SECONDS)
    assert view.status == "failed", view
    assert view.error == "processing this video needed more than 1 second of processor time"
    assert view.attempts == 1
    assert healthy


def test_memory_limit_fails_the_job_once(migrated, add_job, media_dir: Path) -> None:
    # Decoding and analysing 720p needs well over 20 MB beyond the process's start-up memory.
    settings = limited(migrated, job_memory_bytes=20_000_000)
    view, healthy = run_to_end(settings, add_job, media_dir / "example.mp4")
    assert view.status == "failed", view
    assert view.error == "processing this video needed more than 20 MB of memory"
    assert view.attempts == 1
    assert healthy


def test_limits_leave_ordinary_jobs_alone(migrated, add_job, small_video: Path) -> None:
    settings = limited(
        migrated, job_timeout_seconds=60, job_cpu_seconds=60, job_memory_bytes=2_000_000_000
    )
    view, _ = run_to_end(settings, add_job, small_video)
    assert view.status == "completed", view.error


def test_dispatcher_ends_a_job_that_cannot_stop_itself(migrated, add_job, heavy_video) -> None:
    """A process that no longer runs Python (stopped here with SIGSTOP, as if stuck in C code)
    misses its own timer; the supervisor ends it past the grace period and fails the job."""
    settings = limited(migrated, job_timeout_seconds=1.0)
    with embedded_pool(settings) as dispatcher:
        job = add_job(heavy_video, duration=HEAVY_SECONDS)
        dispatcher.submit(job.id)
        pid = wait_for(
            lambda: dispatcher.stats()["running"].get(job.id), 20, "the job's process id"
        )
        os.kill(pid, signal.SIGSTOP)
        limit = 1.0 + timeout_grace(1.0) + 10
        view = wait_for(
            lambda: (v := dispatcher.store.get(job.id)) and v.finished and v, limit, "the end"
        )
        assert view.status == "failed"
        assert view.error == "processing this video took longer than 1 second, the most we allow"
        assert view.attempts == 1
        wait_for(lambda: not pid_alive(pid), 10, "the stuck process to be gone")
        assert dispatcher.stats()["busy"] == 0
