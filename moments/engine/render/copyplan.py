"""Deciding what a smart render may copy: which of each segment's source packets go in untouched.

A GOP (an IDR picture and everything up to the next IDR) can be copied when the reel would show
exactly those source pictures, unchanged and in the same order: same size, no crop, tone
mapping or halved frame rate. Copied packets keep their own timing, shifted by as much as the
segment is (MP4 holds any timing: a phone's variable frame rate, jitter, dropped frames and
all); the re-encoded pictures around them sit on the reel's frame grid, in the slots before
and after the copy, so each join shows the last picture until the next one, with no gap and
nothing shown twice. Everything else is re-encoded, as in the full path. A rotated
source (a portrait phone clip) is copied as stored: the reel carries the same display matrix,
so players turn it upright as they do the source (see :func:`as_stored`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from fractions import Fraction

import av

from ..models import HighlightOptions, MediaInfo, Segment
from ..probe import reopen
from .bitstream import length_prefixed_nals, parse_avcc
from .choice import keeps_hdr, picture_format
from .hevc import parse_hvcc
from .layout import RATE_MATCH, Layout, Plan, output_rate
from .tracks import SourceConfig

GRID_TOLERANCE = 0.1
"""How far (in frames) a packet time may stray from the frame grid and still count as on it."""
COPYABLE_CODECS = frozenset({"h264", "hevc"})


def copy_refusal(media: MediaInfo, options: HighlightOptions) -> str | None:
    """Why the reel cannot share the source's bitstream, or None when it can."""
    layout = Layout.for_media(media, options)
    hdr = keeps_hdr(media, options)
    # The re-encoded parts are 4:2:0, 8-bit SDR or 10-bit HDR: the copied ones must match.
    pixels = picture_format(media, options)
    checks = (
        (
            options.codec not in ("auto", media.video_codec),
            f"{_NAMES.get(options.codec, options.codec)} was asked for",
        ),
        (
            media.video_codec not in COPYABLE_CODECS,
            f"the source is {media.video_codec}, not H.264 or HEVC",
        ),
        (abs(media.sample_aspect_ratio - 1.0) > 1e-6, "the pixels are not square"),
        (media.hdr is not None and not hdr, "the source is HDR (tone-mapped to SDR)"),
        (hdr and media.video_codec != "hevc", "an HDR reel is HEVC"),
        (media.bit_depth != (10 if hdr else 8), f"the source is {media.bit_depth}-bit"),
        (media.pixel_format != pixels, f"the pixels are {media.pixel_format}"),
        (layout.crops, f"the {options.aspect} frame crops the picture"),
        (
            stored_size(layout, media) != (media.coded_width, media.coded_height),
            "the picture is scaled",
        ),
        (
            float(output_rate(media)) < (1 - RATE_MATCH) * (media.nominal_fps or media.fps),
            "the frame rate is halved",
        ),
    )
    return next((reason for refused, reason in checks if refused), None)


_NAMES = {"h264": "H.264", "hevc": "HEVC"}


def can_copy(media: MediaInfo, options: HighlightOptions) -> bool:
    return copy_refusal(media, options) is None


def stored_size(layout: Layout, media: MediaInfo) -> tuple[int, int]:
    """The reel's (upright) size as the source stores its pictures: turned for quarter turns."""
    if media.rotation in (90, 270):
        return layout.height, layout.width
    return layout.width, layout.height


def as_stored(media: MediaInfo, layout: Layout) -> tuple[MediaInfo, Layout]:
    """The source and reel geometry as a copyable source stores its pictures (not upright).

    A smart render copies pictures as they are stored, so the pictures it re-encodes (the
    crossfades) must be made the same way; the reel's display matrix then turns all of them
    upright at once, as the source's does.
    """
    if media.rotation == 0:
        return media, layout
    width, height = stored_size(layout, media)
    stored = replace(media, rotation=0, width=media.coded_width, height=media.coded_height)
    return stored, Layout(width, height, width, height, pix_fmt=layout.pix_fmt)


