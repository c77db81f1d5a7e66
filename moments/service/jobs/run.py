"""run_job: THE job function. The embedded pool runs it in a child process; Celery too.

It claims the job (a no-op if someone else holds it), runs the engine on a local copy of the
upload, stores the reel and poster, and records the outcome. Everything it writes is guarded
by the job's status, so a job cancelled meanwhile is never marked done.

A reel of several sources has each source analysed once and kept (``jobs.analyses``). What is
not kept yet is analysed in parallel where the queue allows: the embedded pool's job process
runs a pool of processes of its own; with Celery, ``run_job`` hands the analyses out as tasks
of their own (``fan_out``, a chord of :func:`analyse_source`) and runs again, taking the job
over, when they are done. Whatever is still missing then (a task failed, a worker died and the
job's lease ran out) the job analyses itself: nothing is lost however the tasks end.
"""

from __future__ import annotations

import errno
import logging
import multiprocessing
import os
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields, replace
from pathlib import Path, PurePosixPath
from typing import Any

from moments.engine import (
    Cancelled,
    EngineError,
    HighlightOptions,
    HighlightResult,
    analyse_clip,
    highlight,
    reel_from_clips,
)
from moments.engine.many import Clip

from ..logging import job_context, job_id_var
from ..settings import Settings
from ..sources import SourceStore
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
from .apart import analyse_apart, die_with_parent
from .estimate import plan_of_job, seconds_left
from .limits import JobLimitExceeded, is_out_of_memory, job_limits, memory_message

log = logging.getLogger(__name__)

# Share of the overall percentage each stage accounts for (sums to 100).
STAGE_WEIGHTS: dict[str, float] = {
    "probe": 2,
    "analyse": 50,
    "select": 3,
    "render": 40,
    "saving": 5,
}
STAGE_MESSAGES: dict[str, str] = {
    "probe": "Checking the video",
    "analyse": "Looking for the best moments",
    "select": "Choosing the highlights",
    "render": "Rendering the reel",
    "saving": "Saving the reel",
}
CANCEL_CHECK_SECONDS = 0.5
# Options a job may carry into the engine; anything else in the row is ignored.
JOB_OPTIONS = ("duration", "aspect", "keep_location", "codec", "hdr")
NO_SPACE_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
NO_SPACE_MESSAGE = "The server ran out of disk space while making your reel; try again later."


def overall_percent(stage: str, fraction: float) -> float:
    """Map a stage's own fraction (0..1) to the job's overall percent (0..100)."""
    done = 0.0
    for name, weight in STAGE_WEIGHTS.items():
        if name == stage:
            return done + weight * min(1.0, max(0.0, fraction))
        done += weight
    return done


def new_worker_id(prefix: str = "worker") -> str:
    return f"{prefix}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


class ProgressWriter:
    """Engine progress -> job row: only forwards, at most every ``interval`` seconds.

    ``plan`` (seconds per stage, ``jobs.estimate``) gives an ETA from the first write on;
    without one, the ETA waits until the pace so far can be measured. ``eta=False``: none at
    all (one of several analyses running at once knows only its own pace, not the job's).
    """

    def __init__(
        self,
        store: JobStore,
        job_id: str,
        interval: float,
        plan: dict[str, float] | None = None,
        *,
        eta: bool = True,
    ):
        self._with_eta = eta
        self._plan = plan
        self._store = store
        self._job_id = job_id
        self._interval = interval
        self._started = time.monotonic()
        self._last_write = -float("inf")
        self._last_percent = -1.0
        self._last_stage: str | None = None

    def __call__(self, stage: str, fraction: float) -> None:
        percent = overall_percent(stage, fraction)
        now = time.monotonic()
        new_stage = stage != self._last_stage
        if percent <= self._last_percent and not new_stage:
            return
        if not new_stage and now - self._last_write < self._interval:
            return
        self._last_write, self._last_stage = now, stage
        self._last_percent = max(self._last_percent, percent)
        message = STAGE_MESSAGES.get(stage, stage)
        eta = self._eta(now, stage, fraction) if self._with_eta else None
        self._store.progress(self._job_id, stage, self._last_percent, message, eta)

    def _eta(self, now: float, stage: str, fraction: float) -> float | None:
        """Seconds left: the plan's seconds left, scaled by how the job kept to the plan so far
        (once there is enough of it to judge: a second of planned work), or without a plan,
        the rest at the average pace so far."""
        elapsed = now - self._started
        if self._plan is not None:
            left = seconds_left(self._plan, stage, fraction)
            done = sum(self._plan.values()) - left
            if done >= 1.0 and elapsed > 0:
                left *= min(4.0, max(0.25, elapsed / done))
            return round(left, 1)
        percent = self._last_percent
        if percent < 3 or elapsed < 1:
            return None
        return round(elapsed * (100 - percent) / percent, 1)


