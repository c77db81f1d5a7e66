"""The sparse decode: runs of packets after each keyframe, through frame threads never flushed.

Frames leave a frame-threaded decoder several packets late, so which run a frame belongs to
(and so where the gaps are) is found from its timestamp; and an open GOP's leading pictures,
which refer to frames in the skipped stretch, must be dropped rather than measured as garbage.
Ground truth is a decode of every frame of the same file.
"""

from __future__ import annotations

import itertools

import cv2
import numpy as np
import pytest

from moments.engine.analyse import SMALL_PIXELS, _decode, _Runs, frame_threads
from moments.engine.analyse.packets import (
    RUN_EVERY,
    decode_plan,
    feed_plan,
    index_packets,
    restarts,
)
from moments.engine.analyse.video import SIDE, VideoMeter
from moments.engine.frames import to_gray
from moments.engine.probe import open_input, probe
from moments.engine.progress import Reporter

from .media_factory import make_video

W, H, FPS, SECONDS = 960, 540, 30, 6.0
GOPS = {
    # A phone's: an IDR every second, no B-frames.
    "closed": ("libx264", "keyint=30:min-keyint=30:scenecut=0:bframes=0"),
    # Closed GOPs with B-frames (many Android phones, x264's defaults): frames come out of
    # the decoder reordered as well as late.
    "b-frames": ("libx264", "keyint=15:min-keyint=15:scenecut=0:bframes=2"),
    # An open GOP with B-frames: each keyframe is a recovery point, not an IDR, and the
    # B-frames after it in decode order are shown before it, predicted from the GOP before.
    "open": ("libx264", "keyint=15:min-keyint=15:scenecut=0:bframes=2:b-pyramid=none:open-gop=1"),
    # HEVC as phones write it (IDRs, B-frames), and with CRA keyframes (x265's open GOP).
    "hevc": ("libx265", "log-level=error:keyint=15:min-keyint=15:scenecut=0:open-gop=0"),
    "hevc-cra": ("libx265", "log-level=error:keyint=15:min-keyint=15:scenecut=0:open-gop=1"),
    # A keyframe every 2 s: measured at the keyframe and again a second in (packets.RUN_EVERY),
    # the decoder fed every picture before that run, measuring none of them.
    "2s": ("libx264", "keyint=60:min-keyint=60:scenecut=0:bframes=0"),
    "2s-b-pyramid": ("libx264", "keyint=60:min-keyint=60:scenecut=0:bframes=3:b-pyramid=normal"),
    "2s-hevc-cra": ("libx265", "log-level=error:keyint=60:min-keyint=60:scenecut=0:open-gop=1"),
}


