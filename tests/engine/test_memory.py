"""Memory freed by one stage goes back to the system before the next (moments.engine.memory).

Each case runs in a fresh interpreter, so the C library's allocator starts as in a real run.
Real glibc allocator, no mock (the engine runs on glibc: Debian in the image and in CI).
"""

from __future__ import annotations

import gc
import pickle
import subprocess
import sys
import tracemalloc
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TypeVar

import av
import pytest

from moments.engine import HighlightOptions, probe
from moments.engine.analyse import analyse
from moments.engine.progress import Reporter
from moments.engine.render import render
from moments.engine.render.encode import PREFETCH, prefetch_depth
from moments.engine.render.layout import Layout, Plan, output_rate
from moments.engine.timeline import Timeline

from .media_factory import make_video
from .test_render import segs

T = TypeVar("T")

SCRIPT = """
import threading
import numpy as np
from moments.engine.memory import release_free_memory

def rss_mib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20

# As in a 4K run: a frame freed early on (glibc then serves blocks up to its size from its
# heaps), then decoder threads allocate and free 4K planes (16 MB) while small objects they
# made meanwhile stay alive.
np.ones(25 << 20, np.uint8)
before = rss_mib()
kept = []

def decode():
    frames = []
    for _ in range(4):
        frames.append(np.ones(16 << 20, np.uint8))
        kept.append(np.ones(20000, np.uint8))

threads = [threading.Thread(target=decode) for _ in range(4)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
if {fixed}:
    assert release_free_memory()
print(rss_mib() - before)
"""


def retained_mib(fixed: bool) -> float:
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(fixed=fixed)],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    return float(out.stdout.split()[-1])


def test_frames_freed_by_decoder_threads_are_returned_to_the_system() -> None:
    # Left alone, glibc keeps all 256 MB of the planes its threads freed (how a 4K run's render
    # climbed past 1 GiB on top of what analysis had freed); trimmed, they are gone.
    assert retained_mib(fixed=False) > 200
    assert retained_mib(fixed=True) < 20


# ---------------------------------------------------------------- what grows with the video
#
# 10 minutes of 4K60 (issue 18) must stay under 1 GiB. Nothing the engine keeps may grow with
# the video's length or its frame size beyond the bounds below; both are measured with
# tracemalloc on the real analysis and render (NumPy's arrays are traced), in seconds.

ANALYSIS_GROWTH = 120 << 10
"""Bytes a second of 60 fps video may add to analysis' peak (measured: 54-56 KiB, the
per-frame measures of a clip small enough to have every frame measured; at this bound ten
minutes add 70 MiB). Keeping the decoded sound (188 KiB a second as 48 kHz float) or one
small analysis image a frame would break it."""
KEPT_PER_SECOND = 10 << 10
"""Bytes of timeline a second of video may keep after analysis (measured: 2.3-2.5 KiB)."""


def _repeated(base: Path, path: Path, times: int) -> Path:
    """``base`` played ``times`` over, its packets copied (GOPs closed: a valid stream)."""
    with av.open(str(base)) as source, av.open(str(path), "w") as out:
        streams = [source.streams.video[0], source.streams.audio[0]]
        outs = {s.index: out.add_stream_from_template(s) for s in streams}
        packets = [(p, p.stream.index, p.pts, p.dts) for p in source.demux(streams) if p.size]
        span = {}
        for stream in streams:
            mine = [(p, pts) for p, index, pts, _ in packets if index == stream.index]
            span[stream.index] = max(pts + p.duration for p, pts in mine) - mine[0][1]
        for k in range(times):
            for packet, index, pts, dts in packets:
                packet.pts, packet.dts = pts + k * span[index], dts + k * span[index]
                packet.stream = outs[index]
                out.mux(packet)
    return path


def _traced(run: Callable[[], T]) -> tuple[T, int]:
    """``run()`` and the peak of traced memory while it ran."""
    gc.collect()
    tracemalloc.start()
    try:
        result = run()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_analysis_memory_does_not_grow_with_the_length_of_the_video(tmp_path: Path) -> None:
    # 320x180 at 60 fps: every frame is measured (the most a second can add), 10 s and 20 s.
    params = {"x264-params": "keyint=60:min-keyint=60:scenecut=0"}
    short = make_video(tmp_path / "10s.mp4", seconds=10, fps=60, video_options=params)
    long = _repeated(short, tmp_path / "20s.mp4", 2)
    options = HighlightOptions(duration=30.0)

    def analysed(path: Path) -> Timeline:
        return analyse(probe(path), options, Reporter())

    analysed(short)  # models loaded once a process: not counted below
    first, first_peak = _traced(lambda: analysed(short))
    second, second_peak = _traced(lambda: analysed(long))
    assert (first.duration, second.duration) == pytest.approx((10.0, 20.0), abs=0.1)
    assert (second_peak - first_peak) / 10.0 < ANALYSIS_GROWTH
    assert len(pickle.dumps(second)) / second.duration < KEPT_PER_SECOND


IN_FLIGHT = 4
"""Pictures beside the crossfade and the full prefetch queue: the worker's next one, waiting for
room in the queue, the 1280x720 frame it is cropped from (1.8 of the square pictures) and the
blend being encoded. Without them, the test failed once in a suite on two busy cores (29.7
pictures at the peak, against 27 allowed); alone it measured 21.8-22.7."""


def test_the_render_holds_a_crossfade_and_its_prefetch_and_no_more(tmp_path: Path) -> None:
    # A 60 fps source cropped square (every picture re-encoded), three segments: a crossfade
    # is 15 pictures. Before, a segment's held head stayed alive until the next segment's
    # tail was held too: 31.7 pictures at the peak against 21.8-22.7 since.
    params = {"x264-params": "keyint=60:min-keyint=60:scenecut=0"}
    src = make_video(tmp_path / "60fps.mp4", seconds=5, width=640, height=360, fps=60,
                     video_options=params)  # fmt: skip
    media = probe(src)
    chosen = segs((0.2, 1.4), (1.6, 2.8), (3.0, 4.6))
    options = HighlightOptions(aspect="1:1", poster=False)
    plan = Plan.build(chosen, output_rate(media), options.crossfade)
    info, peak = _traced(lambda: render(media, chosen, tmp_path / "r.mp4", options, Reporter()))
    layout = Layout.for_media(media, options)
    picture = layout.width * layout.height * 3 // 2
    assert plan.fade == 15 and (info.width, info.height) == (720, 720)
    assert peak < (plan.fade + prefetch_depth(layout) + IN_FLIGHT) * picture


def test_pictures_made_ahead_are_bounded_in_bytes() -> None:
    # 12 pictures of 8-bit 1080p (37 MB), 6 of 10-bit (6.2 MB each), and never under 2.
    sdr = Layout(1920, 1080, 1920, 1080)
    assert prefetch_depth(sdr) == PREFETCH == 12
    assert prefetch_depth(replace(sdr, pix_fmt="yuv420p10le")) == 6
    assert prefetch_depth(Layout(7680, 4320, 7680, 4320, pix_fmt="yuv420p10le")) == 2