class StoreCancelToken:
    """``is_set()`` for the engine: true once the job is cancelled in the database.

    The database is asked at most every ``CANCEL_CHECK_SECONDS``; ``set()`` (from the heartbeat,
    when the job is no longer ours) takes effect at once.
    """

    def __init__(self, store: JobStore, job_id: str):
        self._store = store
        self._job_id = job_id
        self._event = threading.Event()
        self._next_check = 0.0

    def set(self) -> None:
        self._event.set()

    def is_set(self) -> bool:
        if self._event.is_set():
            return True
        now = time.monotonic()
        if now >= self._next_check:
            self._next_check = now + CANCEL_CHECK_SECONDS
            if self._store.is_cancelled(self._job_id):
                self._event.set()
        return self._event.is_set()


class Heartbeat(threading.Thread):
    """Renews the job's lease while it runs; stops the work if the job is no longer ours
    (unless ``stop_when_lost`` is false: an analysis of a source is worth keeping whoever now
    holds the job; a cancelled job still stops it through the token)."""

    def __init__(
        self,
        store: JobStore,
        job_id: str,
        worker_id: str,
        token: StoreCancelToken,
        *,
        stop_when_lost: bool = True,
    ):
        super().__init__(name=f"heartbeat-{job_id[:8]}", daemon=True)
        self._store, self._job_id, self._worker_id, self._token = store, job_id, worker_id, token
        self._stop_when_lost = stop_when_lost
        # Not ``_stop``: that name is Thread's own method, which join() calls.
        self._halt = threading.Event()
        self._every = max(0.2, store.lease_seconds / 3)

    def run(self) -> None:
        while not self._halt.wait(self._every):
            try:
                if not self._store.heartbeat(self._job_id, self._worker_id):
                    if self._stop_when_lost:
                        self._token.set()
                    return
            except Exception:  # a busy database must not kill the job; the lease has slack
                log.warning("heartbeat failed for job %s", self._job_id, exc_info=True)

    def stop(self) -> None:
        self._halt.set()


def engine_options(job: JobView, settings: Settings) -> HighlightOptions:
    """HighlightOptions from the job's stored options (raises EngineError if they are bad)."""
    known = {f.name for f in fields(HighlightOptions)}
    given = {k: v for k, v in (job.options or {}).items() if k in JOB_OPTIONS and k in known}
    given.setdefault("duration", settings.default_duration)
    return HighlightOptions(**given)


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


@dataclass(frozen=True)
class SourceClip:
    """One source of a reel as this worker has it: its place in the reel's list, where it is
    stored, the name people know it by, a local copy under that name, and where its analysis
    is kept."""

    index: int
    stored_key: str
    filename: str
    path: Path
    key: str


FanOut = Callable[[JobView, str, list[SourceClip], list[str]], None]
"""Sends the analyses of ``missing`` sources out as tasks, then the job again once they are all
done: ``(job, holder, missing, every analysis key of the reel)``. ``holder`` is the worker id
the job row stays held by meanwhile; the job's next run takes it over from that id."""