def _frame(i: int, _w: int, _h: int) -> np.ndarray:
    """A bright ramp over time under a moving texture: a frame decoded from the wrong
    references is off in brightness by the ramp across the skipped stretch."""
    t = i / FPS
    rng = np.random.default_rng(i // 10)
    cells = rng.uniform(-30, 30, size=(H // 30 + 1, W // 30 + 1))
    texture = cv2.resize(cells, None, fx=30, fy=30, interpolation=cv2.INTER_NEAREST)[:H, :W]
    level = 40 + 170 * t / SECONDS + texture
    x = int(100 + 120 * t) % (W - 100)
    level[200:300, x : x + 100] = 250 - level[200:300, x : x + 100]
    return np.repeat(np.clip(level, 0, 255).astype(np.uint8)[:, :, None], 3, axis=2)


@pytest.fixture(scope="module", params=sorted(GOPS))
def clip(request, tmp_path_factory):
    path = tmp_path_factory.mktemp("sparse") / f"{request.param}.mp4"
    codec, params = GOPS[request.param]
    params_key = "x265-params" if codec == "libx265" else "x264-params"
    make_video(
        path,
        seconds=SECONDS,
        width=W,
        height=H,
        fps=FPS,
        audio=False,
        frame_fn=_frame,
        codec=codec,
        video_options={params_key: params},
    )
    return probe(path)


def _full_decode(media) -> dict[float, float]:
    """Time -> brightness of every frame, decoded in full with the analysis's settings."""
    out = {}
    with open_input(media.path) as container:
        stream = container.streams[media.video_stream]
        stream.codec_context.options = {"skip_loop_filter": "all"}
        for frame in container.decode(stream):
            gray = to_gray(frame, media, SIDE)
            out[round(float(frame.time) - media.start_time, 4)] = float(
                cv2.GaussianBlur(gray, (3, 3), 0).mean()
            )
    return out


def _sparse_decode(media):
    with open_input(media.path) as container:
        index = index_packets(container, container.streams[media.video_stream], Reporter())
    plan = decode_plan(index, 0.1)
    feed = feed_plan(index, plan)
    with open_input(media.path) as container:
        video, _ = _decode(container, media, plan, restarts(index, feed), Reporter(), feed=feed)
    return index, plan, video.samples


def test_sparse_frames_are_exactly_what_a_full_decode_shows(clip):
    assert W * H > SMALL_PIXELS  # else analysis decodes every frame and this tests nothing
    index, plan, samples = _sparse_decode(clip)
    assert not plan.all()
    truth = _full_decode(clip)
    keyframes = sorted(round(float(t) - clip.start_time, 4) for t in index.times[index.keyframe])
    seen = [round(t, 4) for t in samples.t]
    # Every keyframe is measured, and nothing from the skipped stretches.
    assert set(keyframes) <= set(seen)
    decoded = {round(float(t) - clip.start_time, 4) for t in index.times[plan]}
    assert set(seen) <= decoded
    # Each measured frame is the true picture: a frame decoded from missing references would
    # be off by the brightness ramp across the skipped stretch (~10 grey levels or more).
    for t, brightness in zip(seen, samples.brightness, strict=True):
        assert abs(brightness - truth[t]) < 1.5, (t, brightness, truth[t])


def test_every_gop_gives_two_motion_pairs_whatever_the_encoder(clip):
    """Counted in stored packets, the plan of an open GOP with B-frames (x265's default) fed
    the CRA, its leading pictures and nothing shown after it: keyframes alone, no motion.
    (A pair is lost where ``_frame``'s texture changes, a cut: so two on average.)"""
    index, plan, samples = _sparse_decode(clip)
    keyframes = sorted(float(t) - clip.start_time for t in index.times[index.keyframe])
    measured = np.asarray(samples.t)[np.isfinite(samples.motion)]
    gops = list(itertools.pairwise([*keyframes, clip.duration]))
    pairs = [int(((measured > start) & (measured < end)).sum()) for start, end in gops]
    assert min(pairs) >= 1, pairs
    assert sum(pairs) >= 1.5 * len(gops), pairs
    # Still a small share of the decoding: a tenth of the GOP's pictures, or three.
    assert plan.sum() <= 0.5 * len(plan)


def test_no_second_goes_unmeasured_however_far_apart_the_keyframes(clip):
    """Measured at its keyframe alone, a 2 s GOP's second half was the first's held over:
    signals, and picks, followed where the encoder put its keyframes."""
    _, plan, samples = _sparse_decode(clip)
    seen = np.asarray(samples.t)
    assert float(np.diff(seen).max()) <= RUN_EVERY + 0.1, np.diff(seen).max()
    assert seen.min() < 0.1 and seen.max() > clip.duration - RUN_EVERY - 0.1
    # Measured: a small share still, whatever the decoder is fed to reach the runs.
    assert plan.sum() <= 0.5 * len(plan)


def test_gaps_fall_at_the_keyframes_after_skipped_stretches(clip):
    index, plan, samples = _sparse_decode(clip)
    starts = np.flatnonzero(plan & ~np.concatenate([[True], plan[:-1]]))
    expected = sorted(round(float(index.times[k]) - clip.start_time, 4) for k in starts)
    assert [round(t, 4) for t in samples.gap_t] == expected
    # No motion pair spans a gap: the first frame after each has none.
    for t in samples.gap_t:
        assert np.isnan(samples.motion[samples.t.index(t)])


def test_runs_tell_the_meter_of_each_new_run_and_drop_leading_pictures():
    meter = VideoMeter()
    gray = np.zeros((90, 160), np.uint8)
    runs = _Runs(meter)
    for pts in (0, 1, 2):
        runs.fed(pts)
    runs.skipped()
    for pts in (30, 28, 29, 33):  # keyframe 30, two leading pictures, then a P-frame
        runs.fed(pts)
    kept = []
    # Frames come out late and in display order: run 1's, then run 2's (28, 29 first).
    for pts in (0, 1, 2, 28, 29, 30, 33):
        if runs.keep(pts):
            kept.append(pts)
            meter.add(pts / 30, gray)
    assert kept == [0, 1, 2, 30, 33]
    assert meter.finish().gap_t == [1.0]  # the keyframe after the skip, not a leading picture


def test_frame_threads_cover_one_run_per_core(monkeypatch):
    monkeypatch.setattr("os.sched_getaffinity", lambda _pid: {0, 1}, raising=False)
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    plan = np.zeros(90, bool)
    plan[[0, 1, 2, 30, 31, 32, 60, 61, 62]] = True
    assert frame_threads(plan) == 6
    plan[:] = False
    plan[[0, 30, 60]] = True
    assert frame_threads(plan) == 2
    plan[:] = False
    for start in (0, 45):
        plan[start : start + 25] = True  # long runs (long GOPs): as many as runs of three
    assert frame_threads(plan) == 6
    monkeypatch.setattr("os.sched_getaffinity", lambda _pid: set(range(64)), raising=False)
    assert frame_threads(plan) == 16  # many cores: FFmpeg's own cap


def test_frame_threaded_decoder_keeps_packet_times(clip):
    """What _Runs relies on: each decoded frame carries the pts of the packet that held it."""
    with open_input(clip.path) as container:
        stream = container.streams[clip.video_stream]
        stream.thread_type, stream.thread_count = "FRAME", 6
        fed = [p.pts for p in container.demux(stream) if p.size]
    with open_input(clip.path) as container:
        stream = container.streams[clip.video_stream]
        stream.thread_type, stream.thread_count = "FRAME", 6
        out = [f.pts for f in container.decode(stream)]
    assert sorted(out) == sorted(fed)


def test_restarts_are_the_runs_after_the_first_that_start_off_an_idr():
    from moments.engine.analyse.packets import PacketIndex

    keys = np.arange(60) % 10 == 0
    idr = keys & (np.arange(60) != 30)  # the keyframe at 30 is a recovery point, not an IDR
    index = PacketIndex(np.arange(60) / 30, np.full(60, 100), keys, idr)
    plan = np.zeros(60, bool)
    for start in (20, 30, 40):  # a second pass: its first run is at 20, not 0
        plan[start : start + 3] = True
    assert np.flatnonzero(restarts(index, plan)).tolist() == [30]
    plan[[20, 21, 22]] = False  # now the run at 30 is the decoder's first: no reset
    assert not restarts(index, plan).any()
    no_idr = PacketIndex(index.times, index.sizes, keys)  # a codec we cannot read
    plan[[0, 1, 2]] = True
    assert np.flatnonzero(restarts(no_idr, plan)).tolist() == [30, 40]
