"""One source of a reel analysed and kept as a task of its own: what a Celery worker runs for
each analysis a job's run handed out (``FanOut``, ``jobs.analysing``)."""

from __future__ import annotations

import logging
from pathlib import Path

from moments.engine import Cancelled, analyse_clip

from ..logging import job_context
from ..settings import Settings
from ..storage import Storage
from ..store import JobStore, JobView
from .analyses import save_analysis
from .analysing import log_analysing
from .inputs import SourceClip, engine_options, named_link
from .lease import Heartbeat, StoreCancelToken, renew
from .limits import job_limits
from .progress import STAGE_MESSAGES, ProgressWriter, overall_percent
from .scratch import clear, task_scratch

log = logging.getLogger(__name__)


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
        renew(store, job_id, holder)
        token = StoreCancelToken(store, job_id)
        heartbeat = Heartbeat(store, job_id, holder, token, stop_when_lost=False)
        heartbeat.start()
        # Its own folder (``jobs.scratch``): a redelivered copy of this task may run beside it.
        scratch = task_scratch(settings, job_id, source.index)
        clear(scratch)
        log_analysing(source)
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
            renew(store, job_id, holder)
            clear(scratch)
        log.info("kept the analysis of source %d of job %s", source.index, job_id)
        return "analysed"


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
    path = named_link(scratch, stored, source.filename)
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
