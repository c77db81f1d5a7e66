"""Decoded source audio turned into the meter's mono ``RATE`` signal, a second at a time."""

from __future__ import annotations

import av
import numpy as np

from .audio import RATE, AudioMeter

BATCH = 1.0
"""Seconds of source audio resampled in one call. Resampling each decoded frame (~21 ms of
AAC) cost more in Python calls than in FFmpeg: a third of the audio's share of analysis."""


class AudioInput:
    """Feeds decoded audio frames of any format to an :class:`AudioMeter` as mono float."""

    def __init__(self, meter: AudioMeter) -> None:
        self._meter = meter
        self._resampler = av.AudioResampler(format="flt", layout="mono", rate=RATE)
        self._arrays: list[np.ndarray] = []
        self._samples = 0
        self._kind: tuple[str, str, int] | None = None

    def add(self, frame: av.AudioFrame) -> None:
        kind = (frame.format.name, frame.layout.name, frame.sample_rate)
        if kind != self._kind:
            # A stream that changes format midway (a new channel layout, say) needs a
            # resampler set up for it; the old one gives up what it holds first.
            if self._kind is not None:
                self._drain()
                self._resampler = av.AudioResampler(format="flt", layout="mono", rate=RATE)
            self._kind = kind
        # (channels, n) for planar formats, (1, n * channels) for packed: joined along axis 1.
        self._arrays.append(frame.to_ndarray())
        self._samples += frame.samples
        if self._samples >= BATCH * frame.sample_rate:
            self._flush()

    def finish(self) -> AudioMeter:
        """Resample what is left; the meter then has everything."""
        self._drain()
        return self._meter

    def _drain(self) -> None:
        """Resample the frames held, then take what the resampler itself still holds."""
        self._flush()
        self._feed(self._resampler.resample(None))

    def _flush(self) -> None:
        if not self._arrays or self._kind is None:
            return
        fmt, layout, rate = self._kind
        joined = av.AudioFrame.from_ndarray(
            np.concatenate(self._arrays, axis=1), format=fmt, layout=layout
        )
        joined.sample_rate = rate
        self._arrays, self._samples = [], 0
        self._feed(self._resampler.resample(joined))

    def _feed(self, frames: list[av.AudioFrame]) -> None:
        for mono in frames:
            self._meter.feed(mono.to_ndarray().reshape(-1))
