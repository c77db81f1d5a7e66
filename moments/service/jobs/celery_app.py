"""Celery on Redis: the same ``run_job`` as the embedded pool, run by ``moments worker``.

Delivery is at-least-once, made safe by the job row rather than by the broker:

- ``task_acks_late`` + ``task_reject_on_worker_lost``: a message is acknowledged only after the
  job function returns, and goes back to the queue if the process running it dies;
- ``worker_prefetch_multiplier=1``: a busy worker does not sit on messages others could run;
- Redis ``visibility_timeout`` (``celery_visibility_timeout``) longer than the longest job;
- ``store.claim`` takes a job only if it is pending (or its worker's lease ran out), so a
  duplicate delivery of a running or finished job is a no-op, and ``max_attempts`` bounds how
  often a poison file is tried;
- a :class:`Sweeper` in every worker (and in the API) re-queues jobs whose lease ran out and
  re-sends pending jobs that lost their message: Redis itself redelivers a dead worker's
  message only after the visibility timeout, and loses queued messages if it restarts empty.

The task id is the job id, so ``revoke(job_id)`` keeps a queued job from ever starting.

A reel of several sources whose analyses are not kept yet is spread over the workers: its first
run sends a chord (Celery's group + callback), one ``moments.analyse_source`` task per missing
source, and the job's run again as the callback, and returns. The job row stays "processing"
at the "analyse" stage, held by the first run's worker id: for ``queue_wait_seconds`` while the
tasks wait in the queue, then renewed by each running analysis. The callback takes the job
over from that id and finds every analysis kept: it only selects and renders. The analysis
tasks are idempotent and late-acknowledged like the job's, so a task whose process died is run
again; should the chord never complete (a whole worker killed: Redis gives its message back
only after the visibility timeout; or Redis lost the messages), the job's lease runs out, the
Sweeper re-sends it, and its retry analyses whatever is still missing itself. The chord's
bookkeeping needs a result backend: the same Redis.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from celery import Celery, chord, group
from sqlalchemy import select, update

from ..db.models import Job, utcnow
from ..settings import Settings, get_settings
from ..storage import Storage, get_storage
from ..store import JobStore, JobView
from .analysis_task import analyse_source
from .inputs import SourceClip
from .lease import new_worker_id
from .limits import timeout_grace
from .maintenance import purge_expired, recover_stale_jobs
from .run import run_job

log = logging.getLogger(__name__)

TASK_NAME = "moments.run_job"
ANALYSE_TASK = "moments.analyse_source"
RESULT_EXPIRES_SECONDS = 24 * 3600
"""How long Redis keeps an analysis task's result (a word, for the chord's count)."""
PURGE_EVERY_SECONDS = 600.0


def make_celery(settings: Settings) -> Celery:
    """A Celery app on the settings' Redis, with the job task registered."""
    app = Celery(
        "moments", broker=settings.redis_url, backend=settings.redis_url, set_as_current=False
    )
    app.conf.update(
        result_expires=RESULT_EXPIRES_SECONDS,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        task_default_queue=settings.celery_queue,
        task_serializer="json",
        accept_content=["json"],
        broker_transport_options={"visibility_timeout": settings.celery_visibility_timeout},
        broker_connection_retry_on_startup=True,
        # With late acks, a task cut off by a lost broker connection would be redelivered
        # anyway; cancelling it at once avoids two copies running for a while.
        worker_cancel_long_running_tasks_on_connection_loss=True,
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
    )

    # The job's own timer (jobs/limits.py) fails it at job_timeout_seconds; Celery's hard
    # limit ends a pool process stuck in C code a little later (the lease then recovers it).
    timeout = settings.job_timeout_seconds
    hard_limit = timeout + timeout_grace(timeout) if timeout else None

    @app.task(name=TASK_NAME, ignore_result=True, bind=True, time_limit=hard_limit)
    def run_job_task(task: Any, job_id: str, holder: str | None = None) -> str | None:
        return execute(job_id, settings, app, node=task.request.hostname, holder=holder)

    # Its result (what it did, a word) is what the chord counts: it must not be ignored.
    @app.task(name=ANALYSE_TASK, ignore_result=False, time_limit=hard_limit)
    def analyse_source_task(
        job_id: str, holder: str, index: int, stored_key: str, filename: str, keys: list[str]
    ) -> str:
        store, storage = _process_services(settings)
        source = SourceClip(index, stored_key, filename, Path(), keys[index])
        return analyse_source(job_id, holder, source, keys, settings, store, storage)

    return app


