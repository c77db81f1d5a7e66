"""A song for the reel: read safely, and its beats and bar lines found.

The song is read whole (PyAV, resampled to the render's 48 kHz stereo) once, before selection:
its length caps the reel's, and its beats are where the cuts go. Beats come from librosa's beat
tracker (dynamic programming over an onset envelope; no model weights), then each is moved onto
the sharp rise of the sound within a few milliseconds, since the tracker's grid is one analysis
hop (11.6 ms) coarse and lags a click by ~16 ms. Bar lines assume four beats to the bar (nearly
all pop music) and take the phase whose beats are the most accented.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
from filelock import FileLock, Timeout

from .errors import EngineError
from .models import Limits

log = logging.getLogger(__name__)

RATE = 48_000
"""Samples per second of the song as kept: the render's rate, so it mixes without resampling."""
MUSIC_FORMATS = "mp3,aac,wav,flac,mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,ogg"
"""FFmpeg demuxers a song may come in; anything else (playlists, concat...) is refused unread."""
ACCEPTED = "MP3, AAC/M4A, WAV or FLAC"
MIN_SECONDS = 3.0
"""A song shorter than this has too few beats to cut to."""
MAX_SECONDS = 660.0
"""Most of a song read: the longest reel (600 s) and a bar or two past it."""
ANALYSIS_RATE = 22_050
HOP = 256
"""Onset envelope hop at ``ANALYSIS_RATE``: 11.6 ms."""
BEATS_PER_BAR = 4
PULSE = 0.5
"""Least mean onset strength (dB of spectral flux) at the tracked beats for them to be a beat.
The tracker finds a "beat" in anything; at its beats a steady two-note drone measures 0.18,
recorded talk 1.7, the short songs in shared/media 3.9-4.6, click tracks 11-13."""
REFINE = 0.035
"""Seconds either side of a tracked beat searched for the onset it stands for."""
OPEN_TIMEOUT = 10.0


@dataclass(frozen=True)
class Music:
    """A song, decoded, with where its beats and bar lines fall (seconds from its start)."""

    path: Path
    samples: np.ndarray
    """``(2, n)`` float32 stereo at ``RATE``."""
    tempo: float
    """Beats per minute."""
    beats: np.ndarray
    downbeats: np.ndarray
    """The beats that start a bar."""

    @property
    def duration(self) -> float:
        return self.samples.shape[1] / RATE

    @property
    def bar(self) -> float:
        """Seconds per bar."""
        return BEATS_PER_BAR * 60.0 / self.tempo

    @property
    def steady(self) -> bool:
        """Whether it has a beat to cut to (two bars' worth were found)."""
        return len(self.beats) >= 2 * BEATS_PER_BAR


def load_music(path: Path | str, limits: Limits | None = None) -> Music:
    """Read the song at ``path`` and find its beats (none, when it has no steady beat: see
    ``Music.steady``). Raises EngineError for a person when the file is not a song that can
    be read."""
    path = Path(path)
    samples = read_music(path, limits or Limits())
    tempo, beats, downbeats = find_beats(samples)
    if len(beats) < 2 * BEATS_PER_BAR:  # a drone, a pad, a voice: heard, but not cut to
        beats, downbeats = np.zeros(0), np.zeros(0)
    return Music(path, samples, tempo, beats, downbeats)


def read_music(path: Path, limits: Limits) -> np.ndarray:
    """The first ``MAX_SECONDS`` of the song's sound as ``(2, n)`` float32 at ``RATE``."""
    if not path.is_file():
        raise EngineError("no such music file", file=path.name)
    size = path.stat().st_size
    if size == 0:
        raise EngineError("the music file is empty", file=path.name)
    if size > limits.max_file_bytes:
        raise EngineError("the music file is too big", file=path.name)
    options = {
        "format_whitelist": MUSIC_FORMATS,
        "protocol_whitelist": "file",
        "enable_drefs": "0",
        "use_absolute_path": "0",
    }
    unreadable = (
        f"is not music we can read: it is damaged or not in a format we accept ({ACCEPTED})"
    )
    try:
        container = av.open(str(path), mode="r", options=options, timeout=OPEN_TIMEOUT)
    except (av.error.FFmpegError, OSError) as exc:
        log.info("opening music %s failed: %r", path, exc)
        raise EngineError(unreadable, file=path.name) from exc
    chunks: list[np.ndarray] = []
    have, bad = 0, 0
    with container:
        if not container.streams.audio:
            raise EngineError("has no sound to set the reel to", file=path.name)
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="fltp", layout="stereo", rate=RATE)
        try:
            for packet in container.demux(stream):
                try:
                    frames = packet.decode()
                except av.error.FFmpegError:
                    bad += 1
                    continue
                for frame in frames:
                    for out in resampler.resample(frame):
                        chunks.append(out.to_ndarray())
                        have += chunks[-1].shape[1]
                if have >= MAX_SECONDS * RATE:
                    break
        except av.error.FFmpegError as exc:
            log.info("reading music %s failed: %r", path, exc)
            if not chunks:
                raise EngineError(unreadable, file=path.name) from exc
    if not chunks:
        raise EngineError(unreadable, file=path.name)
    samples = np.concatenate(chunks, axis=1)[:, : round(MAX_SECONDS * RATE)]
    if samples.shape[1] < MIN_SECONDS * RATE:
        raise EngineError(
            f"the music is {samples.shape[1] / RATE:.1f} s long; at least "
            f"{MIN_SECONDS:.0f} s is needed",
            file=path.name,
        )
    if not np.isfinite(samples).all() or float(np.abs(samples).max()) < 1e-4:
        raise EngineError("the music is silent", file=path.name)
    if bad:
        log.info("music %s: %d damaged packets skipped", path.name, bad)
    return np.ascontiguousarray(samples, dtype=np.float32)


