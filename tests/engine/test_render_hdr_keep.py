"""HDR stays HDR: a 10-bit HLG (or PQ) source gives a 10-bit HEVC Main 10 reel with the source's
colour tags and mastering metadata, its GOPs copied bit for bit; ``hdr=sdr`` gives today's
tone-mapped 8-bit BT.709 reel; H.264 asked for gives SDR with a note saying why. The poster is
SDR either way.

Sources are small x265 10-bit clips tagged BT.2020 / HLG (or PQ) with SMPTE ST 2086 mastering
display and content light level SEI, a keyframe every 15 frames, open GOP and B-frames.
"""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from moments.engine import HighlightOptions, probe
from moments.engine.progress import Reporter
from moments.engine.render import can_copy, copy_refusal, render
from moments.engine.render.colour import side_data, source_colour
from moments.engine.render.copyplan import first_frame, plan_copy
from moments.engine.render.layout import Plan, output_rate

from .media_factory import make_video
from .test_render import segs
from .test_render_copy import decode_strict

MASTERING = "G(13250,34500)B(7500,3000)R(34000,16000)WP(15635,16450)L(10000000,50)"
LIGHT = "1000,400"
GOP = 15


def ramp(index: int, width: int, height: int) -> np.ndarray:
    """A moving 16-bit colour ramp: every 10-bit code path exercised, real motion."""
    x = np.linspace(0, 65535, width)[None, :].repeat(height, 0)
    y = np.linspace(0, 1, height)[:, None]
    return np.stack([x, x * y, (x + index * 1500) % 65535], -1).astype(np.uint16)


def hdr_clip(path: Path, transfer: int = 18, **kwargs) -> Path:
    params = (
        f"log-level=error:keyint={GOP}:min-keyint={GOP}:scenecut=0:bframes=3:open-gop=1"
        f":master-display={MASTERING}:max-cll={LIGHT}"
    )
    return make_video(
        path, seconds=5.0, codec="libx265", pix_fmt="yuv420p10le", color_trc=transfer,
        color_primaries=9, colorspace=9, frame_fn=ramp,
        video_options={"preset": "veryfast", "x265-params": params}, **kwargs,
    )  # fmt: skip


@pytest.fixture(scope="module")
def hlg_clip(tmp_path_factory) -> Path:
    return hdr_clip(tmp_path_factory.mktemp("hdr") / "hlg.mp4")


def stream_colour(path: Path) -> tuple[str, str, str, tuple[int, int, int, int]]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        cc = stream.codec_context
        tags = (cc.color_primaries, cc.color_trc, cc.colorspace, cc.color_range)
        return cc.name, stream.codec_tag, cc.pix_fmt, tags


def side_data_names(frame: av.VideoFrame) -> set[str]:
    return {str(d.type).rsplit(".", 1)[-1] for d in side_data(frame)}


