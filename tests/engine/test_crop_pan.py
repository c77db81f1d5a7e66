"""A crop for 9:16 follows its subject along a segment (a pan), not the segment's mean place."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np

from moments.engine import HighlightOptions, highlight
from moments.engine.models import Segment

from .media_factory import make_video

SECONDS = 4.0


def _walker(index: int, width: int, height: int) -> np.ndarray:
    """A white square crossing a still, textured scene from its left edge to its right."""
    rng = np.random.default_rng(7)
    scene = rng.integers(60, 140, (height // 6, width // 6, 3), dtype=np.uint8)
    img = np.repeat(np.repeat(scene, 6, axis=0), 6, axis=1)[:height, :width].copy()
    side = height // 4
    x = round((width - side) * min(1.0, index / (SECONDS * 30 - 1)))
    img[height // 2 - side // 2 : height // 2 + side // 2, x : x + side] = 250
    return img


def _white_share(frame: av.VideoFrame) -> float:
    rgb = frame.to_ndarray(format="rgb24").astype(int)
    return float((rgb.min(axis=2) > 220).mean())


def test_a_portrait_crop_keeps_a_subject_crossing_the_frame_in_view(tmp_path: Path) -> None:
    clip = make_video(
        tmp_path / "walk.mp4", seconds=SECONDS, width=640, height=360, frame_fn=_walker
    )
    result = highlight(clip, tmp_path / "reel.mp4", HighlightOptions(duration=4, aspect="9:16"))
    with av.open(str(result.output)) as reel:
        frames = list(reel.decode(video=0))
    # A crop held on the middle (the mean place) shows the square only as it passes by.
    seen = [_white_share(f) > 0.01 for f in frames]
    assert np.mean(seen) >= 0.9, f"the square is in view in {np.mean(seen):.0%} of the reel"


def test_focus_at_follows_the_pan_and_holds_at_its_ends() -> None:
    seg = Segment(
        1.0, 3.0, 0.0, 0.5, {}, "movement", (0.5, 0.5), pan=((1.0, 0.2, 0.5), (3.0, 0.8, 0.3))
    )
    assert seg.focus_at(0.0) == (0.2, 0.5)
    assert seg.focus_at(2.0) == (0.5, 0.4)
    assert seg.focus_at(9.0) == (0.8, 0.3)
    assert Segment(1.0, 3.0, 0.0, 0.5, {}, "x").focus_at(2.0) == (0.5, 0.5)
    assert "pan" not in seg.to_dict()  # the API says where the subject is: ``focus``
