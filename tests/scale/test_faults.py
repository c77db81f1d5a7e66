"""Fault test: two Celery workers, twelve jobs, one worker SIGKILLed mid-job.

The kill point is drawn from a seeded RNG (which job of the victim's, and how far into it) and
printed. Everything is real: ``moments worker`` processes on Redis, PostgreSQL, and moto's S3
server standing in for S3.
"""

from __future__ import annotations

import random
import sys
import time

import av
import pytest
from sqlalchemy import select

from moments.service.db.models import Job
from moments.service.jobs.celery_app import make_celery, send_job
from moments.service.storage import get_storage
from moments.service.store import JobStore
from tests.helpers import wait_for

JOBS = 12
RUN_TIMEOUT = 120.0


def _held_by(store: JobStore, prefix: str) -> list[Job]:
    with store._sessions() as session:
        query = select(Job).where(Job.status == "processing", Job.worker_id.startswith(prefix))
        return list(session.scalars(query))


@pytest.mark.slow
@pytest.mark.parametrize("seed", [11, 23, 47])
def test_sigkilled_worker_loses_no_job(
    seed, celery_settings, start_worker, add_job, media_dir, capsys
):
    rng = random.Random(seed)
    nth_job = rng.randint(1, 3)  # kill during the victim's n-th job...
    at_percent = rng.uniform(0, 80)  # ...once it is this far in
    victim_name, survivor_name = f"victim{seed}", f"survivor{seed}"

    store, storage = JobStore.from_settings(celery_settings), get_storage(celery_settings)
    victim = start_worker(celery_settings, name=victim_name)
    start_worker(celery_settings, name=survivor_name)
    app = make_celery(celery_settings)
    jobs = [add_job(celery_settings, media_dir / "testsrc.mp4") for _ in range(JOBS)]
    started = time.monotonic()
    for job in jobs:
        send_job(app, celery_settings, job.id)

    # Follow the victim's jobs until its n-th one has reached the kill point.
    seen: set[str] = set()

    def at_kill_point() -> bool:
        for job in _held_by(store, f"{victim_name}-"):
            seen.add(job.id)
            if len(seen) >= nth_job and job.progress >= at_percent:
                return True
        return False

    wait_for(at_kill_point, RUN_TIMEOUT, "the kill point", every=0.01)
    victim.kill()
    killed_at = time.monotonic()
    caught = _held_by(store, f"{victim_name}-")
    assert len(caught) == 1, "the victim must die holding a job"
    lost = caught[0]
    report = (
        f"seed {seed}: SIGKILLed {victim_name} during its job #{len(seen)} ({lost.id[:8]}) "
        f"at {lost.progress:.0f}% (target {at_percent:.0f}%), {killed_at - started:.1f}s in"
    )

    def all_finished() -> bool:
        return all(store.get(j.id).finished for j in jobs)

    wait_for(all_finished, RUN_TIMEOUT, f"all jobs to finish ({report})", every=0.1)
    elapsed = time.monotonic() - started
    views = {j.id: store.get(j.id) for j in jobs}
    recovered_after = (views[lost.id].finished_at - views[lost.id].started_at).total_seconds()
    with capsys.disabled():
        sys.stdout.write(
            f"\n  {report}; all {JOBS} done in {elapsed:.1f}s, "
            f"lost job re-run and finished {recovered_after:.1f}s after its retry started\n"
        )

    assert [v.status for v in views.values()] == ["completed"] * JOBS, report
    assert store.count("pending") == 0 and store.count("processing") == 0  # none stuck
    assert views[lost.id].attempts == 2, report  # the killed attempt was recorded
    assert views[lost.id].worker_id.startswith(f"{survivor_name}-")
    assert sorted(v.attempts for v in views.values()) == [1] * (JOBS - 1) + [2]
    for job_id, view in views.items():
        # Exactly one reel (and its poster) per job, and it is a real video.
        keys = sorted(storage.list(f"reels/{job_id}"))
        assert keys == [f"reels/{job_id}/poster.jpg", f"reels/{job_id}/reel.mp4"], report
        with av.open(str(storage.local_path(view.output_key))) as container:
            assert container.streams.video[0].frames > 10 or container.duration > 1_000_000
    # No half-finished multipart uploads left by the killed worker.
    assert not storage.client.list_multipart_uploads(Bucket=storage.bucket).get("Uploads")
    app.close()
