"""Container-level facts (nearly free: demux only) and the sparse decode plan built from them."""

from __future__ import annotations

import time
from dataclasses import dataclass

import av
import numpy as np

from ..progress import Reporter


@dataclass(frozen=True)
class PacketIndex:
    """Every video packet of the file, in decode order."""

    times: np.ndarray
    """Presentation time of each packet in seconds (NaN when the container gives none)."""
    sizes: np.ndarray
    keyframe: np.ndarray


def index_packets(
    container: av.container.InputContainer, stream: av.stream.Stream, reporter: Reporter
) -> PacketIndex:
    """Demux (without decoding) the video stream: packet sizes, times and keyframe flags."""
    times: list[float] = []
    sizes: list[int] = []
    keys: list[bool] = []
    base = float(stream.time_base or 0)
    last = time.monotonic()
    for packet in container.demux(stream):
        if packet.size == 0:
            continue  # the flush packet demux yields at the end
        times.append(packet.pts * base if packet.pts is not None else float("nan"))
        sizes.append(packet.size)
        keys.append(bool(packet.is_keyframe))
        if time.monotonic() - last > 0.1:
            last = time.monotonic()
            reporter.check()
    return PacketIndex(np.array(times), np.array(sizes, dtype=np.int64), np.array(keys, bool))


def decode_plan(index: PacketIndex, fraction: float, min_run: int = 12) -> np.ndarray:
    """Which packets to feed the decoder: a prefix of every group of pictures (GOP).

    A P-frame needs every earlier frame of its GOP, so the only frames we can decode cheaply
    are the first ones after each keyframe. Feeding ``fraction`` of each GOP (at least
    ``min_run`` packets, enough for a few motion pairs) bounds decode work to about
    ``fraction`` of a full decode while still sampling every GOP; encoders also start a GOP at
    each scene cut, so every shot's start is seen.
    """
    n = len(index.sizes)
    plan = np.zeros(n, dtype=bool)
    if fraction >= 1.0 or n == 0:
        plan[:] = True
        return plan
    starts = np.flatnonzero(index.keyframe)
    if len(starts) == 0 or starts[0] != 0:
        starts = np.concatenate([[0], starts])
    ends = np.append(starts[1:], n)
    for start, end in zip(starts, ends, strict=True):
        quota = max(min_run, int(np.ceil(fraction * (end - start))))
        plan[start : min(end, start + quota)] = True
    return plan
