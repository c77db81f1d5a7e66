"""A reel of many sources analysed in parallel on Celery workers (issue 20, item 4).

Real ``moments worker`` processes on Redis, PostgreSQL, and moto's S3 server standing in for S3
(see conftest). Six small clips, two workers of one slot each: each source is analysed as a task
of its own, on either worker (a chord), and one task selects and renders. One worker is SIGKILLed
while it analyses a source: either its pool process only (Celery gives the task back at once,
``reject_on_worker_lost``, and the chord completes) or the whole worker with its main process
(Redis would give the message back only after the visibility timeout: the job's lease runs out
instead, and its retry analyses the source itself). Either way the reel has every clip.
"""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path

import pytest

from moments.service.jobs.analyses import SOURCES
from moments.service.jobs.celery_app import make_celery, send_job
from moments.service.jobs.celery_dispatch import CeleryDispatcher
from moments.service.jobs.progress import STAGE_MESSAGES, overall_percent
from moments.service.storage import get_storage
from moments.service.store import JobStore, JobView
from tests.engine.synth import ShotSpec, make_video
from tests.helpers import wait_for
from tests.scale.conftest import derive
from tests.service.helpers import reel_job

CLIPS = 6
DURATION = 20.0
TIMEOUT = 90.0
ANALYSING = re.compile(r"analysing source (\d+) \(([^)]*)\) of job (\w+) in process (\d+)")


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Six 5 s clips of 320x180 with sound, each with a highlight of its own (a few tenths of a
    second of analysis each): all worth a place in a reel of ``DURATION``."""
    folder = tmp_path_factory.mktemp("clips")
    paths = []
    for i in range(CLIPS):
        shots = [ShotSpec("dull", 2.0, 10 + i), ShotSpec("highlight", 3.0, 40 + 7 * i)]
        make_video(folder / f"clip{i}.mp4", shots)
        paths.append(folder / f"clip{i}.mp4")
    return paths


def _analysed(text: str, job_id: str) -> list[tuple[int, int]]:
    """(source index, process id) of each analysis a worker's log says it started."""
    return [(int(m[1]), int(m[4])) for m in ANALYSING.finditer(text) if m[3] == job_id]


