"""Analysis of 60 fps measures what it measures at 30 (issue 18, item 5): time-based signals.

The same scene (a textured backdrop, a disc swinging across it, the same in seconds at
both rates) is encoded at 30 and at 60 fps, as a phone writes both (an IDR every second), at a
size the sparse analysis takes (above ``SMALL_PIXELS``), and analysed for real. Signals are
time-based if both clips give the same values. Camera shake is not yet (a strict expected
failure, for the lead: moments/engine/analyse is theirs).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from moments.engine import HighlightOptions, probe
from moments.engine.analyse import analyse
from moments.engine.progress import Reporter

from .media_factory import make_video

W, H = 960, 540
SECONDS = 6.0
SPEED = 300.0  # the disc's top speed, pixels per second
PERIOD = 3.0


def scene(fps: int):
    texture = cv2.resize(
        np.random.default_rng(5).integers(0, 255, (H // 6, W // 6, 3), dtype=np.uint8),
        (W, H), interpolation=cv2.INTER_LINEAR,
    )  # fmt: skip

    def frame(index: int, width: int, height: int) -> np.ndarray:
        t = index / fps
        img = texture.copy()
        # Back and forth, never jumping: peak speed SPEED pixels a second.
        x = int(width / 2 + SPEED * PERIOD / (2 * np.pi) * np.sin(2 * np.pi * t / PERIOD))
        cv2.circle(img, (x, height // 2), 60, (250, 240, 40), -1)
        return img

    return frame


def motion_at(fps: int, folder: Path) -> float:
    """Mean motion signal of the scene at ``fps``, away from the clip's ends."""
    path = folder / f"clip{fps}.mp4"
    params = f"keyint={fps}:min-keyint={fps}:scenecut=0:bframes=0"
    make_video(path, seconds=SECONDS, width=W, height=H, fps=fps, frame_fn=scene(fps),
               audio=False, video_options={"x264-params": params})  # fmt: skip
    found = analyse(probe(path), HighlightOptions(duration=3.0), Reporter())
    return float(np.mean(found.signals["motion"][5:-5]))


def test_motion_is_the_same_at_30_and_60_fps(tmp_path: Path) -> None:
    at30, at60 = motion_at(30, tmp_path), motion_at(60, tmp_path)
    assert at30 > 0.1  # the disc moves: there is something to measure
    assert abs(at60 - at30) <= 0.1 * at30, f"motion at 30 fps {at30:.3f}, at 60 fps {at60:.3f}"


def handheld(fps: int, width: int, height: int):
    """A still scene filmed by a hand: a slow pan with a tremor of a few hertz (the same in
    seconds at every rate), at ``width`` x ``height``."""
    backdrop = cv2.resize(
        np.random.default_rng(7).integers(0, 255, (height // 5, width // 5 + 40, 3), np.uint8),
        (width + 200, height + 40), interpolation=cv2.INTER_LINEAR,
    )  # fmt: skip

    def frame(index: int, w: int, h: int) -> np.ndarray:
        t = index / fps
        x = 100 + 20 * t + 6 * np.sin(2 * np.pi * 3 * t) + 3 * np.sin(2 * np.pi * 7 * t + 1)
        y = 20 + 5 * np.sin(2 * np.pi * 4 * t + 2)
        shift = np.float32([[1, 0, -x], [0, 1, -y]])
        return cv2.warpAffine(backdrop, shift, (w, h), flags=cv2.INTER_LINEAR)

    return frame


def shake_at(fps: int, folder: Path, width: int, height: int) -> float:
    path = folder / f"hand{fps}-{width}.mp4"
    params = f"keyint={fps}:min-keyint={fps}:scenecut=0:bframes=0"
    make_video(path, seconds=SECONDS, width=width, height=height, fps=fps,
               frame_fn=handheld(fps, width, height), audio=False,
               video_options={"x264-params": params, "crf": "18"})  # fmt: skip
    found = analyse(probe(path), HighlightOptions(duration=3.0), Reporter())
    return float(np.mean(found.signals["shake"][5:-5]))


def test_camera_shake_is_the_same_at_30_and_60_fps(tmp_path: Path) -> None:
    # 640x360: every frame decoded (SMALL_PIXELS), where shake is measured throughout.
    at30 = shake_at(30, tmp_path, 640, 360)
    at60 = shake_at(60, tmp_path, 640, 360)
    assert at30 > 0.1  # the hand shakes: there is something to measure
    assert abs(at60 - at30) <= 0.15 * at30, f"shake at 30 fps {at30:.3f}, at 60 fps {at60:.3f}"
