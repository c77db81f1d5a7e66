"""Crash safety and retention: killed workers, poison files, clean shutdown, expiry."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import timedelta

from sqlalchemy import update

from moments.service.db.models import Job, utcnow
from moments.service.jobs.maintenance import purge_expired
from moments.service.storage import poster_key, reel_key
from moments.service.store import JobStore
from tests.helpers import child_pids, pid_alive, wait_for

from .conftest_api import HEAVY_SECONDS
from .helpers import embedded_pool, wait_until_working


def _start_worker(settings) -> subprocess.Popen:
    """``run_worker`` in its own process, configured only through the environment."""
    env = {
        **os.environ,
        "MOMENTS_DATA_DIR": str(settings.data_dir),
        "MOMENTS_WORKERS": "1",
        "MOMENTS_JOB_LEASE_SECONDS": str(settings.job_lease_seconds),
    }
    code = (
        "from moments.service.jobs.embedded import run_worker\n"
        "from moments.service.settings import Settings\n"
        "run_worker(Settings())\n"
    )
    return subprocess.Popen([sys.executable, "-c", code], env=env, cwd=settings.data_dir)


def test_killed_worker_job_is_retried_and_completes(migrated, store, storage, add_job, heavy_video):
    # A short reel of the heavy clip: busy for seconds, yet the retry finishes soon.
    job = add_job(heavy_video, duration=3)
    worker = _start_worker(migrated)
    try:
        wait_until_working(store, job.id)
        held = store.get(job.id)
        children = child_pids(worker.pid)
        assert children, "the job runs in a child process of the worker"
        worker.send_signal(signal.SIGKILL)  # the server dies mid-job, no cleanup at all
        worker.wait(5)
    finally:
        if worker.poll() is None:
            worker.kill()
    # The orphaned job process must not go on renewing the lease: it dies with its parent.
    wait_for(lambda: not any(map(pid_alive, children)), 3, "the orphaned job process to exit")
    assert store.get(job.id).status == "processing", "left for recovery once its lease ends"
    assert not os.path.exists(storage.root / reel_key(job.id)), "no reel before completion"

    with embedded_pool(migrated):  # "start the server again"
        view = wait_for(
            lambda: (v := store.get(job.id)).finished and v, 180, "the retried job to finish"
        )
    assert view.status == "completed", view.error
    assert view.attempts == 2
    assert view.worker_id != held.worker_id
    assert storage.exists(reel_key(job.id)) and storage.exists(poster_key(job.id))


def test_poison_job_fails_after_max_attempts(settings, add_job, heavy_video):
    """A video that kills its worker every time (e.g. out of memory) fails, naming the cause."""
    from moments.service import db

    poisoned = settings.model_copy(update={"max_attempts": 2})
    db.upgrade(poisoned)
    store = JobStore.from_settings(poisoned)
    job = add_job(heavy_video, duration=HEAVY_SECONDS)
    with embedded_pool(poisoned) as dispatcher:
        for attempt in (1, 2):
            view = wait_until_working(store, job.id)
            assert view.attempts == attempt
            # The slot may be registered a moment before its process has a pid (a retry's
            # slot, while the store still shows the last attempt's progress): CI read None.
            pid = wait_for(
                lambda: dispatcher.stats()["running"].get(job.id), 30, "the job's process pid"
            )
            os.kill(pid, signal.SIGKILL)
            wait_for(lambda p=pid: not pid_alive(p), 5, "the worker to die")
            # Noticed once the job is retried (attempts goes up) or has failed for good.
            wait_for(
                lambda a=attempt: (v := store.get(job.id)).attempts > a or v.finished,
                10,
                "the crash to be noticed",
            )
    view = store.get(job.id)
    assert view.status == "failed" and view.attempts == 2
    assert view.error == "the worker process was killed by signal 9 (tried 2 times)"


def test_stale_processing_job_is_recovered_on_start(migrated, store, add_job, media_dir):
    """A job left "processing" by a worker that vanished is picked up again once its lease ends."""
    job = add_job(media_dir / "testsrc.mp4", duration=2)
    store.lease_seconds = 0.0
    assert store.claim(job.id, "vanished-worker") is not None
    with embedded_pool(migrated):
        view = wait_for(
            lambda: (v := store.get(job.id)).attempts == 2 and v, 30, "the job to be re-claimed"
        )
    assert view.worker_id != "vanished-worker"


def test_sigterm_stops_worker_and_hands_job_back(migrated, store, add_job, heavy_video):
    job = add_job(heavy_video, duration=HEAVY_SECONDS)
    worker = _start_worker(migrated)
    try:
        wait_until_working(store, job.id)
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(15) == 0
    finally:
        if worker.poll() is None:
            worker.kill()
    view = store.get(job.id)
    assert view.status == "pending" and view.attempts == 0, "a clean stop costs no attempt"
    assert view.worker_id is None


def _finish(store: JobStore, storage, job, hours_ago: float) -> None:
    storage.write(reel_key(job.id), [b"reel"])
    storage.write(poster_key(job.id), [b"jpg"])
    store.claim(job.id, "w")
    store.complete(job.id, result={}, output_key=reel_key(job.id), poster_key=poster_key(job.id))
    with store._sessions() as session, session.begin():
        session.execute(
            update(Job)
            .where(Job.id == job.id)
            .values(finished_at=utcnow() - timedelta(hours=hours_ago))
        )


def test_purge_expired_removes_files_and_rows(settings, store, storage, add_job, media_dir):
    old = add_job(media_dir / "testsrc.mp4")
    recent = add_job(media_dir / "testsrc.mp4")
    waiting = add_job(media_dir / "testsrc.mp4")
    _finish(store, storage, old, hours_ago=settings.retention_hours + 1)
    _finish(store, storage, recent, hours_ago=settings.retention_hours - 1)
    # Scratch folders: the purged job's goes, and so does one of an attempt that died long ago;
    # one in use stays.
    scratch = {name: settings.scratch_dir / name for name in (old.id, "died-long-ago", "in-use")}
    for folder in scratch.values():
        (folder / "clips").mkdir(parents=True)
    long_ago = (utcnow() - timedelta(hours=settings.retention_hours + 2)).timestamp()
    os.utime(scratch["died-long-ago"], (long_ago, long_ago))

    assert purge_expired(store, storage, settings) == [old.id]
    assert [name for name, folder in scratch.items() if folder.exists()] == ["in-use"]
    assert store.get(old.id) is None
    assert not storage.exists(old.input_key) and not storage.exists(reel_key(old.id))
    assert not (storage.root / "uploads" / old.id).exists()
    for kept in (recent, waiting):
        assert store.get(kept.id) is not None and storage.exists(kept.input_key)
    assert storage.exists(reel_key(recent.id))

    later = utcnow() + timedelta(hours=2)
    assert purge_expired(store, storage, settings, now=later) == [recent.id]
    assert store.get(waiting.id).status == "pending", "unfinished jobs are never purged"


def test_dispatcher_purges_on_its_own(migrated, store, storage, add_job, media_dir):
    old = add_job(media_dir / "testsrc.mp4")
    _finish(store, storage, old, hours_ago=migrated.retention_hours + 1)
    with embedded_pool(migrated):
        wait_for(lambda: store.get(old.id) is None, 10, "the supervisor to purge")
    assert not storage.exists(old.input_key)
