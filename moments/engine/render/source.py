"""Reading source frames at given times: seek when it pays, otherwise keep decoding."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator

import av

from ..models import MediaInfo
from ..probe import reopen

SEEK_GAP = 2.0
"""Seconds ahead beyond which a keyframe seek beats decoding through."""
SEEK_BACK = 1.0
"""Seconds a seek first steps back when it landed past the keyframe a time needs (doubled on
each further try)."""


class VideoSource:
    """Frames of the source's video stream, handed out for a grid of source times.

    For each requested time it returns the frame on screen then (the last one whose
    timestamp is at or before it, with half a tick of slack so a constant-rate source maps
    one to one). Real timestamps are used, so variable-frame-rate input plays at true speed.
    """

    def __init__(self, media: MediaInfo, tick: Callable[[], None], short_runs: bool = False):
        """``short_runs``: frames will be asked for a few dozen at a time between seeks (a
        smart render's crossfades). Frame threads then only wait on each other after every
        seek and crowd out the encoder: slice threads instead (a 30 s reel 3.1 -> 2.7 s);
        over long runs frame threads are faster (a full re-encode 14.1 -> 13.5 s)."""
        self._media = media
        self._tick = tick
        self._container = reopen(media)
        self._stream = self._container.streams[media.video_stream]
        self._stream.thread_type = "SLICE" if short_runs else "AUTO"
        self._frames: Iterator[av.VideoFrame] | None = None
        self._current: av.VideoFrame | None = None
        self._next: av.VideoFrame | None = None
        self._ended = False

    def close(self) -> None:
        self._container.close()

    def __enter__(self) -> VideoSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _time(self, frame: av.VideoFrame) -> float:
        return float(frame.time or 0.0) - self._media.start_time

    def _seek(self, seconds: float) -> None:
        self._frames = self._decode(self._keyframe_before(seconds + self._media.start_time))
        self._current = None
        self._next = None
        self._ended = False
        self._advance()

    def _keyframe_before(self, target: float) -> Iterator[av.Packet]:
        """The video packets from the last keyframe at or before ``target`` (stream seconds).

        A container with an index (MP4, Matroska) seeks straight to that keyframe. MPEG-TS has
        none: FFmpeg finds a packet by its timestamp alone, often a frame after the keyframe
        (with B-frames, a keyframe's decode time is before its presentation time), and a
        decoder given no keyframe shows nothing until the next one, perhaps many seconds
        later. So packets are skipped up to a keyframe, and if the first one found is past
        ``target`` the seek steps back further. Timestamps may be negative (a TS whose clock
        wrapped is unwrapped backwards by FFmpeg): the floor is the stream's start.
        """
        stream, start = self._stream, self._media.start_time
        base = float(stream.time_base or 0)
        back = 0.0
        while True:
            # The first seek goes where asked (never below 0 unless the stream starts there);
            # after a miss, a step that reaches the start goes a little below it, so it lands
            # before the first keyframe however long its decode time leads its presentation.
            at = max(target, min(start, 0.0)) if back == 0.0 else target - back
            bottom = back > 0.0 and at <= start
            if bottom:
                at = start - SEEK_BACK
            self._seek_to(at, fallback=min(start, 0.0) if bottom else None)
            packets = (p for p in self._container.demux(stream) if p.size)
            if bottom or not base:
                return packets  # from the first packet: whatever decodes from there
            for packet in packets:
                if packet.is_keyframe:
                    when = packet.pts if packet.pts is not None else packet.dts
                    if when is None or when * base <= target + 1e-6:
                        return itertools.chain([packet], packets)
                    break  # past ``target``: the keyframe it needs is further back
                when = packet.dts if packet.dts is not None else packet.pts
                if when is not None and when * base > target + SEEK_GAP:
                    break
            back = max(SEEK_BACK, 2 * back)

    def _seek_to(self, seconds: float, fallback: float | None = None) -> None:
        """Seek to the keyframe before ``seconds``; to ``fallback`` if the demuxer refuses a
        time before the first (AVI does)."""
        stream = self._stream
        base = float(stream.time_base or 0)
        try:
            self._container.seek(
                math.floor(seconds / base) if base else 0, stream=stream, backward=True
            )
        except av.error.FFmpegError:
            if fallback is None:
                raise
            self._container.seek(math.floor(fallback / base) if base else 0, stream=stream)

    def _decode(self, packets: Iterator[av.Packet]) -> Iterator[av.VideoFrame]:
        for packet in packets:
            try:
                frames = packet.decode()
            except av.error.InvalidDataError:
                continue  # a damaged packet costs a frame, not the reel
            for frame in frames:
                if frame.time is not None:
                    yield frame

    def _advance(self) -> None:
        assert self._frames is not None
        self._current = self._next
        self._next = next(self._frames, None)
        if self._next is None:
            self._ended = True
        self._tick()

    def start(self, seconds: float, seek: bool = False) -> None:
        """Get ready to serve times from ``seconds`` on.

        Seeks only when that is cheaper, or always with ``seek`` (``seconds`` is a keyframe
        the caller knows of, so decoding through the frames before it would be wasted).
        """
        near = (
            not seek
            and self._frames is not None
            and self._next is not None
            and self._time(self._next) <= seconds + 1e-3
            and seconds - self._time(self._next) < SEEK_GAP
        )
        if not near:
            self._seek(seconds)

    def frame_at(self, seconds: float, slack: float) -> av.VideoFrame | None:
        """The frame showing at ``seconds`` (times must not go backwards between ``start``s)."""
        while self._next is not None and self._time(self._next) <= seconds + slack:
            self._advance()
        # Before the first frame after a seek (stream starts late): show the first one.
        return self._current if self._current is not None else self._next
