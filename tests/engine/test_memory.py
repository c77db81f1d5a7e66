"""Memory freed by one stage goes back to the system before the next (moments.engine.memory).

Each case runs in a fresh interpreter, so the C library's allocator starts as in a real run.
Real glibc allocator, no mock (the engine runs on glibc: Debian in the image and in CI).
"""

from __future__ import annotations

import subprocess
import sys

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
