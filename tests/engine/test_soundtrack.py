"""The reel's sound worker: what it makes reaches the file, its errors reach the render, and
it stops when the render ends early."""

from __future__ import annotations

import threading
from pathlib import Path

import av
import numpy as np
import pytest

from moments.engine.render.loudness import RATE
from moments.engine.render.soundtrack import LAG, ReelSound, SoundTrack


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
            # The video may run LAG seconds ahead of the sound before it waits for it.
            track.keep_ahead_of(LAG + 0.5)
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


def test_the_video_waits_for_the_sound_only_beyond_the_lag(tmp_path: Path) -> None:
    release = threading.Event()

    def slow(tick):
        while not release.wait(0.01):
            tick(0.0)
        return np.zeros((2, RATE * 20), np.float32)

    out = _output(tmp_path)
    track = SoundTrack(out, ReelSound(RATE * 20, slow))
    try:
        track.keep_ahead_of(LAG - 1.0)  # returns although no sound is made yet
        waiter = threading.Thread(target=track.keep_ahead_of, args=(LAG + 1.0,))
        waiter.start()
        waiter.join(0.3)
        assert waiter.is_alive()  # beyond the lag it waits for the sound...
        release.set()
        waiter.join(10)
        assert not waiter.is_alive()  # ...until it is there
        track.finish()
    finally:
        release.set()
        track.close()
        out.close()
