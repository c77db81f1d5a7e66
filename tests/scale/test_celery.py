"""Celery workers (real ``moments worker`` processes) on a real Redis, with PostgreSQL and S3.

S3 is moto's server on loopback, standing in for S3 (see conftest).
"""

from __future__ import annotations

import re
import time
from datetime import timedelta

import av
import pytest
from sqlalchemy import update

from moments.service.db.models import Job, utcnow
from moments.service.jobs.celery_app import Sweeper, make_celery, send_job
from moments.service.jobs.celery_dispatch import CeleryDispatcher
from moments.service.storage import get_storage, reel_key
from moments.service.store import JobStore
from tests.helpers import wait_for
from tests.service.conftest_api import HEAVY_SECONDS

JOB_TIMEOUT = 60.0


@pytest.fixture
def dispatcher(celery_settings):
    dispatcher = CeleryDispatcher(celery_settings)
    yield dispatcher
    dispatcher.stop()


def _finished(store: JobStore, job_id: str):
    job = store.get(job_id)
    return job if job and job.finished else None


def _reel_frames(storage, key: str) -> int:
    with av.open(str(storage.local_path(key))) as container:
        return sum(1 for _ in container.decode(video=0))


def test_job_runs_on_a_celery_worker(celery_settings, start_worker, add_job, dispatcher, media_dir):
    worker = start_worker(celery_settings, name="solo")
    job = add_job(celery_settings, media_dir / "testsrc.mp4")
    store, storage = JobStore.from_settings(celery_settings), get_storage(celery_settings)
    dispatcher.submit(job.id)
    done = wait_for(lambda: _finished(store, job.id), JOB_TIMEOUT, "the job")
    assert done.status == "completed", (done.error, worker.text())
    assert done.attempts == 1 and done.worker_id.startswith("solo-")
    assert done.output_key == reel_key(job.id) and storage.exists(done.output_key)
    assert storage.exists(done.poster_key)
    assert _reel_frames(storage, done.output_key) > 10  # a real, decodable reel
    assert dispatcher.healthy()
    assert dispatcher.stats()["broker_messages"] == 0
    # The worker's scratch copy of the input is gone: nothing piles up on worker disks.
    assert not (celery_settings.scratch_dir / job.id).exists()


def test_duplicate_delivery_is_a_no_op(celery_settings, start_worker, add_job, media_dir):
    """The same job delivered twice while running, and again after it finished: run once."""
    workers = [start_worker(celery_settings, name=n) for n in ("dupa", "dupb")]
    app = make_celery(celery_settings)
    store, storage = JobStore.from_settings(celery_settings), get_storage(celery_settings)
    job = add_job(celery_settings, media_dir / "example.mp4", duration=6)
    send_job(app, celery_settings, job.id)
    wait_for(lambda: store.get(job.id).status == "processing", JOB_TIMEOUT, "job to start")
    send_job(app, celery_settings, job.id)  # at-least-once: a second copy of the message
    done = wait_for(lambda: _finished(store, job.id), JOB_TIMEOUT, "the job")
    assert done.status == "completed"

    def no_ops() -> int:
        return sum(w.text().count(f"job {job.id}: nothing to do") for w in workers)

    wait_for(lambda: no_ops() == 1, 10, "the duplicate to be consumed")
    after = store.get(job.id)
    assert after.attempts == 1 and after.finished_at == done.finished_at

    send_job(app, celery_settings, job.id)  # a late redelivery of a finished job
    wait_for(lambda: no_ops() == 2, 10, "the late duplicate to be consumed")
    late = store.get(job.id)
    assert (late.status, late.attempts, late.updated_at) == ("completed", 1, done.updated_at)
    reels = get_storage(celery_settings).list(f"reels/{job.id}")
    assert sorted(reels) == [f"reels/{job.id}/poster.jpg", f"reels/{job.id}/reel.mp4"]
    assert _reel_frames(storage, done.output_key) > 10
    app.close()


