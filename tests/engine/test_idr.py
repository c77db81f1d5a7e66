"""Reading IDR-ness off keyframe packets, for H.264 and HEVC, length-prefixed and Annex-B."""

from __future__ import annotations

import pytest

from moments.engine.analyse.idr import IdrReader
from moments.engine.analyse.packets import index_packets
from moments.engine.probe import open_input
from moments.engine.progress import Reporter

from .media_factory import make_video

CASES = [
    # (codec, container, encoder options, keyframes after the first are IDRs)
    ("libx264", "mp4", {"x264-params": "keyint=10:scenecut=0"}, True),
    ("libx264", "mp4", {"x264-params": "keyint=10:scenecut=0:bframes=2:open-gop=1"}, False),
    ("libx264", "mpegts", {"x264-params": "keyint=10:scenecut=0"}, True),
    ("libx264", "matroska", {"x264-params": "keyint=10:scenecut=0"}, True),
    ("libx265", "mp4", {"x265-params": "log-level=error:keyint=10:open-gop=0"}, True),
    ("libx265", "mp4", {"x265-params": "log-level=error:keyint=10:open-gop=1"}, False),
]


@pytest.mark.parametrize(("codec", "container", "options", "idr"), CASES)
def test_keyframes_are_told_idr_or_not(tmp_path, codec, container, options, idr):
    path = make_video(
        tmp_path / f"clip.{ {'mpegts': 'ts', 'matroska': 'mkv'}.get(container, 'mp4') }",
        seconds=2.0,
        codec=codec,
        audio=False,
        container_format=container,
        video_options=options,
    )
    with open_input(path) as source:
        index = index_packets(source, source.streams.video[0], Reporter())
    keys = index.keyframe.nonzero()[0]
    assert len(keys) >= 3, keys  # the clip really has several GOPs
    assert index.idr is not None
    assert index.idr[keys[0]]  # a stream starts with an IDR
    assert bool(index.idr[keys[1:]].all()) is idr
    assert not index.idr[~index.keyframe].any()


def test_other_codecs_and_damage_count_as_not_idr():
    assert not IdrReader("vp9", b"").is_idr(b"\x00\x00\x00\x01\x65")
    reader = IdrReader("h264", b"\x01\x64\x00\x1f\xff")  # avcC: 4-byte lengths
    assert reader.is_idr(b"\x00\x00\x00\x02\x65\x88")
    assert not reader.is_idr(b"\x00\x00\x00\x02\x41\x9a")  # a P slice
    assert not reader.is_idr(b"\x00\x00\x09\x99\x65\x88")  # length runs past the end


def test_pictures_nothing_refers_to_are_told_apart():
    """What the sparse plan counts: the pictures a decoder skipping non-reference ones shows."""
    h264 = IdrReader("h264", b"")
    assert h264.is_reference(b"\x00\x00\x01\x09\xf0\x00\x00\x01\x41\x9a")  # AUD, then a P slice
    assert not h264.is_reference(b"\x00\x00\x01\x01\x9e")  # nal_ref_idc 0: a disposable B
    hevc = IdrReader("hevc", b"")
    assert hevc.is_reference(b"\x00\x00\x01\x02\x01\xd0")  # TRAIL_R
    assert not hevc.is_reference(b"\x00\x00\x01\x00\x01\xd0")  # TRAIL_N
    assert not hevc.is_reference(b"\x00\x00\x01\x4e\x01\x05\x00\x00\x01\x10\x01")  # SEI, RASL_N
    assert IdrReader("vp9", b"").is_reference(b"\x00")  # unknown: shown, as far as we know
    # A slice past the first HEAD_BYTES (a long SEI before it) is still found.
    sei = b"\x00\x00\x01\x4e\x01" + b"\x55" * 5000
    assert not hevc.is_reference(sei + b"\x00\x00\x01\x00\x01\xd0")
    assert hevc.is_reference(sei + b"\x00\x00\x01\x02\x01\xd0")
