"""Decoding planned video packets on worker threads, each with a decoder of its own.

The sparse plan decodes a short run after every keyframe, and every run starts the decoder
afresh, so runs do not depend on each other: two decoders take them in turn. FFmpeg decodes
and OpenCV shrinks without the GIL, so the second core works on the largest part of
analysis, decoding keyframes, too (analysis of the 2-minute 1080p benchmark clip: 2.2-2.8 s
-> 1.7-1.9 s). The caller takes the results back in order, so measurements still see
frames in presentation order.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import av
import cv2
import numpy as np

from ..frames import to_gray
from ..models import MediaInfo
from ..probe import open_input
from . import colour
from .video import DETAIL_EVERY, DETAIL_WIDTH, WIDTH


@dataclass(frozen=True)
class Look:
    """What analysis keeps of one decoded frame."""

    t: float
    """Seconds from the start of the stream."""
    gray: np.ndarray
    """Upright luma, ``WIDTH`` wide."""
    hist: np.ndarray
    """:func:`colour.histogram` of the frame."""
    detail: np.ndarray | None
    """Upright luma, ``DETAIL_WIDTH`` wide, on the first frame of a run and of each
    ``DETAIL_EVERY`` seconds in it (sharpness and faces need more pixels, not every frame)."""


@dataclass(frozen=True)
class Piece:
    """Consecutive planned packets for one decoder, in decode order."""

    packets: list[av.Packet]
    reset: bool = False
    """The decoder starts afresh (a run of the sparse plan begins at a keyframe after a
    skipped stretch)."""
    drain: bool = False
    """The decoder gives up the frames it still holds (the run or the stream ends here)."""


class Decoders:
    """``workers`` decoders, each on a thread of its own; a piece goes to the one named.

    Pieces sent to one worker are decoded in order, so a run split into pieces continues on
    the decoder that began it; runs that start afresh may go to any worker.
    """

    def __init__(self, media: MediaInfo, workers: int, thread_type: str) -> None:
        self._media = media
        self._thread_type = thread_type
        self._pools = [
            ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"decode{i}")
            for i in range(workers)
        ]
        self._codecs: list[tuple[av.VideoCodecContext, float] | None] = [None] * workers
        # Per worker: the DETAIL_EVERY slot of its last detail image, so a run that comes in
        # pieces is sampled as if it came whole.
        self._slots: list[int | None] = [None] * workers
        self._containers: list[av.container.InputContainer] = []
        self._lock = threading.Lock()
        # The size to_gray gives a WIDTH-wide image (upright, display aspect, even height).
        self._small = (WIDTH, max(2, round(WIDTH * media.height / max(1, media.width)) // 2 * 2))

    @property
    def workers(self) -> int:
        return len(self._pools)

    def submit(self, worker: int, piece: Piece) -> Future[list[Look]]:
        return self._pools[worker].submit(self._decode, worker, piece)

    def close(self) -> None:
        """Stop the workers (each finishes the piece it is on) and close their decoders."""
        for pool in self._pools:
            pool.shutdown(wait=True, cancel_futures=True)
        with self._lock:
            for container in self._containers:
                container.close()
            self._containers.clear()

    def _codec(self, worker: int) -> tuple[av.VideoCodecContext, float]:
        """The worker's decoder: the video stream of its own opening of the file (packets
        demuxed by the caller decode in any context of the same stream)."""
        opened = self._codecs[worker]
        if opened is None:
            container = open_input(self._media.path)
            with self._lock:
                self._containers.append(container)
            stream = container.streams[self._media.video_stream]
            stream.thread_type = self._thread_type
            codec = stream.codec_context
            codec.skip_frame = "NONREF"  # B-frames nobody refers to: no accuracy lost
            codec.options = {"skip_loop_filter": "all"}  # deblocking is invisible at 160 px
            opened = self._codecs[worker] = (codec, float(stream.time_base or 0))
        return opened

    def _decode(self, worker: int, piece: Piece) -> list[Look]:
        codec, base = self._codec(worker)
        looks: list[Look] = []
        take = self._taker(looks, base, worker)
        if piece.reset:
            codec.flush_buffers()
            self._slots[worker] = None
        for packet in piece.packets:
            for frame in codec.decode(packet):
                take(frame)
        if piece.drain:
            for frame in codec.decode(None):
                take(frame)
        return looks

    def _taker(
        self, looks: list[Look], base: float, worker: int
    ) -> Callable[[av.VideoFrame], None]:
        media, small, slots = self._media, self._small, self._slots

        def take(frame: av.VideoFrame) -> None:
            # From pts and the stream's time base: frames drained from a frame-threaded
            # decoder (decode(None)) carry no time base, so their ``frame.time`` is NaN.
            if frame.pts is None or not base:
                return
            t = float(frame.pts * base) - media.start_time
            detail = None
            if int(t // DETAIL_EVERY) != slots[worker]:
                slots[worker] = int(t // DETAIL_EVERY)
                detail = to_gray(frame, media, DETAIL_WIDTH)
                # Shrinking the detail image again is far cheaper than the frame a second time.
                gray = cv2.resize(detail, small, interpolation=cv2.INTER_AREA)
            else:
                gray = to_gray(frame, media, WIDTH)
            looks.append(Look(t, gray, colour.histogram(frame, gray), detail))

        return take
