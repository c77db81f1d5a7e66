"""Smart render: copy the source's H.264 or HEVC packets from keyframes on, re-encode at joins.

The reel is a sequence of *runs* (re-encoded pictures: segment starts up to their first
keyframe, crossfades) and *copies* (source packets from an IDR on, byte for byte, ending
wherever the next run or copy starts: each of those begins with an IDR of its own). Each run
is a fresh libx264 (libx265) encode, so it starts with an IDR and is flushed before the next
copy; its parameter sets carry ids the source does not use, and the track's ``avcC``
(``hvcC``) lists both the source's and the encoder's, so one decoder plays the spliced stream.
An HEVC copy may also start at a CRA picture (open GOP): see :mod:`.hevc`.

Re-encoded pictures sit on the reel's frame grid (``1 / rate``); copied packets keep the
source's own timing, shifted as their segment is (``CopyRange.origin``), so a variable frame
rate is kept as it was shot. The track's time base holds both exactly (a common multiple of
the grid and the source's clock). Decode timestamps are the presentation times of pictures
that are not reordered (a copy's follow the source's own decode clock from its keyframe),
less a fixed ``delay`` that covers the deepest B-frame reordering of any part, so they rise
across every join and never pass the presentation time.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator, Mapping
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from ..models import MediaInfo, Segment
from ..probe import reopen
from .bitstream import length_prefixed_nals
from .colour import Colour
from .copyplan import CopyPlan, CopyRange, seek_to_time
from .encode import write_video
from .layout import Layout, Plan
from .picture import to_frame
from .soundtrack import ReelSound, SoundTrack
from .tags import open_reel
from .tracks import SourceConfig, Track, track_for

log = logging.getLogger(__name__)

COPY_MUX_OPTIONS = {"strict": "unofficial"}
"""The muxer's options for a track of copied packets. A Dolby Vision source (an iPhone's HDR:
profile 8.4, an HLG base layer with an RPU NAL unit, type 62, in every sample) keeps its RPUs
in the copied samples, and the track made from the source's stream carries its configuration
record (FFmpeg's ``AV_PKT_DATA_DOVI_CONF``, read from the ``dvcC``/``dvvC`` box); but FFmpeg's
MP4 muxer writes that box back only at this compliance level ("Not writing 'dvcC'/'dvvC' box.
Requires -strict unofficial"): without it, players show the reel as plain HLG, passing over
the RPUs. For a source with no such record the reel is the same file either way (the level
only gates that box and stereo/spherical video boxes, which come from the source as the record
does)."""


class SpliceWriter:
    """An MP4 whose H.264 or HEVC track mixes copied source packets with freshly encoded runs."""

    def __init__(
        self,
        path: Path,
        template: av.video.stream.VideoStream,
        config: SourceConfig,
        layout: Layout,
        rate: Fraction,
        sound: ReelSound,
        delay: Fraction,
        rotation: int = 0,
        metadata: Mapping[str, str] | None = None,
        colour: Colour | None = None,
        maxrate: int | None = None,
        bases: tuple[Fraction, ...] = (),
    ):
        """``layout`` is the pictures' size as stored (and format); ``rotation`` (clockwise
        degrees, as ``MediaInfo.rotation``) goes into the track's display matrix to show them
        upright. ``delay``: seconds the copies' pictures are decoded ahead of display at most.
        ``colour``: an HDR reel's, for the re-encoded runs (copies keep the source's own).
        ``maxrate``: the reel's cap in bits/s (``rate.video_cap``), which the runs are held to
        (``tracks.run_cap``: twice it, as each run pays for its own IDR). ``bases``: the
        time bases of other sources whose packets are copied too (a reel of many clips), which
        the track's clock must also hold."""
        self._layout, self._rate, self._maxrate = layout, rate, maxrate
        self._source_base = Fraction(template.time_base)
        self._clock = reel_clock(rate, self._source_base, *bases)
        self._tick = int(self._clock / rate)  # clock ticks per grid frame
        self._track: Track = track_for(config, colour)
        headers = bytes(self._new_encoder().extradata or b"")
        # The source's tags only through ``metadata``.
        self._out = open_reel(path, metadata, COPY_MUX_OPTIONS)
        video = self._out.add_stream_from_template(template)
        if self._track.codec_tag:
            video.codec_tag = self._track.codec_tag
        video.codec_context.extradata = self._track.extradata(headers)
        video.time_base = Fraction(1, self._clock)
        # The template brings the source's display matrix along (FFmpeg copies a stream's side
        # data); replace it with the quarter turn the probe read, which is what the full path
        # shows (a skewed or mirrored matrix is not followed there either).
        video.set_display_rotation(-rotation)  # PyAV's angle is anticlockwise
        self._video = video
        self._sound = SoundTrack(self._out, sound)
        self._delay = max(math.ceil(delay * self._clock), self._track.reorder * self._tick)
        self._encoder: av.VideoCodecContext | None = None
        self._run_start = 0
        self._frames = 0  # reel grid slots filled so far (pictures encoded or queued, copies)
        self._last_dts: int | None = None
        self.copied = 0  # source pictures copied
        self.copied_slots = 0  # reel grid slots they take

    def _new_encoder(self) -> av.VideoCodecContext:
        return self._track.encoder(self._layout, self._rate, self._maxrate)

    def close(self) -> None:
        self._sound.close()
        self._out.close()

    def add(self, picture: np.ndarray) -> None:
        """Encode one reel picture (starting a new run after a copy)."""
        if self._encoder is None:
            self._encoder = self._new_encoder()
            self._run_start = self._frames
        frame = to_frame(picture)
        frame.pts = self._frames - self._run_start
        frame.time_base = 1 / self._rate
        self._mux_encoded(self._encoder.encode(frame))
        self._frames += 1
        self._sound.keep_ahead_of(self._frames / self._rate)

    def copy(
        self,
        packets: Iterator[tuple[int, list[bytes], bool]],
        run: CopyRange,
        base: Fraction | None = None,
    ) -> Iterator[None]:
        """Append the source packets of ``run``: (pts in the source's time base, NAL units,
        keyframe), decode order, at their own times from the slot the run starts at; the n-th
        is decoded when the n-th earliest of them is shown (less the writer's delay).
        ``base``: that source's time base, if not the template's (one of ``bases``).

        A generator that yields after each packet, so the caller can report progress.
        """
        self._end_run()
        count = 0
        at = self._frames * self._tick  # the reel time of ``run.origin``
        source_base = self._source_base if base is None else base

        def reel_time(source_pts: int) -> int:
            return at + round((source_pts * source_base - run.origin) * self._clock)

        for pts, nals, key in packets:
            if count >= len(run.stamps):
                raise RuntimeError(f"more packets than the {run.count} planned")
            when, decode = reel_time(pts), reel_time(run.stamps[count])
            self._mux(self._track.copied(nals, first=count == 0), when, decode, key=key)
            count += 1
            self._sound.keep_ahead_of(when / self._clock)
            yield
        if count != run.count:
            raise RuntimeError(f"copied {count} packets where {run.count} were planned")
        self._frames += run.frames
        self.copied += count
        self.copied_slots += run.frames

    def finish(self) -> None:
        self._end_run()
        self._sound.finish()

    def _end_run(self) -> None:
        if self._encoder is not None:
            self._mux_encoded(self._encoder.encode(None))
            self._encoder = None

    def _mux_encoded(self, packets: list[av.Packet]) -> None:
        for packet in packets:
            assert packet.pts is not None
            data = self._track.encoded(bytes(packet))
            # The runs are not reordered (no B-frames): decoded when shown.
            pts = (self._run_start + packet.pts) * self._tick
            self._mux(data, pts, pts, key=packet.is_keyframe)

    def _mux(self, data: bytes, pts: int, decode: int, key: bool) -> None:
        dts = decode - self._delay
        if self._last_dts is not None and dts <= self._last_dts:
            dts = self._last_dts + 1
        if pts < dts:
            raise RuntimeError(f"picture {pts} would be shown before it is decoded ({dts})")
        packet = av.Packet(data)
        packet.pts, packet.dts, packet.duration = pts, dts, self._tick
        packet.time_base = Fraction(1, self._clock)
        packet.is_keyframe = key
        packet.stream = self._video
        self._out.mux(packet)
        self._last_dts = dts


