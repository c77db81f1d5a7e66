"""Synthetic test videos with KNOWN ground truth, encoded for real with PyAV (H.264 + AAC).

A video is a list of shots; each shot kind plants one thing the analysis must tell apart:

- ``highlight``: a bright textured object moving fast + claps and cheer-like noise bursts
- ``dull``: a static, well-lit scene with room tone
- ``shaky``: the whole frame jitters randomly (camera shake), nothing moves in the scene
- ``dark``: motion and claps, but almost black (a decoy: eventful yet unwatchable)
- ``blurred``: motion and claps, but heavily out of focus (a decoy)
- ``pocket``: near-black frames and muffled rumble (a phone in a pocket)
- ``hum``: a static scene under a loud, steady hum (loud is not exciting)
- ``speech``: a gently moving scene with a real person talking (the recorded talk of
  ``shared/media/example.mp4``: the voice model must hear a voice, not a synthetic buzz)
- ``face``: a real face (scikit-image's astronaut photo) drifting slowly in the left third of
  a static, well-lit scene, with room tone: its centre is ``FACE_CENTRE`` (+- ``FACE_DRIFT``)

Shots with the same ``seed`` and a different ``take`` are near-duplicate takes of one moment.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from . import media_factory

RATE = media_factory.AUDIO_RATE
ROOM_TONE = 0.003
FACE_CENTRE = (1 / 6, 0.5)
"""Where the face of a ``face`` shot sits, as a fraction of the frame (x, y)."""
FACE_DRIFT = 0.03
"""How far (fraction of the width) the face drifts either side of ``FACE_CENTRE``."""


@dataclass(frozen=True)
class ShotSpec:
    kind: str
    seconds: float
    seed: int
    take: int = 0


@dataclass
class Shot:
    kind: str
    start: float
    end: float
    seed: int
    take: int
    words: list[tuple[float, float]] = field(default_factory=list)
    """For ``speech`` shots: (start, end) of every word, in source seconds."""

    def overlap(self, start: float, end: float) -> float:
        return max(0.0, min(end, self.end) - max(start, self.start))


def make_video(
    path: Path,
    shots: list[ShotSpec],
    size: tuple[int, int] = (320, 180),
    fps: int = 30,
    audio: bool = True,
    options: dict[str, str] | None = None,
) -> list[Shot]:
    """Encode the shots one after another into ``path``; returns where each one landed."""
    width, height = size
    truth: list[Shot] = []
    t = 0.0
    for spec in shots:
        truth.append(Shot(spec.kind, t, t + spec.seconds, spec.seed, spec.take))
        t += spec.seconds
    # Frames are painted in order (shaky shots draw their jitter from a random stream).
    order: list[tuple[_Painter, int]] = []
    for spec in shots:
        painter = _Painter(spec, width, height, fps)
        order.extend((painter, i) for i in range(round(spec.seconds * fps)))
    samples = None
    if audio:
        samples = np.concatenate(
            [_sound(spec, shot) for spec, shot in zip(shots, truth, strict=True)]
        )
    media_factory.make_video(
        path,
        width=width,
        height=height,
        fps=fps,
        frame_fn=lambda index, _w, _h: order[index][0].frame(order[index][1]),
        frame_times=[i / fps for i in range(len(order))],
        audio=audio,
        audio_samples=samples,
        video_options={"preset": "veryfast", "crf": "20", **(options or {})},
    )
    return truth


class _Painter:
    def __init__(self, spec: ShotSpec, width: int, height: int, fps: int):
        self.spec, self.w, self.h, self.fps = spec, width, height, fps
        rng = np.random.default_rng(spec.seed)
        pad = 24
        self.pad = pad
        self.background = _texture(rng, width + 2 * pad, height + 2 * pad)
        self.object = _checker(36)
        self.face = _astronaut_head(height) if spec.kind == "face" else None
        self.jitter = np.random.default_rng(spec.seed * 7 + 1)
        # Near-duplicate takes follow the same path, slightly shifted in time and space.
        self.phase = 0.35 * spec.take
        self.speed = {"highlight": 1.0, "dark": 1.0, "blurred": 1.0, "speech": 0.12}.get(
            spec.kind, 0.0
        )

    def frame(self, i: int) -> np.ndarray:
        kind, pad = self.spec.kind, self.pad
        dx = dy = 0
        if kind == "shaky":
            dx, dy = (int(v) for v in self.jitter.integers(-9, 10, size=2))
        image = self.background[pad + dy : pad + dy + self.h, pad + dx : pad + dx + self.w].copy()
        if self.speed:
            t = i / self.fps * self.speed + self.phase
            x = (0.5 + 0.42 * np.sin(2 * np.pi * 0.9 * t)) * (self.w - 36)
            y = (0.5 + 0.4 * np.sin(2 * np.pi * 1.3 * t + 1.0)) * (self.h - 36)
            x, y = int(x), int(y)
            image[y : y + 36, x : x + 36] = self.object
        if self.face is not None:
            fh, fw = self.face.shape[:2]
            drift = FACE_DRIFT * self.w * np.sin(2 * np.pi * 0.15 * i / self.fps)
            x = int(FACE_CENTRE[0] * self.w + drift) - fw // 2
            y = int(FACE_CENTRE[1] * self.h) - fh // 2
            image[y : y + fh, x : x + fw] = self.face
        if kind == "blurred":
            image = cv2.GaussianBlur(image, (0, 0), 5.0)
        if kind == "dark":
            image = (image.astype(np.float32) * 0.07).astype(np.uint8)
        if kind == "pocket":
            image = (image.astype(np.float32) * 0.03).astype(np.uint8)
        return image


def _texture(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """A colourful, sharp-edged scene: soft colour blobs plus crisp random rectangles."""
    coarse = rng.uniform(70, 190, size=(5, 8, 3)).astype(np.float32)
    image = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
    for _ in range(40):
        x0, y0 = int(rng.integers(0, width - 10)), int(rng.integers(0, height - 10))
        w, h = int(rng.integers(6, 40)), int(rng.integers(6, 30))
        image[y0 : y0 + h, x0 : x0 + w] = rng.uniform(30, 230, size=3)
    return np.clip(image, 0, 255).astype(np.uint8)


def _astronaut_head(height: int) -> np.ndarray:
    """The astronaut's head and shoulders, about half the frame tall (face ~ a quarter)."""
    from skimage import data  # only the face tests need scikit-image

    head = data.astronaut()[10:230, 120:320]  # the face itself is at (175..276, 64..165)
    side = height // 2
    return cv2.resize(head, (round(side * 200 / 220), side), interpolation=cv2.INTER_AREA)


