"""``moments highlight ... --music song.m4a [--music-mode mix]``, run as a person would."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest

from tests.engine.music_factory import CLICK, RATE, click_track, read_sound, write_song
from tests.engine.synth import ShotSpec, make_video

from .test_highlight_command import run_cli


@pytest.fixture(scope="module")
def clip_and_song(tmp_path_factory) -> tuple[Path, Path, np.ndarray]:
    folder = tmp_path_factory.mktemp("cli-music")
    shots = [ShotSpec("highlight", 4, 10), ShotSpec("dull", 3, 1), ShotSpec("highlight", 4, 30)]
    make_video(folder / "clip.mp4", shots, size=(160, 90))
    song, beats = click_track(20.0, bpm=120.0, first=0.25)
    write_song(folder / "song.m4a", song)
    return folder / "clip.mp4", folder / "song.m4a", beats


def between_clicks(reel: Path, beats: np.ndarray, duration: float) -> float:
    """dBFS of the reel where the song is silent (between its clicks, before the fade)."""
    sound = read_sound(reel)
    gaps = [
        sound[round((a + CLICK + 0.05) * RATE) : round((b - 0.04) * RATE)]
        for a, b in itertools.pairwise(beats)
        if b < duration - 2.0
    ]
    return 10 * np.log10(np.mean([(g**2).mean() for g in gaps]) + 1e-20)


def test_music_reaches_the_reel(clip_and_song, tmp_path: Path) -> None:
    # (--music-mode mix: tests/cli/test_many_command.py, which also sets a reel to music.)
    clip, song, beats = clip_and_song
    mode = "replace"
    reel, result_json = tmp_path / "reel.mp4", tmp_path / "reel.json"
    done = run_cli(
        "highlight", str(clip), "-o", str(reel), "--duration", "8", "--no-poster",
        "--music", str(song), "--music-mode", mode, "--json", str(result_json),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(result_json.read_text())
    assert result["options"]["music"] == str(song)
    assert result["options"]["music_mode"] == mode
    cuts = [s["output_start"] for s in result["segments"][1:]] + [result["duration"]]
    assert max(float(np.abs(beats - t).min()) for t in cuts) <= 0.040
    # The song alone: silence between its clicks (the clip's claps and cheering are not heard).
    assert between_clicks(reel, beats, result["duration"]) < -50.0


def test_music_that_cannot_be_read_fails_in_words(clip_and_song, tmp_path: Path) -> None:
    clip, _, _ = clip_and_song
    bad = tmp_path / "song.mp3"
    bad.write_bytes(b"ID3" + bytes(4000))
    reel = tmp_path / "reel.mp4"
    done = run_cli("highlight", str(clip), "-o", str(reel), "--music", str(bad))
    assert done.returncode == 2
    assert "song.mp3: is not music we can read" in " ".join(done.stderr.split())
    assert "Traceback" not in done.stderr
    assert not reel.exists()


def test_unknown_music_mode_is_refused(clip_and_song, tmp_path: Path) -> None:
    clip, song, _ = clip_and_song
    done = run_cli(
        "highlight", str(clip), "-o", str(tmp_path / "r.mp4"),
        "--music", str(song), "--music-mode", "duck",
    )  # fmt: skip
    assert done.returncode == 2
    assert "music_mode must be one of replace, mix" in " ".join(done.stderr.split())


def test_music_mode_help_lists_the_engine_modes() -> None:
    from moments.cli import MUSIC_MODE_CHOICES
    from moments.engine.models import MUSIC_MODES

    assert ", ".join(MUSIC_MODES) == MUSIC_MODE_CHOICES
