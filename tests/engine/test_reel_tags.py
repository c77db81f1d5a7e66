"""What a reel tells about the source: when it was shot, never the device, where only if asked.

Sources are real files written with PyAV carrying an iPhone's and an Android phone's tags as
QuickTime ``mdta`` keys (``movflags=use_metadata_tags``): a MOV with ``com.apple.quicktime.*``
and ``location``, and an MP4 with ``com.android.*`` and ``location``. Each comes
copyable (H.264, an IDR every 30 frames, no B-frames: the smart render copies its packets,
the template carrying whatever the source stream holds) and not (MPEG-4 part 2: a full
re-encode); the iPhone's also as HEVC (its default), copied. A reel of many clips is made of
two iPhone clips shot at different times and places (one copied, one re-encoded). The reel's
tags are read back with PyAV, and its bytes are searched for the coordinates and the device
names, in case something hides in a box FFmpeg does not report.
"""

from __future__ import annotations

import logging
from pathlib import Path

import av
import numpy as np
import pytest

from moments.engine import HighlightOptions, probe
from moments.engine.progress import Reporter
from moments.engine.render import copy_refusal, render
from moments.engine.render.many import render_many

from .test_render import segs

ISO6709 = "+37.3349-122.0090+010.000/"
COORDINATES = b"+37.3349-122.0090"
SHOT_AT = "2026-07-04T18:30:00.000000Z"
APPLE_DATE = "2026-07-04T11:30:00-0700"
DEVICE_WORDS = (b"iPhone 15 Pro", b"Pixel 8", b"Google", b"17.5.1")

IPHONE_TAGS = {
    "creation_time": SHOT_AT,
    "location": ISO6709,  # ©xyz
    "com.apple.quicktime.location.ISO6709": ISO6709,
    "com.apple.quicktime.make": "Apple",
    "com.apple.quicktime.model": "iPhone 15 Pro",
    "com.apple.quicktime.software": "17.5.1",
    "com.apple.quicktime.creationdate": APPLE_DATE,
    "make": "Apple",
    "model": "iPhone 15 Pro",
}
ANDROID_TAGS = {
    "creation_time": SHOT_AT,
    "location": ISO6709,
    "com.android.manufacturer": "Google",
    "com.android.model": "Pixel 8",
    "com.android.version": "14",
}


def tagged_source(path: Path, tags: dict[str, str], copyable: bool, codec: str = "h264") -> Path:
    """Three seconds of a moving bar, with ``tags`` on the container and the video stream.
    Copyable: ``codec`` (h264 or hevc) with a keyframe every 30 frames; else MPEG-4 part 2."""
    # mdta keys (dotted names), as iPhones and Android phones write them.
    with av.open(str(path), "w", options={"movflags": "use_metadata_tags"}) as out:
        out.metadata.update(tags)
        if copyable and codec == "hevc":
            video = out.add_stream("libx265", rate=30)
            video.options = {
                "preset": "ultrafast",
                "x265-params": "log-level=error:keyint=30:min-keyint=30:scenecut=0:bframes=0",
            }
        elif copyable:
            video = out.add_stream("libx264", rate=30)
            video.options = {
                "preset": "ultrafast",
                "x264-params": "keyint=30:min-keyint=30:scenecut=0:bframes=0",
            }
        else:
            video = out.add_stream("mpeg4", rate=30)
        video.width, video.height, video.pix_fmt = 320, 180, "yuv420p"
        shot = {"creation_time": tags.get("creation_time", SHOT_AT)}
        video.metadata.update({**shot, "location": tags.get("location", ISO6709), **tags})
        for i in range(90):
            img = np.full((180, 320, 3), 40, np.uint8)
            img[:, (i * 3) % 300 : (i * 3) % 300 + 20] = 220
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts = i
            out.mux(video.encode(frame))
        out.mux(video.encode())
    return path