def queue_wait_seconds(settings: Settings) -> float:
    """How long a job may wait in the queue before it counts as lost: its pending row without
    a message (``resend_orphans``), or its analyses sent out, none of them started yet."""
    return max(600.0, 2 * settings.job_lease_seconds)


def send_job(app: Celery, settings: Settings, job_id: str) -> None:
    """Queue ``job_id`` (its row must exist). Sending twice is harmless: see module doc."""
    app.send_task(TASK_NAME, args=[job_id], task_id=job_id, queue=settings.celery_queue)


def send_analyses(
    app: Celery,
    settings: Settings,
    store: JobStore,
    job_id: str,
    holder: str,
    missing: list[SourceClip],
    keys: list[str],
) -> None:
    """One task per ``missing`` source, then the job's run (taking over from ``holder``) once
    they are all done: a chord. The job's lease first covers their wait in the queue."""
    if not store.hold(job_id, holder, queue_wait_seconds(settings)):
        return  # cancelled meanwhile: nothing to send
    queue = settings.celery_queue
    header = group(
        app.signature(
            ANALYSE_TASK, args=[job_id, holder, s.index, s.stored_key, s.filename, keys]
        ).set(queue=queue)
        for s in missing
    )
    # Its task id is the job's, as every run of the job's: revoke(job_id) drops it unstarted.
    callback = app.signature(TASK_NAME, args=[job_id], kwargs={"holder": holder}, immutable=True)
    chord(header)(callback.set(queue=queue, task_id=job_id))
    log.info("job %s: %d sources to analyse sent out as tasks", job_id, len(missing))


# -- inside a worker's pool process -------------------------------------------------------

_services: dict[int, tuple[JobStore, Storage]] = {}


def _process_services(settings: Settings) -> tuple[JobStore, Storage]:
    """One store (connection pool) and storage client per pool process, made after the fork."""
    pid = os.getpid()
    if pid not in _services:
        _services.clear()  # inherited from the parent: its connections are not ours to use
        _services[pid] = (JobStore.from_settings(settings), get_storage(settings))
    return _services[pid]


def execute(
    job_id: str,
    settings: Settings,
    app: Celery,
    node: str | None = None,
    holder: str | None = None,
) -> str | None:
    """The task body: run the job; re-queue it if it went back to pending after an error.

    ``holder``: this run is the callback of the job's analyses, and takes it over from there.
    """
    store, storage = _process_services(settings)
    # The row's worker_id names the Celery node and pool process, for people reading it.
    worker_id = new_worker_id((node or socket.gethostname()).split("@")[0])

    def fan_out(job: JobView, holder: str, missing: list[SourceClip], keys: list[str]) -> None:
        send_analyses(app, settings, store, job.id, holder, missing, keys)

    status = run_job(
        job_id,
        settings,
        worker_id=worker_id,
        store=store,
        storage=storage,
        fan_out=None if holder else fan_out,  # the callback never sends them out again
        take_over_from=holder,
    )
    if status is None:
        held = store.get(job_id)
        log.info(
            "job %s: nothing to do (status %s): a duplicate delivery, or not ours",
            job_id,
            held.status if held else "deleted",
        )
    elif status == "pending":  # an unexpected error with tries left: the row is queued again
        send_job(app, settings, job_id)
    return status


# -- periodic recovery ----------------------------------------------------------------------