@dataclass(frozen=True)
class CopyRange:
    """The copy inside one segment: its grid slots ``start..end`` (segment frame indices) are
    taken by ``count`` source packets from the keyframe at ``key_pts`` on, shown at their own
    times: source time ``origin`` is where slot ``start`` sits in the reel."""

    start: int
    end: int
    source: int
    """The source's grid slot at ``start`` (its frame number, for a constant-rate source)."""
    key_pts: int
    """The first packet's presentation time, in the source stream's time base."""
    count: int
    origin: Fraction
    """Source stream seconds (exact) that fall on the reel time of slot ``start``."""
    until: float
    """Source seconds (from the stream's start, as ``VideoSource`` counts) the copy shows up
    to: the next packet's time, or the end of the copied window."""
    delay: Fraction
    """Most seconds any packet here is decoded ahead of its display time (B-frame reorder)."""
    stamps: tuple[int, ...] = ()
    """The packets' presentation times in ascending order: the n-th is the n-th packet's
    decode time (before ``delay``). Not the source's own decode times: Matroska stores none,
    and FFmpeg then gives each packet its presentation time, out of order with B-frames."""

    @property
    def frames(self) -> int:
        return self.end - self.start


@dataclass
class CopyPlan:
    config: SourceConfig
    rate: Fraction
    ranges: dict[int, CopyRange] = field(default_factory=dict)
    """Per segment index, the run copied from it: from an IDR on (segments without one are
    absent)."""

    @property
    def frames(self) -> int:
        return sum(r.frames for r in self.ranges.values())

    @property
    def delay(self) -> Fraction:
        return max((r.delay for r in self.ranges.values()), default=Fraction(0))


@dataclass(frozen=True)
class _Packet:
    pts: int
    """Presentation time, in the stream's time base."""
    key: bool
    """Decoding can start here: an IDR (or an HEVC CRA or BLA)."""
    leading: bool = False
    """Shown before the keyframe it follows in decode order (HEVC RADL/RASL)."""
    duration: int = 0


def first_frame(segment: Segment, rate: Fraction) -> int:
    """The source frame the full path shows first for ``segment`` (nearest on the grid)."""
    return start_frame(segment.source_start, rate)


def start_frame(seconds: float, rate: Fraction) -> int:
    """The source frame on screen at ``seconds`` (nearest on the grid)."""
    return max(0, math.floor(seconds * rate + 0.5 + 1e-9))


def plan_copy(
    media: MediaInfo,
    segments: list[Segment],
    plan: Plan,
    tick: Callable[[], None],
) -> CopyPlan | None:
    """Find the copyable GOPs of each segment by reading packet headers (no decoding).

    Returns None when the source's parameter sets cannot be read as ``avcC`` or ``hvcC``
    (then nothing is copied). Crossfaded frames are never copied: they are blends of two shots;
    nor is the fade to black at the reel's end (``plan.outro``).
    """
    with reopen(media) as container:
        stream = container.streams[media.video_stream]
        config = source_config(media.video_codec, bytes(stream.codec_context.extradata or b""))
        if config is None:
            return None
        result = CopyPlan(config, plan.rate)
        base = Fraction(stream.time_base)
        zero = round(Fraction(media.start_time) / base) * base  # the stream's start, exact
        last = len(segments) - 1
        for index, segment in enumerate(segments):
            first = first_frame(segment, plan.rate)
            head = plan.fade if index > 0 else 0
            tail = plan.fade if index < last else plan.outro
            low, high = first + head, first + plan.frames[index] - tail
            if high <= low:
                continue
            window = (zero + low / plan.rate, zero + high / plan.rate)
            packets = _scan(container, stream, config, window, tick)
            slack = Fraction(GRID_TOLERANCE) / plan.rate
            found = _copy_run(packets, base, window, slack) if packets else None
            if found is None:
                continue
            key, stamps, until, delay = found
            key_time = key.pts * base
            # The copy takes the slots from the first at or after its keyframe's time (one
            # slightly off the grid: the slot before shows the last picture until it comes)
            # up to the first at or after where it ends.
            start = _slot(key_time - zero, plan.rate) - first
            end = _slot(until - zero, plan.rate) - first
            if end - start < 1:
                continue
            origin = zero + (first + start) / plan.rate
            result.ranges[index] = CopyRange(
                start, end, first + start, key.pts, len(stamps), origin, float(until - zero),
                delay, stamps,
            )  # fmt: skip
    return result


def _slot(seconds: Fraction, rate: Fraction) -> int:
    """The first grid slot at or after ``seconds`` (a hair early counts as on it)."""
    return math.ceil(seconds * rate - Fraction(GRID_TOLERANCE))


def source_config(codec: str, extradata: bytes) -> SourceConfig | None:
    """The source's parameter sets as its MP4 track stores them (None if it does not)."""
    return parse_hvcc(extradata) if codec == "hevc" else parse_avcc(extradata)


