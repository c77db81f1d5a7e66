"""Reading source frames at given times: seek when it pays, otherwise keep decoding."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import av

from ..models import MediaInfo
from ..probe import reopen

SEEK_GAP = 2.0
"""Seconds ahead beyond which a keyframe seek beats decoding through."""


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
        target = seconds + self._media.start_time
        stream = self._stream
        offset = int(max(0.0, target) / stream.time_base) if stream.time_base else 0
        self._container.seek(offset, stream=stream, backward=True, any_frame=False)
        self._frames = self._decode()
        self._current = None
        self._next = None
        self._ended = False
        self._advance()

    def _decode(self) -> Iterator[av.VideoFrame]:
        for packet in self._container.demux(self._stream):
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