def resend_orphans(store: JobStore, settings: Settings, older_than: float) -> list[str]:
    """Pending jobs untouched for ``older_than`` seconds: take the right to re-send them.

    Each is claimed for re-sending by bumping its ``updated_at`` in one conditional UPDATE, so
    several sweepers never re-send the same job in the same period.
    """
    cutoff = utcnow() - timedelta(seconds=older_than)
    query = (
        select(Job.id, Job.updated_at)
        .where(Job.status == "pending", Job.updated_at < cutoff)
        .order_by(Job.created_at)
        .limit(500)
    )
    taken = []
    with store._sessions() as session:
        rows = session.execute(query).all()
    for job_id, seen in rows:
        stmt = (
            update(Job)
            .where(Job.id == job_id, Job.status == "pending", Job.updated_at == seen)
            .values(updated_at=utcnow())
        )
        with store._sessions() as session, session.begin():
            if session.execute(stmt).rowcount == 1:
                taken.append(job_id)
    return taken


class Sweeper(threading.Thread):
    """Every ``recover_interval``: stale leases -> pending and re-sent; orphans re-sent; purge.

    Runs in every Celery worker's main process and in the API; sweeps are idempotent (each
    change is a conditional UPDATE only one sweeper wins), so running several is harmless.
    """

    def __init__(
        self,
        settings: Settings,
        send: Callable[[str], None],
        *,
        store: JobStore | None = None,
        resend_after: float | None = None,
    ):
        super().__init__(name="moments-sweeper", daemon=True)
        self.settings = settings
        self._send = send
        self._store = store
        self._storage: Storage | None = None
        self.resend_after = resend_after or queue_wait_seconds(settings)
        self._halt = threading.Event()
        self._next_purge = 0.0

    def run(self) -> None:
        while not self._halt.wait(self.settings.recover_interval):
            try:
                self.sweep()
            except Exception:  # the database or broker may be briefly away: try next time
                log.warning("recovery sweep failed", exc_info=True)

    def sweep(self) -> list[str]:
        """One pass; returns the jobs it (re-)sent."""
        store = self._store = self._store or JobStore.from_settings(self.settings)
        requeued, _failed = recover_stale_jobs(store, self.settings)
        orphans = resend_orphans(store, self.settings, self.resend_after)
        for job_id in [*requeued, *orphans]:
            self._send(job_id)
        if orphans:
            log.warning("re-sent %d pending jobs that had no message: %s", len(orphans), orphans)
        now = time.monotonic()
        if now >= self._next_purge:
            self._next_purge = now + PURGE_EVERY_SECONDS
            self._storage = self._storage or get_storage(self.settings)
            purge_expired(store, self._storage, self.settings)
        return [*requeued, *orphans]

    def stop(self) -> None:
        self._halt.set()


# -- `moments worker` with MOMENTS_QUEUE=celery ---------------------------------------------


def worker_argv(settings: Settings, *, hostname: str | None = None) -> list[str]:
    hostname = hostname or settings.worker_name
    if hostname and "@" not in hostname:
        hostname = f"{hostname}@{socket.gethostname()}"
    return [
        "worker",
        f"--concurrency={settings.workers}",
        "--pool=prefork",
        f"--queues={settings.celery_queue}",
        f"--hostname={hostname or f'moments-{uuid.uuid4().hex[:6]}@{socket.gethostname()}'}",
        "--loglevel=INFO",
        "--without-gossip",
        "--without-mingle",
    ]


def run_celery_worker(settings: Settings, *, hostname: str | None = None) -> None:
    """Start a Celery worker (blocks until it stops) with a recovery sweeper beside it."""
    from celery.signals import worker_ready, worker_shutdown

    app = make_celery(settings)
    sweeper = Sweeper(settings, lambda job_id: send_job(app, settings, job_id))

    # Started once the pool processes exist, so they are not forked with the thread running.
    def start_sweeper(**_: Any) -> None:
        sweeper.start()

    def stop_sweeper(**_: Any) -> None:
        sweeper.stop()

    worker_ready.connect(start_sweeper, weak=False)
    worker_shutdown.connect(stop_sweeper, weak=False)
    app.worker_main(worker_argv(settings, hostname=hostname))


def __getattr__(name: str) -> Any:
    # `celery -A moments.service.jobs.celery_app worker` finds `app`, built from the environment.
    if name == "app":
        return make_celery(get_settings())
    raise AttributeError(name)
