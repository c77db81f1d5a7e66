"""A reel made from HDR footage says what it is: SDR, BT.709 primaries, transfer and matrix."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from moments.engine.render.encode import ReelWriter
from moments.engine.render.layout import Layout
from moments.engine.render.soundtrack import ReelSound

from .test_hdr import hlg_reel  # noqa: F401  (the fixture: a reel rendered from an HLG clip)


def test_hdr_reel_is_tagged_bt709(hlg_reel) -> None:  # noqa: F811
    reel, _ = hlg_reel
    with av.open(str(reel)) as container:
        context = container.streams.video[0].codec_context
        tags = (context.color_primaries, context.color_trc, context.colorspace)
        assert tags == (1, 1, 1), tags  # BT.709 (the source said BT.2020 / HLG)
        assert context.color_range == 1  # limited, as the pictures are made


def x264_settings(path: Path) -> str:
    """The settings x264 writes into the stream's first picture (an SEI)."""
    with av.open(str(path)) as container:
        first = bytes(next(p for p in container.demux(video=0) if p.size))
    return first[first.index(b"x264 - core") :].split(b"\x00")[0].decode("ascii", "replace")


def test_a_tone_mapped_reel_is_encoded_with_frame_threads(tmp_path: Path) -> None:
    # encode.TONE_MAPPED_THREADS: x264's frame threads, not PyAV's default slices, for reels
    # tone-mapped from HDR (the same processor time, a better picture at the cap). With slices
    # (before) a 720p reel on 2 cores said sliced_threads=1.
    layout = Layout(width=1280, height=720, scaled_width=1280, scaled_height=720)
    sound = ReelSound(0, lambda tick: np.zeros((2, 0), np.float32))
    writer = ReelWriter(tmp_path / "reel.mp4", layout, Fraction(30), sound, bt709=True)
    rng = np.random.default_rng(0)
    for _ in range(4):
        writer.add(rng.integers(16, 236, (720 * 3 // 2, 1280), dtype=np.uint8))
    writer.finish()
    writer.close()
    settings = x264_settings(tmp_path / "reel.mp4")
    assert "sliced_threads=0" in settings, settings
    assert "bframes=3" in settings and "subme=1" in settings  # the tone-mapped settings
