"""Keeping the engine's peak memory down: memory freed by one stage goes back to the system
before the next one starts.

A 4K run decodes 25 MB frames (10-bit) on several decoder threads in analysis, then again in
the render. glibc's allocator keeps what its per-thread heaps free for reuse, and the render's
threads do not reuse the analysis threads' heaps: on the 2-minute 4k60 benchmark clip the
engine still held 416 MiB after analysis (its peak: 451), and the render's peak of 1053 MiB
stood on top of it (1035 MiB on 10 minutes: the peak does not grow with the length).
``malloc_trim`` between the stages gives free pages back: the render then started at 882
instead of 922 MiB and peaked at 1015 (one run each, ru_maxrss). Most of that peak is the
render's own: x265's 1080p Main 10 encoder ~390 MiB (~120 of it for B-frames), the 4K
decoder's frame threads ~215 MiB.

(Fixing glibc's mapping threshold at 1 MiB instead, so that every big block is returned when
freed, gave a render peak of 912 MiB but made each tone-mapped 1080p picture cost 40-50% more
processor time: its few-MB temporaries were mapped and faulted in afresh every time.)

What the 4k60 clip's run holds at its peak (2026-12-07, RSS sampled every 20 ms, tracemalloc;
the reel is 1080p Main 10, re-encoded whole: a 4K source is scaled):

- x265 (1080p Main 10, ``ultrafast``): 393-396 MiB on its own. Not cut: without B-frames 276
  MiB, one B-frame and a lookahead of 2 285 MiB, but 1.1 dB worse (PSNR-Y) for 4% fewer bytes;
  two B-frames 344 MiB, 0.9 dB worse. Its pools, CTU size, WPP or lookahead slices: no less.
- The 4K decoder (frame threads: 3 on 2 cores): 170 MiB; 129-132 with 1 or 2 threads. More
  cores mean more frame threads, each with 4K frames in flight: not capped here, untested.
- Reel pictures (6.2 MB each, 10-bit 1080p): 184 MiB at the peak, now 137 (see
  ``render.encode._SPENT`` and ``prefetch_depth``): a 60 fps crossfade's 15 pictures held for
  the next segment (93 MB, the spikes at each join) and 6-8 made ahead of the encoder.
- What analysis leaves: 228-289 MiB after it and this trim, of which glibc counts 25 MiB in use
  and the rest free (``mallinfo2``): the tops of the decoder threads' arenas, which
  ``malloc_trim`` does not give back. ``MALLOC_ARENA_MAX=2`` left 150 MiB (1: 119) and a render
  peak 20-50 MiB lower (837-866 against 878-885 MiB, analysis then a 6 s render); not taken:
  fewer arenas for every thread of the process, and its cost in speed could not be measured on
  a machine this loaded.

Analysis itself keeps little: its traced peak grows 54-56 KiB a second of 60 fps video, and the
timeline it keeps 2.3-2.5 KiB a second (tests/engine/test_memory.py bounds both).
"""

from __future__ import annotations

import ctypes
import ctypes.util
from functools import cache


@cache
def _trim() -> ctypes._CFuncPtr | None:  # type: ignore[name-defined]
    try:
        return ctypes.CDLL(ctypes.util.find_library("c")).malloc_trim
    except (OSError, AttributeError, TypeError):
        return None  # not glibc (musl, macOS): nothing to do


def release_free_memory() -> bool:
    """Give the C heaps' free pages back to the system; False where that cannot be done."""
    trim = _trim()
    if trim is None:
        return False
    trim(0)
    return True
