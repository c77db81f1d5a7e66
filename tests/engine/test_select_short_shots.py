"""Selection when shots are shorter than the shortest segment (rapid editing)."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest

from moments.engine.models import HighlightOptions
from moments.engine.probe import probe
from moments.engine.select import reel_length, select
from moments.engine.timeline import Timeline


@pytest.fixture(scope="module")
def media(media_dir):
    # A real probed file standing for a 2-minute 1080p clip (select reads the timeline only).
    return dataclasses.replace(probe(media_dir / "example.mp4"), duration=120.0)


def _timeline(duration: float, shots: list[float]) -> Timeline:
    step = 0.1
    n = int(duration / step) + 1
    t = np.arange(n) * step
    rng = np.random.default_rng(3)
    motion = 0.5 + 0.4 * np.sin(2 * np.pi * t / 17.0)
    return Timeline(
        duration=duration,
        step=step,
        signals={
            "motion": np.clip(motion, 0, 1),
            "audio": rng.uniform(0, 0.3, n),
            "quality": np.ones(n),
            "shake": np.zeros(n),
        },
        shots=shots,
        thumbs=rng.integers(0, 255, (n, 9, 16), dtype=np.uint8),
    )


def test_a_cut_every_second_still_fills_the_reel(media):
    # What the analysis once reported for a phone clip (a "cut" at each keyframe): only the
    # last 2 s shot could hold a segment, and a 30 s highlight came back as one 2 s segment.
    duration = 120.0
    tl = _timeline(duration, [float(k) for k in range(1, 119)])
    options = HighlightOptions(duration=30)
    segments = select(media, tl, options)
    spans = [(s.source_start, s.source_end) for s in segments]
    assert 30 <= reel_length(spans, options.crossfade) <= 30 * 1.05
    assert spans == sorted(spans)
    for (_, e0), (s1, _) in itertools.pairwise(spans):
        assert e0 <= s1


def test_windows_stay_inside_shots_when_the_shots_allow_it(media):
    duration = 120.0
    shots = [float(k) for k in range(10, 120, 10)]
    tl = _timeline(duration, shots)
    segments = select(media, tl, HighlightOptions(duration=30))
    for seg in segments:
        assert not any(seg.source_start + 0.05 < c < seg.source_end - 0.05 for c in shots)
