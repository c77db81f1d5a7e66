"""The soundtrack of a reel set to music: the song alone, or the song under the clip's sound.

In ``mix`` the song sits ``BED_DB`` under the clip's own sound and drops a further ``DUCK_DB``
while someone talks (the timeline's speech, mapped into reel time), so words stay clear. Either
way the sound fades out over the reel's last bar (at most ``FADE_OUT``), the picture to black
over its last beat or so (:func:`picture_fade`), both ending with the reel (on a bar line:
:mod:`..beats`), and the whole is normalised to the same loudness as every other reel.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from ..models import MediaInfo, Segment
from ..music import RATE as MUSIC_RATE
from ..music import Music
from .audio import normalise, reel_audio, sample_at
from .layout import Plan
from .loudness import RATE, SILENCE_LUFS, measure

if TYPE_CHECKING:
    from .many import Part

SoundFn = Callable[[MediaInfo, list[Segment], Plan, Callable[[float], None], list[str]], np.ndarray]
"""Makes a reel's ``(2, n)`` soundtrack: (media, segments, plan, tick, notes) -> samples."""

BED_DB = 8.0
"""How far (LU) the song sits under the clip's own sound in ``mix``: heard throughout, never
covering the scene."""
DUCK_DB = 12.0
"""How much further the song drops while someone talks."""
DUCK_AHEAD = 0.15
"""Seconds the song starts dropping before the first word (and stays down after the last)."""
DUCK_HOLD = 0.4
"""Seconds the song stays down after a word: pauses between words do not pump it up."""
DUCK_GLIDE = 0.12
"""Seconds over which the song's level glides down or up (no clicks, no pumping)."""
FADE_OUT = 2.0
"""Longest fade of the sound at the reel's end (one bar, if shorter)."""
PICTURE_FADE = 0.4
"""Shortest fade of the picture to black at the reel's end: a beat, or two of a fast song
(a 0.3 s fade reads as a cut to black, not a fade)."""
BLOCK = RATE // 100
"""Ducking is worked out per 10 ms."""

assert MUSIC_RATE == RATE  # the song is kept at the render's rate: mixed sample for sample


def music_soundtrack(
    music: Music,
    mode: str,
    speech: np.ndarray | None = None,
    step: float = 0.1,
) -> SoundFn:
    """A soundtrack maker for the renderer. ``speech`` is the timeline's per-grid-point talk
    (``step`` seconds apart, source time): where the song is ducked in ``mix``."""

    def make(
        media: MediaInfo,
        segments: list[Segment],
        plan: Plan,
        tick: Callable[[float], None],
        notes: list[str],
    ) -> np.ndarray:
        total = sample_at(plan, plan.total)
        song = np.zeros((2, total), np.float32)
        have = min(total, music.samples.shape[1])
        song[:, :have] = music.samples[:, :have]
        if mode == "mix" and media.has_audio:
            own = reel_audio(media, segments, plan, tick, notes, normalised=False)
            soften_cuts(own, _cuts(plan))
            mixed = _mix(own, song, _talk_mask(segments, plan, total, speech, step))
        else:
            mixed = song
        _fade_out(mixed, sound_fade(music))
        return normalise(mixed, tick=lambda: tick(1.0))

    return make