def psnr10(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(1023**2 / mse)


def test_hlg_reel_is_hdr_with_copied_gops_bit_exact(hlg_clip: Path, tmp_path: Path) -> None:
    media = probe(hlg_clip)
    assert (media.hdr, media.bit_depth) == ("hlg", 10) and can_copy(media, HighlightOptions())
    chosen = segs((0.3, 2.2), (2.9, 4.6))
    options = HighlightOptions(crossfade=0.2)
    plan = Plan.build(chosen, output_rate(media), options.crossfade)
    copy_plan = plan_copy(media, chosen, plan, lambda: None)
    assert copy_plan is not None and sorted(copy_plan.ranges) == [0, 1]
    out = tmp_path / "reel.mp4"
    info = render(media, chosen, out, options, Reporter())
    assert (info.codec, info.profile, info.notes) == ("hevc", "Main 10", ())
    # The source's colour description: BT.2020 primaries, HLG, BT.2020 matrix, limited range.
    assert stream_colour(out) == ("hevc", "hvc1", "yuv420p10le", (9, 18, 9, 1))
    assert stream_colour(out)[3] == stream_colour(hlg_clip)[3]

    frames = decode_strict(out)
    assert len(frames) == plan.total
    with av.open(str(hlg_clip)) as container:
        source = [f.to_ndarray() for f in container.decode(video=0)]
    copied = 0
    for index, segment in enumerate(chosen):
        first = first_frame(segment, plan.rate)
        head = plan.fade if index > 0 else 0
        tail = plan.fade if index < len(chosen) - 1 else 0
        copy = copy_plan.ranges[index]
        for k in range(head, plan.frames[index] - tail):
            got, want = frames[plan.starts[index] + k].to_ndarray(), source[first + k]
            assert got.dtype == np.uint16
            if copy.start <= k < copy.end:
                assert np.array_equal(got, want), (index, k)  # 10-bit HDR values, bit for bit
                copied += 1
            else:
                assert psnr10(got, want) >= 35, (index, k)
    assert copied == copy_plan.frames
    # The re-encoded first picture carries the mastering display and light levels as SEI...
    assert {"MASTERING_DISPLAY_METADATA", "CONTENT_LIGHT_LEVEL"} <= side_data_names(frames[0])
    colour = source_colour(probe(out))
    assert (colour.master_display, colour.max_cll) == (MASTERING, LIGHT)
    # ...and so does each copied keyframe (its own SEI, untouched).
    start = plan.starts[0] + copy_plan.ranges[0].start
    assert {"MASTERING_DISPLAY_METADATA", "CONTENT_LIGHT_LEVEL"} <= side_data_names(frames[start])


def test_poster_of_an_hdr_reel_is_sdr(hlg_clip: Path, tmp_path: Path) -> None:
    media = probe(hlg_clip)
    chosen = segs((0.3, 2.2))
    hdr = render(media, chosen, tmp_path / "hdr.mp4", HighlightOptions(), Reporter())
    sdr = render(media, chosen, tmp_path / "sdr.mp4", HighlightOptions(hdr="sdr"), Reporter())
    assert (hdr.profile, sdr.profile) == ("Main 10", "High")
    assert hdr.poster is not None and sdr.poster is not None
    # The same tone-mapped 8-bit picture as the SDR reel's poster.
    assert np.array_equal(cv2.imread(str(hdr.poster)), cv2.imread(str(sdr.poster)))


def test_sdr_asked_for_gives_a_tone_mapped_8bit_reel(hlg_clip: Path, tmp_path: Path) -> None:
    media = probe(hlg_clip)
    options = HighlightOptions(hdr="sdr", poster=False)
    assert "HDR" in (copy_refusal(media, options) or "")
    out = tmp_path / "reel.mp4"
    info = render(media, segs((0.3, 2.2)), out, options, Reporter())
    assert (info.codec, info.profile, info.notes) == ("h264", "High", ())
    assert stream_colour(out) == ("h264", "avc1", "yuv420p", (1, 1, 1, 1))  # SDR BT.709
    assert len(decode_strict(out)) == 57


def test_h264_asked_for_an_hdr_source_gives_sdr_with_a_note(hlg_clip: Path, tmp_path: Path) -> None:
    media = probe(hlg_clip)
    out = tmp_path / "reel.mp4"
    info = render(media, segs((0.3, 2.2)), out, HighlightOptions(codec="h264"), Reporter())
    assert stream_colour(out) == ("h264", "avc1", "yuv420p", (1, 1, 1, 1))
    assert len(info.notes) == 1 and "SDR" in info.notes[0] and "H.264" in info.notes[0]


def test_pq_hdr_cropped_is_a_full_main10_encode_with_its_tags(tmp_path: Path) -> None:
    src = hdr_clip(tmp_path / "pq.mp4", transfer=16)
    media = probe(src)
    options = HighlightOptions(aspect="1:1", poster=False)
    assert "crops" in (copy_refusal(media, options) or "")
    out = tmp_path / "reel.mp4"
    info = render(media, segs((0.5, 1.5)), out, options, Reporter())
    assert (info.codec, info.profile, info.width, info.height) == ("hevc", "Main 10", 360, 360)
    assert stream_colour(out) == ("hevc", "hvc1", "yuv420p10le", (9, 16, 9, 1))
    frames = decode_strict(out)
    assert len(frames) == 30 and frames[0].format.name == "yuv420p10le"
    colour = source_colour(probe(out))
    assert (colour.master_display, colour.max_cll) == (MASTERING, LIGHT)
