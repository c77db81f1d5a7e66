"""Measuring a video into a :class:`Timeline`: shots, motion, audio and quality.

Coarse to fine: a demux-only pass indexes the video packets (nearly free); then one pass
decodes all the audio and a prefix of every group of pictures (non-reference frames and the
loop filter skipped, luma only, small), which keeps analysis well under a full decode. A video
long against its reel takes every other GOP in that pass; a second pass then decodes the GOPs
in between only where the caller's ``candidates`` say a highlight may be (what selection
would choose with a wider budget), so it is sampled finely only where that matters.

Frames either side of a skipped stretch are up to a GOP apart: they are never treated as a
motion pair, and a cut between them is judged by colour alone (see :func:`build.gap_cuts`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import av
import cv2
import numpy as np

from ..errors import EngineError
from ..frames import to_gray
from ..models import HighlightOptions, MediaInfo
from ..probe import reopen
from ..progress import Reporter
from ..timeline import Timeline
from . import colour
from .audio import AudioFrames, AudioMeter
from .audio_in import AudioInput
from .build import build_timeline
from .packets import (
    PAIR_RUN,
    PacketIndex,
    coarse_plan,
    decode_plan,
    feed_plan,
    gops_skipped_within,
    index_packets,
    keyframe_times,
    restarts,
    run_starts,
    skipped_spikes,
    within,
)
from .video import (
    DETAIL_SIDE,
    SIDE,
    VideoMeter,
    VideoSamples,
    analysis_width,
    merge,
    pairs_as_planned,
    without,
)

SMALL_PIXELS = 640 * 360
"""At or below this size a full decode is cheap, so every frame is analysed."""
SPARSE_FRACTION = 0.1
"""Share of each GOP decoded above ``SMALL_PIXELS`` (at least the keyframe and two more)."""
COARSE_RATIO = 6.0
"""A coarse first pass only for videos at least this many times the reel's length: shorter
ones have candidates nearly everywhere (on the 2-minute benchmark, a 30 s reel's candidates
covered all of it, and two passes cost more than one); on 10 minutes of 1080p it took a
third of the video and analysis went from 9.4 to 7.6 s."""
UNSURE = 0.12
"""Colour change across a skipped stretch (see :func:`colour.distance`) from which the
stretch is decoded after all. A cut between two shots of alike palettes changes it by only
0.2-0.3 (Big Buck Bunny's meadow to a car interior: 0.25), no more than a busy scene does in a
second, so colour alone cannot tell; people walking or talking change it by under 0.09.
Without this, every cut of a 720p encoding of the evaluation clip but the starkest went
unseen (picks ran across four shots) while its 360p encoding, decoded whole, saw them all."""
SURE = 0.45
"""Colour change across a skipped stretch from which it is a cut without a second look: placed
at the outsized packet in the stretch, or else at the keyframe after it (see
:func:`build.gap_cuts`), up to a GOP late. Decoding such GOPs whole as well doubled the
analysis of the 2-minute benchmark clip (3.0 -> 5.7 s: all 17 of its unsure stretches were
such cuts, each on a keyframe)."""
COARSE_SHARE = 0.7
"""Share of the analysis stage's progress bar the first (coarse) pass fills."""

Candidates = Callable[[Timeline], list[tuple[float, float]]]
"""From a coarse timeline, the spans (seconds) worth measuring finely."""


def analyse(
    media: MediaInfo,
    options: HighlightOptions,
    reporter: Reporter,
    dense_fraction: float | None = None,
    candidates: Candidates | None = None,
) -> Timeline:
    """Measure ``media`` into a timeline.

    ``dense_fraction`` overrides the share of each GOP that is decoded (1.0 = every frame).
    With ``candidates``, a sparse analysis first decodes every other GOP, then the rest only
    inside the spans ``candidates`` picks from that coarse timeline.
    """
    if dense_fraction is None:
        small = media.width * media.height <= SMALL_PIXELS
        dense_fraction = 1.0 if small else SPARSE_FRACTION
    try:
        with reopen(media) as container:
            stream = container.streams[media.video_stream]
            # The cap holds on what the file holds, whatever its header says.
            index = index_packets(container, stream, reporter, media, options.limits)
        reporter.update(0.03)
        plan = decode_plan(index, dense_fraction)
        long = media.duration >= COARSE_RATIO * options.duration
        coarse = coarse_plan(index, plan) if candidates is not None and long else None
        decoded = plan if coarse is None else coarse  # what has been measured so far
        high = 0.96 if coarse is None else COARSE_SHARE
        samples, sound = _measure(media, index, decoded, reporter, (0.03, high))
        if coarse is not None and candidates is not None:
            rough = _timeline(media, samples, sound, index, decoded)
            fine = plan & ~decoded & within(index, candidates(rough), media.start_time)
            if fine.any():
                more, _ = _measure(media, index, fine, reporter, (high, 0.96), sound=False)
                samples, decoded = merge(samples, more), decoded | fine
        samples, decoded = _settle(media, index, samples, decoded, reporter)
    except av.error.FFmpegError as exc:
        raise EngineError(f"the video could not be decoded ({exc})", file=media.path.name) from exc
    if not samples.t:
        raise EngineError("no video frame could be decoded", file=media.path.name)
    reporter.update(0.97)
    timeline = _timeline(media, samples, sound, index, decoded)
    timeline.fine_for = options.duration if coarse is not None else None
    return timeline


def _settle(
    media: MediaInfo,
    index: PacketIndex,
    samples: VideoSamples,
    decoded: np.ndarray,
    reporter: Reporter,
) -> tuple[VideoSamples, np.ndarray]:
    """Decode whole the GOPs whose skipped part may hide a cut (see ``UNSURE``), so that cuts,
    and the picks that follow them, do not depend on where the keyframes fell."""
    unsure = [
        (before, after)
        for before, after, change in zip(
            samples.gap_before, samples.gap_t, samples.gap_change, strict=True
        )
        if UNSURE <= change < SURE
    ]
    again = gops_skipped_within(index, unsure, media.start_time)
    if not again.any():
        return samples, decoded
    spans = _spans_of(again, index, media.start_time)
    more, _ = _measure(media, index, again, reporter, (0.96, 0.96), sound=False)
    shown = decoded & again if index.reference is None else decoded & again & index.reference
    planned = index.times[shown] - media.start_time
    more = pairs_as_planned(more, planned[np.isfinite(planned)])
    return merge(without(samples, spans), more), decoded | again


def _spans_of(mask: np.ndarray, index: PacketIndex, offset: float) -> list[tuple[float, float]]:
    """The time spans (seconds from ``offset``) of the runs of packets ``mask`` picks."""
    spans = []
    ends = np.flatnonzero(mask & ~np.append(mask[1:], False))
    for b, e in zip(np.flatnonzero(run_starts(mask)), ends, strict=True):
        t = index.times[b : e + 1] - offset
        t = t[np.isfinite(t)]
        if len(t):
            spans.append((float(t.min()), float(t.max())))
    return spans


def _timeline(
    media: MediaInfo,
    samples: VideoSamples,
    sound: AudioFrames | None,
    index: PacketIndex,
    plan: np.ndarray,
) -> Timeline:
    offset = media.start_time
    spikes = [t - offset for *_, found in skipped_spikes(index, plan) for t in found]
    timeline = build_timeline(media, samples, sound, spikes)
    timeline.keyframes = keyframe_times(index, offset)
    return timeline


def _measure(
    media: MediaInfo,
    index: PacketIndex,
    plan: np.ndarray,
    reporter: Reporter,
    share: tuple[float, float],
    sound: bool = True,
) -> tuple[VideoSamples, AudioFrames | None]:
    """Decode the packets ``plan`` picks (and all the sound, with ``sound``) and measure them.

    Each pass looks for faces on its own schedule (every few seconds and on each new shot it
    sees), so a fine pass adds face samples where the candidates are.
    """
    feed = feed_plan(index, plan)
    with reopen(media) as container:
        video, audio = _decode(
            container, media, plan, restarts(index, feed), reporter, share, sound, feed
        )
    return video.samples, audio


def _decode(
    container,
    media: MediaInfo,
    plan: np.ndarray,
    restart: np.ndarray,
    reporter: Reporter,
    share: tuple[float, float] = (0.03, 0.96),
    sound: bool = True,
    feed: np.ndarray | None = None,
):
    """Decode and measure the packets ``plan`` picks; ``feed``: the packets the decoder is fed
    for them (``plan`` itself by default: see :func:`.packets.feed_plan`)."""
    video = VideoMeter()
    meter = AudioMeter() if sound and media.audio_stream is not None else None
    feed = plan if feed is None else feed
    try:
        audio = _feed(container, media, plan, feed, restart, reporter, video, share, meter)
        video.finish()
    finally:
        # Also on cancel or a decode error: no face or voice worker left behind.
        video.close()
        if meter is not None:
            meter.close()
    return video, audio


def _feed(
    container,
    media: MediaInfo,
    plan: np.ndarray,
    feed: np.ndarray,
    restart: np.ndarray,
    reporter: Reporter,
    video: VideoMeter,
    share: tuple[float, float],
    meter: AudioMeter | None,
) -> AudioFrames | None:
    """Decode the ``feed`` video packets and measure the pictures of the ``plan`` ones (and
    all the audio, into ``meter``) into ``video``; the audio's measurements. ``restart`` marks
    the packets before which the decoder is drained and reset; progress goes from
    ``share[0]`` to ``share[1]`` of the stage."""
    vstream = container.streams[media.video_stream]
    if feed.all():
        vstream.thread_type = "AUTO"
    elif not restart.any():
        # Every run starts at an IDR, so the decoder needs no reset between runs: frame
        # threads, never drained, keep the keyframes of neighbouring runs decoding at once on
        # different cores (a run's few P-frames only wait on their own keyframe).
        vstream.thread_type = "FRAME"
        vstream.thread_count = frame_threads(feed)
    else:
        # Draining before each reset would leave frame threads waiting on each other.
        vstream.thread_type = "SLICE"
    codec = vstream.codec_context
    codec.skip_frame = "NONREF"  # B-frames nobody refers to: skipping them costs no accuracy
    codec.options = {"skip_loop_filter": "all"}  # deblocking is invisible at 160 px wide
    streams = [vstream]
    sound = None
    if meter is not None and media.audio_stream is not None:
        streams.append(container.streams[media.audio_stream])
        sound = AudioInput(meter)
    offset = media.start_time
    duration = max(media.duration, 1e-3)
    runs = _Runs(video)
    reached = 0.0
    last = time.monotonic()

    base = vstream.time_base
    width = analysis_width(media.width, media.height, SIDE)
    detail_width = analysis_width(media.width, media.height, DETAIL_SIDE)
    # The size to_gray gives a ``width``-wide image (upright, display aspect, even height).
    small = (width, max(2, round(width * media.height / max(1, media.width)) // 2 * 2))

    def take(frame: av.VideoFrame) -> None:
        # From pts and the stream's time base: frames drained from a frame-threaded decoder
        # (decode(None)) carry no time base, so their ``frame.time`` is NaN.
        if frame.pts is None or base is None or not runs.keep(frame.pts):
            return
        t = float(frame.pts * base) - offset
        detail = to_gray(frame, media, detail_width) if video.wants_detail(t) else None
        if detail is not None:
            # Shrinking the detail image again is far cheaper than the full frame a second time.
            gray = cv2.resize(detail, small, interpolation=cv2.INTER_AREA)
        else:
            gray = to_gray(frame, media, width)
        video.add(t, gray, colour.histogram(frame, gray))
        if detail is not None:
            video.add_detail(t, detail)

    damage = _Damage(media)
    k = 0
    for packet in container.demux(streams):
        if packet.stream.type == "video":
            if packet.size == 0:
                continue
            wanted = bool(feed[k]) if k < len(feed) else True
            measured = bool(plan[k]) if k < len(plan) else True
            reset = k < len(restart) and bool(restart[k])
            k += 1
            if wanted:
                if reset:
                    for frame in damage.decode(codec, None):  # drain what is held back
                        take(frame)
                    codec.flush_buffers()
                if measured:
                    runs.fed(packet.pts)
                else:
                    runs.bridged(packet.pts)
                for frame in damage.decode(codec, packet):
                    take(frame)
            else:
                runs.skipped()
        elif sound is not None:
            for frame in damage.decode(packet.stream.codec_context, packet):
                sound.add(frame)
        if time.monotonic() - last > 0.1:
            last = time.monotonic()
            if packet.pts is not None:
                # Packets come in decode order (B-frames after the frames they refer to) and
                # interleaved with audio: keep the furthest time so progress never goes back.
                reached = max(reached, float(packet.pts * packet.time_base) - offset)
            done = min(1.0, max(0.0, reached) / duration)
            reporter.update(share[0] + (share[1] - share[0]) * done)
    for frame in damage.decode(codec, None):
        take(frame)
    damage.check()
    return sound.finish().finish() if sound is not None else None


DAMAGED_SHARE = 0.5
"""Share of the packets decoded that may be damaged (skipped, as a player would) before the
video counts as too damaged to find its moments in: a damaged packet costs a measurement or
two, and what the rest show still stands."""


class _Damage:
    """Decodes, skipping damaged packets; counts them per kind of stream (the sound's many
    small packets must not hide a ruined picture) to tell a few bit errors from a ruin."""

    def __init__(self, media: MediaInfo) -> None:
        self._media = media
        self.seen: dict[str, int] = {}
        self.bad: dict[str, int] = {}

    def decode(self, codec: av.CodecContext, packet: av.Packet | None) -> list:
        kind = codec.type
        self.seen[kind] = self.seen.get(kind, 0) + 1
        try:
            return codec.decode(packet)
        except av.error.FFmpegError as exc:
            # Damaged sound fails in more ways than one (FFmpeg's AAC decoder also says EPERM).
            if kind == "video" and not isinstance(exc, av.error.InvalidDataError):
                raise
            self.bad[kind] = self.bad.get(kind, 0) + 1
            return []

    def check(self) -> None:
        # The picture only: damaged sound is measured for what of it decodes (the render
        # notes what the reel's sound lost), never failing the picture.
        bad, seen = self.bad.get("video", 0), self.seen.get("video", 0)
        if bad > max(2, DAMAGED_SHARE * seen):
            raise EngineError(
                f"the video is too damaged to use ({bad} of the {seen} pieces of its picture "
                "read could not be decoded)",
                file=self._media.path.name,
            )


MAX_FRAME_THREADS = 16
"""FFmpeg's own cap on automatic frame threads; each holds a decoder context and pictures."""


def frame_threads(plan: np.ndarray) -> int:
    """Decoder frame threads for a sparse plan: enough for one run per core in flight.

    Only a run's first few packets count: with long GOPs (runs of 25 packets at x264's default
    spacing) more threads gained nothing and held ~7 MB each at 1080p (4x that at 4K).
    """
    run = int(np.count_nonzero(plan)) // max(1, int(run_starts(plan).sum()))
    run = min(run, PAIR_RUN)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(2, min(MAX_FRAME_THREADS, run * (cores or 1)))


_BRIDGE = -1
"""The run of a packet decoded only to reach a run inside its GOP (see ``packets.feed_plan``)."""


class _Runs:
    """Which run of decoded packets each frame came from, for frames leaving the decoder late.

    A frame-threaded decoder returns frames a few packets after their own, so a skip in the
    plan is found from the frame's timestamp: a frame of a new run tells ``video`` that it is
    not adjacent to the last one. A frame of a run that shows before the run's keyframe (a
    leading picture of an open GOP) refers to pictures in the skipped stretch, which the
    decoder never saw: it is dropped.
    """

    def __init__(self, video: VideoMeter) -> None:
        self._video = video
        self._run_of: dict[int, int] = {}
        self._first: list[int] = []
        self._new = True
        self._shown: int | None = None

    def skipped(self) -> None:
        self._new = True

    def bridged(self, pts: int | None) -> None:
        """A packet decoded only for the pictures after it: its picture is not measured."""
        self._new = True
        if pts is not None:
            self._run_of[pts] = _BRIDGE

    def fed(self, pts: int | None) -> None:
        if pts is None:
            return
        if self._new:
            self._first.append(pts)
            self._new = False
        self._run_of[pts] = len(self._first) - 1

    def keep(self, pts: int) -> bool:
        run = self._run_of.pop(pts, None)
        if run is None:
            return True  # not a packet's time (the decoder made it up): as the last run
        if run == _BRIDGE:
            return False
        if pts < self._first[run]:
            return False
        if self._shown is not None and run != self._shown:
            self._video.gap()
        self._shown = run
        return True
