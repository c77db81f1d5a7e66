"""The reel's soundtrack: segment audio cut to the video frames, crossfaded and normalised."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable

import av
import numpy as np

from ..models import MediaInfo, Segment
from ..probe import reopen
from .layout import Plan
from .loudness import RATE, SILENCE_LUFS, limit, measure

log = logging.getLogger(__name__)

TARGET_LUFS = -16.0
"""Integrated loudness of every reel: the usual target for phone and web playback."""
TRUE_PEAK_CEILING = 10 ** (-1.0 / 20)
"""-1 dBTP, so AAC encoding and players' resamplers do not clip."""
MAX_GAIN_DB = 30.0
"""A whisper-quiet clip is lifted at most this much, so hiss is not turned into a roar."""


def sample_at(plan: Plan, frame: int) -> int:
    """The audio sample where output video frame ``frame`` starts: keeps sound on the frame."""
    return round(frame * RATE / plan.rate)


DAMAGED_NOTE = 0.1
"""Share of the sound packets read that may be damaged (a click each) before the result says
that part of the reel's sound is missing."""


def reel_audio(
    media: MediaInfo,
    segments: list[Segment],
    plan: Plan,
    tick: Callable[[float], None],
    notes: list[str] | None = None,
    normalised: bool = True,
) -> np.ndarray:
    """``(2, n)`` float32 stereo at 48 kHz for the whole reel, loudness-normalised (unless
    ``normalised`` is off: for a mix with music, normalised as a whole afterwards).

    Sources without sound give silence of the right length, so every reel has the same tracks.
    Sound that cannot be read never fails the picture: the reel is silent (where it could not
    be read), and a sentence saying so goes to ``notes``.
    """
    total = sample_at(plan, plan.total)
    reel = np.zeros((2, total), np.float32)
    if not media.has_audio:
        return reel
    damage = _Damage()
    try:
        with reopen(media) as container:
            stream = container.streams[media.audio_stream]
            for index, segment in enumerate(segments):
                first = sample_at(plan, plan.starts[index])
                last = sample_at(plan, plan.starts[index] + plan.frames[index])

                def progress(index: int = index) -> None:
                    tick(index / len(segments))

                clip = _read(
                    container, stream, media, segment.source_start, last - first, progress, damage
                )
                _fade(clip, plan, index, len(segments))
                reel[:, first:last] += clip
    except av.error.FFmpegError as exc:
        log.info("the sound of %s could not be read: %r", media.path.name, exc)
        if notes is not None:
            notes.append("The sound could not be read; the reel is silent.")
        return np.zeros((2, total), np.float32)
    if notes is not None and damage.bad > max(2, DAMAGED_NOTE * damage.read):
        notes.append(
            "Part of the sound is damaged and could not be decoded; the reel is silent there."
        )
    return normalise(reel, tick=lambda: tick(1.0)) if normalised else reel


class _Damage:
    """Sound packets read, and how many of them could not be decoded."""

    def __init__(self) -> None:
        self.read = 0
        self.bad = 0


def _read(
    container: av.container.InputContainer,
    stream: av.audio.stream.AudioStream,
    media: MediaInfo,
    start: float,
    count: int,
    tick: Callable[[], None],
    damage: _Damage | None = None,
) -> np.ndarray:
    """``count`` stereo samples of the source from ``start`` seconds (zeros where none)."""
    target = start + media.start_time
    # Never below 0, unless the stream starts there (a TS whose clock wrapped: FFmpeg gives the
    # times before the wrap as negative); clamped to 0 there, the seek went to the wrap.
    at = max(min(0.0, media.start_time), target - 0.2)
    container.seek(math.floor(at / stream.time_base), stream=stream, backward=True)
    resampler = av.AudioResampler(format="fltp", layout="stereo", rate=RATE)
    chunks: list[np.ndarray] = []
    origin: float | None = None
    have = 0
    needed = None
    damage = damage or _Damage()
    for packet in container.demux(stream):
        damage.read += bool(packet.size)
        try:
            frames = packet.decode()
        except av.error.FFmpegError:  # damaged (FFmpeg's AAC decoder may also say EPERM)
            damage.bad += 1
            continue
        for frame in frames:
            if origin is None:
                if frame.time is None:
                    continue
                origin = float(frame.time)
                needed = round((target - origin) * RATE) + count
            for out in resampler.resample(frame):
                chunk = out.to_ndarray()
                chunks.append(chunk)
                have += chunk.shape[1]
        tick()
        if needed is not None and have >= needed:
            break
    clip = np.zeros((2, count), np.float32)
    if origin is None or not chunks:
        return clip
    audio = np.concatenate(chunks, axis=1)
    offset = round((target - origin) * RATE)
    # A negative offset means the sound starts after the asked-for time: leave leading silence.
    src_from, dst_from = max(0, offset), max(0, -offset)
    length = max(0, min(count - dst_from, audio.shape[1] - src_from))
    clip[:, dst_from : dst_from + length] = audio[:, src_from : src_from + length]
    return clip


