"""Where interest is even, the pick does not follow measurement noise (issue 17, item 1)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from moments.engine import select as selection
from moments.engine.models import HighlightOptions
from moments.engine.probe import probe
from moments.engine.select import select
from moments.engine.timeline import Timeline
from tests.quality.measures import iou

DURATION = 60.0


@pytest.fixture(scope="module")
def media(media_dir):
    # A real probed file standing for a 1-minute clip (select reads the timeline only).
    return dataclasses.replace(probe(media_dir / "example.mp4"), duration=DURATION)


def _even_scene(seed: int) -> Timeline:
    """People walking past a fixed camera from 20 to 40 s (the same motion all along, give or
    take 2%: what two encodings of it measure), nearly nothing before and after."""
    step = 0.1
    n = int(DURATION / step) + 1
    t = np.arange(n) * step
    rng = np.random.default_rng(seed)
    level = np.interp(t, [0, 18, 20, 40, 42, DURATION], [0.05, 0.05, 0.6, 0.6, 0.05, 0.05])
    noise = np.convolve(rng.normal(0, 0.02, n), np.ones(10) / 10, mode="same")
    thumbs = np.random.default_rng(0).integers(0, 255, (n, 9, 16), dtype=np.uint8)
    return Timeline(
        duration=DURATION,
        step=step,
        signals={
            "motion": np.clip(level * (1 + noise * 5), 0, 1),
            "audio": np.zeros(n),
            "quality": np.ones(n),
            "shake": np.zeros(n),
        },
        thumbs=thumbs,
    )


def test_even_interest_gives_the_same_pick_whatever_the_noise(media):
    options = HighlightOptions(duration=6.0)
    picks = [
        [(s.source_start, s.source_end) for s in select(media, _even_scene(seed), options)]
        for seed in range(4)
    ]
    for a in picks:
        assert len(a) == 1 and a[0][0] >= 20 and a[0][1] <= 40, a  # inside the walking
    overlaps = [iou(a, b) for i, a in enumerate(picks) for b in picks[i + 1 :]]
    assert min(overlaps) >= 0.8, (picks, overlaps)


def test_the_pick_is_the_middle_of_the_even_stretch(media):
    spans = [select(media, _even_scene(seed), HighlightOptions(duration=6.0)) for seed in range(4)]
    for (segment,) in spans:
        middle = (segment.source_start + segment.source_end) / 2
        assert abs(middle - 30.0) <= 3.0, middle


def test_without_a_plateau_the_noise_decides(media, monkeypatch):
    """The two tests above test the plateau rule, not chance: without it, the picks differ."""
    monkeypatch.setattr(selection, "PLATEAU", 0.0)
    options = HighlightOptions(duration=6.0)
    picks = [
        [(s.source_start, s.source_end) for s in select(media, _even_scene(seed), options)]
        for seed in range(4)
    ]
    overlaps = [iou(a, b) for i, a in enumerate(picks) for b in picks[i + 1 :]]
    assert min(overlaps) < 0.8, (picks, overlaps)
