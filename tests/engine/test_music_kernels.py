"""One process at a time compiles librosa's kernels into numba's shared cache (numba issue
10128: filled by two at once, the cache crashed every later import with SIGSEGV)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
from filelock import FileLock

from moments.engine import music
from tests.conftest import ROOT

from .music_factory import click_track

CHILD = textwrap.dedent(
    """
    import logging, sys
    import numpy as np
    from moments.engine.music import find_beats
    from tests.engine.music_factory import click_track

    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(message)s")
    mono, _ = click_track(8.0, bpm=120.0)
    tempo, beats, _ = find_beats(np.stack([mono, mono]).astype(np.float32))
    print(f"{tempo:.0f} bpm, {len(beats)} beats")
    """
)


def test_a_process_tracking_its_first_beats_waits_for_one_that_holds_the_kernels_lock():
    lock = FileLock(music.KERNELS_LOCK)
    lock.acquire()  # as another job process would, importing librosa for the first time
    try:
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        said = child.stderr.readline()  # returns once the child says it waits (or ends)
        assert "waiting for another process" in said, said + child.stderr.read()
        assert child.poll() is None, "it waits while the lock is held"
    finally:
        lock.release()
    out, err = child.communicate(timeout=300)
    assert child.returncode == 0, err
    assert out.startswith("120 bpm"), out


def test_a_lock_file_that_cannot_be_opened_does_not_stop_the_music(tmp_path, monkeypatch):
    # Another user's lock file (here a folder where it would be): the beats are tracked anyway.
    monkeypatch.setattr(music, "KERNELS_LOCK", tmp_path)
    monkeypatch.setattr(music, "_kernels_ready", False)
    mono, clicks = click_track(8.0, bpm=120.0)
    tempo, beats, _ = music.find_beats(np.stack([mono, mono]).astype(np.float32))
    assert round(tempo) == 120 and len(beats) >= len(clicks) - 2
    assert music._kernels_ready