KERNELS_LOCK = Path(tempfile.gettempdir()) / "moments-librosa-kernels.lock"
"""Held by the process importing librosa and tracking its first beats: that compiles librosa's
numba kernels and writes them to numba's cache, which two processes doing so at once can
leave broken (numba issue 10128: a gufunc and its kernel cached by different processes), so
that every later import crashes (a working copy's music reels died with SIGSEGV until the
cache was deleted). The job processes of one machine share the cache; one at a time fills it."""
_kernels_ready = False
"""This process has tracked beats once: its kernels are compiled or loaded, nothing more is
written to the cache."""


def find_beats(samples: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """(tempo in BPM, beat times, downbeat times) of ``(2, n)`` samples at ``RATE``."""
    global _kernels_ready
    if _kernels_ready:
        return _track(samples)
    with _one_process_at_a_time():
        found = _track(samples)
    _kernels_ready = True
    return found


@contextmanager
def _one_process_at_a_time() -> Iterator[None]:
    """Hold ``KERNELS_LOCK`` (waiting for it, and saying so, if another process has it)."""
    lock: FileLock | None = FileLock(KERNELS_LOCK)
    try:
        try:
            lock.acquire(timeout=0)
        except Timeout:
            log.info("waiting for another process to finish compiling librosa's kernels")
            lock.acquire()
    except OSError as exc:  # a lock file this user may not open (another user's): go on
        log.info("no lock on %s (%r)", KERNELS_LOCK, exc)
        lock = None
    try:
        yield
    finally:
        if lock is not None:
            lock.release()


def _track(samples: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    # librosa imports late: its first import compiles its numba kernels (~3.5 s, once a
    # process), which only reels with music should pay.
    import librosa

    mono = samples.mean(axis=0)
    low = librosa.resample(mono, orig_sr=RATE, target_sr=ANALYSIS_RATE, res_type="polyphase")
    envelope = librosa.onset.onset_strength(y=low, sr=ANALYSIS_RATE, hop_length=HOP)
    tempo, frames = librosa.beat.beat_track(
        onset_envelope=envelope, sr=ANALYSIS_RATE, hop_length=HOP, units="frames"
    )
    tempo = float(np.atleast_1d(tempo)[0])
    frames = np.asarray(frames, dtype=int)
    if len(frames) < 2 or not tempo > 0:
        return max(tempo, 1.0), np.zeros(0), np.zeros(0)
    beats = librosa.frames_to_time(frames, sr=ANALYSIS_RATE, hop_length=HOP)
    beats = _extend(beats, samples.shape[1] / RATE)
    beats = np.asarray([_onset_near(mono, t) for t in beats])
    beats = np.unique(np.round(beats, 4))
    tempo = 60.0 / float(np.median(np.diff(beats)))
    # How hard each beat hits: the onset envelope's peak within two hops of it (the envelope
    # lags the attack by about a hop).
    at = np.clip(np.round(beats * ANALYSIS_RATE / HOP).astype(int), 0, len(envelope) - 1)
    padded = np.pad(envelope, 2)
    strength = np.asarray([padded[i : i + 5].max() for i in at])
    if float(strength.mean()) < PULSE:  # what the tracker found is no beat anyone hears
        return tempo, np.zeros(0), np.zeros(0)
    phases = range(min(BEATS_PER_BAR, len(beats)))
    phase = int(np.argmax([strength[p::BEATS_PER_BAR].mean() for p in phases]))
    return tempo, beats, beats[phase::BEATS_PER_BAR]


def _extend(beats: np.ndarray, duration: float) -> np.ndarray:
    """The tracked beats, carried on at their median spacing to the song's two ends: the
    tracker leaves out the first and last few beats, where it cannot be sure."""
    period = float(np.median(np.diff(beats)))
    before = np.arange(beats[0] - period, -REFINE, -period)[::-1]
    after = np.arange(beats[-1] + period, duration - period / 4, period)
    return np.concatenate([before, beats, after])


def _onset_near(mono: np.ndarray, t: float) -> float:
    """The time of the sharpest rise of the sound within ``REFINE`` of ``t`` (``t`` itself
    when nothing rises there): a click's attack, a drum hit."""
    hop = RATE // 1000  # 1 ms
    lo = max(0, round((t - REFINE) * RATE) - 4 * hop)
    hi = min(len(mono), round((t + REFINE) * RATE) + hop)
    if hi - lo < 16 * hop:
        return max(0.0, t)
    part = np.abs(mono[lo:hi])
    blocks = part[: len(part) // hop * hop].reshape(-1, hop).max(axis=1)
    level = np.log10(blocks + 1e-5)
    rise = level[4:] - level[:-4]  # over 4 ms
    i = int(np.argmax(rise))
    if rise[i] < 0.5:  # less than 10 dB: no attack here
        return max(0.0, t)
    return max(0.0, (lo + (i + 4) * hop + hop / 2) / RATE)  # the middle of the first loud ms
