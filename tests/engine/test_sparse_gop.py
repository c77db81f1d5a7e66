"""Phone-like video above the dense-analysis size: an IDR every 30 frames, no B-frames.

Regression: only the start of each GOP is decoded there, and frames either side of a skipped
stretch were once compared as if adjacent, so every keyframe became a "cut" (and a burst of
shake and motion), and a 30 s highlight of a 2-minute clip came back as one 2 s segment.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from moments.engine.analyse import SMALL_PIXELS, analyse
from moments.engine.analyse.packets import (
    PacketIndex,
    decode_plan,
    feed_plan,
    gops_skipped_within,
    skipped_spikes,
)
from moments.engine.models import HighlightOptions
from moments.engine.probe import probe
from moments.engine.progress import Reporter
from moments.engine.select import reel_length, select

from .media_factory import make_video

W, H, FPS, GOP = 960, 540, 30, 30
SCENE = 4.5
"""Boundaries at 4.5, 9, 13.5, 18 s: two on keyframes, two in the middle of a GOP (x264 is
told scenecut=0, so those land in P-frames, in the stretch that is not decoded)."""
SCENES = 5
PAN = 150
"""Pixels per second the camera pans: steady, so no shake."""
TINTS = [(1.0, 0.55, 0.4), (0.35, 0.9, 0.5), (0.45, 0.5, 1.0), (1.0, 0.95, 0.35), (0.8, 0.4, 0.9)]


def _scene_textures() -> list[np.ndarray]:
    rng = np.random.default_rng(5)
    out = []
    for tint in TINTS:
        # Blocky (crisp 24 px cells): detail that survives the 160 px analysis image.
        cells = rng.uniform(40, 230, size=(H // 24 + 1, (W + PAN * 5) // 24 + 1, 1))
        image = cv2.resize(cells, None, fx=24, fy=24, interpolation=cv2.INTER_NEAREST)
        out.append(np.clip(image[:H, :, None] * np.array(tint), 0, 255).astype(np.uint8))
    return out


@pytest.fixture(scope="module")
def phone_clip(tmp_path_factory):
    textures = _scene_textures()

    def frame(i: int, _w: int, _h: int) -> np.ndarray:
        t = i / FPS
        scene = min(SCENES - 1, int(t // SCENE))
        x = int(PAN * (t - scene * SCENE))
        image = np.ascontiguousarray(textures[scene][:, x : x + W])
        for k in range(2):  # two balls crossing the frame: subject motion
            cx = int((0.5 + 0.4 * np.sin(1.7 * t + 2 * k)) * W)
            cy = int((0.5 + 0.3 * np.cos(1.3 * t + k)) * H)
            cv2.circle(image, (cx, cy), 50, (255, 255, 255) if k else (10, 10, 10), -1)
        return image

    path = tmp_path_factory.mktemp("phone") / "phone.mp4"
    make_video(
        path,
        seconds=SCENE * SCENES,
        width=W,
        height=H,
        fps=FPS,
        audio=False,
        frame_fn=frame,
        video_options={"x264-params": f"keyint={GOP}:min-keyint={GOP}:scenecut=0:bframes=0"},
    )
    media = probe(path)
    return media, analyse(media, HighlightOptions(), Reporter())


def test_the_clip_is_analysed_sparsely():
    assert W * H > SMALL_PIXELS  # otherwise every frame is decoded and this tests nothing


def test_cuts_are_the_scene_changes_not_the_keyframes(phone_clip):
    _, tl = phone_clip
    truth = [SCENE * k for k in range(1, SCENES)]
    assert len(tl.shots) == len(truth), tl.shots
    # Mid-GOP cuts are placed at the outsized P-frame that starts the new scene.
    assert np.abs(np.asarray(tl.shots) - truth).max() < 0.07, tl.shots


def test_a_steady_pan_is_not_shake_and_the_balls_are_motion(phone_clip):
    _, tl = phone_clip
    assert tl.signals["shake"].max() < 0.2
    assert np.median(tl.signals["motion"]) > 0.3


def test_highlight_reaches_its_target_length(phone_clip):
    media, tl = phone_clip
    options = HighlightOptions(duration=8)
    segments = select(media, tl, options)
    spans = [(s.source_start, s.source_end) for s in segments]
    assert options.duration <= reel_length(spans, options.crossfade) <= options.duration * 1.05
    assert len(segments) >= 2
    for start, end in spans:  # no segment runs across a cut
        assert not any(start + 0.05 < SCENE * k < end - 0.05 for k in range(1, SCENES))


def test_plan_decodes_each_keyframe_and_two_more_and_finds_a_hidden_cut():
    # Two GOPs of 30; packet 45 (1.5 s) is five times the others: a P-frame starting a scene.
    sizes = np.full(60, 1000)
    sizes[[0, 30]] = 20_000
    sizes[45] = 5_000
    keys = np.zeros(60, bool)
    keys[[0, 30]] = True
    index = PacketIndex(np.arange(60) / 30, sizes, keys)
    plan = decode_plan(index, 0.1)
    assert np.flatnonzero(plan).tolist() == [0, 1, 2, 30, 31, 32]
    stretches = skipped_spikes(index, plan)
    assert [round(a, 3) for a, _, _ in stretches] == [0.1, 1.1]
    assert stretches[0][1] == pytest.approx(1.0) and np.isnan(stretches[1][1])  # no next packet
    assert stretches[0][2] == [] and stretches[1][2] == [pytest.approx(1.5)]


def test_every_p_frame_of_a_still_picture_is_no_cut_but_one_outsized_frame_is():
    # HEVC of a talking head: P-frames every 4 pictures at 15, B-frames at 2. Each P-frame is
    # several times the median (a B-frame), yet none stands out from the other P-frames.
    sizes = np.where(np.arange(50) % 4 == 0, 1500, 200)
    sizes[0] = 60_000
    keys = np.zeros(50, bool)
    keys[0] = True
    plan = np.zeros(50, bool)
    plan[:3] = True
    index = PacketIndex(np.arange(50) / 25, sizes.copy(), keys)
    assert skipped_spikes(index, plan)[0][2] == []
    # A picture coded afresh (a cut) stands out from the P-frames too: that one alone.
    sizes[33] = 8_000
    index = PacketIndex(np.arange(50) / 25, sizes, keys)
    assert skipped_spikes(index, plan)[0][2] == [pytest.approx(33 / 25)]


def test_a_fade_across_a_skipped_stretch_is_no_cut():
    """Frames a GOP apart across a fade differ in colour as across a cut; the same layout in
    other light, or black on one side, is a fade (the HEVC trailer had 7 cuts in its fades
    that its other encodings did not). White words on black against another card are a cut."""
    from moments.engine.analyse.video import _faded

    rng = np.random.default_rng(6)
    scene = rng.integers(30, 250, (9, 16)).astype(np.uint8)
    assert _faded(scene, (scene * 0.35).astype(np.uint8))  # fading out
    assert _faded(np.zeros((9, 16), np.uint8), scene)  # in from black
    other = rng.integers(30, 250, (9, 16)).astype(np.uint8)
    assert not _faded(scene, other)
    card = np.zeros((9, 16), np.uint8)
    card[4, 4:12] = 230  # white words on black
    teal = np.full((9, 16), 100, np.uint8)
    teal[3, 5:11] = 220
    assert not _faded(card, teal)


def test_a_change_of_frame_sizes_places_a_cut_that_codes_no_outsized_frame():
    # A car interior (P 14 kB, B 6 kB) cut to a green screen (under 1 kB) at packet 37.
    n = 60
    sizes = np.where(np.arange(n) % 4 == 0, 14_000, 6_000)
    sizes[37:] = np.where(np.arange(37, n) % 4 == 0, 900, 300)
    sizes[0] = 60_000
    keys = np.zeros(n, bool)
    keys[0] = True
    plan = np.zeros(n, bool)
    plan[:3] = True
    index = PacketIndex(np.arange(n) / 30, sizes, keys)
    assert skipped_spikes(index, plan)[0][2] == [pytest.approx(37 / 30)]
    # Motion slowing over the stretch changes sizes step by step: no cut.
    gradual = np.geomspace(14_000, 300, n).astype(int)
    gradual[0] = 60_000
    index = PacketIndex(np.arange(n) / 30, gradual, keys)
    assert skipped_spikes(index, plan)[0][2] == []


def test_a_cut_into_a_plain_picture_is_found_where_it_is(tmp_path):
    # The evaluation clip's car interior to green screen, at 720p: the cut codes no outsized
    # frame, and was placed at the keyframe after it (0.7 s late) with the stretch before it
    # unsure, so that it scored nothing; the 360p encoding, decoded whole, saw it in place.
    texture = _scene_textures()[0]
    cut = 3.4

    def frame(i: int, _w: int, _h: int) -> np.ndarray:
        t = i / FPS
        if t >= cut:
            return np.full((H, W, 3), (40, 220, 60), np.uint8)
        x = int(PAN * t)
        return np.ascontiguousarray(texture[:, x : x + W])

    tl = _two_second_gops(tmp_path / "plain.mp4", frame, bframes=2)
    assert len(tl.shots) == 1 and abs(tl.shots[0] - cut) < 0.07, tl.shots
    assert tl.unsure == []


def test_a_fade_to_black_in_a_skipped_stretch_is_a_fade(tmp_path):
    # The HEVC trailer's last caption faded to black between two keyframes: held, it stayed
    # lit until halfway to the black keyframe and went black at once, so nothing marked the
    # fade and a pick ran into it (its H.264 encoding, decoded whole, kept out of it).
    from moments.engine.select import fading

    texture = _scene_textures()[1]
    fade_from, fade_to = 2.9, 3.9

    def frame(i: int, _w: int, _h: int) -> np.ndarray:
        t = i / FPS
        x = int(PAN * t)
        gain = float(np.clip((fade_to - t) / (fade_to - fade_from), 0.0, 1.0))
        return (texture[:, x : x + W] * gain).astype(np.uint8)

    tl = _two_second_gops(tmp_path / "fade.mp4", frame, bframes=0)
    faded = fading(tl)
    inside = (tl.times >= fade_from + 0.2) & (tl.times <= fade_to - 0.2)
    assert faded[inside].all(), tl.luma[inside]


def _two_second_gops(path, frame, bframes: int):
    """6 s of ``frame`` at the sparse size, an IDR every 2 s, no scene-cut keyframes:
    analysed."""
    make_video(
        path,
        seconds=6,
        width=W,
        height=H,
        fps=FPS,
        audio=False,
        frame_fn=frame,
        video_options={"x264-params": f"keyint=60:min-keyint=60:scenecut=0:bframes={bframes}"},
    )
    return analyse(probe(path), HighlightOptions(), Reporter())


def _index_of_two_second_gops(count: int = 2) -> PacketIndex:
    n = 60 * count
    keys = np.arange(n) % 60 == 0
    return PacketIndex(np.arange(n) / 30, np.where(keys, 20_000, 1000), keys)


def test_a_two_second_gop_is_measured_at_its_keyframe_and_a_second_in():
    index = _index_of_two_second_gops()
    plan = decode_plan(index, 0.1)
    assert np.flatnonzero(plan).tolist() == [0, 1, 2, 30, 31, 32, 60, 61, 62, 90, 91, 92]
    # The decoder is fed every picture up to each GOP's last run, to measure only the runs.
    feed = feed_plan(index, plan)
    assert np.flatnonzero(feed).tolist() == [*range(33), *range(60, 93)]
    # A phone's GOP of a second keeps its one run.
    phone = PacketIndex(np.arange(60) / 30, np.full(60, 1000), np.arange(60) % 30 == 0)
    assert np.flatnonzero(decode_plan(phone, 0.1)).tolist() == [0, 1, 2, 30, 31, 32]


def test_a_doubtful_stretch_inside_a_gop_has_its_gop_decoded_whole():
    index = _index_of_two_second_gops()
    # Ends at the run a second into the first GOP: that GOP, not the keyframe after it.
    inside = gops_skipped_within(index, [(2 / 30, 1.0)], 0.0)
    assert np.flatnonzero(inside).tolist() == list(range(60))
    # Ends at the next keyframe: the GOP and that keyframe, so a cut on it is seen.
    before_key = gops_skipped_within(index, [(32 / 30, 2.0)], 0.0)
    assert np.flatnonzero(before_key).tolist() == list(range(61))
    # Across a whole skipped GOP (a coarse pass): not one of them.
    assert not gops_skipped_within(_index_of_two_second_gops(3), [(2 / 30, 4.0)], 0.0).any()


def test_runs_inside_long_gops_fall_at_the_same_times_whatever_the_keyframes():
    """Two encodings of 20 s at 30 fps, a keyframe every 2 s and every 8.3 s (x264's default):
    both are measured at every whole second, so they measure the same moments."""

    def run_times(gop: int) -> set[float]:
        keys = np.arange(600) % gop == 0
        index = PacketIndex(np.arange(600) / 30, np.full(600, 1000), keys)
        plan = decode_plan(index, 0.1)
        begins = np.flatnonzero(plan & ~np.concatenate([[False], plan[:-1]]))
        return {round(float(index.times[k]), 2) for k in begins}

    every_second = {float(t) for t in range(20)}
    assert every_second <= run_times(60)
    assert every_second - {8.0, 16.0} <= run_times(250)  # those two: 0.3 s from a keyframe
    assert {8.33, 16.67} <= run_times(250)
