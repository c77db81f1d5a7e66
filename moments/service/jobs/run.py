"""run_job: THE job function. The embedded pool runs it in a child process; Celery too.

It claims the job (a no-op if someone else holds it), runs the engine on a local copy of the
upload, stores the reel and poster, and records the outcome. Everything it writes is guarded
by the job's status, so a job cancelled meanwhile is never marked done.

A reel of several sources has each source analysed once and kept (``jobs.analyses``). What is
not kept yet is analysed in parallel where the queue allows: the embedded pool's job process
runs a pool of processes of its own; with Celery, ``run_job`` hands the analyses out as tasks
of their own (``fan_out``, a chord of ``jobs.analysis_task.analyse_source``) and runs again,
taking the job over, when they are done. Whatever is still missing then (a task failed, a
worker died and the job's lease ran out) the job analyses itself: nothing is lost however the
tasks end.

What it uses, each in a module of its own: ``inputs`` (the job's options and local copies of
its files), ``analysing`` (a reel's sources analysed, or handed out), ``progress`` (the stages
its user sees), ``lease`` (holding the job, and hearing it was cancelled), ``failures`` (how a
failed job ends and what its user is told), ``scratch`` (its folders, and their clean-up).
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

from moments.engine import (
    Cancelled,
    EngineError,
    HighlightOptions,
    HighlightResult,
    highlight,
    reel_from_clips,
)

from ..logging import job_context
from ..settings import Settings
from ..storage import Storage, get_storage, poster_key, reel_key
from ..store import JobStore, JobView
from .analyses import (
    MUSIC,
    RECUT_OF,
    SOURCES,
    analysis_key,
    clip_of,
    content_digest,
    load_analysis,
    save_analysis,
)
from .analysing import FanOut, HandedOff, analysed
from .estimate import plan_of_job
from .failures import record_failure
from .inputs import engine_options, local_sources, song_of, sources_of
from .lease import Heartbeat, StoreCancelToken, new_worker_id
from .limits import JobLimitExceeded, job_limits
from .progress import ProgressWriter
from .scratch import clear, clear_task_scratch, job_scratch

log = logging.getLogger(__name__)


def run_job(
    job_id: str,
    settings: Settings,
    *,
    worker_id: str | None = None,
    store: JobStore | None = None,
    storage: Storage | None = None,
    fan_out: FanOut | None = None,
    take_over_from: str | None = None,
    parallel: int = 1,
) -> str | None:
    """Process one job to the end. Returns its final status, or None if it was not ours to run.

    EngineError (bad input) fails the job at once; Cancelled leaves it cancelled; anything else
    is retried up to ``settings.max_attempts`` times.

    For a reel of several sources whose analyses are not all kept: with ``fan_out`` (Celery;
    used on a job's first attempt only, so a retry never sends them out twice) they are handed
    out and this returns "analysing", the job still held by ``worker_id``; the run that follows
    passes that id as ``take_over_from``. Without it they are analysed here, in ``parallel``
    processes of this one's (the embedded pool).
    """
    with job_context(job_id):  # log lines carry the job id
        return _run_job(
            job_id,
            settings,
            worker_id=worker_id,
            store=store,
            storage=storage,
            fan_out=fan_out,
            take_over_from=take_over_from,
            parallel=parallel,
        )


def _run_job(
    job_id: str,
    settings: Settings,
    *,
    worker_id: str | None,
    store: JobStore | None,
    storage: Storage | None,
    fan_out: FanOut | None,
    take_over_from: str | None,
    parallel: int,
) -> str | None:
    store = store or JobStore.from_settings(settings)
    storage = storage or get_storage(settings)
    worker_id = worker_id or new_worker_id()

    job = store.claim(job_id, worker_id)
    if job is None and take_over_from:
        job = store.take_over(job_id, take_over_from, worker_id)
    if job is None:
        # The embedded supervisor claims on our behalf before starting this process.
        held = store.get(job_id)
        if held is None or held.status != "processing" or held.worker_id != worker_id:
            return None
        job = held

    scratch = job_scratch(settings, job_id)
    clear(scratch)  # leftovers of an attempt that crashed
    token = StoreCancelToken(store, job_id)
    heartbeat = Heartbeat(store, job_id, worker_id, token)
    heartbeat.start()
    if job.attempts > 1:
        fan_out = None  # a retry analyses what is missing itself: tasks are sent out once
    try:
        with job_limits(settings):
            return _process(job, settings, store, storage, scratch, token, fan_out, parallel)
    except HandedOff as out:
        assert fan_out is not None
        heartbeat.stop()
        heartbeat.join()  # its renewal must not land after the hand-off's lease
        try:
            fan_out(job, worker_id, out.missing, out.keys)
        except Exception as exc:  # the broker is away: try the whole job again later
            log.warning("job %s: could not send its analyses out", job_id, exc_info=True)
            return store.retry_or_fail(job_id, f"could not queue the analyses: {exc}")
        return "analysing"
    except Cancelled:
        return "cancelled"
    except (JobLimitExceeded, Exception) as exc:  # the limits' error is a BaseException
        return record_failure(exc, job, settings, store)
    finally:
        heartbeat.stop()
        clear(scratch)
        if fan_out is None:  # the job's last run (it hands nothing out): nothing else needs them
            clear_task_scratch(settings, job_id)


def _process(
    job: JobView,
    settings: Settings,
    store: JobStore,
    storage: Storage,
    scratch: Path,
    token: StoreCancelToken,
    fan_out: FanOut | None = None,
    parallel: int = 1,
) -> str:
    options = engine_options(job, settings)
    try:
        source = storage.local_path(job.input_key)
    except FileNotFoundError:
        raise EngineError("the uploaded video is missing; please upload it again") from None

    scratch.mkdir(parents=True, exist_ok=True)
    plan = plan_of_job(job.result, {"duration": options.duration})
    if plan is not None and (job.options or {}).get(RECUT_OF):
        plan = plan | {"probe": 0.0, "analyse": 0.0}  # a re-cut reads the kept analysis
    progress = ProgressWriter(store, job.id, settings.progress_interval, plan)
    if (job.options or {}).get(SOURCES):
        clips = sources_of(job, store)
        if job.options.get(MUSIC):
            song = song_of(job, store, storage, scratch)
            mode = job.options.get("music_mode", "replace")
            options = replace(options, music=song, music_mode=mode)
        inputs = local_sources(clips, storage, scratch / "clips")
        kept = analysed(inputs, storage, options, progress, token, fan_out, parallel)
        progress("analyse", 1.0)
        output = scratch / "reel.mp4"
        result = reel_from_clips(kept, output, options, progress=progress, cancel=token)
    else:
        result = _reel(job, storage, source, scratch / "reel.mp4", options, progress, token)
    return _save(job, result, store, storage, progress, token)


def _save(
    job: JobView,
    result: HighlightResult,
    store: JobStore,
    storage: Storage,
    progress: ProgressWriter,
    token: StoreCancelToken,
) -> str:
    """The reel and its poster stored, and the job completed; returns its status."""
    progress("saving", 0.0)
    if token.is_set():
        raise Cancelled("cancelled before saving")
    out_key = reel_key(job.id)
    with result.output.open("rb") as f:
        reel_bytes = storage.write(out_key, f)
    progress("saving", 0.7)
    still_key = None
    if result.poster is not None and result.poster.is_file():
        still_key = poster_key(job.id)
        with result.poster.open("rb") as f:
            storage.write(still_key, f)

    document = public_result(result.to_dict()) | {"size_bytes": reel_bytes}
    if store.complete(job.id, result=document, output_key=out_key, poster_key=still_key):
        return "completed"
    # Cancelled (or taken over) while saving: these files belong to no finished job.
    if store.is_cancelled(job.id):
        storage.delete(out_key)
        if still_key:
            storage.delete(still_key)
    return "cancelled"


def public_result(result: dict[str, Any]) -> dict[str, Any]:
    """The engine's result document without local file paths (they mean nothing to clients)."""
    clean = {k: v for k, v in result.items() if k not in ("output", "poster")}
    if isinstance(clean.get("input"), dict):
        clean["input"] = {k: v for k, v in clean["input"].items() if k != "path"}
    if isinstance(clean.get("options"), dict) and clean["options"].get("music"):
        clean["options"] = {**clean["options"], "music": Path(clean["options"]["music"]).name}
    if isinstance(clean.get("clips"), list):  # a reel of many clips: each by its file's name
        clean["clips"] = [
            {
                "filename": Path(c.get("path", "")).name,
                **{k: v for k, v in c.items() if k != "path"},
            }
            for c in clean["clips"]
        ]
    return clean


def _reel(
    job: JobView,
    storage: Storage,
    source: Path,
    output: Path,
    options: HighlightOptions,
    progress: ProgressWriter,
    token: StoreCancelToken,
) -> HighlightResult:
    """The reel of ``source``: from its kept analysis when there is one (a re-cut: select and
    render only), else by the whole engine run, whose analysis is then kept for re-cuts."""
    key = analysis_key(job.input_key, content_digest(source))
    clip = load_analysis(storage, key, source, options.duration)
    if clip is not None:
        return reel_from_clips([clip], output, options, progress=progress, cancel=token)
    result = highlight(source, output, options, progress=progress, cancel=token)
    kept = clip_of(result)
    if kept is not None:
        try:
            save_analysis(storage, key, kept)
        except Exception:  # a reel without a kept analysis is still the reel asked for
            log.warning("could not keep the analysis of job %s", job.id, exc_info=True)
    return result
