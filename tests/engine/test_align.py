"""Cuts moved onto keyframes so a smart render copies more (``moments.engine.align``).

An end-to-end case on a phone-like clip (an IDR every 30 frames, scene changes in the middle of
GOPs) measured against the same selection without keyframes, and unit cases on hand-made
timelines for each rule a snap must keep.
"""

from __future__ import annotations

import dataclasses
import itertools
from pathlib import Path

import cv2
import numpy as np
import pytest

from moments.engine.align import Grid, snap_to_keyframes
from moments.engine.analyse import analyse
from moments.engine.models import HighlightOptions
from moments.engine.probe import probe
from moments.engine.progress import Reporter
from moments.engine.render import render
from moments.engine.render.copyplan import GRID_TOLERANCE, plan_copy, start_frame
from moments.engine.render.layout import Plan, output_rate
from moments.engine.select import reel_length, select
from moments.engine.timeline import Timeline

from .media_factory import make_video
from .test_render_copy import decode_strict, source_frames

FPS, GOP = 30, 30
SCENE = 4.4
"""Scene changes at 4.4, 8.8, ... s: frame 132, 264, ... never on a keyframe."""
SECONDS = 22.0
PHONE = {"x264-params": f"keyint={GOP}:min-keyint={GOP}:scenecut=0:bframes=0"}