@pytest.mark.parametrize("kill", ["pool process", "whole worker"])
def test_sources_are_analysed_on_both_workers_and_a_killed_analysis_is_redone(
    kill, celery_settings, start_worker, clips
):
    if kill == "pool process":
        # Celery gives the task back at once; a lease of seconds, not the 2 s of the fixture,
        # keeps a worker starved of processor time on the loaded test machine from looking dead
        # (the lease path is the whole-worker case's).
        celery_settings = derive(celery_settings, job_lease_seconds=10.0)
    store, storage = JobStore.from_settings(celery_settings), get_storage(celery_settings)
    # Both start at once (each takes seconds to be ready).
    victim = start_worker(celery_settings, name="victim", wait=False)
    survivor = start_worker(celery_settings, name="survivor", wait=False)
    for worker in (victim, survivor):
        wait_for(lambda w=worker: " ready." in w.text(), 60, f"worker {worker.name} to start")
    job = reel_job(store, storage, clips, duration=DURATION)
    app = make_celery(celery_settings)
    send_job(app, celery_settings, job.id)

    # While the analyses run, the job is processing at the "analyse" stage: sample it.
    seen: list[tuple[str, str | None, str, float]] = []

    def victim_analysing() -> tuple[int, int] | None:
        view = store.get(job.id)
        seen.append((view.status, view.stage, view.message, view.progress))
        started = _analysed(victim.text(), job.id)
        return started[0] if started else None

    index, pid = wait_for(victim_analysing, TIMEOUT, "the victim to analyse a source", every=0.01)
    if kill == "pool process":
        os.kill(pid, signal.SIGKILL)
    else:
        victim.kill()
    # The kill landed mid-analysis: the victim never kept that source's analysis.
    assert f"kept the analysis of source {index} of job {job.id}" not in victim.text()

    def finished() -> JobView | None:
        view = store.get(job.id)
        seen.append((view.status, view.stage, view.message, view.progress))
        return view if view.finished else None

    done = wait_for(finished, TIMEOUT, "the reel")
    logs = victim.text() + survivor.text()
    assert done.status == "completed", (done.error, logs)

    # Every clip is in the reel, each analysed and kept once (one analysis file per source).
    names = sorted(c["filename"] for c in done.result["clips"])
    assert names == [f"take-{i}.mp4" for i in range(CLIPS)], done.result.get("notes")
    assert {s["clip"] for s in done.result["segments"]} <= set(range(CLIPS))
    for source_id in done.options[SOURCES]:
        kept = [k for k in storage.list(f"sources/{source_id}") if "/analysis-" in k]
        assert len(kept) == 1, kept
    assert storage.exists(done.output_key)
    # Nothing left on the workers' disk (they share it here), the killed analysis's folder too.
    assert not list(celery_settings.scratch_dir.glob(f"{job.id}*"))

    # Analysed as tasks of their own on both workers, every source at least once, and the
    # killed one again after the kill (by a task given back, or by the job's retry).
    on_victim, on_survivor = _analysed(victim.text(), job.id), _analysed(survivor.text(), job.id)
    assert on_victim and on_survivor, logs
    assert {i for i, _ in on_victim + on_survivor} == set(range(CLIPS))
    if kill == "pool process":
        assert [i for i, _ in on_victim + on_survivor].count(index) == 2, logs
        assert done.attempts == 1  # the chord completed: its callback rendered
    else:
        assert done.attempts == 2  # the lease ran out; the retry analysed what was missing
        assert f"analysing source {index} (take-{index}.mp4) of job {job.id}" in survivor.text()

    # The person saw "Looking for the best moments" with a percentage that moved.
    analysing = [p for status, stage, message, p in seen if stage == "analyse"]
    assert all(m == STAGE_MESSAGES["analyse"] for s, stage, m, _ in seen if stage == "analyse")
    assert all(s == "processing" for s, stage, _, _ in seen if stage == "analyse")
    assert len(set(analysing)) >= 2 and analysing == sorted(analysing), analysing
    start, end = overall_percent("analyse", 0.0), overall_percent("analyse", 1.0)
    assert any(start < p < end for p in analysing), analysing  # moved as sources were done
    app.close()


def test_cancelling_a_reel_stops_its_analysis_tasks(celery_settings, start_worker, clips):
    """Cancelled while its sources are analysed: the queued analyses skip, no reel is made."""
    worker = start_worker(celery_settings, name="cancel")
    store, storage = JobStore.from_settings(celery_settings), get_storage(celery_settings)
    dispatcher = CeleryDispatcher(celery_settings)
    try:
        job = reel_job(store, storage, clips, duration=DURATION)
        dispatcher.submit(job.id)
        wait_for(lambda: _analysed(worker.text(), job.id), TIMEOUT, "an analysis", every=0.01)
        dispatcher.cancel(job.id)

        def ended() -> list[str]:
            return re.findall(
                r"moments\.analyse_source\[[\w-]+\] succeeded in [\d.]+s: '([^']*)'", worker.text()
            )

        outcomes = wait_for(lambda: len(ended()) == CLIPS and ended(), TIMEOUT, "every task")
        # The callback never renders: revoked with the job's id, or a no-op on a cancelled job.
        wait_for(
            lambda: (
                f"Discarding revoked task: moments.run_job[{job.id}]" in worker.text()
                or f"job {job.id}: nothing to do" in worker.text()
            ),
            TIMEOUT,
            "the callback to be dropped",
        )
    finally:
        dispatcher.stop()
    # At most the analyses under way when it was cancelled ended; the rest never started.
    assert outcomes.count("skipped: the job is cancelled") >= CLIPS - 2, outcomes
    assert store.get(job.id).status == "cancelled"
    assert storage.list(f"reels/{job.id}") == []
