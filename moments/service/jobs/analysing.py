"""The analyses of a reel's sources, within the job's run: kept ones are read; the missing ones
are analysed here, one after another or in a pool of the job's own processes (the embedded
pool), or handed out as tasks of their own (Celery: :class:`HandedOff`, ``FanOut``, and
``jobs.analysis_task``). Each is kept as soon as it is made."""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections.abc import Callable, Iterator

from moments.engine import Cancelled, HighlightOptions, analyse_clip
from moments.engine.many import Clip

from ..logging import job_id_var
from ..storage import Storage
from ..store import JobView
from .analyses import load_analysis, save_analysis
from .apart import analyse_apart, die_with_parent
from .inputs import SourceClip
from .lease import CANCEL_CHECK_SECONDS, StoreCancelToken
from .progress import ProgressWriter

log = logging.getLogger(__name__)

FanOut = Callable[[JobView, str, list[SourceClip], list[str]], None]
"""Sends the analyses of ``missing`` sources out as tasks, then the job again once they are all
done: ``(job, holder, missing, every analysis key of the reel)``. ``holder`` is the worker id
the job row stays held by meanwhile; the job's next run takes it over from that id."""


class HandedOff(Exception):
    """The reel's missing analyses go out as tasks of their own (``FanOut``)."""

    def __init__(self, missing: list[SourceClip], keys: list[str]):
        super().__init__(f"{len(missing)} analyses handed out")
        self.missing, self.keys = missing, keys


def analysed(
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
    found = {c.index: load_analysis(storage, c.key, c.path, options.duration) for c in inputs}
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

        log_analysing(source)
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


def log_analysing(source: SourceClip) -> None:
    # Says which process analyses which source of which job (the job id from job_context).
    log.info(
        "analysing source %d (%s) of job %s in process %d",
        source.index,
        source.filename,
        job_id_var.get(),
        os.getpid(),
    )
