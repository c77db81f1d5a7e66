"""What a process of a job's own runs: one clip's analysis (the embedded pool's reels of many
sources, ``analysing._analyse_in_pool``).

Apart from ``analysing`` so that such a process imports the engine only: with the service's modules
(SQLAlchemy, the stores, storage clients) it took 4-5 s to start on the 2-core test machine
under load, 0.8 s of processor time, against 0.3 s for the engine alone.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path

from moments.engine import HighlightOptions, analyse_clip
from moments.engine.many import Clip


def die_with_parent(parent_pid: int) -> None:
    """If the parent process dies (even SIGKILL), this one must go too.

    Otherwise a job's process would keep renewing the lease of a job nobody supervises, and a
    process of a job's own would go on analysing for nobody. Linux can do this in the kernel;
    elsewhere a watcher thread notices the parent is gone.
    """
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL)
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(0.5)  # polling the parent's existence; nothing to synchronise with
            if os.getppid() != parent_pid:
                os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def analyse_apart(path: Path, options: HighlightOptions, index: int) -> tuple[Clip, int]:
    """The clip's analysis, and which process made it (for the job's log)."""
    return analyse_clip(path, options, index), os.getpid()
