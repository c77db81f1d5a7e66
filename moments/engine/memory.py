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
