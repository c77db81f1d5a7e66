"""Analysis decodes its planned runs on several decoders, in pieces, and keeps their order."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import moments.engine.analyse as analysis
from moments.engine.analyse.packets import decode_plan, index_packets
from moments.engine.errors import Cancelled
from moments.engine.models import HighlightOptions
from moments.engine.probe import open_input, probe
from moments.engine.progress import Reporter

from .media_factory import make_video

GOP = 24


@pytest.fixture(scope="module")
def long_gop_clip(tmp_path_factory):
    path = tmp_path_factory.mktemp("gop") / "gop.mp4"
    make_video(
        path,
        seconds=6.0,
        fps=24,
        audio=True,
        video_options={"x264-params": f"keyint={GOP}:min-keyint={GOP}:scenecut=0:bframes=0"},
    )
    return probe(path)


def _measured(media, fraction: float) -> tuple[list[float], list[float], np.ndarray]:
    """Times and brightness of every frame analysis measured, and the planned packet times."""
    with open_input(media.path) as container:
        index = index_packets(container, container.streams[media.video_stream], Reporter())
    plan = decode_plan(index, fraction)
    with open_input(media.path) as container:
        video, _sound = analysis._decode(container, media, plan, Reporter())
    planned = np.sort(index.times[plan]) - media.start_time
    return video.samples.t, video.samples.brightness, planned


def test_runs_split_across_decoders_and_pieces_give_the_same_frames(long_gop_clip, monkeypatch):
    # One decoder taking whole runs is the plain sequential decode.
    monkeypatch.setattr(analysis, "DECODERS", 1)
    monkeypatch.setattr(analysis, "PIECE", 64)
    times, brightness, planned = _measured(long_gop_clip, 0.3)
    # Two decoders, runs cut into pieces of 2 packets: a piece must continue on the decoder
    # that began its run (a P-frame decoded elsewhere has no reference), and results must come
    # back in order.
    monkeypatch.setattr(analysis, "DECODERS", 2)
    monkeypatch.setattr(analysis, "PIECE", 2)
    times2, brightness2, _ = _measured(long_gop_clip, 0.3)

    run = int(np.ceil(0.3 * GOP))
    assert len(planned) == run * 6  # six GOPs, the first ~30% of each
    assert times == pytest.approx(planned.tolist(), abs=1e-6)
    assert times2 == times
    assert brightness2 == pytest.approx(brightness, abs=1e-6)


def test_a_dense_plan_measures_every_frame_once_in_order(long_gop_clip, monkeypatch):
    monkeypatch.setattr(analysis, "PIECE", 5)
    times, _, planned = _measured(long_gop_clip, 1.0)
    assert len(times) == 6 * 24
    assert times == pytest.approx(planned.tolist(), abs=1e-6)


def test_cancelling_analysis_leaves_no_decoder_running(long_gop_clip, monkeypatch):
    monkeypatch.setattr(analysis, "PIECE", 2)
    stop = threading.Event()

    def cancel_soon(stage: str, fraction: float) -> None:
        stop.set()

    with pytest.raises(Cancelled):
        analysis.analyse(
            long_gop_clip, HighlightOptions(), Reporter(cancel_soon, stop), dense_fraction=0.3
        )
    alive = [t.name for t in threading.enumerate() if t.name.startswith(("decode", "faces"))]
    assert alive == []
