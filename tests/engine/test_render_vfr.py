"""A phone's variable frame rate is copied as it was shot (issue 18, item 4).

The source is what an Android phone writes at 60 fps: timestamps on a 90 kHz clock that stray
up to 8% of a frame from the grid, 3% of frames never written, and a 30 fps stretch in the
middle (low light). Each picture carries its number (bars on top, ``test_render.numbered``);
some also flash white below, with a click in the sound at the same instant. The reel must take
the copy path, decode strictly, keep every picture it shows (none dropped, none out of order,
each at its own time), run at a standard rate where it is re-encoded, and keep picture and
sound together after every join.
"""

from __future__ import annotations

import itertools
import logging
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from moments.engine import HighlightOptions, probe
from moments.engine.progress import Reporter
from moments.engine.render import copy_refusal, render
from moments.engine.render.copyplan import plan_copy
from moments.engine.render.layout import Plan, output_rate

from .media_factory import AUDIO_RATE, make_video
from .test_render import numbered, read_number, segs
from .test_render_copy import decode_strict

GOP = 30
PHONE = {"x264-params": f"keyint={GOP}:min-keyint={GOP}:scenecut=0:bframes=0"}
SECONDS = 4.2
SLOW = (2.0, 3.0)  # the 30 fps stretch
FLASHES = (0.55, 1.25, 2.55, 3.05, 3.45)  # seconds: none inside a crossfade below
SPANS = ((0.4, 1.9), (2.3, 3.8))
CROSSFADE = 0.2


def phone_times() -> list[float]:
    rng = np.random.default_rng(18)
    times = []
    for i in range(round(SECONDS * 60)):
        t = i / 60
        if SLOW[0] <= t < SLOW[1] and i % 2:
            continue
        if i and rng.random() < 0.03:
            continue
        times.append(t + (rng.uniform(-0.08, 0.08) / 60 if i else 0.0))
    return times


TIMES = phone_times()
FLASH_FRAMES = {min(range(len(TIMES)), key=lambda i: abs(TIMES[i] - f)) for f in FLASHES}