class HandedOff(Exception):
    """The reel's missing analyses go out as tasks of their own (``FanOut``)."""

    def __init__(self, missing: list[SourceClip], keys: list[str]):
        super().__init__(f"{len(missing)} analyses handed out")
        self.missing, self.keys = missing, keys


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

    scratch = settings.scratch_dir / job_id
    shutil.rmtree(scratch, ignore_errors=True)  # leftovers of an attempt that crashed
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
    except JobLimitExceeded as exc:
        # Over a limit: the same file would be again, so it fails for good (a poison file).
        log.warning("job %s stopped: %s", job_id, exc)
        store.fail(job_id, str(exc))
        return "failed"
    except EngineError as exc:
        if is_out_of_space(exc):
            return _out_of_space(store, job_id, exc)
        if settings.job_memory_bytes and is_out_of_memory(exc):
            # The engine saw an allocation fail: that is our limit, not a damaged file.
            store.fail(job_id, memory_message(settings.job_memory_bytes))
            return "failed"
        # The engine names the file it read (our storage name); show the name the user knows.
        stored, known = Path(job.input_key).name, job.filename or "the video"
        message = exc.about(known) if exc.file == stored else str(exc)
        store.fail(job_id, message)
        return "failed"
    except Exception as exc:
        if is_out_of_space(exc):
            return _out_of_space(store, job_id, exc)
        if settings.job_memory_bytes and is_out_of_memory(exc):
            log.warning("job %s ran out of memory: %r", job_id, exc)
            store.fail(job_id, memory_message(settings.job_memory_bytes))
            return "failed"
        log.exception("job %s failed unexpectedly", job_id)
        error = f"internal error: {type(exc).__name__}: {exc}".rstrip(": ")
        return store.retry_or_fail(job_id, error, settings.max_attempts)
    finally:
        heartbeat.stop()
        shutil.rmtree(scratch, ignore_errors=True)
        if fan_out is None:  # the job's last run (it hands nothing out): nothing else needs them
            _clear_analysis_scratch(settings.scratch_dir, job_id)


def _clear_analysis_scratch(scratch_dir: Path, job_id: str) -> None:
    """Folders :func:`analyse_source` tasks of the job left behind on this machine (killed)."""
    for folder in scratch_dir.glob(f"{job_id}-source-*"):
        shutil.rmtree(folder, ignore_errors=True)


def is_out_of_space(exc: BaseException) -> bool:
    """True if ``exc`` (or what caused it) is a disk or quota running full.

    The engine wraps FFmpeg's write errors in EngineError, whose text names the scratch file;
    storing the reel raises a plain OSError. Either way its errno is found along the chain.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in NO_SPACE_ERRNOS:
            return True
        current = current.__cause__ or current.__context__
    return False


def _out_of_space(store: JobStore, job_id: str, exc: BaseException) -> str:
    """The job fails with a plain message; the paths and errno stay in the server's log.

    It is not retried: an attempt right away would most likely meet the same full disk and
    only delay the answer; the user is told to try again later instead.
    """
    log.error("job %s ran out of disk space: %s", job_id, exc, exc_info=exc)
    store.fail(job_id, NO_SPACE_MESSAGE)
    return "failed"


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
        clips = _clips_of(job, store)
        if job.options.get(MUSIC):
            song = _song_of(job, store, storage, scratch)
            mode = job.options.get("music_mode", "replace")
            options = replace(options, music=song, music_mode=mode)
        inputs = _inputs(clips, storage, scratch / "clips")
        kept = _analysed(inputs, storage, options, progress, token, fan_out, parallel)
        progress("analyse", 1.0)
        output = scratch / "reel.mp4"
        result = reel_from_clips(kept, output, options, progress=progress, cancel=token)
    else:
        result = _reel(job, storage, source, scratch / "reel.mp4", options, progress, token)

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
    clip = load_analysis(storage, key, source)
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


def _clips_of(job: JobView, store: JobStore) -> list[tuple[str, str]]:
    """(storage key, file name) of each of the job's sources, in the order given."""
    sources = SourceStore(store.sessions)
    found = []
    for source_id in job.options[SOURCES]:
        source = sources.get(source_id)
        if source is None:
            raise EngineError("a clip of this reel has expired or was deleted; upload it again")
        found.append((source.input_key, source.filename))
    return found


def _named(folder: Path, stored: Path, filename: str) -> Path:
    """``stored`` under the name people know it by (a link): the engine's notes and errors
    name files, and every stored upload is called ``source.<ext>``."""
    name = PurePosixPath(filename).name
    while len(name.encode()) > 200:  # file systems allow 255 bytes a name; 200 characters
        name = name[:-1]  # of a script written in 4-byte characters would be 800
    if name in ("", ".", ".."):
        name = "clip"
    path = folder / name
    folder.mkdir(parents=True, exist_ok=True)
    path.symlink_to(stored.resolve())
    return path


