"""The voice model: loaded once a process, each stream scored as by a fresh model."""

from __future__ import annotations

import numpy as np
import pytest

from moments.engine.analyse import voice

from .synth import RATE, _talk


@pytest.fixture
def loads(monkeypatch):
    """No model loaded yet; counts the models loaded from here on."""
    made = []

    class Counted(voice.SileroVAD):
        def __init__(self, rate):
            made.append(rate)
            super().__init__(rate)

    monkeypatch.setattr(voice, "SileroVAD", Counted)
    monkeypatch.setattr(voice, "_idle", [], raising=False)
    return made


def _talk_at_16k(seconds: float) -> np.ndarray:
    talk = _talk(seconds, 0.5)[0].astype(np.float32)
    return talk[:: RATE // 16_000]


def _scores(sound: np.ndarray) -> np.ndarray:
    detector = voice.VoiceDetector()
    for start in range(0, len(sound), 16_000):  # a second at a time, as analysis feeds it
        detector.feed(sound[start : start + 16_000])
    return detector.finish()


def test_the_model_is_loaded_once_and_each_stream_scored_as_by_a_fresh_one(loads):
    talk = _talk_at_16k(6.0)
    first = _scores(talk)
    assert first.max() > 0.9  # it heard the talk
    again = _scores(talk)
    assert loads == [voice.RATE]  # one model for both streams (two before: 0.12-0.16 s each)
    # Reset between streams: the second is scored as the first, not as talk that goes on.
    np.testing.assert_array_equal(again, first)


def test_a_stream_stopped_midway_leaves_no_state_behind(loads):
    talk = _talk_at_16k(6.0)
    fresh = _scores(talk)
    stopped = voice.VoiceDetector()
    stopped.feed(talk[: 3 * 16_000])
    stopped.close()  # analysis cancelled: the model goes back mid-stream
    assert len(loads) == 1
    np.testing.assert_array_equal(_scores(talk), fresh)
