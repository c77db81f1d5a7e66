"""``resolution``: how big a reel may be (720p, 1080p: the default, 4k). A video bigger than the
size asked is scaled, so its pictures are re-encoded; at ``4k`` a 4K video keeps its size and
its GOPs are copied. Nothing is ever enlarged to reach the size asked."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from moments.engine import EngineError, HighlightOptions, probe
from moments.engine.models import RESOLUTION_SIDES, RESOLUTIONS
from moments.engine.progress import Reporter
from moments.engine.render import copy_refusal, render
from moments.engine.render.layout import Layout

from .media_factory import make_video
from .test_render import segs
from .test_render_copy import PHONE, decode_strict, moving, source_frames


@pytest.fixture(scope="module")
def small_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_video(tmp_path_factory.mktemp("res") / "clip.mp4", seconds=1.0, audio=False)


@pytest.mark.parametrize(
    ("resolution", "size"),
    [("720p", (1280, 720)), ("1080p", (1920, 1080)), ("4k", (3840, 2160))],
)
def test_a_4k_video_is_scaled_to_the_size_asked(
    small_clip: Path, resolution: str, size: tuple[int, int]
) -> None:
    uhd = replace(probe(small_clip), width=3840, height=2160)
    layout = Layout.for_media(uhd, HighlightOptions(resolution=resolution))  # type: ignore[arg-type]
    assert (layout.width, layout.height) == size


def test_portrait_takes_the_size_on_its_long_side(small_clip: Path) -> None:
    upright = replace(probe(small_clip), width=2160, height=3840)
    layout = Layout.for_media(upright, HighlightOptions(resolution="720p"))
    assert (layout.width, layout.height) == (720, 1280)


def test_a_small_video_is_never_enlarged(small_clip: Path) -> None:
    media = probe(small_clip)
    for resolution in RESOLUTIONS:
        layout = Layout.for_media(media, HighlightOptions(resolution=resolution))  # type: ignore[arg-type]
        assert (layout.width, layout.height) == (320, 180)


def test_a_size_asked_that_the_video_cannot_give_is_said(small_clip: Path) -> None:
    media = probe(small_clip)
    asked = Layout.for_media(media, HighlightOptions(resolution="4k"))
    assert asked.size_note(HighlightOptions(resolution="4k")) == (
        "Your reel is 320x180 rather than 4K: your video's picture is smaller, and enlarging "
        "adds no detail."
    )
    default = Layout.for_media(media, HighlightOptions())
    assert default.size_note(HighlightOptions()) is None  # not asked: nothing to tell
    uhd = replace(media, width=3840, height=2160)
    small = HighlightOptions(resolution="720p")
    assert Layout.for_media(uhd, small).size_note(small) is None  # 1280x720, as asked


def test_the_default_is_1080p_and_a_cap_of_ones_own_wins() -> None:
    assert HighlightOptions().output_side == RESOLUTION_SIDES["1080p"] == 1920
    assert HighlightOptions(resolution="4k", max_output_side=640).output_side == 640


def test_an_unknown_resolution_is_refused() -> None:
    with pytest.raises(EngineError, match="resolution must be one of 720p, 1080p, 4k"):
        HighlightOptions(resolution="8k")  # type: ignore[arg-type]


def test_at_4k_a_video_bigger_than_1080p_is_copied(tmp_path: Path) -> None:
    # 2560x1440 (what many Android phones call 2K): scaled at the default, so re-encoded whole;
    # asked for 4k, it keeps its size and its GOPs are copied bit for bit.
    src = make_video(
        tmp_path / "qhd.mp4", seconds=3.0, width=2560, height=1440, frame_fn=moving,
        video_options=PHONE, audio=False,
    )  # fmt: skip
    media = probe(src)
    default, big = HighlightOptions(poster=False), HighlightOptions(poster=False, resolution="4k")
    refusal = copy_refusal(media, default)
    assert refusal is not None and "scaled" in refusal
    assert copy_refusal(media, big) is None

    out = tmp_path / "reel.mp4"
    info = render(media, segs((0.0, 2.9)), out, big, Reporter())
    assert (info.width, info.height) == (2560, 1440)
    frames = decode_strict(out)
    source = source_frames(src)
    # From the first keyframe (frame 0) to the fade-out, the reel's pictures are the source's.
    copied = sum(np.array_equal(f.to_ndarray(), source[k]) for k, f in enumerate(frames[:75]))
    assert copied == 75

    scaled = tmp_path / "scaled.mp4"
    info = render(media, segs((0.0, 2.9)), scaled, default, Reporter())
    assert (info.width, info.height) == (1920, 1080)