class PacketSource:
    """The source's video packets for one copy range, as Annex-B, in decode order."""

    def __init__(self, media: MediaInfo, config: SourceConfig, tick: Callable[[], None]):
        self._media, self._config, self._tick = media, config, tick
        self._container = reopen(media)
        self.stream = self._container.streams[media.video_stream]

    def close(self) -> None:
        self._container.close()

    def __enter__(self) -> PacketSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def packets(self, copy: CopyRange) -> Iterator[tuple[int, list[bytes], bool]]:
        """(pts, NAL units, keyframe) from the range's keyframe on: its ``count`` packets
        in decode order, which the copy plan checked are its pictures (the leading pictures of
        a CRA it starts at, shown before it, are left out)."""
        base = Fraction(self.stream.time_base)
        seek_to_time(self._container, self.stream, copy.key_pts * base)
        started = False
        given = 0
        for packet in self._container.demux(self.stream):
            if not packet.size or packet.pts is None:
                continue
            self._tick()
            nals = length_prefixed_nals(bytes(packet), self._config.length_size)
            key = self._config.random_access(nals)
            if not started:
                started = packet.pts == copy.key_pts and key
                if not started:
                    continue
            elif packet.pts < copy.key_pts:
                continue  # a leading picture of the CRA the copy starts at
            if given == copy.count:
                return
            given += 1
            yield packet.pts, nals, key


def reel_clock(rate: Fraction, *source_bases: Fraction) -> int:
    """Ticks a second of the reel's video track: a whole number per grid frame and per tick of
    each source's clock (copied timestamps stay exact). 90 kHz when that would not fit MP4's
    32-bit timescale comfortably (copied times are then rounded to 11 microseconds)."""
    clock = math.lcm(rate.numerator, *(base.denominator for base in source_bases))
    if clock > 10_000_000:
        clock = math.lcm(rate.numerator, 90_000)
    return clock


def write_spliced(
    writer: SpliceWriter,
    packets: PacketSource,
    media: MediaInfo,
    segments: list[Segment],
    plan: Plan,
    copy_plan: CopyPlan,
    layout: Layout,
    tick: Callable[[float], None],
) -> None:
    """``encode.write_video`` with the runs in ``copy_plan`` put in as source packets."""

    def copy_run(run: CopyRange) -> Iterator[None]:
        yield from writer.copy(packets.packets(run), run)

    write_video(writer, media, segments, plan, layout, tick, copy_plan.ranges, copy_run)
    # Pictures and slots differ where the source's rate does (a 30 fps stretch of a 60 fps clip).
    log.info(
        "smart render: copied %d source pictures, %d of %d reel frame slots",
        writer.copied, writer.copied_slots, plan.total,
    )  # fmt: skip