def test_cancel_stops_running_job_within_2s_and_queued_job_never_starts(
    celery_settings, start_worker, add_job, dispatcher, media_dir, heavy_video
):
    worker = start_worker(celery_settings, name="cancel")  # one slot
    store = JobStore.from_settings(celery_settings)
    running = add_job(celery_settings, heavy_video, duration=HEAVY_SECONDS)  # busy for long
    queued = add_job(celery_settings, media_dir / "testsrc.mp4")
    dispatcher.submit(running.id)
    wait_for(lambda: store.get(running.id).progress > 5, JOB_TIMEOUT, "the job to get going")
    dispatcher.submit(queued.id)  # waits: the only slot is busy
    dispatcher.cancel(queued.id)

    done_line = re.compile(
        rf"Task moments\.run_job\[{running.id}\] succeeded in [\d.]+s: 'cancelled'"
    )
    started = time.monotonic()
    dispatcher.cancel(running.id)
    wait_for(lambda: done_line.search(worker.text()), 2.0, "the worker to stop the job")
    stopped_after = time.monotonic() - started
    assert stopped_after < 2.0
    assert not (celery_settings.scratch_dir / running.id).exists()  # its work was cleaned up

    # The queued job was revoked: the worker drops its message without running anything.
    revoked = f"Discarding revoked task: moments.run_job[{queued.id}]"
    wait_for(lambda: revoked in worker.text(), 10, "the revoked message to be dropped")
    for job_id in (running.id, queued.id):
        assert store.get(job_id).status == "cancelled"
    never = store.get(queued.id)
    assert never.attempts == 0 and never.started_at is None
    assert get_storage(celery_settings).list(f"reels/{running.id}") == []


def test_sweeper_resends_orphaned_and_stale_jobs_and_fails_poison(
    celery_settings, start_worker, add_job, media_dir
):
    """Redis lost the message (restarted empty), and a worker vanished holding a job."""
    store = JobStore.from_settings(celery_settings)
    orphan = add_job(celery_settings, media_dir / "testsrc.mp4")  # no message ever sent
    stale = add_job(celery_settings, media_dir / "testsrc.mp4")
    poison = add_job(celery_settings, media_dir / "testsrc.mp4")
    long_ago = utcnow() - timedelta(hours=1)
    with store._sessions() as session, session.begin():
        session.execute(update(Job).where(Job.id == orphan.id).values(updated_at=long_ago))
    # Two jobs "held" by a worker that died: its lease ran out. One has used every attempt.
    for job, attempts in ((stale, 1), (poison, celery_settings.max_attempts)):
        assert store.claim(job.id, "dead-worker") is not None
        with store._sessions() as session, session.begin():
            session.execute(
                update(Job)
                .where(Job.id == job.id)
                .values(attempts=attempts, lease_until=utcnow() - timedelta(seconds=1))
            )

    start_worker(celery_settings, name="sweep")  # its sweeper finds all three
    for job in (orphan, stale):
        done = wait_for(lambda j=job: _finished(store, j.id), JOB_TIMEOUT, "recovered job")
        assert done.status == "completed", done.error
    assert store.get(orphan.id).attempts == 1
    assert store.get(stale.id).attempts == 2
    failed = store.get(poison.id)
    assert failed.status == "failed"
    times = celery_settings.max_attempts
    assert failed.error == f"the worker stopped {times} times while processing this video"
    assert failed.attempts == celery_settings.max_attempts  # never tried a 4th time


def test_sweeps_by_several_processes_resend_each_job_once(celery_settings, add_job, media_dir):
    store = JobStore.from_settings(celery_settings)
    jobs = [add_job(celery_settings, media_dir / "testsrc.mp4") for _ in range(5)]
    with store._sessions() as session, session.begin():
        session.execute(update(Job).values(updated_at=utcnow() - timedelta(hours=1)))
    sent: list[str] = []
    sweepers = [Sweeper(celery_settings, sent.append) for _ in range(3)]
    for sweeper in sweepers:
        sweeper.sweep()
    assert sorted(sent) == sorted(j.id for j in jobs)  # each once, not three times