SOURCES = {
    "iphone-mov-copy": ("mov", IPHONE_TAGS, True, "h264"),
    "iphone-mov-encode": ("mov", IPHONE_TAGS, False, "h264"),
    "iphone-mov-hevc-copy": ("mov", IPHONE_TAGS, True, "hevc"),
    "android-mp4-copy": ("mp4", ANDROID_TAGS, True, "h264"),
    "android-mp4-encode": ("mp4", ANDROID_TAGS, False, "h264"),
}


@pytest.fixture(scope="module", params=sorted(SOURCES))
def source(request, tmp_path_factory) -> tuple[str, Path]:
    ext, tags, copyable, codec = SOURCES[request.param]
    path = tagged_source(tmp_path_factory.mktemp("tags") / f"src.{ext}", tags, copyable, codec)
    with av.open(str(path)) as container:  # the source really carries what a phone writes
        assert container.streams.video[0].codec_context.name == (codec if copyable else "mpeg4")
        meta = container.metadata
        assert meta.get("creation_time", "").startswith("2026-07-04T18:30")
        assert meta.get("location", "").startswith("+37.3349-122.0090")
        assert COORDINATES in path.read_bytes()
        if ext == "mov":
            assert meta["com.apple.quicktime.model"] == "iPhone 15 Pro"
        else:
            assert meta["com.android.model"] == "Pixel 8"
    return request.param, path


def make_reel(source_path: Path, out: Path, caplog, **options) -> Path:
    media = probe(source_path)
    opts = HighlightOptions(**options)
    copyable = copy_refusal(media, opts) is None
    with caplog.at_level(logging.INFO, logger="moments.engine.render"):
        render(media, segs((0.0, 1.0), (1.5, 2.5)), out, opts, Reporter())
    copied = any("smart render: copied" in r.getMessage() for r in caplog.records)
    assert copied == copyable  # the path this source is meant to take was taken
    caplog.clear()
    return out


def reel_tags(path: Path) -> tuple[dict[str, str], list[dict[str, str]]]:
    with av.open(str(path)) as container:
        return dict(container.metadata), [dict(s.metadata) for s in container.streams]


def assert_no_device(path: Path, tags: dict[str, str], streams: list[dict[str, str]]) -> None:
    for meta in (tags, *streams):
        for key, value in meta.items():
            assert not any(w in key for w in ("make", "model", "manufacturer", "software")), key
            assert "iPhone" not in value and "Pixel" not in value, (key, value)
    data = path.read_bytes()
    assert not any(word in data for word in DEVICE_WORDS)


def test_reel_has_no_location_or_device_by_default_but_keeps_the_date(
    source, tmp_path: Path, caplog
) -> None:
    name, path = source
    expected_copy = name.endswith("copy")
    assert (copy_refusal(probe(path), HighlightOptions()) is None) == expected_copy
    reel = make_reel(path, tmp_path / "reel.mp4", caplog)
    tags, streams = reel_tags(reel)
    assert not any("location" in key for meta in (tags, *streams) for key in meta), tags
    assert COORDINATES not in reel.read_bytes()
    assert_no_device(reel, tags, streams)
    assert tags.get("creation_time", "").startswith("2026-07-04T18:30:00")
    assert streams[0].get("creation_time", "").startswith("2026-07-04T18:30:00")
    if name.startswith("iphone"):
        assert tags.get("com.apple.quicktime.creationdate") == APPLE_DATE


def test_reel_keeps_location_when_asked(source, tmp_path: Path, caplog) -> None:
    name, path = source
    reel = make_reel(path, tmp_path / "reel.mp4", caplog, keep_location=True)
    tags, streams = reel_tags(reel)
    assert tags.get("location", "").startswith("+37.3349-122.0090")
    assert tags.get("creation_time", "").startswith("2026-07-04T18:30:00")
    assert_no_device(reel, tags, streams)
    if name.startswith("iphone"):
        assert tags.get("com.apple.quicktime.location.ISO6709") == ISO6709
        assert tags.get("com.apple.quicktime.creationdate") == APPLE_DATE
        assert COORDINATES in reel.read_bytes()


