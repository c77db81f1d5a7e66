"""How long a job will take: a plan of seconds per stage, from the input's facts.

The figures were measured through the API on 2 cores (example.mp4, 42 s 720p -> 20 s reel:
6.9 s end to end; 24 s 720p -> 10 s reel: 4.9 s): analysis decodes sparsely, so rendering
dominates. Work scales with the pixel count (720p = 1). The upload's answer gives the sum
(plus the queue ahead); a running job's ETA is what is left of the plan, scaled by how fast
the job has gone so far against the plan (see ``jobs.progress.ProgressWriter``).
"""

from __future__ import annotations

from typing import Any

START_SECONDS = 1.2
"""Worker process start-up, probe and saving."""
SECONDS_PER_SOURCE_SECOND_720P = 0.015
SECONDS_PER_REEL_SECOND_720P = 0.28
SELECT_SECONDS = 0.1
STAGES = ("probe", "analyse", "select", "render", "saving")


def stage_plan(duration: float, width: int, height: int, reel_duration: float) -> dict[str, float]:
    """Seconds each stage is expected to take on one worker."""
    scale = max(0.25, (width * height) / (1280 * 720))
    reel = min(float(reel_duration), float(duration))
    return {
        "probe": START_SECONDS * 2 / 3,
        "analyse": duration * SECONDS_PER_SOURCE_SECOND_720P * scale,
        "select": SELECT_SECONDS,
        "render": reel * SECONDS_PER_REEL_SECOND_720P * scale,
        "saving": START_SECONDS / 3,
    }


def plan_of_job(result: dict[str, Any] | None, options: dict[str, Any]) -> dict[str, float] | None:
    """The plan of a job from the facts its upload's probe recorded (``result['input']``), or
    None for a job without them (made before they were recorded)."""
    facts = (result or {}).get("input") or {}
    try:
        return stage_plan(
            float(facts["duration"]),
            int(facts["width"]),
            int(facts["height"]),
            float(options.get("duration", 30)),
        )
    except (KeyError, TypeError, ValueError):
        return None


def seconds_left(plan: dict[str, float], stage: str | None, fraction: float) -> float:
    """Planned seconds from ``fraction`` (0..1) of the way through ``stage`` to the end."""
    if stage not in plan:
        return sum(plan.values())
    left = 0.0
    reached = False
    for name in STAGES:
        if name == stage:
            reached = True
            left += plan[name] * (1 - min(1.0, max(0.0, fraction)))
        elif reached:
            left += plan[name]
    return left
