"""Data that crosses the engine's boundary: options in, media facts and results out."""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

if TYPE_CHECKING:
    from .timeline import Timeline

Aspect = Literal["source", "16:9", "9:16", "1:1"]
ASPECTS: tuple[str, ...] = get_args(Aspect)
Codec = Literal["auto", "h264", "hevc"]
CODECS: tuple[str, ...] = get_args(Codec)
"""The reel's video codec: ``auto`` keeps the source's where its pictures are copied (H.264
stays H.264, HEVC stays HEVC) and is H.264 otherwise; ``h264`` and ``hevc`` force one."""
HdrMode = Literal["keep", "sdr"]
HDR_MODES: tuple[str, ...] = get_args(HdrMode)
"""What an HDR (HLG or PQ) source gives: ``keep``, a 10-bit HDR reel (HEVC Main 10 with the
source's colour tags); ``sdr``, a tone-mapped 8-bit BT.709 reel."""
Resolution = Literal["720p", "1080p", "4k"]
RESOLUTIONS: tuple[str, ...] = get_args(Resolution)
"""How big the reel may be: the long side of its picture at most 1280, 1920 or 3840 pixels
(a smaller source keeps its own size: nothing is enlarged but a crop to its aspect's standard).
``1080p``, the default, is what phones share; ``4k`` keeps a 4K video's own size, so its GOPs
can be copied rather than scaled and re-encoded."""
RESOLUTION_SIDES: dict[str, int] = {"720p": 1280, "1080p": 1920, "4k": 3840}
MusicMode = Literal["replace", "mix"]
MUSIC_MODES: tuple[str, ...] = get_args(MusicMode)
"""``replace``: the reel's sound is the music alone; ``mix``: the music under the clip's own
sound, ducked while someone talks."""


@dataclass(frozen=True)
class Limits:
    """Caps applied to every untrusted input before any frame is decoded."""

    max_file_bytes: int = 8 * 1024**3
    max_streams: int = 32
    max_width: int = 8192
    max_height: int = 8192
    max_pixels: int = 8192 * 4320
    max_duration: float = 3 * 3600.0
    min_duration: float = 0.5
    max_clips: int = 50
    """Most clips one reel is made of."""
    max_total_duration: float = 30 * 60.0
    """Most footage, in seconds, one reel of many clips is made of."""


@dataclass(frozen=True)
class HighlightOptions:
    """What the caller asks for. Same input + same options -> same reel."""

    duration: float = 30.0
    """Target reel length in seconds; the reel is never more than 5% longer."""
    aspect: Aspect = "source"
    min_segment: float = 1.5
    max_segment: float = 8.0
    crossfade: float = 0.25
    resolution: Resolution = "1080p"
    """How big the reel may be (see ``Resolution``)."""
    max_output_side: int | None = None
    """A cap of the caller's own on the long side of the reel's picture, in pixels, in place
    of ``resolution``'s (never upscaled beyond the source)."""
    poster: bool = True
    keep_location: bool = False
    """Keep where the source was shot in the reel's tags (dropped by default: reels are shared;
    when it was shot is always kept, the device's make and model never)."""
    limits: Limits = field(default_factory=Limits)
    music: Path | None = None
    """A song (MP3, AAC/M4A, WAV, FLAC) to set the reel to: cuts land on its beats."""
    music_mode: MusicMode = "replace"
    codec: Codec = "auto"
    """The reel's video codec (see ``Codec``)."""
    hdr: HdrMode = "keep"
    """HDR sources: a 10-bit HDR reel, or a tone-mapped SDR one (see ``HdrMode``)."""

    @property
    def output_side(self) -> int:
        """The most pixels the reel's picture has on its long side."""
        return self.max_output_side or RESOLUTION_SIDES[self.resolution]

    def __post_init__(self) -> None:
        from .errors import EngineError

        if self.music is not None and not isinstance(self.music, Path):
            object.__setattr__(self, "music", Path(self.music))
        if self.music_mode not in MUSIC_MODES:
            raise EngineError(
                f"music_mode must be one of {', '.join(MUSIC_MODES)}, not {self.music_mode!r}"
            )
        if self.hdr not in HDR_MODES:
            raise EngineError(f"hdr must be one of {', '.join(HDR_MODES)}, not {self.hdr!r}")
        if self.codec not in CODECS:
            raise EngineError(f"codec must be one of {', '.join(CODECS)}, not {self.codec!r}")
        if self.resolution not in RESOLUTIONS:
            raise EngineError(
                f"resolution must be one of {', '.join(RESOLUTIONS)}, not {self.resolution!r}"
            )
        if self.aspect not in ASPECTS:
            raise EngineError(f"aspect must be one of {', '.join(ASPECTS)}, not {self.aspect!r}")
        if not 1.0 <= self.duration <= 600.0:
            raise EngineError("duration must be between 1 and 600 seconds")
        if not 0.3 <= self.min_segment <= self.max_segment:
            raise EngineError("min_segment must be at least 0.3 s and no more than max_segment")


