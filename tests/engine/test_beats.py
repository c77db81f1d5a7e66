"""Cutting to the beat (moments/engine/beats.py) on known beat grids, without any video."""

from __future__ import annotations

import itertools
from fractions import Fraction

import numpy as np
import pytest

from moments.engine.beats import footage_bounds, music_options, snap_to_beats
from moments.engine.models import HighlightOptions, Segment

RATE = Fraction(30)
BEATS = np.arange(0.25, 60.0, 0.5)  # 120 BPM
BARS = BEATS[::4]
FRAME = 0.5 / 30 + 0.002
"""Half a frame, and the result's millisecond rounding."""


def _segment(start: float, end: float, score: float = 0.5) -> Segment:
    return Segment(start, end, 0.0, score, {}, "movement")


def _ends(segments: list[Segment]) -> list[float]:
    return [s.output_start + s.duration for s in segments]


def test_each_cut_lands_on_a_beat_on_whole_frames():
    chosen = [_segment(2.0, 5.3), _segment(10.0, 13.9), _segment(20.0, 22.2), _segment(30, 34)]
    options = HighlightOptions(duration=12.0, crossfade=0.0)
    bounds = footage_bounds(chosen, 60.0)
    snapped = snap_to_beats(chosen, bounds, BEATS, BARS, RATE, options)
    assert len(snapped) >= 3
    for end in _ends(snapped):
        assert np.abs(BEATS - end).min() <= FRAME  # half a frame
    # Each starts where the last ended, on the same frame.
    for a, b in itertools.pairwise(snapped):
        assert abs(a.output_start + a.duration - b.output_start) < 0.002
    # The reel ends on a bar line near the asked length.
    assert np.abs(BARS - _ends(snapped)[-1]).min() <= FRAME
    assert abs(_ends(snapped)[-1] - 12.0) <= 2.0


def test_lengths_follow_bars_where_the_footage_allows():
    # Plenty of footage around each pick: every cut can go to a bar line (2 s apart).
    chosen = [_segment(5.0, 8.1), _segment(20.0, 23.7), _segment(40.0, 42.2)]
    options = HighlightOptions(duration=10.0, crossfade=0.0)
    snapped = snap_to_beats(chosen, footage_bounds(chosen, 60.0), BEATS, BARS, RATE, options)
    for end in _ends(snapped):
        assert np.abs(BARS - end).min() <= FRAME, _ends(snapped)


def test_segments_grow_only_into_unused_footage_of_their_shot():
    chosen = [_segment(5.0, 6.6), _segment(6.8, 9.0)]
    shots = [4.0, 9.5]
    bounds = footage_bounds(chosen, 60.0, shots)
    assert bounds == [pytest.approx((4.0, 6.7)), pytest.approx((6.7, 9.5))]
    options = HighlightOptions(duration=4.5, crossfade=0.0)
    snapped = snap_to_beats(chosen, bounds, BEATS, BARS, RATE, options)
    for segment, (lo, hi) in zip(snapped, bounds, strict=True):
        assert lo - 1e-6 <= segment.source_start and segment.source_end <= hi + 1e-6


def test_a_segment_that_cannot_reach_a_beat_is_left_out():
    slow = np.arange(0.0, 60.0, 4.0)  # 15 BPM: a beat every 4 s
    chosen = [_segment(0.0, 4.0), _segment(10.0, 11.5), _segment(20.0, 24.0)]
    bounds = [(0.0, 4.0), (10.0, 11.5), (20.0, 24.0)]  # no room to grow
    options = HighlightOptions(duration=8.0, crossfade=0.0, min_segment=1.0)
    snapped = snap_to_beats(chosen, bounds, slow, slow[::4], RATE, options)
    assert [(s.source_start, s.source_end) for s in snapped] == [(0.0, 4.0), (20.0, 24.0)]


def test_music_options_cut_hard_and_cap_the_reel_at_the_song():
    options = HighlightOptions(duration=30.0)
    capped, notes = music_options(options, np.arange(0.25, 20.0, 2.0), 20.0)
    assert capped.crossfade == 0.0
    assert capped.duration == 18.25  # its last bar line
    assert notes and "20 s long" in notes[0]
    kept, notes = music_options(options, np.arange(0.25, 60.0, 2.0), 60.0)
    assert kept.duration == 30.0 and not notes
