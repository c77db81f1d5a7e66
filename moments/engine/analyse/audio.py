"""Audio measurements from a mono 16 kHz signal: excitement, speech, music, quiet points,
muffling."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import voice as vad

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
    voice: np.ndarray
    """Probability (0..1) that someone is talking, from the voice-activity model."""


class AudioMeter:
    """Feed mono float samples at ``RATE`` in order; frames are analysed as they complete."""

    def __init__(self) -> None:
        self._buffer = np.zeros(0, np.float32)
        self._prev: np.ndarray | None = None
        self._parts: list[tuple[np.ndarray, ...]] = []
        self._voice = vad.VoiceDetector()

    def feed(self, samples: np.ndarray) -> None:
        self._voice.feed(samples)
        self._buffer = np.concatenate([self._buffer, samples.astype(np.float32, copy=False)])
        count = (len(self._buffer) - N_FFT) // HOP + 1
        if count < 64:
            return  # analyse in batches: numpy is fast per batch, slow per frame
        self._analyse(count)

    def finish(self) -> AudioFrames:
        count = (len(self._buffer) - N_FFT) // HOP + 1
        if count > 0:
            self._analyse(count)
        scores = self._voice.finish()
        if not self._parts:
            empty = np.zeros(0)
            return AudioFrames(empty, empty, empty, empty, empty, empty)
        cols = [np.concatenate(col) for col in zip(*self._parts, strict=True)]
        # Each frame takes the score of the model's window around its centre.
        centre = np.arange(len(cols[0])) * FRAME_STEP + N_FFT / RATE / 2
        at = np.minimum((centre / vad.WINDOW_SECONDS).astype(int), len(scores) - 1)
        voice = scores[at] if len(scores) else np.zeros(len(centre), np.float32)
        return AudioFrames(*cols, voice)

    def close(self) -> None:
        """Stop the voice model's thread (analysis cancelled or failed)."""
        self._voice.close()

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
    half = round(0.5 / FRAME_STEP)
    smooth = moving_mean(a.flux, half)
    # Even steady noise has some flux (random ripples); the clip's calm level is the zero.
    # Digital silence (edited-in gaps) has none and is no part of the calm: with it counted,
    # a quiet room's tone read as a cheering crowd (0.5) beside it.
    audible = a.level_db > DIGITAL_SILENCE
    heard = smooth[audible] if audible.sum() >= 0.1 * len(smooth) else smooth
    calm = float(np.percentile(heard, 20))
    reference = max(float(np.percentile(heard, 98)) - calm, 0.05)
    brightness = np.clip(moving_mean(a.high_ratio, half) / 0.05, 0, 1)
    # Only what rises above the room's own noise: its ripples are nobody's excitement.
    above = np.clip((moving_mean(a.level_db, half) - noise_floor(a) - 6.0) / 10.0, 0, 1)
    return np.clip((smooth - calm) / reference, 0, 1) * brightness * above


DIGITAL_SILENCE = -100.0
"""dBFS below which a frame is digital silence (edited-in gaps): no part of the room's noise."""


def noise_floor(a: AudioFrames) -> float:
    """The level of the room's own noise: the quiet end of what is audible at all. Digital
    silence is left out, or a clip with an edited-in gap would have its floor at -120 dB and
    every pause in its talk would be 'loud'."""
    audible = a.level_db[a.level_db > DIGITAL_SILENCE]
    if len(audible) >= 0.1 * len(a.level_db) and len(audible):
        return float(np.percentile(audible, 5))
    return float(np.percentile(a.level_db, 5)) if len(a.level_db) else -90.0


def voiced(a: AudioFrames) -> np.ndarray:
    """Per frame: a tonal (harmonic) sound well above the floor, mostly in the voice band."""
    floor = noise_floor(a)
    raw = (a.level_db > floor + 15) & (a.flatness < 0.2) & (a.voice_ratio > 0.25)
    return moving_mean(raw.astype(float), 5) > 0.5  # drop flicker shorter than ~50 ms


SPEECH_ON = 0.5
SPEECH_OFF = 0.35
"""The model's usual thresholds: talk starts at 0.5 and goes on while the score stays above
0.35 (a hysteresis, so a word's quieter end is not cut off)."""
MIN_TALK = 1.0
"""Seconds: a shorter burst of voice is a word called out, a cough or a shout, not talk."""
FAINT_TALK = 30.0
"""dB below the clip's typical talk level at which voice is no longer taken for talk."""
SOFT = 24.0
WORD_GAP_FRAMES = 5
"""A gap between two words of fluent talk: this many frames (80 ms) ``SOFT`` dB or more under
the clip's typical talk. The trough between two syllables of one word is shorter or
shallower (10-15 dB on example.mp4)."""
LOUD = -45.0
"""dBFS from which sound is plainly audible, whatever the clip's own floor."""
MUSIC_WINDOW = 3.0
"""Seconds over which music is judged: a note or a chord is too short to tell it from a vowel."""
MUSIC_OVER_FLOOR = 6.0
"""dB over the room's noise from which sound may be music (or, if lower, ``LOUD``)."""