def _checker(side: int) -> np.ndarray:
    cells = (np.indices((side, side)) // 6).sum(axis=0) % 2
    tile = np.where(cells[..., None] == 1, 255, 40).astype(np.uint8)
    return np.repeat(tile, 3, axis=2)


def _sound(spec: ShotSpec, shot: Shot) -> np.ndarray:
    n = round(spec.seconds * RATE)
    rng = np.random.default_rng(spec.seed * 13 + spec.take)
    out = rng.normal(0, ROOM_TONE, n)
    t = np.arange(n) / RATE
    if spec.kind in ("highlight", "dark", "blurred"):
        out += _claps(rng, n) + _cheer(rng, n)
    elif spec.kind == "hum":
        out += sum(0.35 / k * np.sin(2 * np.pi * 100 * k * t) for k in range(1, 6))
    elif spec.kind == "pocket":
        # Fabric rubbing heard through a pocket: loud, but only below ~150 Hz.
        out += _lowpass(rng.normal(0, 1.0, n), 150.0) * 0.4
    elif spec.kind == "speech":
        talk, words = _talk(spec.seconds, float(rng.uniform(0.0, 2.0)))
        out += talk
        shot.words = [(shot.start + a, shot.start + b) for a, b in words]
    return out


def _claps(rng: np.random.Generator, n: int) -> np.ndarray:
    out = np.zeros(n)
    length = int(0.04 * RATE)
    decay = np.exp(-np.arange(length) / (0.008 * RATE))
    for start in np.arange(0.1, n / RATE - 0.1, 0.22) * RATE:
        s = int(start + rng.integers(0, int(0.05 * RATE)))
        out[s : s + length] += rng.normal(0, 0.5, length) * decay
    return out


def _cheer(rng: np.random.Generator, n: int) -> np.ndarray:
    """Broadband noise whose level swells and falls a few times a second."""
    t = np.arange(n) / RATE
    swell = 0.5 + 0.5 * np.sin(2 * np.pi * 2.7 * t + rng.uniform(0, 6))
    return rng.normal(0, 0.08, n) * swell


TALK_SOURCE = (0.3, 17.5)
"""Seconds of ``example.mp4`` that are continuous talk."""
WORD_GAP = 0.06
"""Seconds of quiet (20 dB under the talk) that separate two words of the recording."""


@functools.cache
def _recorded_talk() -> tuple[np.ndarray, np.ndarray]:
    """The talk of example.mp4 at ``RATE``, and its level (dBFS) per 10 ms."""
    import av

    from tests.conftest import MEDIA

    with av.open(str(MEDIA / "example.mp4")) as container:
        resampler = av.AudioResampler(format="flt", layout="mono", rate=RATE)
        parts = [
            f.to_ndarray().reshape(-1)
            for frame in container.decode(audio=0)
            for f in resampler.resample(frame)
        ]
    signal = np.concatenate(parts)[int(TALK_SOURCE[0] * RATE) : int(TALK_SOURCE[1] * RATE)]
    hop = RATE // 100
    frames = signal[: len(signal) // hop * hop].reshape(-1, hop)
    level = 10 * np.log10((frames.astype(np.float64) ** 2).mean(axis=1) + 1e-12)
    return signal.astype(np.float64), level


def _talk(seconds: float, offset: float) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """``seconds`` of recorded talk starting ``offset`` s into it (looped), with its words:
    the spans louder than 20 dB under the talk's median level, split at quiet gaps."""
    signal, level = _recorded_talk()
    n = round(seconds * RATE)
    start = int(offset * RATE)
    idx = (start + np.arange(n)) % len(signal)
    out = signal[idx] * np.clip(np.minimum(np.arange(n), n - np.arange(n)) / (0.05 * RATE), 0, 1)
    hop = RATE // 100
    frames = (start // hop + np.arange(n // hop)) % len(level)
    loud = level[frames] > np.median(level) - 20
    words: list[tuple[float, float]] = []
    edges = np.flatnonzero(np.diff(np.concatenate([[0], loud.astype(np.int8), [0]])))
    for a, b in zip(edges[::2], edges[1::2], strict=True):
        t0, t1 = a / 100, b / 100
        if words and t0 - words[-1][1] < WORD_GAP:
            words[-1] = (words[-1][0], t1)
        elif t1 - t0 >= 0.05:
            words.append((t0, t1))
    return out, words


def _lowpass(x: np.ndarray, cutoff: float) -> np.ndarray:
    spectrum = np.fft.rfft(x)
    spectrum[np.fft.rfftfreq(len(x), 1 / RATE) > cutoff] = 0
    return np.fft.irfft(spectrum, len(x))


def synthesise(path: Path, shots: list[ShotSpec]):
    """Encode ``shots`` to ``path``, probe and analyse it: (path, truth, media, timeline)."""
    from moments.engine.analyse import analyse
    from moments.engine.models import HighlightOptions
    from moments.engine.probe import probe
    from moments.engine.progress import Reporter

    truth = make_video(path, shots)
    media = probe(path)
    return path, truth, media, analyse(media, HighlightOptions(), Reporter())


# The standard test reel: highlights A and C, three takes of B, among decoys and talk.
REEL: list[ShotSpec] = [
    ShotSpec("dull", 5, 1),
    ShotSpec("highlight", 5, 10),
    ShotSpec("shaky", 5, 2),
    ShotSpec("highlight", 4, 20, take=0),
    ShotSpec("dark", 5, 3),
    ShotSpec("hum", 5, 4),
    ShotSpec("highlight", 4, 20, take=1),
    ShotSpec("speech", 8, 5),
    ShotSpec("blurred", 5, 6),
    ShotSpec("highlight", 4, 20, take=2),
    ShotSpec("dull", 5, 7),
    ShotSpec("highlight", 5, 30),
    ShotSpec("pocket", 5, 8),
    ShotSpec("shaky", 5, 9),
    ShotSpec("dull", 4, 11),
]