def music_for_many(
    music: Music, mode: str, speeches: list[tuple[np.ndarray | None, float]]
) -> Callable[[np.ndarray, list[Part]], np.ndarray]:
    """A soundtrack maker for :func:`.many.render_many`: the song alone, or under the clips'
    own sound joined (``speeches``: each clip's speech signal and its grid step, as for
    :func:`music_soundtrack`)."""

    def make(own: np.ndarray, parts: list[Part]) -> np.ndarray:
        total = own.shape[1]
        song = np.zeros((2, total), np.float32)
        have = min(total, music.samples.shape[1])
        song[:, :have] = music.samples[:, :have]
        if mode == "mix" and any(p.media.has_audio for p in parts):
            per_sample = [
                np.repeat(_talk_mask(p.segments, p.plan, p.samples, speech, step), BLOCK)[
                    : p.samples
                ]
                for p, (speech, step) in zip(parts, speeches, strict=True)
            ]
            talking = np.concatenate(per_sample)
            starts = np.cumsum([0] + [p.samples for p in parts])
            soften_cuts(
                own,
                [c + int(at) for p, at in zip(parts, starts, strict=False) for c in _cuts(p.plan)]
                + [int(at) for at in starts[1:-1]],
            )
            blocks = -(-total // BLOCK)
            padded = np.zeros(blocks * BLOCK, bool)
            padded[: len(talking)] = talking
            mixed = _mix(own, song, padded.reshape(blocks, BLOCK).any(axis=1))
        else:
            mixed = song
        _fade_out(mixed, sound_fade(music))
        return normalise(mixed)

    return make


def sound_fade(music: Music) -> float:
    """Seconds over which the sound fades out at the reel's end: its last bar, at most
    ``FADE_OUT``."""
    return min(FADE_OUT, music.bar)


def picture_fade(music: Music) -> float:
    """Seconds over which the picture fades to black at the reel's end: whole beats, at least
    ``PICTURE_FADE``, within the sound's fade (so that both end together, the picture after
    the sound has started to go). No beat: as long as the sound's fade, up to a second."""
    if not music.steady:
        return min(1.0, sound_fade(music))
    beat = 60.0 / music.tempo
    return min(sound_fade(music), beat * max(1, math.ceil(PICTURE_FADE / beat - 1e-9)))


def duck_gain(talking: np.ndarray) -> np.ndarray:
    """Per 10 ms block: the song's gain (1 = full) given where someone talks."""
    if not talking.any():
        return np.ones(len(talking), np.float32)
    ahead, hold = round(DUCK_AHEAD / 0.01), round(DUCK_HOLD / 0.01)
    down = talking.astype(np.float32)
    # Widened: ahead of each word and held after it (a running max over the window).
    padded = np.pad(down, (hold, ahead))
    windows = np.lib.stride_tricks.sliding_window_view(padded, hold + ahead + 1)
    down = windows.max(axis=1)
    glide = max(1, round(DUCK_GLIDE / 0.01))
    down = np.convolve(down, np.ones(glide) / glide, mode="same")
    return (10 ** (-DUCK_DB * down / 20)).astype(np.float32)


def _talk_mask(
    segments: list[Segment], plan: Plan, total: int, speech: np.ndarray | None, step: float
) -> np.ndarray:
    """Per 10 ms block of the reel: someone is talking (from the source's speech signal)."""
    blocks = -(-total // BLOCK)
    mask = np.zeros(blocks, bool)
    if speech is None or not len(speech):
        return mask
    for index, segment in enumerate(segments):
        first = sample_at(plan, plan.starts[index]) // BLOCK
        last = min(blocks, sample_at(plan, plan.starts[index] + plan.frames[index]) // BLOCK)
        times = segment.source_start + (np.arange(first, last) - first) * 0.01
        at = np.clip(np.round(times / step).astype(int), 0, len(speech) - 1)
        mask[first:last] |= np.asarray(speech, dtype=bool)[at]
    return mask


def _mix(own: np.ndarray, song: np.ndarray, talking: np.ndarray) -> np.ndarray:
    """The clip's sound with the song ``BED_DB`` under it, ducked while someone talks."""
    own_level = measure(own, peak=False).integrated
    song_level = measure(song, peak=False).integrated
    if own_level <= SILENCE_LUFS or song_level <= SILENCE_LUFS:
        return own + song  # nothing to sit under (or no song): as they are
    bed = np.float32(10 ** ((own_level - BED_DB - song_level) / 20))
    gain = duck_gain(talking)
    per_sample = np.repeat(gain, BLOCK)[: song.shape[1]]
    if len(per_sample) < song.shape[1]:
        per_sample = np.pad(per_sample, (0, song.shape[1] - len(per_sample)), mode="edge")
    return own + song * bed * per_sample


SOFT_CUT = 0.005
"""Seconds the clip's own sound fades out and back in at a hard cut: a waveform cut mid-swing
clicks (a 1 kHz tone jumps by up to its full swing between two samples)."""


def soften_cuts(samples: np.ndarray, cuts: list[int]) -> None:
    """Fade ``samples`` out over ``SOFT_CUT`` before each cut (a sample index) and in after."""
    n = round(SOFT_CUT * RATE)
    ramp = np.sin(np.linspace(0, np.pi / 2, n, dtype=np.float32))
    for cut in cuts:
        before = samples[:, max(0, cut - n) : cut]
        before *= ramp[::-1][n - before.shape[1] :]
        after = samples[:, cut : cut + n]
        after *= ramp[: after.shape[1]]


def _cuts(plan: Plan) -> list[int]:
    """Samples where a plan's segments join without a crossfade (hard cuts)."""
    if plan.fade:
        return []
    return [sample_at(plan, start) for start in plan.starts[1:]]


def _fade_out(samples: np.ndarray, seconds: float) -> None:
    """A gentle (equal-power) fade to silence over the last ``seconds``."""
    n = min(samples.shape[1], round(seconds * RATE))
    if n > 1:
        samples[:, -n:] *= np.cos(np.linspace(0, np.pi / 2, n, dtype=np.float32))