def test_a_location_that_is_not_iso6709_is_not_written(tmp_path: Path, caplog) -> None:
    tags = {**IPHONE_TAGS, "com.apple.quicktime.location.ISO6709": "here\nthere <script>"}
    path = tagged_source(tmp_path / "odd.mov", tags, copyable=False)
    reel = make_reel(path, tmp_path / "reel.mp4", caplog, keep_location=True)
    meta, _ = reel_tags(reel)
    assert "com.apple.quicktime.location.ISO6709" not in meta
    assert meta.get("location", "").startswith("+37.3349-122.0090")  # ©xyz was fine


# ---------------------------------------------------------------- a reel of many clips

ELSEWHERE = "+48.8584+002.2945+035.000/"
"""Where the second clip was shot (an hour later)."""
ELSEWHERE_AT = "2026-07-04T19:30:00.000000Z"


@pytest.fixture(scope="module")
def two_clips(tmp_path_factory) -> list[Path]:
    """Two iPhone clips, shot an hour and a city apart: the first copyable H.264, the second
    MPEG-4 part 2 (re-encoded into the reel's track)."""
    folder = tmp_path_factory.mktemp("tags-many")
    later = {
        **IPHONE_TAGS,
        "creation_time": ELSEWHERE_AT,
        "location": ELSEWHERE,
        "com.apple.quicktime.location.ISO6709": ELSEWHERE,
        "com.apple.quicktime.creationdate": "2026-07-04T12:30:00-0700",
    }
    return [
        tagged_source(folder / "first.mov", IPHONE_TAGS, copyable=True),
        tagged_source(folder / "second.mov", later, copyable=False),
    ]


def many_reel(clips: list[Path], out: Path, caplog, **options) -> Path:
    medias = [probe(p) for p in clips]
    with caplog.at_level(logging.INFO, logger="moments.engine.render"):
        render_many(
            [(medias[0], segs((0.0, 1.0), (2.0, 3.0))), (medias[1], segs((0.5, 2.0)))],
            out,
            HighlightOptions(poster=False, **options),
            Reporter(),
        )
    # The first clip's GOPs were copied (its stream's boxes the track's template), the
    # second's pictures re-encoded.
    assert any("smart reel: copied" in r.getMessage() for r in caplog.records)
    caplog.clear()
    return out


def test_many_clip_reel_has_no_location_by_default_but_keeps_the_date(
    two_clips, tmp_path: Path, caplog
) -> None:
    reel = many_reel(two_clips, tmp_path / "reel.mp4", caplog)
    tags, streams = reel_tags(reel)
    assert not any("location" in key for meta in (tags, *streams) for key in meta), tags
    data = reel.read_bytes()
    assert COORDINATES not in data and b"+48.8584+002.2945" not in data
    assert_no_device(reel, tags, streams)
    # When the reel's first clip was shot.
    assert tags.get("creation_time", "").startswith("2026-07-04T18:30:00")
    assert streams[0].get("creation_time", "").startswith("2026-07-04T18:30:00")
    assert tags.get("com.apple.quicktime.creationdate") == APPLE_DATE


def test_many_clip_reel_keeps_location_when_asked(two_clips, tmp_path: Path, caplog) -> None:
    reel = many_reel(two_clips, tmp_path / "reel.mp4", caplog, keep_location=True)
    tags, streams = reel_tags(reel)
    # Where its first clip was shot; one place, not the second clip's as well.
    assert tags.get("location", "").startswith("+37.3349-122.0090")
    assert tags.get("com.apple.quicktime.location.ISO6709") == ISO6709
    assert tags.get("creation_time", "").startswith("2026-07-04T18:30:00")
    assert tags.get("com.apple.quicktime.creationdate") == APPLE_DATE
    assert_no_device(reel, tags, streams)
    data = reel.read_bytes()
    assert COORDINATES in data and b"+48.8584+002.2945" not in data