def seek_to_time(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream, seconds: Fraction
) -> None:
    """Seek to the keyframe at or before stream time ``seconds``."""
    container.seek(max(0, math.floor(seconds / stream.time_base)), stream=stream, backward=True)


REORDER_LOOKAHEAD = 8
"""Packets read past the end of a window: a picture decoded later but shown inside it (a
B-frame) is among them, so a copy never ends before a picture it must hold."""


def _scan(
    container: av.container.InputContainer,
    stream: av.video.stream.VideoStream,
    config: SourceConfig,
    window: tuple[Fraction, Fraction],
    tick: Callable[[], None],
) -> list[_Packet] | None:
    """Packets in decode order from the keyframe before the window on, to a few past its end.

    None if a timestamp is missing or a sample does not parse: such a stretch is re-encoded
    rather than trusted.
    """
    low, high = window
    seek_to_time(container, stream, low)
    base = Fraction(stream.time_base)
    packets: list[_Packet] = []
    past = 0
    for packet in _demux(container, stream):
        tick()
        if packet.pts is None:
            return None
        try:
            nals = length_prefixed_nals(bytes(packet), config.length_size)
            config.in_band(nals)  # a parameter set the sample entry lacks: not copied
        except ValueError:
            return None
        packets.append(
            _Packet(
                packet.pts, config.random_access(nals), config.leading(nals),
                packet.duration or 0,
            )
        )  # fmt: skip
        if packet.pts * base >= high:
            past += 1
            if past > REORDER_LOOKAHEAD:
                break
    return packets


def _demux(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream
) -> Iterator[av.Packet]:
    for packet in container.demux(stream):
        if packet.size:  # the demuxer's final empty packet flushes decoders; nothing to copy
            yield packet


def _copy_run(
    packets: list[_Packet], base: Fraction, window: tuple[Fraction, Fraction], slack: Fraction
) -> tuple[_Packet, tuple[int, ...], Fraction, Fraction] | None:
    """(keyframe, sorted pts, until, delay) of the longest copyable run inside the window.

    A run starts at the first keyframe shown inside the window (an HEVC CRA's leading
    pictures, shown before it, are left out: they are pictures of the part before), goes
    through whole GOPs and on into the last one for as long as the packets taken, in decode
    order, are all shown before every packet left (no picture held back for one past the cut)
    and inside the window. Ending mid-GOP is safe: what follows in the reel starts with a
    keyframe of its own (a re-encoded run or another copy). For long-GOP sources (a keyframe
    every 8 s), that copies the rest of any segment after its first keyframe instead of
    nothing. ``until`` is where the next picture (not copied) is due, at most the window's end.
    A keyframe up to ``slack`` seconds before the window (timestamp rounding) counts as in it.
    """
    low, high = window
    begin = next(
        (n for n, p in enumerate(packets) if p.key and low - slack <= p.pts * base < high), None
    )
    if begin is None:
        return None
    key = packets[begin]
    after = packets[begin + 1 :]
    while after and after[0].leading and after[0].pts < key.pts:
        after = after[1:]
    following = [key, *after]
    # Earliest presentation time among the packets from n on (decode order).
    rest: list[int | None] = [None] * (len(following) + 1)
    for n in range(len(following) - 1, -1, -1):
        later = rest[n + 1]
        rest[n] = following[n].pts if later is None else min(following[n].pts, later)
    highest, count = key.pts, 0
    seen: set[int] = set()
    for n, packet in enumerate(following):
        if packet.pts < key.pts or packet.pts * base >= high or packet.pts in seen:
            break
        seen.add(packet.pts)
        highest = max(highest, packet.pts)
        later = rest[n + 1]
        if later is None or highest < later:  # nothing left is shown earlier
            count = n + 1
    if count < 2:
        return None
    run = following[:count]
    later = rest[count]
    if later is not None:
        until = min(later * base, high)
    else:  # the stream ended: the last picture lasts its own duration
        end = max(p.pts + p.duration for p in run) * base
        until = min(end, high)
    # Decode times: the presentation times in order, each given to the packet in that place
    # of the decode order; ``delay`` is how far that runs ahead of a packet's own display.
    stamps = tuple(sorted(p.pts for p in run))
    delay = max(
        Fraction(0), *((stamp - p.pts) * base for stamp, p in zip(stamps, run, strict=True))
    )
    return key, stamps, until, delay
