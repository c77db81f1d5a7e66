"""Probing uploads in a child process, under memory, processor-time and wall-clock limits.

An upload is untrusted bytes, and the probe hands them to FFmpeg. A file can be small and still
make FFmpeg allocate without bound (an MP4 edit list of 400,000 entries: 4.8 MB that take 1.2 GB
to open), so the probe never runs inside the API process: each runs in a child process of its
own, with

- memory: ``RLIMIT_DATA`` at the child's start size plus ``probe_memory_bytes``. Going over makes
  allocations fail, and FFmpeg often carries on with what it could get (it drops the edit list
  it could not index), so a probe whose peak memory reached :data:`NEAR_LIMIT` of the budget is
  taken to have hit it: its answer would not be the file's. FFmpeg also takes more memory when
  it is there (an 8K HEVC 10-bit clip peaks at 0.43 GB unlimited, and opens in 0.2 GB), so the
  budget must leave room above what real videos use;
- processor time: ``RLIMIT_CPU`` (the kernel ends the child with SIGXCPU, then SIGKILL);
- wall clock: the parent waits ``probe_timeout_seconds`` for the answer, then kills the child.

Children come from a ``forkserver`` that has already imported the engine, so one costs a fork
(~20 ms on the development machine) instead of a fresh interpreter (~530 ms with ``spawn``);
a pool of long-lived processes would have to be cleaned of what a hostile file left behind,
a fresh child needs no cleaning. At most ``probe_processes`` probes run at once; more wait.
The API awaits the child from a worker thread, so the event loop keeps serving.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import resource
import signal
import sys
import traceback
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

import anyio

from moments.engine import EngineError, Limits, MediaInfo, probe
from moments.service.jobs.limits import data_size, duration_text, is_out_of_memory, memory_text

log = logging.getLogger(__name__)

NEAR_LIMIT = 0.9
"""Share of the memory budget a probe's peak may reach before it counts as over the budget."""
PRELOAD = [__name__]
"""Imported once by the fork server (this module imports the engine and FFmpeg)."""
JOIN_SECONDS = 5.0


@dataclass(frozen=True)
class ProbeLimits:
    """What one probe may use. ``None`` leaves that resource unlimited."""

    memory_bytes: int | None = 1_000_000_000
    cpu_seconds: float | None = 20.0
    timeout_seconds: float = 30.0


class ProbeLimitExceeded(Exception):
    """The probe of a file went over a limit (or its process died): the file cannot be read.

    ``limit`` is ``memory``, ``cpu``, ``time`` or ``crash``; ``reason`` says it for a person
    ("opening it needed more than 1 GB of memory").
    """

    def __init__(self, limit: str, reason: str) -> None:
        super().__init__(reason)
        self.limit = limit
        self.reason = reason


class Prober:
    """Runs :func:`moments.engine.probe` in limited child processes; see the module doc."""

    def __init__(self, limits: ProbeLimits | None = None, processes: int = 2) -> None:
        self.limits = limits or ProbeLimits()
        self._ctx = multiprocessing.get_context("forkserver")
        self._slots = anyio.CapacityLimiter(processes)

    @classmethod
    def from_settings(cls, settings: Any) -> Prober:
        return cls(
            ProbeLimits(
                memory_bytes=settings.probe_memory_bytes,
                cpu_seconds=settings.probe_cpu_seconds,
                timeout_seconds=settings.probe_timeout_seconds,
            ),
            processes=settings.probe_processes,
        )

    def start(self) -> None:
        """Start the fork server now (about half a second), not on the first upload."""
        self._ctx.set_forkserver_preload(PRELOAD)
        from multiprocessing import forkserver

        forkserver.ensure_running()

    async def probe(self, path: Path, limits: Limits | None = None) -> MediaInfo:
        """Probe ``path`` in a child; raises EngineError (not a video we read) or
        :class:`ProbeLimitExceeded`. Waits for a free slot first."""
        return await anyio.to_thread.run_sync(
            self.probe_blocking, path, limits or Limits(), limiter=self._slots
        )

    async def probe_music(self, path: Path, limits: Limits | None = None) -> float:
        """Read ``path`` as a song (MP3, AAC/M4A, WAV, FLAC) in a child under the same limits:
        its length in seconds; raises EngineError (not music we read) or
        :class:`ProbeLimitExceeded`."""
        return await anyio.to_thread.run_sync(
            self.probe_blocking, path, limits or Limits(), "music", limiter=self._slots
        )

    def probe_blocking(self, path: Path, limits: Limits, what: str = "video") -> Any:
        """The same, blocking the calling thread (no slot taken). ``what``: ``video`` (its
        MediaInfo) or ``music`` (its length)."""
        self._ctx.set_forkserver_preload(PRELOAD)
        receiver, sender = self._ctx.Pipe(duplex=False)
        process = self._ctx.Process(
            target=_child,
            args=(sender, str(path), limits, self.limits, what),
            name="moments-probe",
            daemon=True,
        )
        answer, timed_out = None, False
        try:
            process.start()
            sender.close()  # the child has its own copy; ours would hide its end
            if wait([receiver, process.sentinel], self.limits.timeout_seconds):
                # The answer may be in the pipe though the exit was noticed first.
                with contextlib.suppress(EOFError, OSError):
                    answer = receiver.recv() if receiver.poll() else None
            else:
                timed_out = True
        finally:
            sender.close()
            receiver.close()
            if process.pid is not None:
                if process.is_alive():
                    process.kill()
                process.join(JOIN_SECONDS)
        exitcode = process.exitcode
        with contextlib.suppress(ValueError):  # still running: its sentinel stays open
            process.close()
        return self._judge(answer, timed_out, exitcode, path)

    def _judge(
        self, answer: tuple | None, timed_out: bool, exitcode: int | None, path: Path
    ) -> MediaInfo:
        limits = self.limits
        if timed_out:
            raise ProbeLimitExceeded(
                "time", f"opening it took longer than {duration_text(limits.timeout_seconds)}"
            )
        if answer is None:  # ended without an answer: by a limit, the kernel, or a crash
            if exitcode == -signal.SIGXCPU and limits.cpu_seconds:
                raise ProbeLimitExceeded(
                    "cpu",
                    f"opening it needed more than {duration_text(limits.cpu_seconds)} "
                    "of processor time",
                )
            if exitcode == -signal.SIGKILL:  # the CPU hard limit, or the kernel out of memory
                raise ProbeLimitExceeded("resources", "opening it needed more than we allow")
            log.warning("the probe of %s ended without an answer (exit code %s)", path, exitcode)
            raise ProbeLimitExceeded("crash", "the program reading it stopped unexpectedly")
        kind, value = answer
        if kind == "ok":
            return value
        if kind == "refused":
            raise EngineError(*value)
        if kind == "memory":
            raise ProbeLimitExceeded(
                "memory", f"opening it needed more than {memory_text(value)} of memory"
            )
        raise RuntimeError(f"probing {path} failed in its process:\n{value}")


