"""Where reel frames come from and how big they are: the output size, crop and frame plan."""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

from ..models import HighlightOptions, MediaInfo, Segment

MAX_FPS = 60
"""Slow-motion captures (120/240 fps) are halved until they fit: players and phones choke above."""

_RATIOS = {"16:9": Fraction(16, 9), "9:16": Fraction(9, 16), "1:1": Fraction(1, 1)}

STANDARD_SHORT_SIDE = 720
"""A 9:16 or 1:1 reel is at least this on its short side (720x1280, 720x720), as the apps it
is posted to expect: a crop of a 720p clip is only 404x720, shown blurred by the player's own
upscale. Bigger sources keep their crop's size (up to ``HighlightOptions.output_side``)."""
MAX_UPSCALE = 2
"""How far a crop is enlarged at most, per side. Upscaling adds no detail, only pixels for the
encoder to pay for; twice per side covers every common source from 480p up (a 9:16 crop of
720p needs 1.78x, of 1080p 1.19x) while a tiny clip (352x288) is not blown up 4.4x into a
blur four times the file size: it gets 324x576, and the result's notes say so."""


def _even_floor(value: float) -> int:
    return max(2, int(value) // 2 * 2)


def _even_ceil(value: float) -> int:
    return max(2, math.ceil(value / 2 - 1e-6) * 2)


@dataclass(frozen=True)
class Layout:
    """Output geometry. Source frames are scaled to ``scaled`` (display shape) then cropped.

    Scaling the whole frame first and cropping a window afterwards keeps the expensive
    work (swscale) to one pass, and the crop is a free numpy slice.
    """

    width: int
    height: int
    scaled_width: int
    scaled_height: int
    standard: tuple[int, int] | None = None
    """The standard size a 9:16 or 1:1 reel fell short of (the source is too small to enlarge
    that far), else None."""
    pix_fmt: str = "yuv420p"
    """The reel pictures' pixel format: ``yuv420p``, or ``yuv420p10le`` for an HDR reel
    (:func:`.choice.picture_format`; the pictures then keep the source's HDR values)."""

    @property
    def crops(self) -> bool:
        return (self.scaled_width, self.scaled_height) != (self.width, self.height)

    @classmethod
    def for_media(cls, media: MediaInfo, options: HighlightOptions) -> Layout:
        disp_w, disp_h = max(2, media.width), max(2, media.height)
        ratio = _RATIOS.get(options.aspect, Fraction(disp_w, disp_h))
        if disp_w / disp_h > ratio:
            crop_w, crop_h = disp_h * ratio, Fraction(disp_h)
        else:
            crop_w, crop_h = Fraction(disp_w), disp_w / ratio
        long_side = max(crop_w, crop_h)
        cap = Fraction(options.output_side) / long_side
        # The source's own size, never upscaled, shrunk to the cap...
        scale = min(Fraction(1), cap)
        standard = None
        if options.aspect in ("9:16", "1:1") and (crop_w, crop_h) != (disp_w, disp_h):
            # ...except for a 9:16 or 1:1 crop, enlarged (at most MAX_UPSCALE) to the standard.
            # (A clip already that shape keeps its size: its GOPs can then be copied.)
            wanted = Fraction(STANDARD_SHORT_SIDE) / min(crop_w, crop_h)
            if wanted > scale:
                scale = min(wanted, Fraction(MAX_UPSCALE), max(scale, cap))
                if scale < wanted and cap >= wanted:
                    short = STANDARD_SHORT_SIDE
                    standard = (short, _even_floor(short / ratio)) if ratio < 1 else (short, short)
        if options.aspect == "source":
            width, height = _even_floor(crop_w * scale), _even_floor(crop_h * scale)
            return cls(width, height, width, height)
        if crop_h >= crop_w:
            height = _even_floor(crop_h * scale)
            width = _even_floor(height * ratio)
        else:
            width = _even_floor(crop_w * scale)
            height = _even_floor(width / ratio)
        # Scale so the crop window maps exactly onto the output, then cover the whole frame.
        factor = max(width / crop_w, height / crop_h)
        scaled_w = max(width, _even_ceil(disp_w * factor))
        scaled_h = max(height, _even_ceil(disp_h * factor))
        return cls(width, height, scaled_w, scaled_h, standard)

    def note(self, aspect: str) -> str | None:
        """A sentence for the result when the reel is smaller than its aspect's standard."""
        if self.standard is None:
            return None
        return (
            f"The video is small, so the {aspect} reel is {self.width}x{self.height} rather "
            f"than {self.standard[0]}x{self.standard[1]}: a picture is enlarged at most "
            f"{MAX_UPSCALE}x, as enlarging adds no detail."
        )

    def size_note(
        self, options: HighlightOptions, source: str = "your video's picture is"
    ) -> str | None:
        """A sentence for the result when a size other than the default was asked for and the
        uncropped reel is smaller: ``source`` (with its verb, "your video's picture is") is
        smaller, and nothing is enlarged. (A crop's shortfall has ``note``'s sentence.)"""
        if (
            options.max_output_side
            or options.resolution == HighlightOptions.resolution
            or self.crops
            or max(self.width, self.height) >= options.output_side - 2  # sizes are even
        ):
            return None
        asked = options.resolution.replace("k", "K")
        return (
            f"Your reel is {self.width}x{self.height} rather than {asked}: {source} smaller, "
            "and enlarging adds no detail."
        )

    def crop_origin(self, focus: tuple[float, float]) -> tuple[int, int]:
        """Top-left corner (even, for 4:2:0 chroma) of the window centred on ``focus``."""
        fx = min(1.0, max(0.0, float(focus[0])))
        fy = min(1.0, max(0.0, float(focus[1])))
        x = round(fx * self.scaled_width - self.width / 2)
        y = round(fy * self.scaled_height - self.height / 2)
        x = min(max(0, x), self.scaled_width - self.width) // 2 * 2
        y = min(max(0, y), self.scaled_height - self.height) // 2 * 2
        return x, y


STANDARD_RATES = tuple(
    Fraction(rate) for rate in (24, 25, 30, 48, 50, 60, Fraction(24000, 1001),
                                Fraction(30000, 1001), Fraction(60000, 1001))
)  # fmt: skip
"""Frame rates players and editors expect; a variable-rate clip's reel takes the nearest."""
RATE_MATCH = 0.02
"""How far (relative) a measured rate may be from a standard one and still be taken as it."""
MIN_REEL_FPS = 24
"""No reel plays slower: a clip of fewer pictures a second (a 15 fps webcam, a time-lapse,
an AVI of 68 pictures in 29.6 s: 2.35 a second) has each held over several slots, as a player
holds it, rather than making a slide show of the reel (and of any clip joined to it)."""
_HELD_RATES = tuple(rate for rate in STANDARD_RATES if MIN_REEL_FPS * 0.99 <= rate <= 30)
"""The rates a slow clip's pictures are held at (24 to 30: holding costs the encoder little,
but every slot is a picture to make)."""


def output_rate(media: MediaInfo) -> Fraction:
    """The reel's rate for ``media``: its own (:func:`own_rate`), or for a clip slower than
    ``MIN_REEL_FPS`` the standard rate of 24 to 30 that is a whole multiple of its own
    (15 -> 30, 12.5 -> 25: each picture held alike), else 30 (pictures far apart or at no
    steady pace, held each as long as it lasts)."""
    rate = own_rate(media)
    if rate >= MIN_REEL_FPS * (1 - RATE_MATCH):
        return rate

    def miss(standard: Fraction) -> float:
        times = max(1, round(standard / rate))
        return abs(float(times * rate / standard) - 1)

    held = min(_HELD_RATES, key=miss)
    return held if miss(held) <= RATE_MATCH else Fraction(30)


def own_rate(media: MediaInfo) -> Fraction:
    """The source's frame rate as an exact fraction (29.97 -> 30000/1001), capped at 60.

    A clip whose average rate is far from its typical frame spacing (a phone's variable rate:
    jitter, dropped frames, a slower stretch in low light) is made at the typical spacing's
    rate, snapped to a standard one: every picture it shows keeps a slot of its own, where the
    average (60 fps with drops and a 30 fps stretch: 53.07) would drop about one in eight.
    """
    fps = media.fps if media.fps and media.fps > 0 else 30.0
    nominal = media.nominal_fps
    if nominal > 0 and abs(nominal - fps) > RATE_MATCH * fps:
        standard = min(STANDARD_RATES, key=lambda rate: abs(float(rate) - nominal))
        fps = float(standard) if abs(float(standard) - nominal) <= RATE_MATCH * nominal else nominal
    rate = Fraction(fps).limit_denominator(1001)
    while rate > MAX_FPS:
        rate /= 2
    return rate


@dataclass(frozen=True)
class Plan:
    """How many output frames each segment gets and where it lands in the reel.

    Consecutive segments overlap by ``fade`` frames (the crossfade), so the reel lasts
    ``sum(frames) - (n - 1) * fade`` frames. The last ``outro`` frames fade to black (a reel
    set to music: it ends with the song's last bar).
    """

    rate: Fraction
    frames: tuple[int, ...]
    fade: int
    starts: tuple[int, ...]
    total: int
    outro: int = 0

    @classmethod
    def build(
        cls, segments: list[Segment], rate: Fraction, crossfade: float, outro: float = 0.0
    ) -> Plan:
        """``outro``: seconds at the end faded to black (within the last segment, after any
        crossfade into it)."""
        frames = tuple(max(1, round(s.duration * rate)) for s in segments)
        fade = 0
        if len(frames) > 1 and crossfade > 0:
            # A fade may never eat more than half of a segment, or it would overlap the next one.
            fade = max(0, min(round(crossfade * rate), min(frames) // 2))
        starts, position = [], 0
        for count in frames:
            starts.append(position)
            position += count - fade
        total = position + fade
        last = frames[-1] - (fade if len(frames) > 1 else 0) if frames else 0
        black = max(0, min(round(outro * rate), last))
        return cls(rate, frames, fade, tuple(starts), total, black)

    @property
    def duration(self) -> float:
        return float(self.total / self.rate)

    def seconds(self, frames: int) -> float:
        return float(frames / self.rate)
