"""The ``moments highlight`` command, run as a person would: a real process on real files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import av
import pytest

AVC_PROFILE_IDC = {"Constrained Baseline": 66, "Baseline": 66, "Main": 77, "High": 100}


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "moments.cli", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_highlight_writes_reel_poster_and_json(media_dir: Path, tmp_path: Path) -> None:
    reel = tmp_path / "reel.mp4"
    result_json = tmp_path / "result.json"
    done = run_cli(
        "highlight", str(media_dir / "example.mp4"), "-o", str(reel),
        "--duration", "10", "--json", str(result_json),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr

    result = json.loads(result_json.read_text())
    assert result["segments"], "a reel of a real clip has segments"
    for segment in result["segments"]:
        assert segment["reason"]
        assert 0 <= segment["source_start"] < segment["source_end"] <= 42.5
        assert set(segment["signals"]) >= {"motion", "audio", "quality"}
    assert result["duration"] <= 10 * 1.05
    assert set(result["timings"]) >= {"probe", "analyse", "select", "render", "total"}

    with av.open(str(reel)) as container:
        assert container.streams.video[0].codec_context.name == "h264"
        assert container.streams.audio[0].codec_context.name == "aac"
        declared = bytes(container.streams.video[0].codec_context.extradata)[1]  # avcC profile
        video_bytes = sum(p.size for p in container.demux(video=0) if p.size)
    # how the reel is encoded, in the JSON and in the line a person reads; the profile is the
    # one the track declares (what players check), which a smart render keeps from its source
    profile = result["profile"]
    assert (result["codec"], AVC_PROFILE_IDC[profile]) == ("h264", declared)
    assert result["bitrate"] == pytest.approx(video_bytes * 8 / result["duration"], rel=0.1)
    said = " ".join(done.stdout.split())
    assert f"h264 {profile} {result['bitrate'] / 1e6:.1f} Mbit/s" in said, done.stdout
    assert Path(result["poster"]).read_bytes()[:3] == b"\xff\xd8\xff"
    # the Rich progress bar names each stage as it runs
    for stage in ("probe", "analyse", "select", "render"):
        assert stage in done.stderr


def test_audio_only_input_fails_with_a_clear_message(media_dir: Path, tmp_path: Path) -> None:
    reel = tmp_path / "reel.mp4"
    done = run_cli("highlight", str(media_dir / "aac.m4a"), "-o", str(reel))
    assert done.returncode == 2
    assert "no video" in done.stderr.lower()
    assert "Traceback" not in done.stderr
    assert not reel.exists()


def test_unknown_aspect_is_refused(media_dir: Path, tmp_path: Path) -> None:
    done = run_cli(
        "highlight", str(media_dir / "testsrc.mp4"), "-o", str(tmp_path / "r.mp4"),
        "--aspect", "4:3",
    )  # fmt: skip
    assert done.returncode == 2
    assert "aspect must be one of" in done.stderr


def test_aspect_help_lists_the_engine_aspects() -> None:
    # The CLI names the choices without importing the engine (kept light for `serve`).
    from moments.cli import ASPECT_CHOICES
    from moments.engine.models import ASPECTS

    assert ", ".join(ASPECTS) == ASPECT_CHOICES


def test_importing_the_cli_does_not_load_the_engine() -> None:
    code = "import sys, moments.cli; print('av' in sys.modules, 'cv2' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.split() == ["False", "False"], done.stderr