def _fade(clip: np.ndarray, plan: Plan, index: int, count: int) -> None:
    """Equal-power fades over the crossfade overlap (the two sides are different sounds)."""
    if plan.fade == 0:
        return
    start = plan.starts[index]
    if index > 0:
        overlap = sample_at(plan, start + plan.fade) - sample_at(plan, start)
        ramp = np.sin(np.linspace(0, np.pi / 2, overlap + 2, dtype=np.float32)[1:-1])
        clip[:, :overlap] *= ramp
    if index < count - 1:
        nxt = plan.starts[index + 1]
        overlap = sample_at(plan, start + plan.frames[index]) - sample_at(plan, nxt)
        ramp = np.cos(np.linspace(0, np.pi / 2, overlap + 2, dtype=np.float32)[1:-1])
        clip[:, clip.shape[1] - overlap :] *= ramp


LIMIT_MARGIN_DB = 0.3
"""The limiter aims this far under the ceiling: its interpolator and FFmpeg's meter (which has
the last word) read a true peak a little differently."""
LOUDNESS_TOLERANCE = 0.2
"""LU from the target that the gain search settles for."""
ROUNDS = 4
"""Most rounds of gain, limiter and reading (one for most footage; two or three when the
limiter takes much of a peaky track's loudness)."""


def normalise(
    samples: np.ndarray, target: float = TARGET_LUFS, tick: Callable[[], None] | None = None
) -> np.ndarray:
    """Gain to ``target`` LUFS integrated, through a true-peak limiter so the true peak stays
    under -1 dBTP: the gain is the one whose *limited* result reads ``target``.

    Limiting a peaky track (claps: 8 ms bursts) lowers its loudness, less than the gain raises
    it, so the gain is searched for: each round applies a gain to the samples as they came,
    limits and reads the result with the same meter, and corrects the gain by the miss over the
    loudness gained per dB so far (a secant step).
    """
    level = measure(samples, tick, peak=False)  # the limiter below sees to the peaks
    if level.integrated <= SILENCE_LUFS:
        return samples
    ceiling = TRUE_PEAK_CEILING * 10 ** (-LIMIT_MARGIN_DB / 20)
    gain_db = min(MAX_GAIN_DB, target - level.integrated)
    before: tuple[float, float] | None = None  # (gain, loudness) of the previous round
    out = samples
    for _ in range(ROUNDS):
        out = limit(samples * np.float32(10 ** (gain_db / 20)), ceiling)
        level = measure(out, tick)
        miss = target - level.integrated
        if abs(miss) < LOUDNESS_TOLERANCE or (miss > 0 and gain_db >= MAX_GAIN_DB):
            break
        slope = 1.0  # LU per dB of gain: 1 where the limiter does nothing
        if before is not None and gain_db != before[0]:
            slope = (level.integrated - before[1]) / (gain_db - before[0])
            slope = min(1.0, max(0.1, slope))
        before = (gain_db, level.integrated)
        gain_db = min(MAX_GAIN_DB, gain_db + miss / slope)
    if level.true_peak > TRUE_PEAK_CEILING:
        out *= np.float32(TRUE_PEAK_CEILING / level.true_peak)
    return out
