"""Songs with KNOWN beats for the music tests: click tracks encoded for real (AAC, MP3, FLAC,
WAV) with PyAV. Every fourth click is louder and higher: the bar line."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

RATE = 48_000
CONTAINERS = {".m4a": ("aac", "mp4"), ".mp3": ("mp3", "mp3"), ".flac": ("flac", "flac")}
CONTAINERS[".wav"] = ("pcm_s16le", "wav")
CLICK = 0.1
"""Seconds each click sounds; the song is silent between them."""


def click_track(
    seconds: float, bpm: float = 120.0, first: float = 0.25, tone: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Mono samples at ``RATE`` and the click (beat) times; bar lines are ``beats[::4]``.

    ``tone`` (Hz) adds a steady sine under the clicks (the song's "sustained" part), so its
    level can be read anywhere in a reel, between clicks and under other sound.
    """
    n = round(seconds * RATE)
    out = np.zeros(n)
    t = np.arange(round(CLICK * RATE)) / RATE
    beats = np.arange(first, seconds - 0.05, 60.0 / bpm)
    for k, beat in enumerate(beats):
        accent = k % 4 == 0
        click = (0.6 if accent else 0.3) * np.sin(2 * np.pi * (1760 if accent else 880) * t)
        # A sharp start (the beat), held, then a 10 ms release: a stab rather than a tick, so
        # that the song can be as loud as a reel (-16 LUFS) under the -1 dBTP ceiling.
        click *= np.clip((CLICK - t) / 0.01, 0.0, 1.0)
        i = round(beat * RATE)
        out[i : i + len(click)] += click[: n - i]
    if tone is not None:
        out += 0.1 * np.sin(2 * np.pi * tone * np.arange(n) / RATE)
    return out, beats


def write_song(path: Path, samples: np.ndarray) -> Path:
    """Encode mono ``samples`` at ``RATE`` into ``path`` (its suffix picks the format)."""
    codec, container = CONTAINERS[path.suffix]
    with av.open(str(path), "w", format=container) as out:
        # PyAV converts each frame to what the encoder takes (s16 for WAV, 44.1 kHz for MP3).
        stream = out.add_stream(codec, rate=44_100 if codec == "mp3" else RATE, layout="mono")
        for start in range(0, len(samples), 1024):
            chunk = np.clip(samples[start : start + 1024], -1, 1).astype(np.float32)[None, :]
            frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="mono")
            frame.sample_rate, frame.pts, frame.time_base = RATE, start, Fraction(1, RATE)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def read_sound(path: Path) -> np.ndarray:
    """A file's sound as mono float at ``RATE``."""
    with av.open(str(path)) as container:
        resampler = av.AudioResampler(format="flt", layout="mono", rate=RATE)
        parts = [
            f.to_ndarray().reshape(-1)
            for frame in container.decode(audio=0)
            for f in resampler.resample(frame)
        ]
        parts.extend(f.to_ndarray().reshape(-1) for f in resampler.resample(None))
    return np.concatenate(parts).astype(np.float64)


def read_stereo(path: Path) -> np.ndarray:
    """A reel's sound as stored: ``(2, n)`` float32 (the reel's AAC is stereo fltp)."""
    with av.open(str(path)) as container:
        return np.concatenate([f.to_ndarray() for f in container.decode(audio=0)], axis=1)


def luma(path: Path) -> tuple[np.ndarray, float]:
    """Each picture's mean brightness (0 black .. 255 white) and the frame rate."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        means = [float(f.to_ndarray(format="gray").mean()) for f in container.decode(stream)]
        return np.asarray(means), float(stream.average_rate)


def fades_to_black_over_the_last_beat(path: Path, beat: float) -> None:
    """The reel's pictures go to black over its last beat: darker each frame, the last one
    black, half way there half way through, and untouched a beat and more from the end."""
    means, rate = luma(path)
    frames = round(beat * rate)
    before, fade = means[-frames - 3 : -frames], means[-frames:]
    assert fade[-1] <= 3.0, fade  # black (limited-range 16, shown as 0)
    assert np.all(np.diff(fade) <= 0.5), fade  # darker with each frame
    assert before.min() >= 60.0, before  # the footage as it is, before the fade
    half = fade[frames // 2 - 1] / before[-1]
    assert 0.3 <= half <= 0.7, (half, fade)
