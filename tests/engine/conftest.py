"""Engine fixtures shared by several test modules."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from tests.helpers import made_once

from .synth import REEL, synthesise


@pytest.fixture(scope="session")
def reel(tmp_path_factory):
    """The standard synthetic reel, encoded and analysed once: (path, truth, media, timeline).

    Once per run, not per pytest-xdist worker (tests.helpers.made_once): five modules use it,
    and the files they are handed may go to either worker. The probe and the analysis are kept
    pickled beside the clip."""

    def make(path: Path) -> None:
        folder = path.parent / "synth"
        folder.mkdir(exist_ok=True)
        path.write_bytes(pickle.dumps(synthesise(folder / "reel.mp4", REEL)))

    return pickle.loads(made_once(tmp_path_factory, "synth-reel.pickle", make).read_bytes())
