"""The timeline built from sparse samples: what lies between two decoded runs (issue 17)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from moments.engine.analyse.build import build_timeline
from moments.engine.analyse.video import SIDE, VideoMeter
from moments.engine.probe import probe

GOP = 2.0
FPS = 30.0
H = SIDE * 9 // 16


@pytest.fixture(scope="module")
def media(media_dir):
    # A real probed file standing for a 10 s clip (build_timeline reads its duration only).
    return dataclasses.replace(probe(media_dir / "example.mp4"), duration=10.0)


def _picture(t: float, moving: bool) -> np.ndarray:
    """A textured backdrop with a bright square that crosses it while ``moving``."""
    rng = np.random.default_rng(1)
    img = rng.integers(40, 80, (H, SIDE), dtype=np.uint8)
    x = int(20 + 120 * t) % (SIDE - 40) if moving else 60
    img[30:60, x : x + 30] = 230
    return img


def _sparse_samples(moving_until: float):
    """What a sparse decode of a 2 s-GOP clip measures: three frames after each keyframe,
    a square moving until ``moving_until`` seconds, still after."""
    meter = VideoMeter()
    try:
        for key in np.arange(0.0, 10.0, GOP):
            if key > 0:
                meter.gap()
            for i in range(3):
                t = float(key + i / FPS)
                meter.add(t, _picture(t, t < moving_until))
        meter.finish()
    finally:
        meter.close()
    return meter.samples


def test_motion_between_two_runs_is_between_their_measurements(media):
    """A subject that stops between two keyframes: the signal falls across the GOP in between,
    as a decode of every frame sees it somewhere in there, not all at once at the keyframe
    after (held, the GOP's first frames stood for all of it: picks lagged by half a GOP)."""
    timeline = build_timeline(media, _sparse_samples(moving_until=3.0), None)
    motion, step = timeline.signals["motion"], timeline.step
    at = {s: float(motion[round(s / step)]) for s in (2.2, 3.0, 3.8)}
    assert at[2.2] > 0.3, at  # measured moving just after the keyframe at 2 s
    assert float(motion[round(4.2 / step)]) < 0.05  # and still after the one at 4 s
    assert at[2.2] > at[3.0] > at[3.8], at
    assert 0.3 * at[2.2] < at[3.0] < 0.8 * at[2.2], at
