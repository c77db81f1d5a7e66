"""The reel's sound: made, AAC-encoded and handed to the muxer by a worker thread."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

import av
import numpy as np

from .loudness import RATE

AUDIO_BITRATE = 160_000
AAC_OPTIONS = {"aac_coder": "fast"}
"""FFmpeg's fast AAC coder: under half the CPU of the default ``twoloop`` (a 30 s reel:
0.58 -> 0.24 s), and the render's CPU is what bounds its speed on two cores. FFmpeg made it
the default in 2018, finding it sounded better than twoloop at higher bit rates like ours;
twoloop came back as the default later for its steadier bit rate, which a 30 s file does not
need."""
AAC_FRAME = 1024
LAG = 8.0
"""Seconds the sound may trail the video before the video waits for it. Loudness needs the
whole soundtrack before its first packet can be encoded, and the pictures need not wait for
that (0.3 s at the start of a 30 s reel): the muxer interleaves by time whatever order the
packets come in, holding video until the sound catches up (see ``MUX_OPTIONS``)."""
MUX_OPTIONS = {
    # The moov atom moved before mdat when the file is closed, so players (iOS in
    # particular) can start before the download finishes.
    "movflags": "+faststart",
    # Never give up waiting for the sound and write video ahead of it (default: after 10 s).
    "max_interleave_delta": "0",
}
"""Options of the reel's MP4 muxer, for both the full and the smart render."""


@dataclass(frozen=True)
class ReelSound:
    """The reel's soundtrack, to be made on the sound worker: ``make(tick)`` returns it as
    ``(2, samples)`` float32 at ``RATE``, calling ``tick`` often (it may raise to stop)."""

    samples: int
    make: Callable[[Callable[[float], None]], np.ndarray]


class _Stopped(Exception):
    """The render is over (failed or cancelled): the sound worker stops where it is."""


class SoundTrack:
    """The reel's AAC stream, muxed from the finished soundtrack a little ahead of the video.

    A worker thread makes the soundtrack (source audio read, crossfaded, loudness-normalised)
    and encodes it while the pictures are made: FFmpeg's decoder and AAC encoder and NumPy run
    without the GIL, so on the second core this costs the render little (it was a third of a
    30 s smart render). Packets are muxed by the caller's thread only, since a muxer is not
    thread-safe, each once the video has nearly reached its time.
    """

    def __init__(self, out: av.container.OutputContainer, sound: ReelSound):
        stream = out.add_stream("aac", rate=RATE)
        stream.layout, stream.format = "stereo", "fltp"
        stream.bit_rate = AUDIO_BITRATE
        stream.codec_context.options = AAC_OPTIONS
        stream.time_base = Fraction(1, RATE)
        # Opened here, not by the worker's first encode: the container opens every stream's
        # encoder when the first (video) packet is muxed, which would race with the worker.
        stream.codec_context.open()
        self._out, self._stream, self._sound = out, stream, sound
        self._ready: deque[av.Packet] = deque()
        self._encoded = 0  # samples given to the encoder (all of them: samples + 1)
        self._error: BaseException | None = None
        self._stop = False
        self._changed = threading.Condition()
        self._worker = threading.Thread(target=self._encode_all, name="aac", daemon=True)
        self._worker.start()

    def _check(self, _fraction: float = 0.0) -> None:
        if self._stop:
            raise _Stopped

    def _encode_all(self) -> None:
        try:
            audio = self._sound.make(self._check)
            total = audio.shape[1]
            if total != self._sound.samples:
                raise RuntimeError(f"{total} sound samples made, {self._sound.samples} planned")
            for start in range(0, total, AAC_FRAME):
                self._check()
                chunk = np.ascontiguousarray(audio[:, start : start + AAC_FRAME])
                frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="stereo")
                frame.sample_rate, frame.pts = RATE, start
                frame.time_base = Fraction(1, RATE)
                self._publish(self._stream.encode(frame), start + chunk.shape[1])
            self._publish(self._stream.encode(None), total + 1)
        except _Stopped:
            return
        except BaseException as exc:  # handed to the muxing thread, which raises it
            with self._changed:
                self._error = exc
                self._changed.notify_all()

    def _publish(self, packets: list[av.Packet], encoded: int) -> None:
        with self._changed:
            self._ready.extend(packets)
            self._encoded = encoded
            self._changed.notify_all()

    def keep_ahead_of(self, seconds: float) -> None:
        """Mux the sound that is ready up to half a second past video time ``seconds``;
        wait for it only when it trails by more than ``LAG`` seconds."""
        self._mux_until(round((seconds + 0.5) * RATE), need=round((seconds - LAG) * RATE))

    def _mux_until(self, sample: int, need: int | None = None) -> None:
        wanted = min(sample if need is None else need, self._sound.samples + 1)
        with self._changed:
            self._changed.wait_for(lambda: self._encoded >= wanted or self._error is not None)
            if self._error is not None:
                raise self._error
            packets = []
            while self._ready and (self._ready[0].pts or 0) < sample:
                packets.append(self._ready.popleft())
        for packet in packets:
            self._out.mux(packet)

    def finish(self) -> None:
        self._mux_until(self._sound.samples + 1)
        with self._changed:
            rest, self._ready = list(self._ready), deque()
        for packet in rest:
            self._out.mux(packet)

    def close(self) -> None:
        """Stop the worker (also when the render failed or was cancelled)."""
        self._stop = True
        self._worker.join()
