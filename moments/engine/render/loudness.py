"""Loudness (EBU R128 / ITU BS.1770) measured by FFmpeg's ``ebur128`` filter, plus a limiter."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

import av
import av.filter
import numpy as np

RATE = 48_000
_CHUNK = 48_000
SILENCE_LUFS = -70.0
"""The ebur128 absolute gate: anything at or below this is silence."""


@dataclass(frozen=True)
class Loudness:
    integrated: float
    """Integrated loudness, LUFS (-70 for silence)."""
    true_peak: float
    """Linear true peak (4x oversampled), 1.0 = 0 dBTP."""


def measure(
    samples: np.ndarray, tick: Callable[[], None] | None = None, peak: bool = True
) -> Loudness:
    """Loudness of ``(2, n)`` float32 stereo samples at 48 kHz (``tick`` called per second).

    ``peak=False`` skips the true peak (reported as 0): its 4x oversampling is three quarters
    of the cost of a reading.
    """
    graph = av.filter.Graph()
    source = graph.add_abuffer(
        format="flt", sample_rate=RATE, layout="stereo", time_base=Fraction(1, RATE)
    )
    meter = graph.add("ebur128", "metadata=1:peak=true" if peak else "metadata=1")
    sink = graph.add("abuffersink")
    source.link_to(meter)
    meter.link_to(sink)
    graph.configure()
    last = None
    for start in range(0, samples.shape[1], _CHUNK):
        chunk = np.ascontiguousarray(samples[:, start : start + _CHUNK].T).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(chunk, format="flt", layout="stereo")
        frame.sample_rate, frame.pts = RATE, start
        graph.push(frame)
        last = _drain(graph) or last
        if tick is not None:
            tick()
    graph.push(None)
    last = _drain(graph) or last
    if last is None:
        return Loudness(SILENCE_LUFS, 0.0)
    meta = last.metadata
    integrated = float(meta.get("lavfi.r128.I", SILENCE_LUFS))
    if not np.isfinite(integrated):
        integrated = SILENCE_LUFS
    return Loudness(max(SILENCE_LUFS, integrated), float(meta.get("lavfi.r128.true_peak", 0.0)))


def _drain(graph: av.filter.Graph) -> av.AudioFrame | None:
    """The last frame carrying a reading (a short final frame may come without one)."""
    last = None
    while True:
        try:
            frame = graph.pull()
        except (av.error.BlockingIOError, av.error.EOFError):
            return last
        if "lavfi.r128.I" in frame.metadata:
            last = frame


def limit(samples: np.ndarray, ceiling: float, block: int = 240) -> np.ndarray:
    """Look-ahead peak limiter: no sample exceeds ``ceiling`` (linear), gain moves smoothly.

    Gain is worked out per 5 ms block, spread to the neighbouring blocks (look-ahead and
    release) and interpolated between block centres; every sample's gain is at most its own
    block's safe gain, so the ceiling holds exactly while transients are not clipped hard.
    """
    n = samples.shape[1]
    if n == 0:
        return samples
    blocks = -(-n // block)
    padded = np.zeros((samples.shape[0], blocks * block), np.float32)
    padded[:, :n] = np.abs(samples)
    peaks = padded.reshape(samples.shape[0], blocks, block).max(axis=(0, 2))
    safe = np.minimum(1.0, ceiling / np.maximum(peaks, 1e-9))
    if safe.min() >= 1.0:
        return samples
    spread = safe.copy()
    for shift in (1, 2, 3):  # ~15 ms each way: the gain dips before a peak and recovers after
        spread[shift:] = np.minimum(spread[shift:], safe[:-shift])
        spread[:-shift] = np.minimum(spread[:-shift], safe[shift:])
    centres = np.arange(blocks) * block + block / 2
    gain = np.interp(np.arange(n), centres, spread).astype(np.float32)
    return samples * gain
