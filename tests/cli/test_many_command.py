"""``moments highlight a.mp4 b.mp4 c.mp4 -o reel.mp4 --music song.m4a --music-mode mix``: one
reel of several clips, set to music under their own sound, run as a person would."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from tests.engine.music_factory import click_track, fades_to_black_over_the_last_beat, write_song
from tests.engine.synth import ShotSpec, make_video

from .test_highlight_command import run_cli
from .test_music_command import between_clicks


def test_several_clips_make_one_reel_cut_to_the_music(tmp_path: Path) -> None:
    clips = []
    for name, seed in (("a.mp4", 10), ("b.mp4", 20), ("c.mp4", 30)):
        shots = [ShotSpec("dull", 1.5, seed + 1), ShotSpec("highlight", 3, seed)]
        make_video(tmp_path / name, shots, size=(160, 90))
        clips.append(tmp_path / name)
    song, beats = click_track(20.0, bpm=120.0, first=0.25)
    write_song(tmp_path / "song.m4a", song)
    reel, result_json = tmp_path / "reel.mp4", tmp_path / "reel.json"
    done = run_cli(
        "highlight", *map(str, clips), "-o", str(reel), "--duration", "8", "--no-poster",
        "--music", str(tmp_path / "song.m4a"), "--music-mode", "mix",
        "--json", str(result_json),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(result_json.read_text())
    # No capture times: the clips stay in the order given, each one in the reel.
    names = [Path(result["clips"][s["clip"]]["path"]).name for s in result["segments"]]
    assert list(dict.fromkeys(names)) == ["a.mp4", "b.mp4", "c.mp4"]
    # Cuts, between clips too, on the song's beats; the reel ends on one.
    cuts = [s["output_start"] for s in result["segments"][1:]] + [result["duration"]]
    assert max(float(np.abs(beats - t).min()) for t in cuts) <= 0.040
    # It ends on a bar line (every fourth click), the picture fading to black over the last
    # beat as the song fades out.
    assert float(np.abs(beats[::4] - result["duration"]).min()) <= 0.040
    fades_to_black_over_the_last_beat(reel, 0.5)
    # Mixed: the clips' claps and cheering go on between the song's clicks.
    assert result["options"]["music_mode"] == "mix"
    assert between_clicks(reel, beats, result["duration"]) > -40.0
    # The table the person reads names each segment's clip.
    for name in ("a.mp4", "b.mp4", "c.mp4"):
        assert name in done.stdout