# -- in the child ---------------------------------------------------------------------------


def _child(
    sender: Connection, path: str, limits: Limits, budget: ProbeLimits, what: str = "video"
) -> None:
    """Entry point of a probe process: set the limits, probe, send one answer."""
    _die_with_parent()
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # a killed probe leaves no core file
    if budget.cpu_seconds:
        # Past the soft limit the kernel sends SIGXCPU (left at its default: the process
        # ends), past the hard one SIGKILL. Whole seconds: rounded, not ceiled, as a fresh
        # child has used a few milliseconds (ceil would grant a 1 s budget nearly 2 s).
        soft = max(1, round(_cpu_used() + budget.cpu_seconds))
        resource.setrlimit(resource.RLIMIT_CPU, _within_hard(resource.RLIMIT_CPU, soft, soft + 1))
    start_rss = 0
    if budget.memory_bytes:
        limit = data_size() + budget.memory_bytes
        resource.setrlimit(resource.RLIMIT_DATA, _within_hard(resource.RLIMIT_DATA, limit, None))
        start_rss = _status_kib("VmRSS") * 1024
    sender.send(_probe_once(Path(path), limits, budget.memory_bytes, start_rss, what))
    sender.close()


def _probe_once(
    path: Path, limits: Limits, memory: int | None, start_rss: int, what: str = "video"
) -> tuple:
    def over_budget() -> bool:
        if not memory:
            return False
        return _status_kib("VmHWM") * 1024 - start_rss >= NEAR_LIMIT * memory

    try:
        media: Any = probe(path, limits) if what == "video" else _music_seconds(path, limits)
    except EngineError as exc:
        if memory and (is_out_of_memory(exc) or over_budget()):
            return ("memory", memory)
        return ("refused", (exc.reason, exc.file))
    except MemoryError:
        return ("memory", memory or 0)
    except Exception:
        return ("error", traceback.format_exc())
    if over_budget():
        return ("memory", memory)
    return ("ok", media)


def _music_seconds(path: Path, limits: Limits) -> float:
    from moments.engine.music import RATE, read_music

    return read_music(path, limits).shape[1] / RATE


def _within_hard(which: int, soft: int, hard: int | None) -> tuple[int, int]:
    current_hard = resource.getrlimit(which)[1]
    if current_hard != resource.RLIM_INFINITY:
        soft = min(soft, current_hard)
        hard = current_hard if hard is None else min(hard, current_hard)
    return soft, current_hard if hard is None else hard


def _cpu_used() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _status_kib(field: str) -> int:
    """A ``/proc/self/status`` figure in KiB (0 where there is no /proc)."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    return 0


def _die_with_parent() -> None:
    """End with the fork server (which ends with the API), even mid-probe."""
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL)
        if os.getppid() == 1:  # the fork server is already gone
            os._exit(1)
