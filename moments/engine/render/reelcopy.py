"""Smart render of a reel of many clips: the GOPs of clips whose stream is the reel's, copied.

A phone writes the same parameter sets (SPS/PPS, or VPS/SPS/PPS) for every clip it films in
one mode, so clips of one camera mode can share one track: their packets are copied byte for
byte (keeping their own timing, a variable frame rate and all), as a single video's are (see
:mod:`.splice`). A clip joins that *copy group* when the reel shows its pictures unchanged:
same codec and parameter sets (an H.264 SPS may differ in what tells its frame rate: a 60 fps
clip is copied into a 30 fps reel at its own rate), same stored size and turn (the track has
one display matrix), no crop, scaling, tone mapping or halved rate. Everything else goes into
the same track re-encoded (the runs of :class:`.splice.SpliceWriter`, parameter sets under ids
of their own): the heads before a segment's first keyframe, crossfades, and the whole of every
clip of another shape, size or camera mode, cropped around its subject as the full path does.

The group is the one that holds the most footage; with none (or nothing in it to copy), the
reel is re-encoded whole (:func:`.many.render_many`'s writer).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from ..models import HighlightOptions, MediaInfo
from ..probe import reopen
from .bitstream import AvcConfig, sps_level, sps_without_rate
from .colour import Colour
from .copyplan import CopyPlan, CopyRange, as_stored, copy_refusal, plan_copy, source_config
from .encode import write_video
from .layout import Layout
from .soundtrack import ReelSound
from .splice import PacketSource, SpliceWriter
from .tracks import SourceConfig

if TYPE_CHECKING:
    from .many import Part

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CopyGroup:
    """Clips (indexes into the reel's parts) whose packets one track can hold as they are."""

    members: tuple[int, ...]
    config: SourceConfig
    rotation: int
    """The members' display turn (clockwise degrees), the reel track's display matrix."""
    shared: SourceConfig | None = None
    """What the members' parameter sets have in common (``_stream_key``); a member's copy
    plan is taken when its own sets come to this."""

    def holds(self, config: SourceConfig) -> bool:
        """Whether the track's parameter sets decode packets of a source with ``config``."""
        return config == self.config or (_rate_free(config) or config) == self.shared


def _stream_key(media: MediaInfo) -> tuple[tuple, SourceConfig] | None:
    """What must be equal for two clips' packets to share one track: codec, parameter sets
    (byte for byte, but for an H.264 SPS's frame rate: see ``_rate_free``), stored size and
    turn; and the clip's own parameter sets. None when they cannot be read."""
    with reopen(media) as container:
        stream = container.streams[media.video_stream]
        config = source_config(media.video_codec, bytes(stream.codec_context.extradata or b""))
    if config is None:
        return None
    shared = _rate_free(config) or config
    key = (media.video_codec, shared, media.rotation, media.coded_width, media.coded_height)
    return key, config


def _rate_free(config: SourceConfig, level: int = 0) -> AvcConfig | None:
    """An H.264 source's parameter sets with its SPS's frame rate left out (no VUI timing,
    ``level_idc`` set to ``level``: :func:`.bitstream.sps_without_rate`), or None (HEVC, or an
    SPS not read here). A phone's 30 and 60 fps clips differ in nothing else."""
    if not isinstance(config, AvcConfig):
        return None
    sps = [sps_without_rate(nal, level) for nal in config.sps]
    if any(nal is None for nal in sps):
        return None
    return AvcConfig(config.length_size, tuple(n for n in sps if n is not None), config.pps)


def _track_config(configs: list[SourceConfig]) -> SourceConfig:
    """The parameter sets of a track that holds the packets of sources with ``configs`` (one
    key of ``_stream_key``): theirs when they are the same, else their SPS without a frame
    rate at the highest level among them (a 60 fps clip's level among 30 fps clips')."""
    first = configs[0]
    if all(c == first for c in configs) or not isinstance(first, AvcConfig):
        return first
    level = max(sps_level(nal) for c in configs if isinstance(c, AvcConfig) for nal in c.sps)
    return _rate_free(first, level) or first


def copy_group(
    medias: list[MediaInfo], frame: Layout, options: HighlightOptions, hdr: bool
) -> CopyGroup | None:
    """The copy group of the reel whose (upright) frame is ``frame``: the clips shown at
    exactly their own size and format with one set of parameter sets, the set that holds the
    most footage; None when no clip can be copied.

    A member's copies keep their own timing whatever the reel's rate (the rate of its
    re-encoded pictures): a 60 fps clip's GOPs copied into a 30 fps reel play at 60 fps,
    as MP4 holds each picture's time and players show a variable rate as it is. Re-encoded
    on the reel's grid instead, as before, the benchmark's 60 fps landscape clip cost one
    x264 picture (~14 ms of processor time at 1080p) every 1/30 s of its share of the reel."""
    groups: dict[tuple, list[int]] = {}
    configs: dict[int, SourceConfig] = {}
    for index, media in enumerate(medias):
        if copy_refusal(media, options) is not None:
            continue
        if (media.width, media.height) != (frame.width, frame.height):
            continue  # another shape or size: scaled or cropped into the frame
        if bool(media.hdr) != hdr:
            continue  # tone-mapped into an SDR reel
        found = _stream_key(media)
        if found is not None:
            key, configs[index] = found
            groups.setdefault(key, []).append(index)
    if not groups:
        return None
    key, members = max(groups.items(), key=lambda item: sum(medias[i].duration for i in item[1]))
    config = _track_config([configs[i] for i in members])
    return CopyGroup(tuple(members), config, key[2], key[1])


def plan_copies(
    parts: list[Part], group: CopyGroup, tick: Callable[[], None]
) -> dict[int, CopyPlan]:
    """Per member part, what of its segments is copied (members with nothing to copy absent)."""
    plans = {}
    for index in group.members:
        part = parts[index]
        found = plan_copy(part.media, part.segments, part.plan, tick)
        if found is not None and found.ranges and group.holds(found.config):
            plans[index] = found
    return plans


def write_reel_spliced(
    path: Path,
    parts: list[Part],
    group: CopyGroup,
    copies: dict[int, CopyPlan],
    frame: Layout,
    rate: Fraction,
    sound: ReelSound,
    tick: Callable[[float], None],
    check: Callable[[], None],
    metadata: dict[str, str],
    colour: Colour | None,
    maxrate: int | None,
) -> tuple[int, int]:
    """Write every part into one spliced track at ``path``: members' copies as packets, the rest
    re-encoded. Returns (source pictures copied, reel frame slots they take)."""
    reference = parts[group.members[0]].media
    # The reel's pixel format (10-bit for an HDR reel) is the parts' (``frame`` is the shape).
    frame = replace(frame, pix_fmt=parts[0].layout.pix_fmt)
    stored_frame = as_stored(reference, frame)[1]
    bases = tuple(_time_base(parts[i].media) for i in copies)
    with PacketSource(reference, group.config, check) as template:
        writer = SpliceWriter(
            path,
            template.stream,
            group.config,
            stored_frame,
            rate,
            sound,
            max((plan.delay for plan in copies.values()), default=Fraction(0)),
            rotation=group.rotation,
            metadata=metadata,
            colour=colour,
            maxrate=maxrate,
            bases=bases,
        )
        try:
            for index, (part, part_tick) in enumerate(part_ticks(parts, tick)):
                copy_plan = copies.get(index)
                if copy_plan is None:
                    media, layout, turn = _as_made(part, group, frame)
                    sink = _Turned(writer, turn)
                    write_video(sink, media, part.segments, part.plan, layout, part_tick)
                else:
                    _write_copied(writer, part, copy_plan, frame, check, part_tick)
            writer.finish()
        finally:
            writer.close()
    return writer.copied, writer.copied_slots


def _as_made(part: Part, group: CopyGroup, frame: Layout) -> tuple[MediaInfo, Layout, int]:
    """How a part that is not copied is made for the spliced track: (source, layout, turn).

    A clip stored with the track's own turn and shown whole (a portrait clip of another frame
    rate or camera mode in a portrait reel) is made as it is stored, as the copies' own joins
    are (:func:`.copyplan.as_stored`): no picture is turned at all. Made upright and turned back
    instead, each 1080x1920 picture was turned twice (~14 ms) for the same pixels. Any other
    part is made upright at the frame's size (cropped around the subject), then turned as the
    track stores its pictures.
    """
    media = part.media
    turned = media.rotation % 360 != 0 and media.rotation == group.rotation
    if turned and not part.layout.crops and abs(media.sample_aspect_ratio - 1.0) < 1e-6:
        stored, layout = as_stored(media, frame)
        return stored, layout, 0
    return media, part.layout, group.rotation


def part_ticks(
    parts: list[Part], tick: Callable[[float], None]
) -> Iterator[tuple[Part, Callable[[float | None], None]]]:
    """Each part with its progress: its own fraction done (0..1) as the whole reel's."""
    whole = max(1, sum(p.plan.total for p in parts))
    done = 0
    for part in parts:

        def part_tick(
            fraction: float | None = None, offset: int = done, frames: int = part.plan.total
        ) -> None:
            tick((offset + (fraction or 0.0) * frames) / whole)

        yield part, part_tick
        done += part.plan.total


def _write_copied(
    writer: SpliceWriter,
    part: Part,
    copy_plan: CopyPlan,
    frame: Layout,
    check: Callable[[], None],
    tick: Callable[[float], None],
) -> None:
    stored, stored_layout = as_stored(part.media, frame)
    with PacketSource(part.media, copy_plan.config, check) as packets:
        base = Fraction(packets.stream.time_base)

        def copy_run(run: CopyRange) -> Iterator[None]:
            yield from writer.copy(packets.packets(run), run, base)

        write_video(
            _Turned(writer, 0),
            stored,
            part.segments,
            part.plan,
            stored_layout,
            tick,
            copy_plan.ranges,
            copy_run,
        )


def _time_base(media: MediaInfo) -> Fraction:
    with reopen(media) as container:
        return Fraction(container.streams[media.video_stream].time_base)


_UNDO_TURN = {
    1: cv2.ROTATE_90_COUNTERCLOCKWISE,
    2: cv2.ROTATE_180,
    3: cv2.ROTATE_90_CLOCKWISE,
}
"""OpenCV's turn for each number of anticlockwise quarter turns (``np.rot90``'s ``k``)."""


def _planes(picture: np.ndarray) -> list[np.ndarray]:
    """The Y, U and V planes of a 4:2:0 picture (``picture`` module's layout), as views."""
    height = picture.shape[0] * 2 // 3
    width = picture.shape[1]
    chroma = picture[height:].reshape(-1)
    quarter = (height // 2) * (width // 2)
    return [
        picture[:height],
        chroma[:quarter].reshape(height // 2, width // 2),
        chroma[quarter:].reshape(height // 2, width // 2),
    ]


def turn_picture(picture: np.ndarray, rotation: int) -> np.ndarray:
    """An upright 4:2:0 picture (``picture`` module's layout: Y rows, then U and V) turned back
    as a track with display turn ``rotation`` (clockwise degrees) stores it.

    Each plane is turned by OpenCV straight into its place in the new picture: NumPy's turned
    views copied out and joined cost 7-9 ms a 1080x1920 picture, this 1.1-1.2 ms (the same
    bytes), on every re-encoded picture of a reel of portrait phone clips."""
    k = (rotation // 90) % 4  # anticlockwise quarter turns undo the clockwise display turn
    if rotation % 360 == 0 or k == 0:
        return picture
    height, width = picture.shape[0] * 2 // 3, picture.shape[1]
    out_h, out_w = (width, height) if k % 2 else (height, width)
    out = np.empty((out_h * 3 // 2, out_w), picture.dtype)
    for plane, place in zip(_planes(picture), _planes(out), strict=True):
        turned = cv2.rotate(plane, _UNDO_TURN[k], dst=place)
        if turned is not place:  # (OpenCV made an array of its own: copied into place)
            place[...] = turned
    return out


class _Turned:
    """The spliced writer, handed to one part's ``write_video``: pictures turned as the track
    stores them, and its ``finish`` left to the reel (it is not the part's)."""

    def __init__(self, writer: SpliceWriter, rotation: int) -> None:
        self._writer, self._rotation = writer, rotation

    def add(self, picture: np.ndarray) -> None:
        self._writer.add(turn_picture(picture, self._rotation))

    def finish(self) -> None:
        pass