def speech(a: AudioFrames) -> np.ndarray:
    """Per frame: probably someone talking (the voice model's verdict, not music).

    Singing over music also scores as voice, now and then: where the sound is music and the
    model is not sure (below 0.85 on average), it is music.
    """
    if len(a.level_db) == 0:
        return np.zeros(0, bool)
    p = a.voice
    talk = _hysteresis(p >= SPEECH_ON, p >= SPEECH_OFF)
    if talk.any():
        # Far quieter than the clip's talk is a sound off, not someone speaking to the camera.
        level = moving_mean(a.level_db, round(0.5 / FRAME_STEP))
        talk &= level > float(np.median(a.level_db[talk])) - FAINT_TALK
    talk &= _runs_at_least(talk, round(MIN_TALK / FRAME_STEP))
    talk &= ~(music(a) & ~_sure_runs(talk, p))
    # Widen by half a second so the first and last words are inside the region.
    return moving_mean(talk.astype(float), round(0.5 / FRAME_STEP) * 2 + 1) > 0


SURE = 0.85
"""Mean voice probability over a run of talk from which the model is sure of it, music or not."""


def _sure_runs(talk: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Per frame: inside a run of ``talk`` over which the model is sure (``SURE`` on average).
    Judged over the run, not a window around each frame: talk over a song (a party, a car
    radio) lost its first and last words to the song, whose window took in the quiet before
    them (example.mp4 over a music bed 12 dB down: 80% of its talk frames kept, now 95%, as
    many as alone, 93%; at 0 dB 69% before). A song alone, or singing the model doubts, stays
    music: its runs of "talk" are not sure throughout."""
    out = np.zeros(len(talk), bool)
    for a, b in runs(talk):
        out[a:b] = float(np.mean(p[a:b])) >= SURE
    return out


def music(a: AudioFrames) -> np.ndarray:
    """Per frame: probably music. Music holds notes: the sound stays tonal and loud for
    seconds, where talk breaks into words with quiet dips between them and crowd noise and
    wind are noise (flat spectra)."""
    if len(a.level_db) == 0:
        return np.zeros(0, bool)
    width = round(MUSIC_WINDOW / FRAME_STEP)
    # Clear of the room's noise, or simply loud: in a clip that is all music, the "floor"
    # is the music's own quiet moments. A soft score counts too: a trailer's title music at
    # -48 to -57 dBFS over a floor of -65.5 was, at 15 dB over the floor, "audible" only in
    # its loudest seconds, so never held, never music, and its onsets made the title
    # sequence "lively sound" that opened the reel.
    audible = a.level_db > max(min(noise_floor(a) + MUSIC_OVER_FLOOR, LOUD), -70.0)
    tonal = moving_mean((audible & (a.flatness < 0.25)).astype(float), width)
    level = moving_mean(a.level_db, 3)
    around = moving_mean(a.level_db, round(1.0 / FRAME_STEP))
    dips = moving_mean((audible & (level < around - 10.0)).astype(float), width)
    held = moving_mean(audible.astype(float), width)
    # A hum (a fridge, an engine) is tonal and held too, but never changes: music moves.
    spread = np.sqrt(np.maximum(moving_mean(level**2, width) - moving_mean(level, width) ** 2, 0))
    core = (
        (tonal > 0.6)
        & (held > 0.9)
        & (dips < 0.06)
        & (spread > 1.5)
        & (moving_mean(a.voice, width) < SURE)
    )
    # Judged over a window, music is found only from about half a window after it starts to
    # half a window before it ends. Widening it over what is heard around it took a steady
    # hum beside a change of sound for music: over a card, a trailer's music counts for
    # nothing anyway (see ``select.interest``).
    return core


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, end) indices (end exclusive) of each run of True in ``mask``."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], np.asarray(mask, np.int8), [0]])))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


def _hysteresis(on: np.ndarray, stay: np.ndarray) -> np.ndarray:
    """True from each frame in ``on`` for as long as ``stay`` holds (both ways in time)."""
    out = np.zeros(len(on), bool)
    for a, b in runs(stay):
        if on[a:b].any():
            out[a:b] = True
    return out


def _runs_at_least(x: np.ndarray, length: int) -> np.ndarray:
    """``x`` without its runs of True shorter than ``length`` frames."""
    out = x.copy()
    for a, b in runs(x):
        if b - a < length:
            out[a:b] = False
    return out


def _middles(mask: np.ndarray) -> list[float]:
    """Times (seconds, at frame centres) of the middle of each run of True in ``mask``."""
    return [round((a + b) / 2 * FRAME_STEP + N_FFT / RATE / 2, 3) for a, b in runs(mask)]


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
    for start, end in runs(quiet):
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
    # Gaps between words of fluent talk: short, but well under the talk around them.
    typical = float(np.median(a.level_db[talk])) if talk.any() else 0.0
    points += _middles(_runs_at_least(talk & (level < typical - SOFT), WORD_GAP_FRAMES))
    # Where the voice model hears a breath between phrases.
    points += _middles(_runs_at_least(talk & (a.voice < SPEECH_OFF), 3))
    return sorted(points)
