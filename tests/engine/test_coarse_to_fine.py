"""Coarse to fine: every other GOP first, the rest only where candidates are.

A clip long against its reel is measured in two passes. Measured finely everywhere, the two
passes must give exactly the one-pass timeline; with narrow candidates, GOPs outside them
are skipped, and the highlight still fills its budget.
"""

from __future__ import annotations

from dataclasses import fields

import cv2
import numpy as np
import pytest

import moments.engine.analyse as analysis
from moments.engine import highlight
from moments.engine.analyse import COARSE_RATIO, SMALL_PIXELS, analyse
from moments.engine.analyse.packets import (
    PacketIndex,
    coarse_plan,
    decode_plan,
    skipped_spikes,
    within,
)
from moments.engine.analyse.video import VideoSamples, merge
from moments.engine.models import HighlightOptions
from moments.engine.probe import probe
from moments.engine.progress import Reporter
from moments.engine.select import candidates, reel_length

from .media_factory import make_video

W, H, FPS, GOP, SECONDS = 704, 400, 30, 15, 24.0
REEL = 3.0


TINTS = [(1.0, 0.55, 0.4), (0.35, 0.9, 0.5), (0.45, 0.5, 1.0), (1.0, 0.95, 0.35)]


def _frame(i: int, _w: int, _h: int) -> np.ndarray:
    """Four scenes of differently tinted blocky texture (cuts on keyframes, found only by
    colour across the skipped stretch) with a ball moving fast in the third."""
    t = i / FPS
    scene = int(t // 6)
    rng = np.random.default_rng(scene)
    cells = rng.uniform(40, 230, size=(H // 16 + 1, W // 16 + 1, 1)) * np.array(TINTS[scene])
    image = cv2.resize(cells, None, fx=16, fy=16, interpolation=cv2.INTER_NEAREST)[:H, :W]
    image = np.ascontiguousarray(image.astype(np.uint8))
    if scene == 2:
        x = int((0.5 + 0.45 * np.sin(6 * t)) * W)
        cv2.circle(image, (x, H // 2), 60, (255, 255, 255), -1)
    return image


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory):
    path = tmp_path_factory.mktemp("c2f") / "long.mp4"
    make_video(
        path,
        seconds=SECONDS,
        width=W,
        height=H,
        fps=FPS,
        audio=False,
        frame_fn=_frame,
        video_options={"x264-params": f"keyint={GOP}:min-keyint={GOP}:scenecut=0:bframes=0"},
    )
    return probe(path)


OPTIONS = HighlightOptions(duration=REEL, min_segment=0.5, max_segment=2.0)


def test_the_clip_gets_two_passes(long_clip):
    assert W * H > SMALL_PIXELS
    assert long_clip.duration >= COARSE_RATIO * OPTIONS.duration


def test_fine_everywhere_is_the_one_pass_timeline(long_clip):
    asked = []

    def everywhere(rough):
        asked.append(rough)
        return [(0.0, long_clip.duration)]

    two = analyse(long_clip, OPTIONS, Reporter(), candidates=everywhere)
    one = analyse(long_clip, OPTIONS, Reporter())
    assert len(asked) == 1  # the coarse pass ran and was asked for candidates
    rough = asked[0]
    # The coarse timeline saw half the keyframes: its motion is held across the gaps.
    assert not np.array_equal(rough.signals["motion"], one.signals["motion"])
    assert two.shots == one.shots
    assert len(one.shots) >= 3, one.shots  # the scene changes, cuts seen across gaps
    assert two.keyframes == one.keyframes
    for name, values in one.signals.items():
        np.testing.assert_allclose(two.signals[name], values, err_msg=name)
    np.testing.assert_array_equal(two.thumbs, one.thumbs)


def test_a_coarse_to_fine_timeline_says_what_reels_it_was_measured_for(long_clip):
    # A kept analysis (a re-cut) must not choose a longer reel from the coarse measures.
    two = analyse(long_clip, OPTIONS, Reporter(), candidates=lambda rough: [(12.0, 18.0)])
    assert two.fine_for == REEL
    assert two.measured_for(REEL) and two.measured_for(REEL / 2)
    assert not two.measured_for(REEL * 2)
    one = analyse(long_clip, OPTIONS, Reporter())  # every GOP measured
    assert one.fine_for is None and one.measured_for(600.0)


def test_gops_outside_the_candidates_stay_coarse(long_clip, monkeypatch):
    measured = []
    real = analysis._measure

    def spy(media, index, plan, *args, **kwargs):
        measured.append(index.times[plan & index.keyframe])
        return real(media, index, plan, *args, **kwargs)

    monkeypatch.setattr(analysis, "_measure", spy)
    analyse(long_clip, OPTIONS, Reporter(), candidates=lambda rough: [(12.0, 18.0)])
    coarse, fine, *settled = measured  # settled: GOPs decoded whole (analyse.UNSURE)
    gop = GOP / FPS
    assert all(((t >= 12.0) & (t <= 18.0)).all() for t in settled)
    assert np.allclose(np.diff(coarse), 2 * gop)  # every other GOP, all along
    assert len(fine) and fine.min() >= 12.0 and fine.max() <= 18.0
    assert np.allclose(
        np.sort(np.concatenate([coarse[(coarse >= 12) & (coarse <= 18)], fine])),
        np.arange(12.0, 18.0 + 1e-6, gop),
    )


def test_highlight_of_a_long_clip_fills_its_budget_and_finds_the_ball(long_clip, tmp_path):
    result = highlight(long_clip.path, tmp_path / "reel.mp4", OPTIONS)
    spans = [(s.source_start, s.source_end) for s in result.segments]
    assert OPTIONS.duration <= reel_length(spans, OPTIONS.crossfade) <= OPTIONS.duration * 1.05
    ball = sum(max(0.0, min(b, 18.0) - max(a, 12.0)) for a, b in spans)
    assert ball >= 0.5 * sum(b - a for a, b in spans), spans


def test_candidates_are_a_wider_selection_with_margins(long_clip):
    timeline = analyse(long_clip, OPTIONS, Reporter())
    spans = candidates(long_clip, timeline, OPTIONS)
    covered = sum(b - a for a, b in spans)
    assert 2 * OPTIONS.duration < covered < long_clip.duration


def _index(times: np.ndarray, keys: np.ndarray) -> PacketIndex:
    return PacketIndex(times, np.full(len(times), 1000), keys)


def test_coarse_plan_takes_every_other_run_and_only_where_it_pays():
    n = 30 * 40  # 40 GOPs of 30 frames
    times = np.arange(n) / 30
    keys = np.arange(n) % 30 == 0
    index = _index(times, keys)
    plan = decode_plan(index, 0.1)
    coarse = coarse_plan(index, plan)
    assert coarse is not None
    assert np.array_equal(np.flatnonzero(coarse & keys), np.arange(0, n, 60))
    assert (coarse <= plan).all() and coarse.sum() == plan.sum() // 2
    short = _index(times[:600], keys[:600])  # 20 GOPs: one pass
    assert coarse_plan(short, decode_plan(short, 0.1)) is None
    slow = _index(np.arange(n) / 10, keys)  # a keyframe every 3 s: every one is needed
    assert coarse_plan(slow, decode_plan(slow, 0.1)) is None
    assert coarse_plan(index, np.ones(n, bool)) is None  # dense: nothing to leave out


def test_within_takes_whole_gops_by_their_keyframe_time():
    times = np.arange(90) / 30
    keys = np.arange(90) % 30 == 0
    inside = within(_index(times, keys), [(0.9, 1.1)], offset=0.0)
    assert np.array_equal(np.flatnonzero(inside), np.arange(30, 60))
    shifted = within(_index(times + 5.0, keys), [(0.9, 1.1)], offset=5.0)
    assert np.array_equal(shifted, inside)


def test_merge_keeps_every_list_of_the_samples():
    """A list added to VideoSamples but not to merge would vanish after a second pass."""
    a, b = VideoSamples(), VideoSamples()
    for samples, times in ((a, [0.0, 2.0]), (b, [1.0])):
        for item in fields(VideoSamples):
            setattr(samples, item.name, list(times))  # each entry tells where it came from
        samples.run_start = [True] * len(times)
        samples.palette = [None] * len(times)
    merged = merge(a, b)
    for item in fields(VideoSamples):
        if item.name.startswith("gap_"):
            continue  # found afresh from the merged order (the test above)
        values = getattr(merged, item.name)
        if item.name == "run_start":
            assert values == [True] * 3
        elif item.name == "palette":
            assert values == [None] * 3
        else:
            assert values == [0.0, 1.0, 2.0], item.name
    assert merged.gap_t == [1.0, 2.0]  # every frame starts a run here


def test_a_skipped_keyframe_is_not_taken_for_a_cut():
    # Three GOPs of 30; the coarse pass skips the middle one whole. Its keyframe (packet 30)
    # is large by nature; a P-frame five times the others (packet 50) is where a cut hides.
    sizes = np.full(90, 1000)
    sizes[[0, 30, 60]] = 20_000
    sizes[50] = 5_000
    keys = np.arange(90) % 30 == 0
    index = PacketIndex(np.arange(90) / 30, sizes, keys)
    plan = np.zeros(90, bool)
    plan[[0, 1, 2, 60, 61, 62]] = True
    (start, end, spikes), _rest_of_the_last_gop = skipped_spikes(index, plan)
    assert (start, end) == (pytest.approx(0.1), pytest.approx(2.0))
    assert spikes == [pytest.approx(50 / 30)]


def test_the_fine_pass_looks_for_faces_too(long_clip, monkeypatch):
    from moments.engine.analyse import faces

    looked: list[int] = []
    passes: list[int] = []
    real_detect, real_measure = faces.detect, analysis._measure

    def detect(gray):
        looked.append(len(passes))
        return real_detect(gray)

    def measure(*args, **kwargs):
        passes.append(1)
        return real_measure(*args, **kwargs)

    monkeypatch.setattr(faces, "detect", detect)
    monkeypatch.setattr(analysis, "_measure", measure)
    analyse(long_clip, OPTIONS, Reporter(), candidates=lambda rough: [(12.0, 18.0)])
    assert len(passes) >= 2  # a third decodes whole the GOPs that may hide a cut
    assert looked.count(2) >= 1  # faces looked for on the finely sampled GOPs as well
