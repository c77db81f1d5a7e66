"""HDR tone mapping speed: one 1080p frame, the two ways the engine maps it.

    python benchmarks/tone_map.py [--runs 30]

Prints the best and median milliseconds per frame for HLG and PQ:

- ``rgb``: :func:`moments.engine.hdr.tone_map` on 16-bit RGB as ``frames.to_rgb`` hands it
  over (analysis and posters), plus the swscale conversions a reel picture needed when it
  went this way (10-bit YUV -> RGB48, and the 8-bit RGB result back to yuv420p);
- ``planes``: :func:`moments.engine.hdr.tone_map_planes` straight on the 10-bit planes (what
  the render does now), from the same decoded frame.

The frame is smoothed random codes (every part of both curves, colours far out of gamut).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import av
import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from moments.engine.hdr import tone_map, tone_map_planes

BT2020 = 9


def timed(work: Callable[[], object], runs: int) -> tuple[float, float]:
    work()  # tables built once
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    times.sort()
    return 1000 * times[0], 1000 * times[len(times) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 65536, (1080 // 8, 1920 // 8, 3), dtype=np.uint16)
    rgb16 = cv2.resize(codes, (1920, 1080))
    frame = av.VideoFrame.from_ndarray(rgb16, format="rgb48le").reformat(
        format="yuv420p10le", dst_colorspace=BT2020
    )
    planes = [
        np.frombuffer(p, np.uint16).reshape(-1, p.line_size // 2)[: p.height, : p.width]
        for p in frame.planes
    ]
    for transfer in ("hlg", "pq"):

        def rgb_way(transfer: str = transfer) -> object:
            rgb = frame.reformat(format="rgb48le", src_colorspace=BT2020).to_ndarray()
            mapped = tone_map(rgb, transfer)
            return av.VideoFrame.from_ndarray(mapped, format="rgb24").reformat(format="yuv420p")

        def planes_way(transfer: str = transfer) -> object:
            return tone_map_planes(*planes, transfer)

        for name, work in (("rgb   ", rgb_way), ("planes", planes_way)):
            best, median = timed(work, args.runs)
            print(f"{transfer} {name}: 1080p frame {best:.1f} ms best, {median:.1f} ms median")


if __name__ == "__main__":
    main()