def _song_of(job: JobView, store: JobStore, storage: Storage, scratch: Path) -> Path:
    """A local copy of the music source the job's reel is set to, under its own name."""
    source = SourceStore(store.sessions).get(job.options[MUSIC])
    try:
        if source is None:
            raise FileNotFoundError(job.options[MUSIC])
        stored = storage.local_path(source.input_key)
    except FileNotFoundError:
        raise EngineError("the music of this reel has expired or was deleted") from None
    return _named(scratch / "music", stored, source.filename)


def _inputs(entries: list[tuple[str, str]], storage: Storage, folder: Path) -> list[SourceClip]:
    """Each of the sources ``entries`` names: a local copy, under the name people know it by
    (the engine's notes and errors name a clip by its file), and its analysis key."""
    inputs = []
    for index, (stored_key, filename) in enumerate(entries):
        try:
            stored = storage.local_path(stored_key)
        except FileNotFoundError:
            raise EngineError(
                f"{filename}: this clip has expired or was deleted; upload it again"
            ) from None
        path = _named(folder / str(index), stored, filename)
        key = analysis_key(stored_key, content_digest(stored))
        inputs.append(SourceClip(index, stored_key, filename, path, key))
    return inputs


def _analysed(
    inputs: list[SourceClip],
    storage: Storage,
    options: HighlightOptions,
    progress: ProgressWriter,
    token: StoreCancelToken,
    fan_out: FanOut | None,
    parallel: int,
) -> list[Clip]:
    """The analysis of each of ``inputs``: kept ones read, the others made (here, in a pool of
    ``parallel`` processes, or handed out: :class:`HandedOff`) and kept."""
    found = {c.index: load_analysis(storage, c.key, c.path) for c in inputs}
    missing = [c for c in inputs if found[c.index] is None]
    total = len(inputs)
    progress("analyse", (total - len(missing)) / total)
    if len(missing) > 1 and fan_out is not None:
        raise HandedOff(missing, [c.key for c in inputs])
    for source, clip in _analyse(missing, options, progress, token, total, parallel):
        try:
            save_analysis(storage, source.key, clip)
        except Exception:
            log.warning("could not keep the analysis of %s", source.stored_key, exc_info=True)
        found[source.index] = clip
    return [
        Clip(c.index, clip.media, clip.timeline, clip.shot_at)
        for c in inputs
        if (clip := found[c.index]) is not None
    ]


def _analyse(
    missing: list[SourceClip],
    options: HighlightOptions,
    progress: ProgressWriter,
    token: StoreCancelToken,
    total: int,
    parallel: int,
) -> Iterator[tuple[SourceClip, Clip]]:
    """Analyse ``missing`` (of ``total`` sources): one after another, or ``parallel`` at once;
    each is yielded as soon as it is done, to be kept before the next (a retry after a crash
    then finds it)."""
    done = total - len(missing)
    if parallel > 1 and len(missing) > 1:
        yield from _analyse_in_pool(missing, options, progress, token, done, total, parallel)
        return
    for source in missing:

        def forward(stage: str, fraction: float, done: int = done) -> None:
            progress("analyse", (done + (fraction if stage == "analyse" else 0.0)) / total)

        _log_analysing(source)
        clip = analyse_clip(source.path, options, source.index, progress=forward, cancel=token)
        yield source, clip
        done += 1


def _analyse_in_pool(
    missing: list[SourceClip],
    options: HighlightOptions,
    progress: ProgressWriter,
    token: StoreCancelToken,
    done: int,
    total: int,
    parallel: int,
) -> Iterator[tuple[SourceClip, Clip]]:
    """The embedded pool's parallel analysis: ``parallel`` processes of this job's process, each
    analysing whole sources; progress moves as each source is done. Its processes die with
    this one (a cancelled job's process is ended by the supervisor), and end on cancel."""
    context = multiprocessing.get_context("spawn")  # never fork a process with threads
    size = min(parallel, len(missing))
    with context.Pool(size, initializer=die_with_parent, initargs=(os.getpid(),)) as pool:
        waiting = [
            (source, pool.apply_async(analyse_apart, (source.path, options, source.index)))
            for source in missing
        ]
        while waiting:
            waiting[0][1].wait(CANCEL_CHECK_SECONDS)
            if token.is_set():
                raise Cancelled("cancelled while analysing")  # the with block ends the pool
            for source, result in [w for w in waiting if w[1].ready()]:
                clip, pid = result.get()  # re-raises the analysis's error
                log.info(
                    "analysed source %d (%s) of job %s in process %d",
                    source.index,
                    source.filename,
                    job_id_var.get(),
                    pid,
                )
                waiting.remove((source, result))
                done += 1
                progress("analyse", done / total)
                yield source, clip


