"""Probe facts on every real file in the media folder and on synthetic clips with known truth."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from moments.engine import HighlightOptions, highlight
from moments.engine.errors import EngineError
from moments.engine.models import Limits
from moments.engine.probe import display_size, is_variable_frame_rate, probe, reopen
from tests.hostile_corpus import mp4_with_time_scale_one

from .media_factory import make_video

# name -> (display width, height, has audio, codec, pixel format)
REAL = {
    "example.mp4": (1280, 720, True, "h264", "yuv420p"),
    # The README says "no audio track", but the file holds a real AAC stream (1054 packets).
    "man-on-green-screen.mp4": (1280, 720, True, "h264", "yuv420p"),
    "testsrc.mp4": (640, 360, True, "h264", "yuv420p"),
    "testsrc.mkv": (640, 360, True, "h264", "yuv420p"),
    "testsrc-hevc.mp4": (640, 360, True, "hevc", "yuv420p"),
    "test_yuv422p.mp4": (640, 360, True, "h264", "yuv422p"),
    "SAR-2by3.mp4": (426, 360, True, "h264", "yuv420p"),
    "h264-mjpeg.mp4": (640, 360, True, "h264", "yuv420p"),
    "mov_text.mp4": (300, 200, True, "h264", "yuv420p"),
    "webvtt.mkv": (300, 200, True, "h264", "yuv420p"),
    "testsrc_with_attachment.mkv": (640, 360, True, "h264", "yuv420p"),
}
AUDIO_ONLY = ["aac.m4a", "mono.mp3"]


def test_every_media_file_is_covered(media_dir: Path) -> None:
    names = {p.name for p in media_dir.iterdir() if p.suffix != ".md"}
    assert names == set(REAL) | set(AUDIO_ONLY)


@pytest.mark.parametrize("name", sorted(REAL))
def test_real_files_probe_with_correct_facts(media_dir: Path, name: str) -> None:
    width, height, has_audio, codec, pix_fmt = REAL[name]
    info = probe(media_dir / name)
    assert (info.width, info.height) == (width, height)
    assert info.has_audio is has_audio
    assert info.video_codec == codec
    assert info.pixel_format == pix_fmt
    assert info.bit_depth == 8 and info.hdr is None and info.rotation == 0
    assert info.video_stream == 0
    assert info.variable_frame_rate is False
    assert 1.9 <= info.duration <= 43.0
    assert 19.0 <= info.fps <= 31.0
    assert info.size_bytes == (media_dir / name).stat().st_size


def test_example_clip_details(media_dir: Path) -> None:
    info = probe(media_dir / "example.mp4")
    assert info.duration == pytest.approx(42.4, abs=0.1)
    assert info.fps == pytest.approx(30.0, abs=0.1)
    assert (info.audio_codec, info.sample_rate, info.channels) == ("aac", 48000, 2)


def test_non_square_pixels_stretch_the_display_width(media_dir: Path) -> None:
    info = probe(media_dir / "SAR-2by3.mp4")
    assert (info.coded_width, info.coded_height) == (640, 360)
    assert info.sample_aspect_ratio == pytest.approx(2 / 3)
    assert (info.width, info.height) == (426, 360)


def test_cover_image_is_not_chosen_as_the_video(media_dir: Path) -> None:
    info = probe(media_dir / "h264-mjpeg.mp4")
    assert info.video_codec == "h264" and info.video_stream == 0
    assert (info.coded_width, info.coded_height) == (640, 360)


@pytest.mark.parametrize("name", AUDIO_ONLY)
def test_audio_only_files_say_there_is_no_video(media_dir: Path, name: str) -> None:
    with pytest.raises(EngineError) as err:
        probe(media_dir / name)
    message = str(err.value)
    assert name in message and "no video stream" in message
    assert "returned" not in message and "Errno" not in message


def test_portrait_phone_clip_is_reported_upright(tmp_path: Path) -> None:
    clip = make_video(tmp_path / "portrait.mp4", width=320, height=180, rotation=90)
    info = probe(clip)
    assert info.rotation == 90
    assert (info.coded_width, info.coded_height) == (320, 180)
    assert (info.width, info.height) == (180, 320)


@pytest.mark.parametrize("rotation", [180, 270])
def test_other_rotations(tmp_path: Path, rotation: int) -> None:
    info = probe(make_video(tmp_path / "r.mp4", width=320, height=180, rotation=rotation))
    assert info.rotation == rotation
    expected = (180, 320) if rotation == 270 else (320, 180)
    assert (info.width, info.height) == expected


def test_missing_audio_gives_no_audio_stream(tmp_path: Path) -> None:
    info = probe(make_video(tmp_path / "silent.mkv", audio=False))
    assert info.audio_stream is None and not info.has_audio
    assert info.audio_codec is None and info.sample_rate is None and info.channels is None
    assert info.container.startswith("matroska")


def test_variable_frame_rate_is_detected(tmp_path: Path) -> None:
    # Phone-style VFR: frame spacing alternates between 20 ms and 50 ms.
    times, t = [], 0.0
    for i in range(60):
        times.append(t)
        t += 0.02 if i % 2 else 0.05
    vfr = probe(make_video(tmp_path / "vfr.mp4", frame_times=times, audio=False))
    cfr = probe(make_video(tmp_path / "cfr.mp4", seconds=2.0, fps=30, audio=False))
    assert vfr.variable_frame_rate is True
    assert cfr.variable_frame_rate is False
    assert cfr.fps == pytest.approx(30.0)


def test_vfr_rule_ignores_rounding_and_rare_drops() -> None:
    import numpy as np

    rounded = np.array([0.033, 0.034, 0.033, 0.034] * 50)
    one_drop = np.array([1 / 30] * 199 + [2 / 30])
    assert not is_variable_frame_rate(rounded)
    assert not is_variable_frame_rate(one_drop)
    assert is_variable_frame_rate(np.array([1 / 30, 1 / 60] * 100))


def test_ten_bit_hdr_is_recognised(tmp_path: Path) -> None:
    for trc, name in ((16, "pq"), (18, "hlg")):
        clip = make_video(
            tmp_path / f"{name}.mp4",
            pix_fmt="yuv420p10le",
            color_trc=trc,
            color_primaries=9,
            colorspace=9,
            audio=False,
        )
        info = probe(clip)
        assert (info.bit_depth, info.hdr, info.pixel_format) == (10, name, "yuv420p10le")


def test_display_size_rounds_to_even() -> None:
    assert display_size(640, 360, 2 / 3, 0) == (426, 360)
    assert display_size(1920, 1080, 1.0, 90) == (1080, 1920)
    assert display_size(720, 480, 32 / 27, 0) == (854, 480)


def test_caps_apply_to_every_limit(tmp_path: Path) -> None:
    clip = make_video(tmp_path / "c.mp4", seconds=1.0, width=320, height=180)
    cases = {
        "max_width": (Limits(max_width=300), "320x180"),
        "max_height": (Limits(max_height=160), "320x180"),
        "max_pixels": (Limits(max_pixels=320 * 180 - 1), "megapixels"),
        "max_duration": (Limits(max_duration=0.6), "longest"),
        "min_duration": (Limits(min_duration=2.0), "at least 2 s"),
        "max_streams": (Limits(max_streams=1), "tracks"),
        "max_file_bytes": (Limits(max_file_bytes=1000), "largest"),
    }
    for field, (limits, words) in cases.items():
        with pytest.raises(EngineError, match=words) as err:
            probe(clip, limits)
        assert "c.mp4" in str(err.value), field
    assert probe(clip, Limits()).width == 320


def test_portrait_caps_use_display_size(tmp_path: Path) -> None:
    # Stored 320x180 passes a 300-pixel height cap; shown upright it is 320 tall and does not.
    clip = make_video(tmp_path / "p.mp4", width=320, height=180, rotation=90)
    with pytest.raises(EngineError, match="180x320"):
        probe(clip, Limits(max_height=300))


@pytest.mark.parametrize(
    ("suffix", "container", "quick"),
    [("mp4", "mp4", True), ("mkv", "matroska", True), ("ts", "mpegts", False)],
)
def test_reopen_skips_stream_probing_only_where_the_header_names_the_streams(
    tmp_path: Path, suffix: str, container: str, quick: bool
) -> None:
    path = make_video(tmp_path / f"clip.{suffix}", seconds=1.0, container_format=container)
    media = probe(path)
    with reopen(media) as source:
        video = source.streams[media.video_stream]
        audio = source.streams[media.audio_stream]
        assert (video.type, video.codec_context.name) == ("video", media.video_codec)
        assert (audio.type, audio.codec_context.name) == ("audio", media.audio_codec)
        # Stream-info probing decodes a frame to learn the pixel format; a quick open has not.
        assert (video.codec_context.format is None) is quick
        frame = next(source.decode(video))
        assert (frame.width, frame.height) == (media.coded_width, media.coded_height)


def test_reopen_of_a_file_turned_into_something_else_is_refused(tmp_path: Path) -> None:
    media = probe(make_video(tmp_path / "clip.mp4", seconds=1.0))
    media.path.write_text("#EXTM3U\n#EXTINF:1,\nhttp://example.com/x.ts\n")
    with pytest.raises(EngineError):
        reopen(media)


# --- absurd timing -----------------------------------------------------------------------------


def test_a_time_scale_of_one_is_refused(tmp_path: Path) -> None:
    # Each frame then lasts 3000 s; the edit list still says 2 s, so only the first frame is
    # played: it reached render as a 0.0003 fps video and crashed (a division by zero).
    clip = make_video(tmp_path / "clip.mp4", seconds=2.0)
    bad = mp4_with_time_scale_one(clip, tmp_path / "scale-1.mp4")
    start = time.perf_counter()
    with pytest.raises(EngineError, match="timing is broken: its pictures are 3000 s apart"):
        highlight(bad, tmp_path / "reel.mp4", HighlightOptions(duration=10))
    assert time.perf_counter() - start < 5.0


@pytest.mark.parametrize(
    ("spacing", "message"),
    [(2.5, "its pictures are 2.5 s apart"), (1 / 5000, "claims 5000 pictures a second")],
    ids=["0.4-fps", "5000-fps"],
)
def test_absurd_frame_rates_are_refused(tmp_path: Path, spacing: float, message: str) -> None:
    times = [i * spacing for i in range(max(4, round(0.6 / spacing)))]  # over the 0.5 s minimum
    clip = make_video(tmp_path / "odd.mp4", frame_times=times, width=32, height=32, audio=False)
    with pytest.raises(EngineError, match=message):
        probe(clip)


def test_one_picture_a_second_is_still_a_video(tmp_path: Path) -> None:
    clip = make_video(tmp_path / "slow.mp4", frame_times=[float(i) for i in range(6)], fps=1)
    assert probe(clip).fps == pytest.approx(1.0)
