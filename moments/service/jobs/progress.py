"""A job's stages as its user sees them: each stage's share of the percentage, the message
shown while it runs, and :class:`ProgressWriter`, which forwards the engine's progress to the
job's row with an ETA."""

from __future__ import annotations

import time

from ..store import JobStore
from .estimate import seconds_left

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


def overall_percent(stage: str, fraction: float) -> float:
    """Map a stage's own fraction (0..1) to the job's overall percent (0..100)."""
    done = 0.0
    for name, weight in STAGE_WEIGHTS.items():
        if name == stage:
            return done + weight * min(1.0, max(0.0, fraction))
        done += weight
    return done


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