def analyse_source(
    job_id: str,
    holder: str,
    source: SourceClip,
    keys: list[str],
    settings: Settings,
    store: JobStore,
    storage: Storage,
) -> str:
    """One source of a reel analysed and kept, as a task of its own (Celery's ``fan_out``).

    Idempotent, so a repeated or redelivered task is harmless: a kept analysis is not made
    again, and one made twice is the same bytes under the same key. It never raises: whatever
    it could not do, the job's next run (the chord's callback) does itself, and reports. While
    it runs it renews the job's lease (held by ``holder``), so a job is recovered one lease
    after the last of its analyses stopped. ``source.path`` is unused: this worker makes its
    own copy. Returns what it did, for the log.
    """
    with job_context(job_id):
        job = store.get(job_id)
        if job is None or job.status != "processing":
            return f"skipped: the job is {job.status if job else 'deleted'}"
        if storage.exists(source.key):
            return "skipped: already kept"
        # The job's lease is renewed at once (an analysis may end before the first beat) and
        # when it ends, so it runs out one lease after the last analysis stopped, whatever the
        # hand-off's lease for the wait in the queue was.
        _renew(store, job_id, holder)
        token = StoreCancelToken(store, job_id)
        heartbeat = Heartbeat(store, job_id, holder, token, stop_when_lost=False)
        heartbeat.start()
        # Its own folder (workers on one machine share the scratch folder): a redelivered
        # copy of this task may run beside it, and a killed one leaves its folder behind (the
        # job's last run clears those: ``_clear_analysis_scratch``).
        scratch = settings.scratch_dir / f"{job_id}-source-{source.index}-{os.getpid()}"
        shutil.rmtree(scratch, ignore_errors=True)
        _log_analysing(source)
        try:
            with job_limits(settings):
                _analyse_and_keep(job, source, keys, settings, store, storage, scratch, token)
        except Cancelled:
            return "cancelled"
        except Exception as exc:
            log.warning("job %s: analysing source %d failed", job_id, source.index, exc_info=True)
            return f"failed: {exc}"
        finally:
            heartbeat.stop()
            _renew(store, job_id, holder)
            shutil.rmtree(scratch, ignore_errors=True)
        log.info("kept the analysis of source %d of job %s", source.index, job_id)
        return "analysed"


def _renew(store: JobStore, job_id: str, holder: str) -> None:
    try:
        store.heartbeat(job_id, holder)
    except Exception:  # a busy database: the heartbeat thread or the next task tries again
        log.warning("could not renew the lease of job %s", job_id, exc_info=True)


def _log_analysing(source: SourceClip) -> None:
    # Says which process analyses which source of which job (the job id from job_context).
    log.info(
        "analysing source %d (%s) of job %s in process %d",
        source.index,
        source.filename,
        job_id_var.get(),
        os.getpid(),
    )


def _analyse_and_keep(
    job: JobView,
    source: SourceClip,
    keys: list[str],
    settings: Settings,
    store: JobStore,
    storage: Storage,
    scratch: Path,
    token: StoreCancelToken,
) -> None:
    stored = storage.local_path(source.stored_key)
    path = _named(scratch, stored, source.filename)
    # The share of the reel's analyses kept when this one started, and this one's own progress:
    # several tasks write it at once; the row keeps the highest (the percentage never goes back).
    done = sum(storage.exists(k) for k in keys)
    writer = ProgressWriter(store, job.id, settings.progress_interval, eta=False)

    def forward(stage: str, fraction: float) -> None:
        writer("analyse", (done + (fraction if stage == "analyse" else 0.0)) / len(keys))

    options = engine_options(job, settings)
    clip = analyse_clip(path, options, source.index, progress=forward, cancel=token)
    save_analysis(storage, source.key, clip)
    kept = sum(storage.exists(k) for k in keys)
    percent = overall_percent("analyse", kept / len(keys))
    store.progress(job.id, "analyse", percent, STAGE_MESSAGES["analyse"])