@dataclass(frozen=True)
class MediaInfo:
    """Facts about an input, read by the safe probe. Sizes are display sizes (upright)."""

    path: Path
    container: str
    size_bytes: int
    duration: float
    width: int
    """Display width: after rotation and non-square pixels."""
    height: int
    coded_width: int
    coded_height: int
    rotation: int
    """Clockwise degrees (0, 90, 180, 270) needed to show the frame upright."""
    sample_aspect_ratio: float
    fps: float
    variable_frame_rate: bool
    video_codec: str
    pixel_format: str
    bit_depth: int
    hdr: str | None
    """None for SDR, "pq" or "hlg" for HDR transfer functions (tone-mapped on decode)."""
    video_stream: int
    audio_stream: int | None
    audio_codec: str | None
    sample_rate: int | None
    channels: int | None
    start_time: float = 0.0
    nominal_fps: float = 0.0
    """The camera's own frame rate: the typical frame spacing (0: unknown, take ``fps``). A
    phone clip of varying rate has an ``fps`` (its average) far off it: 60 fps with drops and a
    30 fps stretch averages 53.07. Its reel is made at this rate (see ``output_rate``)."""
    notes: tuple[str, ...] = ()
    """Plain sentences on what the probe set aside, e.g. a sound track that cannot be used
    (the reel is then silent); they become the result's notes."""

    @property
    def has_audio(self) -> bool:
        return self.audio_stream is not None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["path"] = str(self.path)
        data["notes"] = list(self.notes)
        return data


@dataclass(frozen=True)
class Segment:
    """One chosen piece of the source, with why it was chosen."""

    source_start: float
    source_end: float
    output_start: float
    score: float
    signals: dict[str, float]
    """Each signal's mean score (0..1) over the segment: motion, audio, quality, faces..."""
    reason: str
    """A short human explanation, e.g. "loud crowd + fast motion"."""
    focus: tuple[float, float] = (0.5, 0.5)
    """Subject centre (x, y) in 0..1 display coordinates over the segment."""
    pan: tuple[tuple[float, float, float], ...] = ()
    """Where the subject is along the segment: (source seconds, x, y) in time order, a straight
    line between; crops for 9:16 and 1:1 follow it (see :meth:`focus_at`). Empty: ``focus``."""
    clip: int | None = None
    """In a reel of many clips: which one it is from (its index in the result's ``clips``, in
    reel order); None in a reel of one video."""

    @property
    def duration(self) -> float:
        return self.source_end - self.source_start

    def focus_at(self, seconds: float) -> tuple[float, float]:
        """The subject centre at source time ``seconds`` (held before and after the pan)."""
        pan = self.pan
        if not pan:
            return self.focus
        if seconds <= pan[0][0]:
            return pan[0][1], pan[0][2]
        for (t0, x0, y0), (t1, x1, y1) in itertools.pairwise(pan):
            if seconds <= t1:
                w = (seconds - t0) / (t1 - t0) if t1 > t0 else 1.0
                return x0 + w * (x1 - x0), y0 + w * (y1 - y0)
        return pan[-1][1], pan[-1][2]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("pan")  # the render's business: ``focus`` says where the subject is
        data["duration"] = round(self.duration, 3)
        data["focus"] = list(self.focus)
        return data


@dataclass(frozen=True)
class RenderInfo:
    """What the renderer produced."""

    output: Path
    duration: float
    width: int
    height: int
    poster: Path | None = None
    notes: tuple[str, ...] = ()
    """Plain sentences on what the reel lost, e.g. sound that could not be read."""
    bitrate: int | None = None
    """The reel's video bits per second, read back from the written file."""
    codec: str | None = None
    profile: str | None = None
    """The video stream's codec ("h264") and profile ("High"), as players read them."""


@dataclass(frozen=True)
class HighlightResult:
    """Everything the engine knows about one run; ``to_dict`` is the ``--json`` document."""

    output: Path
    poster: Path | None
    duration: float
    width: int
    height: int
    media: MediaInfo
    options: HighlightOptions
    segments: list[Segment]
    timings: dict[str, float]
    notes: list[str] = field(default_factory=list)
    """Plain sentences for the person when the reel differs from what was asked (shorter than
    asked, sound dropped...), each saying why."""
    timeline: Timeline | None = field(default=None, repr=False, compare=False)
    """The measured signals the segments were chosen from (not part of ``to_dict``): for
    plots and evaluation."""
    bitrate: int | None = None
    """The reel's video bits per second (its sound adds AAC's 160 kbit/s)."""
    codec: str | None = None
    profile: str | None = None
    """The reel's video codec ("h264") and profile ("High")."""
    clips: list[MediaInfo] = field(default_factory=list)
    """A reel of many clips: the clips it shows, in reel order (``media`` is the first); empty
    for a reel of one video."""

    def to_dict(self) -> dict[str, Any]:
        options = asdict(self.options)
        options["music"] = str(self.options.music) if self.options.music else None
        return {
            "output": str(self.output),
            "poster": str(self.poster) if self.poster else None,
            "duration": round(self.duration, 3),
            "width": self.width,
            "height": self.height,
            "bitrate": self.bitrate,
            "codec": self.codec,
            "profile": self.profile,
            "input": self.media.to_dict(),
            "options": options,
            "segments": [s.to_dict() for s in self.segments],
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
            "notes": list(self.notes),
            **({"clips": [m.to_dict() for m in self.clips]} if self.clips else {}),
        }