def picture(index: int, width: int, height: int) -> np.ndarray:
    img = numbered(index % 256, width, height)
    x = np.arange(width)[None, :] + 3 * index
    y = np.arange(height // 2)[:, None]
    below = (np.sin(x / 9.0) + np.cos(y / 7.0 + index / 5)) * 40 + 90
    img[height // 2 :] = 250 if index in FLASH_FRAMES else below[..., None]
    return img.astype(np.uint8)


def clicks() -> np.ndarray:
    sound = np.zeros(round((SECONDS + 0.2) * AUDIO_RATE))
    burst = 0.8 * np.sin(2 * np.pi * 2000 * np.arange(240) / AUDIO_RATE)  # 5 ms
    for index in FLASH_FRAMES:
        at = round(TIMES[index] * AUDIO_RATE)
        sound[at : at + len(burst)] = burst
    return sound


@pytest.fixture(scope="module")
def android_clip(tmp_path_factory) -> Path:
    assert len(TIMES) < 256  # numbers stay unique
    path = tmp_path_factory.mktemp("vfr") / "android.mp4"
    return make_video(
        path, fps=60, frame_fn=picture, frame_times=TIMES, video_options=PHONE,
        audio_samples=clicks(),
    )  # fmt: skip


@pytest.fixture(scope="module")
def reel(android_clip: Path, tmp_path_factory) -> tuple[Path, list[str]]:
    media = probe(android_clip)
    out = tmp_path_factory.mktemp("vfr-reel") / "reel.mp4"
    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record.getMessage())

    handler = Keep(logging.INFO)
    log = logging.getLogger("moments.engine.render")
    old_level = log.level
    log.setLevel(logging.INFO)
    log.addHandler(handler)
    try:
        options = HighlightOptions(crossfade=CROSSFADE, poster=False)
        render(media, segs(*SPANS), out, options, Reporter())
    finally:
        log.removeHandler(handler)
        log.setLevel(old_level)
    return out, lines


def reel_pictures(path: Path) -> list[tuple[float, np.ndarray]]:
    """(time, RGB) of every picture of the reel, strictly decoded, in display order."""
    frames = decode_strict(path)
    return sorted(((float(f.time), f.to_ndarray(format="rgb24")) for f in frames),
                  key=lambda item: item[0])  # fmt: skip


def test_android_clip_is_copied_at_a_standard_rate(android_clip: Path, reel) -> None:
    media = probe(android_clip)
    # A standard rate at the camera's pace, not the average rate (about 53 here).
    assert output_rate(media) in (60, Fraction(60000, 1001)), media.nominal_fps
    assert copy_refusal(media, HighlightOptions()) is None
    plan = Plan.build(segs(*SPANS), output_rate(media), CROSSFADE)
    copy_plan = plan_copy(media, segs(*SPANS), plan, lambda: None)
    assert copy_plan is not None and sorted(copy_plan.ranges) == [0, 1]
    _, lines = reel
    copied = [line for line in lines if line.startswith("smart render: copied")]
    assert copied and int(copied[0].split()[3]) >= 80, lines


def test_every_picture_shown_is_kept_at_its_own_time(reel) -> None:
    out, _ = reel
    pictures = reel_pictures(out)
    fade = round(CROSSFADE * 60) / 60
    reel_start = 0.0
    for index, (start, end) in enumerate(SPANS):
        # Away from the crossfades (blends of two pictures): the first ``fade`` seconds of a
        # segment after the first, the last ``fade`` of one before the last.
        low = start + (fade if index > 0 else 0.0)
        high = end - (fade if index < len(SPANS) - 1 else 0.0)
        margin = 1.5 / 60
        wanted = [i for i, t in enumerate(TIMES) if low + margin <= t < high - margin]
        # Reel time ``t`` of this segment shows source time ``t - reel_start + start``.
        shown = [
            (read_number(rgb), t - reel_start + start)
            for t, rgb in pictures
            if low <= t - reel_start + start < high
        ]
        numbers = [n for n, _ in shown]
        missing = [i % 256 for i in wanted if i % 256 not in numbers]
        assert not missing, f"segment {index}: source pictures {missing} are not in the reel"
        # Each kept picture comes when it came in the source (within one 60 fps frame).
        for i in wanted:
            at = next(source_t for n, source_t in shown if n == i % 256)
            assert abs(at - TIMES[i]) <= 1 / 60 + 1e-3, (index, i, at, TIMES[i])
        # And in order: no picture twice after a later one.
        firsts = [numbers.index(i % 256) for i in wanted]
        assert firsts == sorted(firsts)
        reel_start += end - start - fade


def test_picture_and_sound_stay_together_after_every_join(reel) -> None:
    out, _ = reel
    flashes = [t for t, rgb in reel_pictures(out) if rgb[rgb.shape[0] * 3 // 4 :].mean() > 200]
    with av.open(str(out)) as container:
        frames = list(container.decode(audio=0))
        rate = frames[0].sample_rate
        start = float(frames[0].time)
        sound = np.concatenate([f.to_ndarray().mean(axis=0) for f in frames])
    loud = np.flatnonzero(np.abs(sound) > 0.5 * np.abs(sound).max())
    onsets = [start + loud[0] / rate] + [
        start + b / rate for a, b in itertools.pairwise(loud) if b - a > rate // 20
    ]
    # One flash and one click per flash the reel shows (both segments hold some).
    first_flashes = [t for n, t in enumerate(flashes) if n == 0 or t - flashes[n - 1] > 0.1]
    assert len(first_flashes) == len(onsets) >= 4, (first_flashes, onsets)
    for flash, click in zip(first_flashes, onsets, strict=True):
        assert abs(flash - click) <= 1 / 60 + 1e-3, (flash, click)
