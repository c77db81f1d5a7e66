"""The job function and the embedded pool, on real files through the real engine."""

from __future__ import annotations

import time

import av

from moments.service.jobs.progress import ProgressWriter, overall_percent
from moments.service.jobs.run import run_job
from moments.service.storage import poster_key, reel_key
from tests.helpers import pid_alive, wait_for

from .conftest_api import HEAVY_SECONDS
from .helpers import embedded_pool, wait_until_working


def test_overall_percent_uses_stage_weights() -> None:
    assert overall_percent("probe", 0.0) == 0
    assert overall_percent("probe", 1.0) == 2
    assert overall_percent("analyse", 0.5) == 27
    assert overall_percent("render", 1.0) == 95
    assert overall_percent("saving", 1.0) == 100


def test_progress_writer_only_forwards_and_throttles(store) -> None:
    job = store.create(input_key="uploads/j/source.mp4", filename="a.mp4", input_size=1, options={})
    store.claim(job.id, "w")
    writes = ProgressWriter(store, job.id, interval=3600)  # nothing passes the throttle twice
    writes("analyse", 0.1)  # new stage: written
    writes("analyse", 0.9)  # same stage inside the interval: dropped
    assert store.get(job.id).progress == overall_percent("analyse", 0.1)
    writes("render", 0.0)  # new stage: written
    writes("probe", 1.0)  # a stage going backwards never lowers the stored percent
    view = store.get(job.id)
    assert view.progress == overall_percent("render", 0.0)
    assert view.message


def test_bad_input_fails_once_with_a_readable_error(settings, store, storage, add_job, tmp_path):
    fake = tmp_path / "holiday.mp4"
    fake.write_text("this is not a video")
    job = add_job(fake)
    assert run_job(job.id, settings, store=store, storage=storage) == "failed"
    view = store.get(job.id)
    assert view.status == "failed" and view.attempts == 1
    assert "holiday.mp4" in view.error and "source.mp4" not in view.error
    assert not storage.exists(reel_key(job.id))


def test_run_job_is_a_no_op_for_a_job_it_cannot_claim(settings, store, storage, add_job, tmp_path):
    fake = tmp_path / "x.mp4"
    fake.write_bytes(b"x")
    job = add_job(fake)
    store.claim(job.id, "someone-else")
    assert run_job(job.id, settings, store=store, storage=storage) is None
    assert store.get(job.id).worker_id == "someone-else"


def test_job_completes_with_reel_and_poster(dispatcher, store, storage, add_job, media_dir):
    job = add_job(media_dir / "testsrc.mp4", duration=2)
    dispatcher.submit(job.id)
    seen: list[float] = []

    def finished():
        view = store.get(job.id)
        seen.append(view.progress)
        return view if view.finished else None

    view = wait_for(finished, 90, "the job to finish")
    assert view.status == "completed", view.error
    assert view.attempts == 1 and view.progress == 100 and view.error is None
    assert seen == sorted(seen), "progress never goes backwards"
    assert view.output_key == reel_key(job.id) and view.poster_key == poster_key(job.id)
    with av.open(str(storage.local_path(view.output_key))) as reel:
        assert reel.streams.video and reel.duration > 0
    assert storage.size(view.poster_key) > 0
    assert "output" not in view.result and "path" not in view.result["input"]
    assert view.result["segments"], "the result document says what was chosen"
    wait_for(lambda: dispatcher.stats()["busy"] == 0, 5, "the worker process to exit")


def test_cancel_running_job_stops_its_process(dispatcher, store, storage, add_job, heavy_video):
    job = add_job(heavy_video, duration=HEAVY_SECONDS)
    dispatcher.submit(job.id)
    wait_until_working(store, job.id)
    pid = dispatcher.stats()["running"][job.id]
    assert pid_alive(pid)

    started = time.monotonic()
    dispatcher.cancel(job.id)
    wait_for(lambda: not pid_alive(pid), 2, "the worker process to exit", every=0.01)
    assert time.monotonic() - started < 2.0

    view = store.get(job.id)
    assert view.status == "cancelled" and view.finished_at is not None
    stats = dispatcher.stats()
    assert stats["busy"] == 0 and stats["idle"] == stats["workers"]
    assert not storage.exists(reel_key(job.id))


def test_cancelled_pending_job_never_starts(dispatcher, store, add_job, media_dir, heavy_video):
    running = add_job(heavy_video, duration=HEAVY_SECONDS)
    dispatcher.submit(running.id)
    wait_until_working(store, running.id)
    waiting = add_job(media_dir / "testsrc.mp4", duration=2)  # the only slot is busy
    dispatcher.submit(waiting.id)
    dispatcher.cancel(waiting.id)
    dispatcher.cancel(running.id)  # frees the slot: the supervisor looks for work again
    wait_for(lambda: dispatcher.stats()["busy"] == 0, 5, "the slot to be free")
    view = store.get(waiting.id)
    assert view.status == "cancelled" and view.attempts == 0 and view.started_at is None
    assert store.claim_next("anyone") is None


def test_workers_run_jobs_concurrently(migrated, store, add_job, heavy_video):
    jobs = [add_job(heavy_video, duration=HEAVY_SECONDS) for _ in range(3)]
    with embedded_pool(migrated, workers=2) as dispatcher:
        stats = wait_for(
            lambda: (s := dispatcher.stats())["busy"] == 2 and s, 30, "two busy workers"
        )
        assert stats["idle"] == 0 and stats["queued"] == 1
        assert len(set(stats["running"].values())) == 2, "one process per job"
        for job in jobs:
            dispatcher.cancel(job.id)
    assert all(store.get(j.id).status == "cancelled" for j in jobs)