def _scene_frame(index: int, width: int, height: int) -> np.ndarray:
    t = index / FPS
    scene = int(t // SCENE)
    rng = np.random.default_rng(scene)
    cells = rng.uniform(40, 220, size=(height // 12 + 1, width // 12 + 4, 3))
    image = cv2.resize(cells, None, fx=12, fy=12, interpolation=cv2.INTER_NEAREST)
    x = int(20 * (t - scene * SCENE))  # a slow pan: motion, no shake
    image = np.ascontiguousarray(image[:height, x : x + width]).astype(np.uint8)
    cx = int((0.5 + 0.35 * np.sin(1.9 * t + scene)) * width)
    cv2.circle(image, (cx, height // 2), 18, (250, 250, 250), -1)
    return image


@pytest.fixture(scope="module")
def phone(tmp_path_factory) -> tuple[Path, object, Timeline]:
    path = tmp_path_factory.mktemp("align") / "phone.mp4"
    make_video(
        path, seconds=SECONDS, fps=FPS, audio=False, frame_fn=_scene_frame, video_options=PHONE
    )
    media = probe(path)
    return path, media, analyse(media, HighlightOptions(), Reporter())


def _copied_share(media, segments, crossfade: float) -> tuple[int, int]:
    plan = Plan.build(segments, output_rate(media), crossfade)
    copy_plan = plan_copy(media, segments, plan, lambda: None)
    assert copy_plan is not None
    return copy_plan.frames, plan.total


def test_timeline_lists_the_keyframes(phone):
    _, _, tl = phone
    assert tl.keyframes == pytest.approx([float(k) for k in range(int(SECONDS))], abs=1e-3)


# Up to 12 s of the 22: with one pick per 4.4 s scene (two picks of one shot would make a jump
# cut), a 15 s reel takes nearly whole scenes and leaves its cuts no room to move.
@pytest.mark.parametrize("target", [10, 12])
def test_joins_land_on_keyframes_and_the_copied_share_rises(phone, target):
    _, media, tl = phone
    options = HighlightOptions(duration=target, poster=False)
    segments = select(media, tl, options)
    unsnapped = select(media, dataclasses.replace(tl, keyframes=[]), options)
    assert [s.to_dict() for s in segments] == [s.to_dict() for s in select(media, tl, options)]

    fade = round(options.crossfade * FPS)
    off_keyframe = 0
    for n, seg in enumerate(segments):
        first = round(seg.source_start * FPS)
        last = first + round(seg.duration * FPS)
        # Copying starts after the fade-in, on a keyframe, and stops where the fade-out starts:
        # on a keyframe too, so the fade-out is decoded from there (it could stop anywhere).
        starts = (first + (fade if n > 0 else 0)) % GOP == 0
        ends = (last - (fade if n < len(segments) - 1 else 0)) % GOP == 0
        off_keyframe += not (starts and ends)
        assert not any(seg.source_start < SCENE * k < seg.source_end for k in range(1, 6)), seg
        assert options.min_segment - 1e-6 <= seg.duration <= options.max_segment + 1e-6
    # Short shots (4.4 s) and a 5% budget: a segment may have to keep its cuts for the length.
    assert off_keyframe <= 1
    spans = [(s.source_start, s.source_end) for s in segments]
    for (_, e0), (s1, _) in itertools.pairwise(spans):
        assert e0 <= s1
    length = reel_length(spans, options.crossfade)
    assert options.duration <= length <= options.duration * 1.05 + 1e-6

    copied, total = _copied_share(media, segments, options.crossfade)
    before, before_total = _copied_share(media, unsnapped, options.crossfade)
    assert total / FPS >= options.duration  # the render's own count reaches the target too
    assert copied / total >= 0.85
    # Unsnapped picks already start on many keyframes (whole seconds on a 1 s GOP: 0.87
    # copied at 12 s); snapping copies more, and never less.
    assert copied / total > before / before_total
    if off_keyframe == 0:  # only the crossfades are re-encoded: 8 frames a join
        assert copied == total - fade * (len(segments) - 1)


def test_a_reel_ending_with_the_clip_copies_its_last_gop(phone, tmp_path):
    path, media, tl = phone
    options = HighlightOptions(duration=15, poster=False)
    segments = select(media, tl, options)
    assert segments[-1].source_end == pytest.approx(SECONDS)
    plan = Plan.build(segments, output_rate(media), options.crossfade)
    copy_plan = plan_copy(media, segments, plan, lambda: None)
    assert copy_plan is not None
    last = copy_plan.ranges[len(segments) - 1]
    assert last.source + last.frames == SECONDS * FPS  # copied to the end of the file
    out = tmp_path / "reel.mp4"
    render(media, segments, out, options, Reporter())
    frames = decode_strict(out)
    assert len(frames) == plan.total
    source = source_frames(path)
    assert np.array_equal(frames[-1].to_ndarray(), source[-1])
    assert np.array_equal(frames[-last.frames].to_ndarray(), source[last.source])


# ---------------------------------------------------------------- rules, on hand-made timelines


def _timeline(
    duration: float = 60.0,
    gop: float = 1.0,
    shots: list[float] | None = None,
    speech: np.ndarray | None = None,
) -> Timeline:
    n = int(duration / 0.1) + 1
    return Timeline(
        duration=duration,
        step=0.1,
        signals={"quality": np.ones(n), "motion": np.full(n, 0.5)},
        shots=shots or [],
        speech=speech,
        keyframes=[round(k * gop, 4) for k in range(int(duration / gop) + 1)],
    )


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    path = make_video(tmp_path_factory.mktemp("m") / "m.mp4", seconds=0.5, audio=False)
    return dataclasses.replace(probe(path), duration=60.0)


def _snap(spans, media, tl, options, allowed=lambda t: True):
    return snap_to_keyframes(spans, media, tl, options, allowed)


def test_reencoded_frames_follow_the_copy_plan(media):
    grid = Grid.for_media(media, _timeline(), HighlightOptions(crossfade=0.25))
    assert grid.fade == 8  # 0.25 s at 30 fps, as Plan.build rounds it
    assert grid.reencoded(10 - 8 / 30, 14 + 8 / 30, 8, 8) == 0  # a fade before/after a keyframe
    assert grid.reencoded(10.0, 14.0, 8, 8) == 22  # on a keyframe: the IDR is under a blend
    assert grid.reencoded(10.0, 14.0, 0, 0) == 0  # the reel's only segment: on keyframes
    assert grid.reencoded(10.5, 13.6, 0, 0) == 15  # up to the first keyframe; any end is free
    assert grid.reencoded(10.0, 11.0, 8, 8) == 14  # no keyframe to copy from: all but blends
    # Ends are free to re-encode, but a fade-out away from a keyframe costs decoding through.
    assert grid.thrown_away(10 - 8 / 30, 14 + 8 / 30, 8, 8) == 0  # decoded from keyframe 14
    assert grid.thrown_away(10 - 8 / 30, 13.6, 8, 8) == 10  # from keyframe 13 to 13.333
    assert grid.thrown_away(10 - 8 / 30, 13.6, 8, 0) == 0  # the last segment: no fade-out
    assert grid.thrown_away(10.0, 11.0, 8, 8) == 0  # no copy: decoded straight through


def test_cuts_move_onto_keyframes_within_the_budget(media):
    # Starts move to a fade before a keyframe, ends at a join to a fade after one, each by at
    # most a GOP (1 s), within the 5% budget (0.47 s here).
    options = HighlightOptions(duration=9.4)
    spans = [(5.1, 8.1), (20.4, 23.6), (40.2, 43.9)]
    snapped = _snap(spans, media, _timeline(), options)
    assert snapped == [(5.0, 8.267), (20.733, 23.267), (39.733, 43.9)]
    grid = Grid.for_media(media, _timeline(), options)
    for (s, e), head, tail in zip(snapped, (0, 8, 8), (8, 8, 0), strict=True):
        assert grid.reencoded(s, e, head, tail) == 0
        assert grid.thrown_away(s, e, head, tail) == 0
    for (s, e), (s1, e1) in zip(spans, snapped, strict=True):
        assert abs(s1 - s) <= 1.0 and abs(e1 - e) <= 1.0
    assert 9.4 <= reel_length(snapped, options.crossfade) <= 9.4 * 1.05
    plan = Plan.build(_segments(snapped), output_rate(media), options.crossfade)
    assert plan.duration >= 9.4  # and in the render's whole frames


def test_keyframes_off_the_frame_grid_still_start_the_copies(media):
    # A phone's timestamps stray: keyframes 0.4 of a frame before the grid's frames. Put on
    # the nearest frame, a fade-in ended 0.4 of a frame past each keyframe, and the copy plan
    # (which allows 0.1) began a GOP later (android-vfr: 60 pictures more re-encoded a join).
    rate = output_rate(media)
    tl = _timeline()
    tl.keyframes = [0.0, *(round(k - 0.4 / float(rate), 4) for k in range(1, 61))]
    options = HighlightOptions(duration=9.4)
    snapped = _snap([(5.1, 8.1), (20.4, 23.6), (40.2, 43.9)], media, tl, options)
    keys = np.asarray(tl.keyframes) * float(rate)
    fade = Grid.for_media(media, tl, options).fade
    for s, _ in snapped[1:]:  # the joins: a fade-in, then the copy from a keyframe
        low = start_frame(s, rate) + fade
        first = keys[keys >= low - GRID_TOLERANCE][0]  # where the copy plan starts it
        assert first - low < 1.0, (s, low, first)


def test_no_snap_across_a_shot_boundary_or_into_speech(media):
    options = HighlightOptions(duration=4.5)
    spans = [(5.0, 8.0), (20.0, 23.4)]
    # Without a cut at 20.0 the second span starts a fade before that keyframe (19.733).
    assert _snap(spans, media, _timeline(), options)[1][0] == pytest.approx(19.733)
    # With one, 19.733 would show the shot before: the start moves into the shot instead.
    assert _snap(spans, media, _timeline(shots=[20.0]), options)[1][0] == pytest.approx(20.733)
    # Nor while someone is talking at 19.733: the start moves into the shot instead.
    talking = lambda t: 19.6 < t < 19.9  # noqa: E731
    kept = _snap(spans, media, _timeline(), options, lambda t: not talking(t))
    assert kept[1][0] == pytest.approx(20.733)
    # The first span's nearest end a fade after a keyframe is 7.267 (8.267 is over budget)...
    spans = [(5.0, 7.9), (20.6, 23.4)]
    assert _snap(spans, media, _timeline(), options)[0][1] == pytest.approx(7.267)
    # ...but not while someone is talking there: 8.267, and the last span gives up the time.
    talking = lambda t: 7.1 < t < 7.5  # noqa: E731
    kept = _snap(spans, media, _timeline(), options, lambda t: not talking(t))
    assert kept == [(5.0, 8.267), (20.733, 23.0)]


def test_a_moved_segment_keeps_most_of_its_highlight_score(media):
    options = HighlightOptions(duration=9.4)
    spans = [(5.1, 8.1), (20.4, 23.6), (40.2, 43.9)]
    tl = _timeline()
    assert _snap(spans, media, tl, options)[1] == (20.733, 23.267)
    # The best of the second span is in its first and last 0.3 s, which that move cuts off.
    score = np.zeros(len(tl.times))
    score[204:207] = score[233:236] = 1.0
    kept = snap_to_keyframes(spans, media, tl, options, lambda t: True, score)
    assert kept[1] == (20.4, 23.6)
    assert 9.4 <= reel_length(kept, options.crossfade) <= 9.4 * 1.05


def test_long_gops_crops_and_nothing_to_gain_leave_spans_alone(media):
    options = HighlightOptions(duration=9)
    spans = [(5.1, 8.1), (20.4, 23.6), (40.2, 43.6)]
    assert _snap(spans, media, _timeline(gop=250 / 30), options) == spans  # x264 default GOP
    assert _snap(spans, media, _timeline(), HighlightOptions(duration=9, aspect="9:16")) == spans
    assert _snap(spans, media, dataclasses.replace(_timeline(), keyframes=[]), options) == spans


def _segments(spans):
    from moments.engine.models import Segment

    out, position = [], 0.0
    for s, e in spans:
        out.append(Segment(s, e, position, 1.0, {}, "test"))
        position += e - s - 0.25
    return out
