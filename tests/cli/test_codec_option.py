"""``moments highlight --codec``, ``--hdr`` and ``--resolution``: the reel's video codec, whether
an HDR video gives an HDR reel, and how big the reel may be, asked for on the command line."""

from __future__ import annotations

import json
from pathlib import Path

import av
import pytest

from tests.engine.media_factory import make_video

from .test_highlight_command import run_cli


def reel_made(src: Path, duration: str, *flags: str) -> tuple[dict, Path]:
    """(the ``--json`` result, the reel) of ``moments highlight`` on ``src`` with ``flags``,
    which must succeed; both are written beside ``src``."""
    reel, result_json = src.with_name("reel.mp4"), src.with_name("result.json")
    done = run_cli(
        "highlight", str(src), "-o", str(reel), "--duration", duration, "--no-poster",
        *flags, "--json", str(result_json),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(result_json.read_text()), reel


def test_codec_h264_from_an_hevc_clip(tmp_path: Path) -> None:
    src = make_video(tmp_path / "phone.mp4", seconds=4.0, codec="libx265")
    result, reel = reel_made(src, "2", "--codec", "h264")
    assert (result["codec"], result["profile"]) == ("h264", "High")
    assert result["options"]["codec"] == "h264"
    with av.open(str(reel)) as container:
        assert container.streams.video[0].codec_context.name == "h264"


@pytest.mark.parametrize(
    ("flag", "value", "said"),
    [
        ("--codec", "vp9", "codec must be one of auto, h264, hevc"),
        ("--hdr", "dolby", "hdr must be one of keep, sdr"),
        ("--resolution", "8k", "resolution must be one of 720p, 1080p, 4k"),
    ],
)
def test_an_unknown_choice_is_refused(tmp_path: Path, flag: str, value: str, said: str) -> None:
    src = make_video(tmp_path / "clip.mp4", seconds=1.0)
    done = run_cli("highlight", str(src), "-o", str(tmp_path / "r.mp4"), flag, value)
    assert done.returncode == 2
    assert said in done.stderr


def test_help_lists_the_engine_choices() -> None:
    from moments.cli import CODEC_CHOICES, HDR_CHOICES, RESOLUTION_CHOICES
    from moments.engine.models import CODECS, HDR_MODES, RESOLUTIONS

    assert ", ".join(CODECS) == CODEC_CHOICES
    assert ", ".join(HDR_MODES) == HDR_CHOICES
    assert ", ".join(RESOLUTIONS) == RESOLUTION_CHOICES


def test_hdr_sdr_from_an_hlg_clip(tmp_path: Path) -> None:
    # (An HDR reel by default: tests/engine/test_render_hdr_keep.py, tests/service.)
    from tests.engine.test_render_hdr_keep import hdr_clip

    src = hdr_clip(tmp_path / "hlg.mp4")
    result, reel = reel_made(src, "2", "--hdr", "sdr")
    assert result["options"]["hdr"] == "sdr"
    with av.open(str(reel)) as container:
        cc = container.streams.video[0].codec_context
        got = (result["codec"], result["profile"], cc.pix_fmt, cc.color_trc)
    assert got == ("h264", "High", "yuv420p", 1)  # 8-bit BT.709, not HLG


def test_a_1080p_clip_made_into_a_720p_reel(tmp_path: Path) -> None:
    src = make_video(tmp_path / "clip.mp4", seconds=2.0, width=1920, height=1080)
    result, reel = reel_made(src, "1.5", "--resolution", "720p")
    assert result["options"]["resolution"] == "720p"
    assert (result["width"], result["height"]) == (1280, 720)
    with av.open(str(reel)) as container:
        stream = container.streams.video[0]
        assert (stream.width, stream.height) == (1280, 720)
