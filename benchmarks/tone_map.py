"""HDR tone mapping speed: one 1080p frame (16-bit RGB, as ``frames.to_rgb`` hands it over).

    python benchmarks/tone_map.py [--runs 30]

Prints the best and median milliseconds per frame for HLG and PQ. The frame is random codes
(every part of both curves, no cache-friendly flat areas).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from moments.engine.hdr import tone_map


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    rgb16 = np.random.default_rng(0).integers(0, 65536, (1080, 1920, 3), dtype=np.uint16)
    for transfer in ("hlg", "pq"):
        tone_map(rgb16, transfer)  # tables built once
        times = []
        for _ in range(args.runs):
            start = time.perf_counter()
            tone_map(rgb16, transfer)
            times.append(time.perf_counter() - start)
        times.sort()
        best, median = 1000 * times[0], 1000 * times[len(times) // 2]
        print(f"{transfer}: 1080p frame {best:.1f} ms best, {median:.1f} ms median")


if __name__ == "__main__":
    main()
