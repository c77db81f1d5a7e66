"""EngineError carries its parts (the reason, the file) so a service never takes its text apart."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from moments.engine import EngineError, probe


def test_a_refused_file_is_named_in_a_field_and_the_text_reads_as_before(tmp_path: Path) -> None:
    notes = tmp_path / "notes.mp4"
    notes.write_text("shopping list: milk, eggs\n" * 40)
    with pytest.raises(EngineError) as caught:
        probe(notes)
    exc = caught.value
    assert exc.file == "notes.mp4"
    assert exc.reason == "is a text file, not a video"
    assert str(exc) == "notes.mp4: is a text file, not a video"
    assert exc.about("Holiday.mov") == "Holiday.mov: is a text file, not a video"


def test_the_fields_cross_a_process_boundary() -> None:
    sent = EngineError("the file is empty", file="clip.mp4")
    received = pickle.loads(pickle.dumps(sent))
    assert (received.reason, received.file, str(received)) == (
        "the file is empty",
        "clip.mp4",
        "clip.mp4: the file is empty",
    )
    plain = pickle.loads(pickle.dumps(EngineError("duration must be between 1 and 600 seconds")))
    assert plain.file is None and str(plain) == "duration must be between 1 and 600 seconds"
