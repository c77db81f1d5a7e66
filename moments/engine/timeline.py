"""The analysis result: per-instant signals on a time grid, passed from analyse to select."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Timeline:
    """Signals sampled every ``step`` seconds from 0 to ``duration``.

    Every signal array has one value per grid point, normalised to 0..1 where 1 is "more
    of a highlight" (for ``quality``, 1 is good; for ``shake``, 1 is a shaky camera).
    """

    duration: float
    step: float
    signals: dict[str, np.ndarray]
    shots: list[float] = field(default_factory=list)
    """Times of shot boundaries (cuts), in seconds."""
    quiet: list[float] = field(default_factory=list)
    """Times where the audio is quiet (pauses between words): good places to cut."""
    speech: np.ndarray | None = None
    """Boolean per grid point: someone is probably talking (never cut mid-word)."""
    focus: np.ndarray | None = None
    """(N, 2) subject centre x, y in 0..1 display coordinates, for following crops."""
    thumbs: np.ndarray | None = None
    """(N, 9, 16) uint8 tiny luma thumbnail per grid point: tells near-duplicate takes apart."""
    unsure: list[tuple[float, float]] = field(default_factory=list)
    """Stretches (seconds) that hold a cut whose place is not known (not decoded; the cut is
    counted at the stretch's end): no pick runs into them, or it might show the next shot."""
    keyframes: list[float] = field(default_factory=list)
    """Times (seconds, ascending) of the video's keyframes: where a smart render can start
    copying the source's pictures instead of re-encoding them."""
    fine_for: float | None = None
    """The reel length (seconds) a coarse-to-fine analysis measured this timeline for: every
    GOP only where a reel of that length would look, every other one elsewhere. None: every
    GOP measured."""

    def measured_for(self, duration: float) -> bool:
        """Whether a reel of ``duration`` seconds can be chosen from this timeline: it was
        measured at least as finely as a fresh analysis for that length would measure it. A
        longer reel would pick partly from the coarse measures, where a fresh run measures
        every GOP it considers."""
        return self.fine_for is None or duration <= self.fine_for + 1e-6

    @property
    def luma(self) -> np.ndarray | None:
        """Mean luma (0-255) per grid point, from ``thumbs``; None without them."""
        if self.thumbs is None:
            return None
        return self.thumbs.reshape(len(self.thumbs), -1).mean(axis=1)

    @property
    def times(self) -> np.ndarray:
        return np.arange(len(next(iter(self.signals.values())))) * self.step
