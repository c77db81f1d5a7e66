"""Resource limits for one job: memory, processor time and wall-clock time.

A hostile or merely pathological video must not take a worker down with it, so ``run_job``
(the one job function of the embedded pool and of Celery) runs the engine inside
:func:`job_limits`:

- memory: ``RLIMIT_DATA`` at the process's current data size plus ``job_memory_bytes``.
  RLIMIT_DATA (private writable memory, what allocations use) rather than RLIMIT_AS, because
  address-space reservations (malloc arenas, thread stacks) inflate the latter without using
  memory. Going over makes allocations fail: Python raises MemoryError, FFmpeg ENOMEM.
- processor time: ``RLIMIT_CPU`` soft limit at the time already used plus ``job_cpu_seconds``;
  the kernel then sends SIGXCPU, which we turn into :class:`JobLimitExceeded`. Only the soft
  limit moves (the hard one stays), so a long-lived Celery pool process can raise it again for
  its next job.
- wall clock: an ``ITIMER_REAL`` timer (SIGALRM) at ``job_timeout_seconds``. Signal handlers
  run between Python bytecodes, so a job stuck inside one C call is not interrupted by it: the
  embedded dispatcher ends such a process a little later (``TIMEOUT_GRACE``), and Celery's
  hard ``time_limit`` does the same for its pool processes.

Everything is restored when the block ends, so a process that runs several jobs (Celery), or a
test calling ``run_job`` directly, is left as it was.
"""

from __future__ import annotations

import contextlib
import errno
import math
import resource
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..settings import Settings


class JobLimitExceeded(BaseException):
    """A job went over one of its limits; the message is for a person.

    A BaseException (like KeyboardInterrupt), so that the engine's ``except Exception`` blocks
    cannot swallow it when it is raised from a signal handler in the middle of their work.
    """


def timeout_grace(timeout: float) -> float:
    """Extra seconds a dispatcher gives a job past its timeout before ending its process."""
    return 5.0 + 0.05 * timeout


def duration_text(seconds: float) -> str:
    """'45 seconds', '2 minutes', '1.5 hours': how long, for a person."""
    if seconds < 90:
        return f"{seconds:g} second{'s' if seconds != 1 else ''}"
    if seconds < 90 * 60:
        return f"{seconds / 60:.3g} minutes"
    return f"{seconds / 3600:.3g} hours"


def memory_text(size: float) -> str:
    """'512 MB', '4 GB' (decimal units, as people read them)."""
    if size >= 1e9:
        return f"{size / 1e9:.3g} GB"
    return f"{size / 1e6:.3g} MB"


def timeout_message(timeout: float) -> str:
    return f"processing this video took longer than {duration_text(timeout)}, the most we allow"


def cpu_message(seconds: float) -> str:
    return f"processing this video needed more than {duration_text(seconds)} of processor time"


def memory_message(size: float) -> str:
    return f"processing this video needed more than {memory_text(size)} of memory"


def data_size() -> int:
    """This process's data size in bytes (what RLIMIT_DATA is compared with)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmData:"):
            return int(line.split()[1]) * 1024
    return 0


def cpu_used() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def is_out_of_memory(exc: BaseException) -> bool:
    """True if ``exc`` (or what caused it) is an allocation failing: MemoryError, OpenCV's."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, MemoryError):
            return True
        # FFmpeg reports a thread it could not start (no memory for its stack) as EAGAIN.
        if isinstance(current, OSError) and current.errno in (errno.ENOMEM, errno.EAGAIN):
            return True
        # ...and Python one of its own (a worker thread of the engine) as this RuntimeError.
        if isinstance(current, RuntimeError) and "can't start new thread" in str(current):
            return True
        text = str(current)
        if type(current).__name__ == "error" and (
            "Insufficient memory" in text or "Failed to allocate" in text
        ):
            return True
        current = current.__cause__ or current.__context__
    return False


@contextlib.contextmanager
def job_limits(settings: Settings) -> Iterator[None]:
    """Run the block with the job's limits from ``settings``; see the module doc."""
    with contextlib.ExitStack() as stack:
        if settings.job_memory_bytes:
            stack.enter_context(_memory_limit(settings.job_memory_bytes))
        in_main = threading.current_thread() is threading.main_thread()
        # Signal handlers can only be set from the main thread; elsewhere (a test calling
        # run_job from a thread) the dispatcher's own timeout still applies.
        if in_main and settings.job_cpu_seconds:
            stack.enter_context(_cpu_limit(settings.job_cpu_seconds))
        if in_main and settings.job_timeout_seconds:
            stack.enter_context(_wall_clock(settings.job_timeout_seconds))
        yield


@contextlib.contextmanager
def _memory_limit(budget: int) -> Iterator[None]:
    soft, hard = resource.getrlimit(resource.RLIMIT_DATA)
    limit = data_size() + budget
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_DATA, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_DATA, (soft, hard))


@contextlib.contextmanager
def _cpu_limit(budget: float) -> Iterator[None]:
    soft, hard = resource.getrlimit(resource.RLIMIT_CPU)
    limit = math.ceil(cpu_used() + budget)  # whole seconds: the kernel's granularity
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    fired = False

    def on_xcpu(_signum: int, _frame: Any) -> None:
        nonlocal fired
        if not fired:  # the kernel repeats SIGXCPU every second; stop the job only once
            fired = True
            raise JobLimitExceeded(cpu_message(budget))

    previous = signal.signal(signal.SIGXCPU, on_xcpu)
    resource.setrlimit(resource.RLIMIT_CPU, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))
        signal.signal(signal.SIGXCPU, previous)


@contextlib.contextmanager
def _wall_clock(timeout: float) -> Iterator[None]:
    def on_alarm(_signum: int, _frame: Any) -> None:
        raise JobLimitExceeded(timeout_message(timeout))

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
