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


_INTERPOLATOR = np.array(
    [
        [0.0017089843750, 0.0109863281250, -0.0196533203125, 0.0332031250000,
         -0.0594482421875, 0.1373291015625, 0.9721679687500, -0.1022949218750,
         0.0476074218750, -0.0266113281250, 0.0148925781250, -0.0083007812500],
        [-0.0291748046875, 0.0292968750000, -0.0517578125000, 0.0891113281250,
         -0.1665039062500, 0.4650878906250, 0.7797851562500, -0.2003173828125,
         0.1015625000000, -0.0582275390625, 0.0330810546875, -0.0189208984375],
    ],
    np.float32,
)  # fmt: skip
"""ITU-R BS.1770-4 Annex 2's true-peak interpolator, its first two phases (of 4x oversampling):
the other two are these reversed. Phase ``p`` of output ``n`` lies ``p / 4`` of a sample after
input ``n - 6``."""
_INTERPOLATOR = np.concatenate([_INTERPOLATOR, _INTERPOLATOR[::-1, ::-1]])[1:]
"""Phases 1-3 (phase 0 falls on the samples, which are the signal there)."""
_DELAY = 6
_SPAN = 256
"""Blocks oversampled at a time: memory stays small however long the reel."""
_REACH = float(np.abs(_INTERPOLATOR).sum(axis=1).max())
"""No value between samples is more than this times the largest sample within 6 of it."""


def true_peaks(samples: np.ndarray, block: int, floor: float = 0.0) -> np.ndarray:
    """Each ``block`` of samples' true peak (4x oversampled, all channels): the sample peak or
    a peak between samples that a resampler or D/A converter makes of them.

    Blocks whose true peak cannot reach ``floor`` (their samples and their neighbours' are too
    small) are given their sample peak: a limiter need not know more, and most blocks of most
    footage are such.
    """
    n = samples.shape[1]
    blocks = -(-n // block)
    padded = np.zeros((samples.shape[0], blocks * block), np.float32)
    padded[:, :n] = np.abs(samples)
    peaks = padded.reshape(samples.shape[0], blocks, block).max(axis=(0, 2))
    near = peaks.copy()
    near[1:] = np.maximum(near[1:], peaks[:-1])
    near[:-1] = np.maximum(near[:-1], peaks[1:])
    need = np.concatenate([[False], near * _REACH > floor, [False]])
    edges = np.flatnonzero(need[1:] != need[:-1])
    runs = [  # runs of blocks [first, last) that need it, a few blocks at a time (memory)
        (first, min(end, first + _SPAN))
        for start, end in zip(edges[::2], edges[1::2], strict=True)
        for first in range(start, end, _SPAN)
    ]
    for first, last in runs:
        start, end = first * block, min(n, last * block)
        lo = max(0, start - _DELAY + 1)  # the earliest sample the run's phases read
        for channel in samples:
            part = channel[lo : end + _DELAY].astype(np.float32)
            at = start + _DELAY - lo  # where output ``start`` lies in the full convolution
            for taps in _INTERPOLATOR:
                values = np.abs(np.convolve(part, taps)[at : at + end - start])
                runs = np.zeros((last - first) * block, np.float32)
                runs[: end - start] = values
                np.maximum(
                    peaks[first:last], runs.reshape(-1, block).max(axis=1), out=peaks[first:last]
                )
    return peaks


def limit(samples: np.ndarray, ceiling: float, block: int = 240) -> np.ndarray:
    """Look-ahead true-peak limiter: no sample, nor the signal between samples (4x oversampled
    as BS.1770 measures a true peak), exceeds ``ceiling`` (linear); gain moves smoothly.

    Gain is worked out per 5 ms block, spread to the neighbouring blocks (look-ahead and
    release) and interpolated between block centres; every sample's gain is at most its own
    block's safe gain, so the ceiling holds while transients are not clipped hard. Peaks
    between samples matter: a clap's noise burst has them up to ~2 dB over its samples, and a
    limiter blind to them leaves a true peak that a later trim of the whole reel pays for in
    loudness.
    """
    n = samples.shape[1]
    if n == 0:
        return samples
    blocks = -(-n // block)
    peaks = true_peaks(samples, block, ceiling)
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
