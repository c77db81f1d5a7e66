"""Engine fixtures shared by several test modules."""

from __future__ import annotations

import pytest

from .synth import REEL, synthesise


@pytest.fixture(scope="session")
def reel(tmp_path_factory):
    """The standard synthetic reel, encoded and analysed once: (path, truth, media, timeline)."""
    return synthesise(tmp_path_factory.mktemp("synth") / "reel.mp4", REEL)
