"""The timeline built from sparse samples: what lies between two decoded runs (issue 17)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from moments.engine.analyse.build import _runs_as_points, build_timeline
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


def test_each_run_of_decoded_frames_is_one_point_of_the_motion_line():
    """A run's pairs differ by chance (the first after a keyframe read low at 60 fps); as one
    point, their mean at their mean time, none of them alone is the end of a straight line."""
    t = np.array([0.0, 0.02, 0.03, 0.05, 2.0, 2.02, 2.03, 2.05])
    motion = np.array([0.00, 0.01, 0.02, 0.03, 0.0, 0.02, 0.02, 0.02])
    times, values = _runs_as_points(t, motion)
    assert times == pytest.approx([0.025, 2.025])
    assert values == pytest.approx([0.015, 0.015])
    # A stretch decoded whole (longer than a run) keeps every sample.
    dense = np.arange(30) / 30
    times, values = _runs_as_points(dense, dense)
    assert len(times) == 30


def test_frames_too_close_for_motion_are_not_compared():
    """Two frames 1/60 s apart: a pixel differs or not, so what differs is not in proportion
    to the gap; the pair is left out, and the frame 1/30 s on is compared instead."""
    meter = VideoMeter()
    try:
        for i in range(4):
            meter.add(i / 60, _picture(i / 60, True))
        samples = meter.finish()
    finally:
        meter.close()
    assert np.isnan(samples.motion[0]) and np.isnan(samples.motion[1])  # no partner; too close
    assert np.isfinite(samples.motion[2]) and samples.motion[2] > 0  # 1/30 s from the first
