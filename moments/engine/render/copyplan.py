"""Deciding what a smart render may copy: which of each segment's source packets go in untouched.

A GOP (an IDR picture and everything up to the next IDR) can be copied when the reel would show
exactly those source pictures, unchanged and in the same order: same size, no crop, tone
mapping or frame-rate change, and constant-rate timestamps so reel frame ``k`` of a segment is
source frame ``first + k``. Everything else is re-encoded, as in the full path. A rotated
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
from .hevc import parse_hvcc
from .layout import Layout, Plan, output_rate
from .tracks import SourceConfig

GRID_TOLERANCE = 0.1
"""How far (in frames) a packet time may stray from the frame grid and still count as on it."""
COPYABLE_CODECS = frozenset({"h264", "hevc"})
COPYABLE_FORMATS = frozenset({"yuv420p"})
"""8-bit 4:2:0 limited range: what the re-encoded parts are written as, so both parts match."""


def copy_refusal(media: MediaInfo, options: HighlightOptions) -> str | None:
    """Why the reel cannot share the source's bitstream, or None when it can."""
    layout = Layout.for_media(media, options)
    checks = (
        (
            media.video_codec not in COPYABLE_CODECS,
            f"the source is {media.video_codec}, not H.264 or HEVC",
        ),
        (abs(media.sample_aspect_ratio - 1.0) > 1e-6, "the pixels are not square"),
        (media.hdr is not None, "the source is HDR (tone-mapped)"),
        (media.bit_depth != 8, f"the source is {media.bit_depth}-bit"),
        (media.pixel_format not in COPYABLE_FORMATS, f"the pixels are {media.pixel_format}"),
        (layout.crops, f"the {options.aspect} frame crops the picture"),
        (
            stored_size(layout, media) != (media.coded_width, media.coded_height),
            "the picture is scaled",
        ),
        (media.variable_frame_rate, "the frame rate is variable"),
        (abs(float(output_rate(media)) - media.fps) > 1e-3, "the frame rate is changed"),
    )
    return next((reason for refused, reason in checks if refused), None)


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
    return stored, Layout(width, height, width, height)


@dataclass(frozen=True)
class CopyRange:
    """Reel frames ``start..end`` (segment frame indices) are source frames ``source`` on."""

    start: int
    end: int
    source: int
    delay: int
    """Most pictures any packet here is decoded ahead of its display slot (B-frame reorder)."""

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
    def delay(self) -> int:
        return max((r.delay for r in self.ranges.values()), default=0)


@dataclass(frozen=True)
class _Packet:
    index: int
    """Source frame number on the grid (0 = the stream's first frame)."""
    key: bool
    """Decoding can start here: an IDR (or an HEVC CRA or BLA)."""
    leading: bool = False
    """Shown before the keyframe it follows in decode order (HEVC RADL/RASL)."""


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
    (then nothing is copied). Crossfaded frames are never copied: they are blends of two shots.
    """
    with reopen(media) as container:
        stream = container.streams[media.video_stream]
        config = source_config(media.video_codec, bytes(stream.codec_context.extradata or b""))
        if config is None:
            return None
        result = CopyPlan(config, plan.rate)
        last = len(segments) - 1
        for index, segment in enumerate(segments):
            first = first_frame(segment, plan.rate)
            head = plan.fade if index > 0 else 0
            tail = plan.fade if index < last else 0
            low, high = first + head, first + plan.frames[index] - tail
            if high <= low:
                continue
            packets = _scan(container, stream, media, config, low, high, tick)
            found = _copy_run(packets, low, high) if packets else None
            if found is not None:
                start, end, delay = found
                result.ranges[index] = CopyRange(start - first, end - first, start, delay)
    return result


def source_config(codec: str, extradata: bytes) -> SourceConfig | None:
    """The source's parameter sets as its MP4 track stores them (None if it does not)."""
    return parse_hvcc(extradata) if codec == "hevc" else parse_avcc(extradata)


def frame_index(packet_pts: int, stream: av.video.stream.VideoStream, media: MediaInfo) -> float:
    """Where a packet sits on the source frame grid (a whole number for a constant-rate file)."""
    return (float(packet_pts * stream.time_base) - media.start_time) * media.fps


def seek_to_frame(
    container: av.container.InputContainer,
    stream: av.video.stream.VideoStream,
    media: MediaInfo,
    index: int,
) -> None:
    """Seek to the keyframe at or before source frame ``index``."""
    seconds = index / media.fps + media.start_time
    container.seek(int(max(0.0, seconds) / stream.time_base), stream=stream, backward=True)


def _scan(
    container: av.container.InputContainer,
    stream: av.video.stream.VideoStream,
    media: MediaInfo,
    config: SourceConfig,
    low: int,
    high: int,
    tick: Callable[[], None],
) -> list[_Packet] | None:
    """Packets in decode order from the keyframe before ``low`` to the first at/after ``high``.

    None if any timestamp is missing or off the grid, or a sample does not parse: such a
    stretch is re-encoded rather than trusted.
    """
    seek_to_frame(container, stream, media, low)
    packets: list[_Packet] = []
    for packet in _demux(container, stream):
        tick()
        if packet.pts is None:
            return None
        where = frame_index(packet.pts, stream, media)
        index = round(where)
        if abs(where - index) > GRID_TOLERANCE:
            return None
        try:
            nals = length_prefixed_nals(bytes(packet), config.length_size)
        except ValueError:
            return None
        packets.append(_Packet(index, config.random_access(nals), config.leading(nals)))
        if index >= high:
            break
    else:
        # The stream ended: a segment that ends exactly with it may copy its last GOP, as if
        # an IDR came next (the copy then runs to the end of the file).
        if packets and max(p.index for p in packets) + 1 == high:
            packets.append(_Packet(high, True))
    return packets


def _demux(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream
) -> Iterator[av.Packet]:
    for packet in container.demux(stream):
        if packet.size:  # the demuxer's final empty packet flushes decoders; nothing to copy
            yield packet


def _copy_run(packets: list[_Packet], low: int, high: int) -> tuple[int, int, int] | None:
    """(first, end, delay) of the longest copyable run of frames inside ``low..high``.

    A run starts at the first keyframe at or after ``low`` (an HEVC CRA's leading pictures,
    shown before it, are left out: they are frames of the part before), goes through whole
    GOPs and on into the last one for as far as its packets, in decode order, are exactly the
    frames ``first..end`` (no picture held back for one past the cut). Ending mid-GOP is safe:
    what follows in the reel starts with an IDR of its own (a re-encoded run or another copy).
    For long-GOP sources (a keyframe every 8 s), that copies the rest of any segment after its
    first keyframe instead of nothing. Each frame is shown no earlier than it is decoded minus
    ``delay`` pictures (B-frame reorder).
    """
    begin = next((n for n, p in enumerate(packets) if p.key and low <= p.index < high), None)
    if begin is None:
        return None
    first = packets[begin].index
    after = packets[begin + 1 :]
    while after and after[0].leading and after[0].index < first:
        after = after[1:]
    following = [packets[begin], *after]
    seen: set[int] = set()
    highest, end = first, None
    for packet in following:
        if not first <= packet.index < high or packet.index in seen:
            break
        seen.add(packet.index)
        highest = max(highest, packet.index)
        if highest - first + 1 == len(seen):  # frames first..highest, none missing
            end = highest + 1
    if end is None or end - first < 2:
        return None
    run = following[: end - first]
    delay = max(0, max(n - (p.index - first) for n, p in enumerate(run)))
    return first, end, delay
