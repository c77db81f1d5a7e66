"""Audio measurements from a mono 16 kHz signal: excitement, speech, quiet points, muffling."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

RATE = 16_000
N_FFT = 512
HOP = 256
FRAME_STEP = HOP / RATE
"""Seconds between audio frames (16 ms)."""
_FREQS = np.fft.rfftfreq(N_FFT, 1 / RATE)
_WINDOW = np.hanning(N_FFT).astype(np.float32)
_HIGH = _FREQS >= 2000
_VOICE = (_FREQS >= 200) & (_FREQS <= 2000)
_COMPRESS = 50.0
"""log1p(C * magnitude): onsets in quiet rooms still count, room tone stays near zero."""


@dataclass
class AudioFrames:
    """Per audio frame (every ``FRAME_STEP`` s from 0): level, onsets and timbre."""

    level_db: np.ndarray
    flux: np.ndarray
    """Onset strength: summed rise of the compressed spectrum since the previous frame."""
    flatness: np.ndarray
    """Spectral flatness: ~0 for tones and voices, ~0.5 for noise."""
    high_ratio: np.ndarray
    """Share of energy above 2 kHz: claps and cheers are bright, a pocket is muffled."""
    voice_ratio: np.ndarray


class AudioMeter:
    """Feed mono float samples at ``RATE`` in order; frames are analysed as they complete."""

    def __init__(self) -> None:
        self._buffer = np.zeros(0, np.float32)
        self._prev: np.ndarray | None = None
        self._parts: list[tuple[np.ndarray, ...]] = []

    def feed(self, samples: np.ndarray) -> None:
        self._buffer = np.concatenate([self._buffer, samples.astype(np.float32, copy=False)])
        count = (len(self._buffer) - N_FFT) // HOP + 1
        if count < 64:
            return  # analyse in batches: numpy is fast per batch, slow per frame
        self._analyse(count)

    def finish(self) -> AudioFrames:
        count = (len(self._buffer) - N_FFT) // HOP + 1
        if count > 0:
            self._analyse(count)
        if not self._parts:
            empty = np.zeros(0)
            return AudioFrames(empty, empty, empty, empty, empty)
        return AudioFrames(*(np.concatenate(cols) for cols in zip(*self._parts, strict=True)))

    def _analyse(self, count: int) -> None:
        idx = np.arange(N_FFT)[None, :] + HOP * np.arange(count)[:, None]
        frames = self._buffer[idx] * _WINDOW
        self._buffer = self._buffer[count * HOP :]
        mag = np.abs(np.fft.rfft(frames, axis=1)).astype(np.float32)
        power = mag**2 + 1e-12
        total = power.sum(axis=1)
        level_db = 10 * np.log10(total / (N_FFT * 0.375 * N_FFT / 2) + 1e-12)
        comp = np.log1p(_COMPRESS * mag)
        prev = comp[:1] if self._prev is None else self._prev[None, :]
        rise = np.diff(np.concatenate([prev, comp]), axis=0)
        flux = np.maximum(rise, 0).mean(axis=1)
        self._prev = comp[-1]
        flatness = np.exp(np.log(power).mean(axis=1)) / power.mean(axis=1)
        high = power[:, _HIGH].sum(axis=1) / total
        voice = power[:, _VOICE].sum(axis=1) / total
        self._parts.append((level_db, flux, flatness, high, voice))


def moving_mean(x: np.ndarray, width: int) -> np.ndarray:
    """Centred moving average (``width`` samples), same length, edges averaged over what exists."""
    if len(x) == 0 or width <= 1:
        return x.astype(float)
    # np.convolve(mode="same") returns max(len(x), width) samples: never let the kernel be longer.
    kernel = np.ones(min(width, len(x)))
    total = np.convolve(x, kernel, mode="same")
    count = np.convolve(np.ones(len(x)), kernel, mode="same")
    return total / count


def excitement(a: AudioFrames) -> np.ndarray:
    """0..1 per frame: onsets (claps, cheers, shouts) relative to this clip's own level.

    Spectral flux measures *change*, so a loud steady hum scores ~0 however loud it is;
    muffled sound (a pocket) is discounted because real crowd noise is bright.
    """
    if len(a.flux) == 0:
        return a.flux
    smooth = moving_mean(a.flux, round(0.5 / FRAME_STEP))
    # Even steady noise has some flux (random ripples); the clip's calm level is the zero.
    calm = float(np.percentile(smooth, 20))
    reference = max(float(np.percentile(smooth, 98)) - calm, 0.05)
    brightness = np.clip(moving_mean(a.high_ratio, round(0.5 / FRAME_STEP)) / 0.05, 0, 1)
    return np.clip((smooth - calm) / reference, 0, 1) * brightness


def noise_floor(a: AudioFrames) -> float:
    return float(np.percentile(a.level_db, 5)) if len(a.level_db) else -90.0


def voiced(a: AudioFrames) -> np.ndarray:
    """Per frame: a tonal (harmonic) sound well above the floor, mostly in the voice band."""
    floor = noise_floor(a)
    raw = (a.level_db > floor + 15) & (a.flatness < 0.2) & (a.voice_ratio > 0.25)
    return moving_mean(raw.astype(float), 5) > 0.5  # drop flicker shorter than ~50 ms


def speech(a: AudioFrames) -> np.ndarray:
    """Per frame: probably someone talking.

    Talk is voiced sound broken into words: within a second and a half, part of the frames
    are voiced and voicing starts again at least twice. A steady hum is voiced all the time;
    a sound that merely starts or stops starts once.
    """
    if len(a.level_db) == 0:
        return np.zeros(0, bool)
    width = round(1.5 / FRAME_STEP)
    v = voiced(a).astype(float)
    share = moving_mean(v, width)
    onsets = np.diff(np.concatenate([[0.0], v])) > 0
    starts = moving_mean(onsets.astype(float), width) * width
    talk = (share > 0.2) & (share < 0.92) & (starts >= 1.5)
    # Widen by half a second so the first and last words are inside the region.
    return moving_mean(talk.astype(float), round(0.5 / FRAME_STEP) * 2 + 1) > 0


def quiet_points(a: AudioFrames, talk: np.ndarray) -> list[float]:
    """Times of pauses: the middle of each quiet run (and every 0.5 s along long runs)."""
    if len(a.level_db) == 0:
        return []
    floor = noise_floor(a)
    spoken = a.level_db[voiced(a)]
    loud = float(np.median(spoken)) if len(spoken) else float(np.percentile(a.level_db, 90))
    threshold = min(floor + 10.0, loud - 15.0) if loud - floor > 12 else floor + 3.0
    quiet = moving_mean(a.level_db, 3) < threshold
    points: list[float] = []
    edges = np.flatnonzero(np.diff(np.concatenate([[0], quiet.astype(np.int8), [0]])))
    for start, end in zip(edges[::2], edges[1::2], strict=True):
        t0, t1 = start * FRAME_STEP, end * FRAME_STEP
        if t1 - t0 < 0.08:
            continue
        if t1 - t0 > 1.0:
            points.extend(np.arange(t0 + 0.25, t1 - 0.2, 0.5).tolist())
        else:
            points.append(round((t0 + t1) / 2 + N_FFT / RATE / 2, 3))
    # Between words of continuous talk the level dips well below the talk around it.
    level = moving_mean(a.level_db, 3)
    around = moving_mean(a.level_db, round(1.0 / FRAME_STEP))
    half = round(0.15 / FRAME_STEP)
    for i in np.flatnonzero(talk & (level < around - 8.0)):
        lo, hi = max(0, i - half), min(len(level), i + half + 1)
        if level[i] <= level[lo:hi].min() and (not points or i * FRAME_STEP - points[-1] > 0.2):
            points.append(round(i * FRAME_STEP + N_FFT / RATE / 2, 3))
    return sorted(points)
