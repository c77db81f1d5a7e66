"""The reel's sound worker: what it makes reaches the file, its errors reach the render, and
it stops when the render ends early."""

from __future__ import annotations

import threading
from pathlib import Path

import av
import numpy as np
import pytest

from moments.engine.render.loudness import RATE
from moments.engine.render.soundtrack import ReelSound, SoundTrack


def _output(tmp_path: Path) -> av.container.OutputContainer:
    return av.open(str(tmp_path / "sound.mp4"), "w", format="mp4")


def test_the_soundtrack_made_on_the_worker_is_muxed_whole(tmp_path: Path) -> None:
    samples = RATE  # one second
    tone = np.sin(np.arange(samples) * 2 * np.pi * 440 / RATE).astype(np.float32) * 0.3
    out = _output(tmp_path)
    track = SoundTrack(out, ReelSound(samples, lambda tick: np.stack([tone, tone])))
    try:
        for k in range(1, 31):
            track.keep_ahead_of(k / 30)
        track.finish()
    finally:
        track.close()
        out.close()
    with av.open(str(tmp_path / "sound.mp4")) as container:
        decoded = np.concatenate([f.to_ndarray()[0] for f in container.decode(audio=0)])
    assert abs(len(decoded) - samples) <= 2048  # AAC priming/padding aside
    assert 0.25 < float(np.abs(decoded).max()) < 0.35


def test_an_error_making_the_sound_reaches_the_render(tmp_path: Path) -> None:
    def broken(tick):
        raise ValueError("no sound today")

    out = _output(tmp_path)
    track = SoundTrack(out, ReelSound(RATE, broken))
    try:
        with pytest.raises(ValueError, match="no sound today"):
            track.keep_ahead_of(0.5)
    finally:
        track.close()
        out.close()


def test_closing_stops_the_worker_while_it_makes_the_sound(tmp_path: Path) -> None:
    started = threading.Event()

    def endless(tick):
        started.set()
        while True:
            tick(0.0)  # raises once the render is over

    out = _output(tmp_path)
    track = SoundTrack(out, ReelSound(RATE, endless))
    assert started.wait(10)
    track.close()
    out.close()
    assert not [t for t in threading.enumerate() if t.name == "aac" and t.is_alive()]
