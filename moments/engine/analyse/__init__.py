"""One decode pass that measures shots, motion, audio and quality into a :class:`Timeline`.

Coarse to fine: a demux-only pass indexes the video packets (nearly free); then one pass
decodes all the audio and a prefix of every group of pictures (non-reference frames and the
loop filter skipped, luma only, small), which keeps analysis well under a full decode. The
video runs are decoded on one worker thread per core (:mod:`.decode`); the audio, the
measurements and the demuxing stay on the calling thread, faces on one more.

Frames either side of a skipped stretch are up to a GOP apart: they are never treated as a
motion pair, and a cut between them is judged by colour alone (see :func:`build.gap_cuts`).
"""

from __future__ import annotations

import time
from collections import deque
from concurrent.futures import Future

import av
import numpy as np

from ..errors import EngineError
from ..models import HighlightOptions, MediaInfo
from ..probe import open_input
from ..progress import Reporter
from ..timeline import Timeline
from .audio import AudioMeter
from .audio_in import AudioInput
from .build import build_timeline
from .decode import Decoders, Look, Piece
from .packets import decode_plan, index_packets, keyframe_times, skipped_spikes
from .video import VideoMeter

SMALL_PIXELS = 640 * 360
"""At or below this size a full decode is cheap, so every frame is analysed."""
SPARSE_FRACTION = 0.1
"""Share of each GOP decoded above ``SMALL_PIXELS`` (at least the keyframe and two more)."""
DECODERS = 2
"""Decoders working on a sparse plan's runs at once: one per core of the machine we aim at."""
PIECE = 64
"""Packets per piece of a long run sent to a decoder."""
AHEAD = 8
"""Pieces out with the decoders at most (bounds the packets and pictures held)."""


def analyse(
    media: MediaInfo,
    options: HighlightOptions,
    reporter: Reporter,
    dense_fraction: float | None = None,
) -> Timeline:
    """Measure ``media`` into a timeline.

    ``dense_fraction`` overrides the share of each GOP that is decoded (1.0 = every frame).
    """
    if dense_fraction is None:
        small = media.width * media.height <= SMALL_PIXELS
        dense_fraction = 1.0 if small else SPARSE_FRACTION
    try:
        with open_input(media.path) as container:
            index = index_packets(container, container.streams[media.video_stream], reporter)
        reporter.update(0.03)
        plan = decode_plan(index, dense_fraction)
        with open_input(media.path) as container:
            video, sound = _decode(container, media, plan, reporter)
        offset = media.start_time
        spikes = [t - offset for *_, found in skipped_spikes(index, plan) for t in found]
    except av.error.FFmpegError as exc:
        raise EngineError(f"{media.path.name}: the video could not be decoded ({exc})") from exc
    if not video.samples.t:
        raise EngineError(f"{media.path.name}: no video frame could be decoded")
    reporter.update(0.97)
    timeline = build_timeline(media, video.samples, sound.finish() if sound else None, spikes)
    timeline.keyframes = keyframe_times(index, offset)
    return timeline


def _decode(container, media: MediaInfo, plan: np.ndarray, reporter: Reporter):
    video = VideoMeter()
    dense = bool(plan.all())
    # Frame threads pay off on long runs of frames; a sparse plan restarts the decoder every
    # few frames, where they only wait on each other: there, one decoder per core instead.
    decoders = Decoders(media, 1 if dense else DECODERS, "AUTO" if dense else "SLICE")
    try:
        sound = _feed(container, media, plan, reporter, _Runs(decoders, video, dense))
        video.finish()
    finally:
        decoders.close()
        video.close()  # also on cancel or a decode error: no worker left behind
    return video, sound


class _Runs:
    """Planned video packets grouped into pieces for the decoders; results taken in order.

    A run (consecutive planned packets) of a sparse plan goes to the next decoder in turn,
    starting afresh and drained at its end; a dense plan is one run on one decoder. Long runs
    go in pieces of ``PIECE`` packets, and at most ``AHEAD`` pieces are out at once, so
    memory stays bounded whatever the GOP length.
    """

    def __init__(self, decoders: Decoders, video: VideoMeter, dense: bool) -> None:
        self._decoders, self._video, self._dense = decoders, video, dense
        self._pending: deque[tuple[Future[list[Look]], bool]] = deque()
        self._packets: list[av.Packet] = []
        self._worker = 0
        self._started = False

    def add(self, packet: av.Packet) -> None:
        self._packets.append(packet)
        if len(self._packets) >= PIECE:
            self._send(drain=False, gap=False)
        self.collect()

    def end(self, gap: bool) -> None:
        """The run ends: ``gap`` when frames are skipped before the next one."""
        if self._packets or self._started:
            self._send(drain=True, gap=gap)
        self._started = False

    def _send(self, drain: bool, gap: bool) -> None:
        start = not self._started
        if start and not self._dense:
            self._worker = (self._worker + 1) % self._decoders.workers
        piece = Piece(self._packets, reset=start and not self._dense, drain=drain)
        self._pending.append((self._decoders.submit(self._worker, piece), gap))
        self._packets = []
        self._started = not drain

    def collect(self, wait: bool = False) -> None:
        """Measure the finished pieces, in order (all of them with ``wait``)."""
        while self._pending and (wait or self._pending[0][0].done() or len(self._pending) > AHEAD):
            future, gap = self._pending.popleft()
            for look in future.result():
                if look.detail is not None:
                    self._video.add_detail(look.t, look.detail)
                self._video.add(look.t, look.gray, look.hist)
            if gap:
                self._video.gap()


def _feed(container, media: MediaInfo, plan: np.ndarray, reporter: Reporter, runs: _Runs):
    """Send the planned video packets to ``runs`` and decode all the audio; the audio meter.
    The measurements of the video go into the runs' video meter."""
    vstream = container.streams[media.video_stream]
    streams = [vstream]
    sound = None
    if media.audio_stream is not None:
        streams.append(container.streams[media.audio_stream])
        sound = AudioInput(AudioMeter())
    offset = media.start_time
    duration = max(media.duration, 1e-3)
    k = 0
    feeding = False
    reached = 0.0
    last = time.monotonic()
    for packet in container.demux(streams):
        if packet.stream.type == "video":
            if packet.size == 0:
                continue
            wanted = bool(plan[k]) if k < len(plan) else True
            k += 1
            if wanted:
                runs.add(packet)
            elif feeding:
                runs.end(gap=True)
            feeding = wanted
        elif sound is not None:
            for frame in packet.decode():
                sound.add(frame)
        if time.monotonic() - last > 0.1:
            last = time.monotonic()
            runs.collect()
            if packet.pts is not None:
                # Packets come in decode order (B-frames after the frames they refer to) and
                # interleaved with audio: keep the furthest time so progress never goes back.
                reached = max(reached, float(packet.pts * packet.time_base) - offset)
            reporter.update(0.03 + 0.93 * min(1.0, max(0.0, reached) / duration))
    runs.end(gap=False)
    runs.collect(wait=True)
    return sound.finish() if sound is not None else None
