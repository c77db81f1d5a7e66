"""EmbeddedDispatcher: a pool of worker PROCESSES supervised by one thread.

The database is the queue. A supervisor thread claims pending jobs whenever a slot is free and
runs each in its own child process ("spawn": never fork a threaded server), so a cancelled
job is stopped by ending its process, and restart recovery is just "pending jobs get picked
up". It also reaps children that died, recovers jobs whose worker vanished (lease ran out) and
purges expired files.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import threading
import time
from dataclasses import dataclass, field
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from typing import Any

from ..settings import Settings
from ..storage import get_storage
from ..store import JobStore
from .apart import die_with_parent
from .lease import new_worker_id
from .limits import timeout_grace, timeout_message
from .maintenance import purge_expired, recover_stale_jobs
from .run import run_job
from .scratch import clear_job_scratch

log = logging.getLogger(__name__)

POLL_SECONDS = 1.0
"""How often the supervisor looks for work it was not told about (other processes' jobs)."""
PURGE_EVERY_SECONDS = 600.0
STOP_GRACE_SECONDS = 1.0
"""How long a cancelled child gets after SIGTERM before SIGKILL (the cancel budget is 2 s)."""


NICENESS = 10


@dataclass
class Slot:
    job_id: str
    worker_id: str
    process: BaseProcess
    started: float = field(default_factory=time.monotonic)


def _child_main(
    job_id: str, settings: Settings, worker_id: str, parent_pid: int, parallel: int = 1
) -> None:
    """Entry point of a worker process: run one job, then exit."""
    # The supervisor decides when we stop; Ctrl-C in a terminal reaches us too, so ignore it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # A process group of its own, so that ending the job (cancel, time limit) ends the
    # processes it analyses a reel's sources in at once, even those still starting up.
    os.setpgrp()
    die_with_parent(parent_pid)
    # A reel's sources are analysed by processes of this one's (analysing.py, _analyse_in_pool);
    # multiprocessing refuses children to a daemonic process, which this is only so that the
    # supervisor's exit does not wait for it: die_with_parent already ends it with its parent,
    # and its own processes with it.
    multiprocessing.current_process().daemon = False
    # Video work yields the CPU to the API process on the same machine, so status polls stay
    # fast while every core is busy decoding and encoding.
    os.nice(NICENESS)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    run_job(job_id, settings, worker_id=worker_id, parallel=parallel)


class EmbeddedDispatcher:
    """N worker slots, each running ``run_job`` in a child process."""

    def __init__(self, settings: Settings, *, workers: int | None = None):
        self.settings = settings
        self.workers = workers or settings.workers
        self.store = JobStore.from_settings(settings)
        self.storage = get_storage(settings)
        self._ctx = multiprocessing.get_context("spawn")
        self._slots: dict[str, Slot] = {}
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_w, False)
        self._thread: threading.Thread | None = None
        self._id = new_worker_id("embedded")
        self._next_recover = 0.0
        self._next_purge = 0.0

    # -- Dispatcher protocol -------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._supervise, name="moments-supervisor")
        self._thread.daemon = True
        self._thread.start()

    def stop(self) -> None:
        """Stop supervising; running jobs are ended and handed back as pending (no attempt used)."""
        self._stopping.set()
        self._wake()
        if self._thread is not None:
            self._thread.join(timeout=10)
        with self._lock:
            slots = list(self._slots.values())
            self._slots.clear()
        for slot in slots:
            self._end_process(slot.process)
            self.store.release(slot.job_id, slot.worker_id, "Waiting: the server restarted")
            clear_job_scratch(self.settings, slot.job_id)
        for fd in (self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)
        self._wake_r = self._wake_w = -1

    def submit(self, job_id: str) -> None:
        self._wake()

    def cancel(self, job_id: str) -> None:
        """Mark the job cancelled; if one of our processes runs it, end that process now."""
        self.store.request_cancel(job_id)
        with self._lock:
            slot = self._slots.pop(job_id, None)
        if slot is not None:
            self._end_process(slot.process)
            clear_job_scratch(self.settings, job_id)
        self._wake()  # the freed slot can take the next job

    def healthy(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and not self._stopping.is_set()

    def stats(self) -> dict[str, Any]:
        with self._lock:
            running = {job_id: slot.process.pid for job_id, slot in self._slots.items()}
        return {
            "queue": "embedded",
            "workers": self.workers,
            "busy": len(running),
            "idle": self.workers - len(running),
            "queued": self.store.count("pending"),
            "running": running,
        }

    # -- supervisor ----------------------------------------------------------------------

    def _wake(self) -> None:
        with contextlib.suppress(OSError):  # pipe full (already woken) or closed (stopped)
            os.write(self._wake_w, b"x")

    def _supervise(self) -> None:
        while not self._stopping.is_set():
            try:
                self._reap()
                self._end_overdue()
                self._maintain()
                self._cancel_cancelled()
                self._fill_slots()
            except Exception:  # the database may be briefly unavailable: keep supervising
                log.exception("supervisor iteration failed")
            with self._lock:
                # An exited process whose job could not be dealt with yet (database down)
                # stays in the table; its sentinel would wake us at once, again and again.
                running = [s for s in self._slots.values() if s.process.exitcode is None]
                sentinels = [slot.process.sentinel for slot in running]
            ready = wait([self._wake_r, *sentinels], timeout=POLL_SECONDS)
            if self._wake_r in ready:
                with contextlib.suppress(OSError):
                    os.read(self._wake_r, 4096)

    def _reap(self) -> None:
        """Children that exited: a crash (non-zero exit) counts as a failed attempt.

        The job goes back to pending (or fails, out of attempts) at once, as the lease path
        would, without waiting for its lease: this supervisor saw its process end, so nobody
        is working on it. The lease (60 s by default) is for when nobody can know: a Celery
        worker, or this whole pool, dying. A slot leaves the table only once its job has been
        dealt with, so a database error here is retried on the next pass rather than leaving
        the job to wait for its lease.
        """
        with self._lock:
            done = [s for s in self._slots.values() if s.process.exitcode is not None]
        for slot in done:
            slot.process.join()
            job = self.store.get(slot.job_id)
            if job and job.status == "processing" and job.worker_id == slot.worker_id:
                code = slot.process.exitcode
                cause = f"the worker process stopped unexpectedly (exit code {code})"
                if code is not None and code < 0:
                    cause = f"the worker process was killed by signal {-code}"
                self.store.retry_or_fail(slot.job_id, cause, self.settings.max_attempts)
            clear_job_scratch(self.settings, slot.job_id)
            with self._lock:
                if self._slots.get(slot.job_id) is slot:
                    del self._slots[slot.job_id]

    def _end_overdue(self) -> None:
        """Jobs past ``job_timeout_seconds`` that did not stop themselves (stuck in C code).

        The job's own timer normally fails it right at the limit; this is the backstop, a
        little later. It fails for good: a video that slow would be again.
        """
        timeout = self.settings.job_timeout_seconds
        if not timeout:
            return
        deadline = time.monotonic() - timeout - timeout_grace(timeout)
        with self._lock:
            overdue = [s for s in self._slots.values() if s.started < deadline]
            for slot in overdue:
                del self._slots[slot.job_id]
        for slot in overdue:
            log.warning("job %s overran its time limit; ending its process", slot.job_id)
            self._end_process(slot.process)
            self.store.fail(slot.job_id, timeout_message(timeout))
            clear_job_scratch(self.settings, slot.job_id)

    def _maintain(self) -> None:
        now = time.monotonic()
        if now >= self._next_recover:
            self._next_recover = now + min(30.0, self.settings.job_lease_seconds / 2)
            recover_stale_jobs(self.store, self.settings)
        if now >= self._next_purge:
            self._next_purge = now + PURGE_EVERY_SECONDS
            purge_expired(self.store, self.storage, self.settings)

    def _cancel_cancelled(self) -> None:
        """Jobs cancelled through another process (e.g. an API without workers)."""
        with self._lock:
            running = list(self._slots)
        for job_id in running:
            if self.store.is_cancelled(job_id):
                self.cancel(job_id)

    def _fill_slots(self) -> None:
        while not self._stopping.is_set():
            with self._lock:
                if len(self._slots) >= self.workers:
                    return
            worker_id = new_worker_id(f"{self._id}-slot")
            job = self.store.claim_next(worker_id)
            if job is None:
                return
            with self._lock:
                # A reel's sources may be analysed in as many processes as slots are free now
                # (its own included): more would take processor time from jobs already running.
                free = self.workers - len(self._slots)
            process = self._ctx.Process(
                target=_child_main,
                args=(job.id, self.settings, worker_id, os.getpid(), max(1, free)),
                name=f"moments-job-{job.id[:8]}",
                daemon=True,
            )
            with self._lock:
                self._slots[job.id] = Slot(job.id, worker_id, process)
            process.start()

    @staticmethod
    def _end_process(process: BaseProcess) -> None:
        """SIGTERM, then SIGKILL after ``STOP_GRACE_SECONDS``: to the job's process group
        (its own processes too), or to it alone if it has not made its group yet."""
        if process.exitcode is None and process.pid is not None:
            _signal_job(process, signal.SIGTERM)
            process.join(STOP_GRACE_SECONDS)
            if process.exitcode is None:
                _signal_job(process, signal.SIGKILL)
        if process.pid is not None:
            process.join()
            # Any of its own processes still there (it ended as the group got the signal).
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)


def _signal_job(process: BaseProcess, signum: int) -> None:
    assert process.pid is not None
    try:
        if os.getpgid(process.pid) == process.pid:  # it leads its group: _child_main ran
            os.killpg(process.pid, signum)
            return
    except ProcessLookupError:
        return  # gone already
    os.kill(process.pid, signum)


def run_worker(settings: Settings) -> None:
    """Serve pending jobs from the shared database until SIGTERM or SIGINT (`moments worker`)."""
    stop = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    dispatcher = EmbeddedDispatcher(settings)
    dispatcher.start()
    log.info("worker started with %d slots", dispatcher.workers)
    try:
        while not stop.wait(1.0):
            pass
    finally:
        dispatcher.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
