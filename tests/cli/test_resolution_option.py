"""``moments highlight --resolution``: how big the reel may be, asked on the command line (an
unknown size: ``test_codec_option``)."""

from __future__ import annotations

import json
from pathlib import Path

import av

from tests.engine.media_factory import make_video

from .test_highlight_command import run_cli


def test_a_1080p_clip_made_into_a_720p_reel(tmp_path: Path) -> None:
    src = make_video(tmp_path / "clip.mp4", seconds=2.0, width=1920, height=1080)
    reel, result_json = tmp_path / "reel.mp4", tmp_path / "result.json"
    done = run_cli(
        "highlight", str(src), "-o", str(reel), "--duration", "1.5", "--no-poster",
        "--resolution", "720p", "--json", str(result_json),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(result_json.read_text())
    assert result["options"]["resolution"] == "720p"
    assert (result["width"], result["height"]) == (1280, 720)
    with av.open(str(reel)) as container:
        stream = container.streams.video[0]
        assert (stream.width, stream.height) == (1280, 720)
