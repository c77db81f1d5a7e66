"""Progress reporting and cooperative cancellation shared by every engine stage."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from .errors import Cancelled

ProgressFn = Callable[[str, float], None]
"""Called with a stage name and the fraction (0..1) of that stage done."""


class CancelToken(Protocol):
    """Anything with ``is_set()``: ``threading.Event``, ``multiprocessing.Event``..."""

    def is_set(self) -> bool: ...


STAGES: tuple[str, ...] = ("probe", "analyse", "select", "render")


class Reporter:
    """Forwards stage progress to the caller and raises :class:`Cancelled` when asked to stop.

    Stages call :meth:`update` often (every few frames); each call checks the cancel token,
    so cancellation takes effect well within a second. ``timings`` holds the seconds each stage
    took, from :meth:`start` to :meth:`done`.
    """

    def __init__(self, progress: ProgressFn | None = None, cancel: CancelToken | None = None):
        self._progress = progress
        self._cancel = cancel
        self.stage = ""
        self.timings: dict[str, float] = {}
        self._began = 0.0

    def start(self, stage: str) -> None:
        self.stage = stage
        self._began = time.perf_counter()
        self.update(0.0)

    def done(self) -> None:
        """The current stage is finished: its time is kept and its progress reads 1."""
        self.timings[self.stage] = time.perf_counter() - self._began
        self.update(1.0)

    def update(self, fraction: float) -> None:
        self.check()
        if self._progress is not None:
            self._progress(self.stage, min(1.0, max(0.0, fraction)))

    def check(self) -> None:
        if self._cancel is not None and self._cancel.is_set():
            raise Cancelled(f"cancelled during {self.stage or 'start-up'}")
