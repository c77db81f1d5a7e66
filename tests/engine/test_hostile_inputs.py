"""Untrusted input: playlists, files naming other files or URLs, corrupt and absurd headers.

Reads of other files are detected with a canary whose access time is set in the past (ext4
relatime updates it on the first read; a control read in each test proves that works here),
and URL fetches with a loopback HTTP server that counts requests.
"""

from __future__ import annotations

import functools
import os
import random
import struct
import time
from collections.abc import Iterator
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from moments.engine import HighlightOptions, highlight
from moments.engine.errors import EngineError
from moments.engine.models import Limits
from moments.engine.probe import open_options, probe
from tests.hostile_corpus import (
    Canary,
    CountingServer,
    damage_sound,
    frame_number,
    hls,
    long_small_video,
    make_avi,
    mkv_claiming,
    mp4_claiming,
    ts_with_b_frames,
    ts_wrapping,
    video_with_many_channels,
)

from .media_factory import make_video

JARGON = ("returned", "Errno", "Invalid data found", "moov", "AVERROR", "ffmpeg")


@pytest.fixture
def server() -> Iterator[CountingServer]:
    srv = CountingServer()
    yield srv
    srv.close()


def assert_clear(err: pytest.ExceptionInfo[EngineError], name: str) -> str:
    message = str(err.value)
    assert name in message
    assert not any(word.lower() in message.lower() for word in JARGON), message
    return message


# --- files that name other files or URLs -----------------------------------------------------


def test_control_unrestricted_ffmpeg_would_fetch_the_url(tmp_path: Path, server) -> None:
    # Proves the server sees what FFmpeg fetches when a playlist is opened without our guards.
    playlist = tmp_path / "control.m3u8"
    playlist.write_text(hls(f"{server.url}/segment.ts"))
    with pytest.raises(av.error.FFmpegError):
        av.open(str(playlist), options={"protocol_whitelist": "file,http,tcp"}, timeout=5)
    assert server.hits == ["/segment.ts"]


def test_hls_playlist_renamed_mp4_reads_no_file(tmp_path: Path) -> None:
    canary = Canary(tmp_path / "canary.ts")
    fake = tmp_path / "holiday.mp4"
    fake.write_text(hls(str(canary.path)))
    with pytest.raises(EngineError) as err:
        probe(fake)
    assert "playlist" in assert_clear(err, "holiday.mp4")
    # Past the sniffing, FFmpeg itself refuses it through the whitelists.
    with pytest.raises(av.error.FFmpegError):
        av.open(str(fake), options=open_options(), timeout=5)
    assert not canary.was_read()
    canary.prove_detection_works()


def test_hls_playlist_renamed_mp4_fetches_no_url(tmp_path: Path, server) -> None:
    fake = tmp_path / "clip.mp4"
    fake.write_text(hls(f"{server.url}/segment.ts"))
    with pytest.raises(EngineError) as err:
        probe(fake)
    assert_clear(err, "clip.mp4")
    with pytest.raises(av.error.FFmpegError):
        av.open(str(fake), options=open_options(), timeout=5)
    assert server.hits == []


def test_ffconcat_renamed_mp4_reads_no_file(tmp_path: Path) -> None:
    # The target is a real, valid video: if FFmpeg followed the list, the probe would succeed.
    target = make_video(tmp_path / "target.mp4", seconds=1.0)
    os.utime(target, ns=(1_000_000_000, 2_000_000_000_000_000_000))
    fake = tmp_path / "list.mp4"
    fake.write_text(f"ffconcat version 1.0\nfile '{target}'\n")
    with pytest.raises(EngineError) as err:
        probe(fake)
    assert_clear(err, "list.mp4")
    with pytest.raises(av.error.FFmpegError):
        av.open(str(fake), options=open_options(), timeout=5)
    assert os.stat(target).st_atime_ns == 1_000_000_000


def test_playlist_with_binary_prefix_is_still_refused(tmp_path: Path, server) -> None:
    # A byte-order mark defeats the "is it text" sniff; the FFmpeg whitelist must still hold.
    fake = tmp_path / "bom.mp4"
    fake.write_bytes(b"\xef\xbb\xbf" + hls(f"{server.url}/x.ts").encode())
    with pytest.raises(EngineError) as err:
        probe(fake)
    assert_clear(err, "bom.mp4")
    assert server.hits == []


def test_avi_carrying_an_hls_playlist_fetches_nothing(tmp_path: Path, server) -> None:
    canary = Canary(tmp_path / "canary.ts")
    playlist = hls(f"{server.url}/a.ts") + hls(str(canary.path))
    avi = make_avi(tmp_path / "sub.avi", gab2_text=playlist)
    info = probe(avi)  # the video itself is fine
    assert (info.width, info.height, info.video_codec) == (32, 32, "rawvideo")
    with av.open(str(avi), options=open_options(), timeout=5) as container:
        assert sum(1 for _ in container.demux()) >= 10  # every chunk, subtitle included
    assert server.hits == []
    assert not canary.was_read()
    canary.prove_detection_works()


def test_mp4_whose_data_is_a_playlist_fetches_nothing(tmp_path: Path, server) -> None:
    clip = make_video(tmp_path / "m.mp4", seconds=1.0, audio=False)
    data = bytearray(clip.read_bytes())
    start = data.index(b"mdat") + 4
    text = (hls(f"{server.url}/b.ts") * 400).encode()
    end = data.index(b"moov") - 4
    data[start:end] = (text * (1 + (end - start) // len(text)))[: end - start]
    clip.write_bytes(bytes(data))
    with pytest.raises(EngineError) as err:
        probe(clip)
    assert "decoded" in assert_clear(err, "m.mp4")
    assert server.hits == []


# --- corrupt, truncated, empty, absurd ---------------------------------------------------------


def test_random_bytes_and_empty_files(tmp_path: Path) -> None:
    rng = random.Random(7)
    noise = tmp_path / "noise.mp4"
    noise.write_bytes(bytes(rng.getrandbits(8) for _ in range(200_000)))
    empty = tmp_path / "empty.mov"
    empty.write_bytes(b"")
    zeros = tmp_path / "zeros.mkv"
    zeros.write_bytes(bytes(100_000))
    for path in (noise, empty, zeros):
        with pytest.raises(EngineError) as err:
            probe(path)
        assert_clear(err, path.name)
    with pytest.raises(EngineError, match="empty"):
        probe(empty)
    with pytest.raises(EngineError, match="no such file"):
        probe(tmp_path / "missing.mp4")


@pytest.mark.parametrize(
    ("suffix", "options"),
    [(".mp4", None), (".mp4", {"movflags": "faststart"}), (".mkv", None)],
    ids=["mp4", "mp4-faststart", "mkv"],
)
def test_truncated_files_are_refused(tmp_path: Path, suffix: str, options) -> None:
    clip = make_video(tmp_path / f"whole{suffix}", seconds=2.0, container_options=options)
    assert probe(clip).duration == pytest.approx(2.0, abs=0.1)
    data = clip.read_bytes()
    for fraction in (0.01, 0.1, 0.5, 0.9, 0.999):
        cut = tmp_path / f"cut{suffix}"
        cut.write_bytes(data[: int(len(data) * fraction)])
        with pytest.raises(EngineError) as err:
            probe(cut)
        assert_clear(err, cut.name)


def test_mp4_without_moov_is_refused(tmp_path: Path) -> None:
    clip = make_video(tmp_path / "no-index.mp4", seconds=1.0)
    data = clip.read_bytes()
    start = data.index(b"moov") - 4
    size = int.from_bytes(data[start : start + 4], "big")
    clip.write_bytes(data[:start] + data[start + size :])  # the whole box, not just its name
    with pytest.raises(EngineError) as err:
        probe(clip)
    assert "damaged" in assert_clear(err, "no-index.mp4")


def test_flipped_bytes_in_the_video_data(tmp_path: Path) -> None:
    clip = make_video(tmp_path / "flip.mp4", seconds=1.0, audio=False)
    data = bytearray(clip.read_bytes())
    start, end = data.index(b"mdat") + 4, data.index(b"moov") - 4
    rng = random.Random(3)
    for i in range(start, end):
        data[i] = rng.getrandbits(8)
    clip.write_bytes(bytes(data))
    with pytest.raises(EngineError) as err:
        probe(clip)
    assert_clear(err, "flip.mp4")


def test_huge_frame_claim_is_refused_before_decoding(tmp_path: Path) -> None:
    avi = make_avi(tmp_path / "huge.avi", claimed=(30000, 30000))
    start = time.perf_counter()
    with pytest.raises(EngineError) as err:
        probe(avi)
    assert time.perf_counter() - start < 5.0
    message = assert_clear(err, "huge.avi")
    assert "30000x30000" in message or "damaged" in message


def test_huge_duration_claim_is_refused(tmp_path: Path) -> None:
    avi = make_avi(tmp_path / "long.avi", claimed_frames=2_000_000_000)
    start = time.perf_counter()
    with pytest.raises(EngineError) as err:
        probe(avi)
    assert time.perf_counter() - start < 5.0
    assert "longest" in assert_clear(err, "long.avi")


def test_text_and_audio_files_get_plain_reasons(tmp_path: Path) -> None:
    notes = tmp_path / "notes.mp4"
    notes.write_text("just some words\n" * 20)
    wav = tmp_path / "voice.avi"
    wav.write_bytes(b"RIFF" + struct.pack("<I", 36) + b"WAVEfmt " + bytes(28))
    with pytest.raises(EngineError, match="text file"):
        probe(notes)
    with pytest.raises(EngineError, match="no video stream"):
        probe(wav)


def _damage(clip: Path, every: int, offset: int) -> int:
    """Overwrite the slice data (past the NAL headers) of every ``every``-th video packet from
    ``offset`` with random bytes, in place; how many were damaged."""
    with av.open(str(clip)) as source:
        packets = [(p.pos, p.size) for p in source.demux(video=0) if p.size]
    data = bytearray(clip.read_bytes())
    rng = random.Random(5)
    hit = packets[offset::every]
    for pos, size in hit:
        for i in range(pos + 8, pos + size):
            data[i] = rng.getrandbits(8)
    clip.write_bytes(bytes(data))
    return len(hit)


def _phone_sized(path: Path) -> Path:
    # Above the dense-analysis size, so the sparse, frame-threaded decode is the one tested;
    # a keyframe every 15 packets, so each damaged one below lies in a decoded run. A busy
    # scene panning by, as a phone films: a bar sliding over a flat card is next to nothing
    # to keep, and its reel would rightly be short of what was asked.
    return make_video(
        path,
        seconds=8.0,
        width=960,
        height=540,
        frame_fn=_panning,
        video_options={"x264-params": "keyint=15:min-keyint=15:scenecut=0:bframes=0"},
    )


@functools.cache
def _scene(width: int, height: int) -> np.ndarray:
    blobs = np.random.default_rng(3).integers(0, 256, (height // 8, width // 4, 3), np.uint8)
    return cv2.resize(blobs, (width * 2, height), interpolation=cv2.INTER_CUBIC)


def _panning(index: int, width: int, height: int) -> np.ndarray:
    scene = _scene(width, height)
    x = (index * 6) % width
    return np.ascontiguousarray(scene[:, x : x + width])


def test_a_few_damaged_packets_still_make_a_reel(tmp_path: Path) -> None:
    clip = _phone_sized(tmp_path / "bits.mp4")
    # A P-frame after every other keyframe, and two keyframes: what analysis decodes.
    assert _damage(clip, every=30, offset=16) + _damage(clip, every=60, offset=45) >= 9
    result = highlight(clip, tmp_path / "reel.mp4", HighlightOptions(duration=4))
    assert 4 <= result.duration <= 4.2
    with av.open(str(result.output)) as reel:
        frames = sum(1 for _ in reel.decode(video=0))
    assert frames >= 0.9 * result.duration * 30


def test_a_ruined_video_is_refused_in_plain_words(tmp_path: Path) -> None:
    clip = _phone_sized(tmp_path / "ruin.mp4")
    _damage(clip, every=1, offset=1)  # everything but the first keyframe
    with pytest.raises(EngineError) as err:
        highlight(clip, tmp_path / "reel.mp4", HighlightOptions(duration=4))
    assert "too damaged" in assert_clear(err, "ruin.mp4")


# --- MPEG-TS: no index, B-frames, a clock that wraps -------------------------------------------


def _assert_reel_shows_its_segments(result, asked: float, fps: float = 30.0) -> None:
    """The reel lasts what was asked, decodes, starts on its first segment's source frame and
    has its sound (the source claps throughout); the poster is a picture from inside the
    reel's best segment."""
    assert asked <= result.duration <= asked * 1.05 + 1 / fps
    with av.open(str(result.output)) as reel:
        frames = [f.to_ndarray(format="rgb24") for f in reel.decode(video=0)]
        reel.seek(0)
        sound = np.concatenate([f.to_ndarray() for f in reel.decode(audio=0)], axis=1)
    assert len(frames) == round(result.duration * fps)
    assert np.abs(sound).max() > 0.1
    first = result.segments[0]
    assert abs(frame_number(frames[0]) - round(first.source_start * fps)) <= 1
    assert result.poster is not None and result.poster.stat().st_size > 0
    poster = cv2.imread(str(result.poster))[:, :, ::-1]
    best = max(result.segments, key=lambda s: s.score)
    shown = frame_number(poster) / fps
    assert best.source_start - 1 / fps <= shown <= best.source_end


@pytest.mark.parametrize("asked", [2, 5])
def test_mpegts_with_b_frames_makes_a_reel_and_poster(tmp_path: Path, asked: int) -> None:
    # Seeking a TS finds a packet by its time, not a keyframe: here, with keyframes 250 frames
    # apart, seeks landed past them and nothing decoded ("no frame ... poster").
    clip = ts_with_b_frames(tmp_path / "camera.ts")
    with av.open(str(clip)) as container:
        packets = [p for p in container.demux(video=0) if p.size]
    assert any(p.pts != p.dts for p in packets)  # B-frames: reordered
    assert sum(p.is_keyframe for p in packets) <= 2
    result = highlight(clip, tmp_path / "reel.mp4", HighlightOptions(duration=asked))
    assert result.media.container == "mpegts"
    _assert_reel_shows_its_segments(result, asked)


@pytest.mark.parametrize("before", [0.5, 9.5])
def test_mpegts_whose_clock_wraps_makes_a_reel_and_poster(tmp_path: Path, before: float) -> None:
    # FFmpeg unwraps the times before the wrap as negative; seeks were clamped to time 0 (the
    # wrap), so early segments and the poster decoded nothing or the wrong pictures.
    clip = ts_wrapping(tmp_path / "wrap.ts", before=before)
    with av.open(str(clip)) as container:
        assert container.streams.video[0].start_time < 0
    for asked in (2, 5):
        result = highlight(clip, tmp_path / "reel.mp4", HighlightOptions(duration=asked))
        assert result.media.start_time == pytest.approx(-before, abs=0.1)
        _assert_reel_shows_its_segments(result, asked)


# --- headers that lie about the length -----------------------------------------------------------

CAP = 60.0
"""A small length cap (the real one is 3 hours), so a file over it stays small and quick."""


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_a_header_saying_one_second_does_not_bypass_the_length_cap(
    tmp_path: Path, suffix: str
) -> None:
    # The files said 1 s and held 3 h 10 min; a segment came from 11,397 s.
    long = long_small_video(tmp_path / f"long{suffix}", seconds=CAP + 30)
    claims = mp4_claiming if suffix == ".mp4" else mkv_claiming
    liar = claims(long, tmp_path / f"liar{suffix}", 1.0)
    options = HighlightOptions(duration=10, limits=Limits(max_duration=CAP))
    assert probe(liar, options.limits).duration == pytest.approx(1.0, abs=0.05)
    start = time.perf_counter()
    with pytest.raises(EngineError) as err:
        highlight(liar, tmp_path / "reel.mp4", options)
    assert time.perf_counter() - start < 10.0
    message = assert_clear(err, liar.name)
    assert "more than 1:00 of pictures" in message and "header says 0:01" in message
    assert not (tmp_path / "reel.mp4").exists()


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_a_header_saying_one_second_under_the_cap_makes_a_reel_from_what_is_there(
    tmp_path: Path, suffix: str
) -> None:
    long = long_small_video(tmp_path / f"long{suffix}", seconds=CAP - 20)
    claims = mp4_claiming if suffix == ".mp4" else mkv_claiming
    liar = claims(long, tmp_path / f"liar{suffix}", 1.0)
    options = HighlightOptions(duration=10, limits=Limits(max_duration=CAP))
    result = highlight(liar, tmp_path / "reel.mp4", options)
    assert 10 <= result.duration <= 10.5 + 1 / 5
    assert all(s.source_end <= CAP - 20 + 0.5 for s in result.segments)


def test_sound_past_the_length_cap_is_refused_too(tmp_path: Path) -> None:
    # Pictures within the cap, but a sound track that runs on past it: the cap holds on both.
    clip = make_video(tmp_path / "clip.mp4", seconds=2.0, audio=False)
    long = tmp_path / "long-sound.mkv"
    with av.open(str(clip)) as source, av.open(str(long), "w") as out:
        video = out.add_stream_from_template(source.streams.video[0])
        sound = out.add_stream("pcm_s16le", rate=8000, layout="mono")
        for packet in source.demux(video=0):
            if packet.size:
                packet.stream = video
                out.mux(packet)
        silence = np.zeros((1, 8000), np.int16)
        for second in range(int(CAP) + 10):
            frame = av.AudioFrame.from_ndarray(silence, format="s16", layout="mono")
            frame.sample_rate, frame.pts = 8000, second * 8000
            out.mux(sound.encode(frame))
        out.mux(sound.encode())
    options = HighlightOptions(duration=2, limits=Limits(max_duration=CAP))
    with pytest.raises(EngineError) as err:
        highlight(mkv_claiming(long, tmp_path / "liar.mkv", 2.0), tmp_path / "r.mp4", options)
    assert "more than 1:00 of pictures or sound" in assert_clear(err, "liar.mkv")


def test_pictures_minutes_apart_after_a_normal_start_are_refused(tmp_path: Path) -> None:
    # The probe sees the first pictures (a second at 30 a second); then they are 2 minutes
    # apart. The packet index measures the whole: pictures on average 10 s apart.
    times = [i / 30 for i in range(30)] + [1 + 120.0 * k for k in range(1, 4)]
    clip = make_video(tmp_path / "gaps.mkv", frame_times=times, width=64, height=64, audio=False)
    assert probe(clip).fps == pytest.approx(30, rel=0.1)  # Matroska's rate is from the start
    with pytest.raises(EngineError) as err:
        highlight(clip, tmp_path / "reel.mp4", HighlightOptions(duration=5))
    assert "timing is broken: its pictures are 11 s apart" in assert_clear(err, "gaps.mkv")
    # In MP4 the header's mean rate (33 pictures in 361 s) already tells the probe.
    clip = make_video(tmp_path / "gaps.mp4", frame_times=times, width=64, height=64, audio=False)
    with pytest.raises(EngineError, match="timing is broken: its pictures are 11 s apart"):
        probe(clip)


# --- odd sound never fails the picture -----------------------------------------------------------

SILENT_NOTE = "The sound could not be used (64 channels); the reel is silent."


def _silent(reel: Path) -> bool:
    with av.open(str(reel)) as container:
        sound = np.concatenate([f.to_ndarray() for f in container.decode(audio=0)], axis=1)
    return float(np.abs(sound).max()) == 0.0


@pytest.mark.parametrize("suffix", [".mov", ".mkv"])
def test_sixty_four_channel_sound_gives_a_silent_reel_with_a_note(
    tmp_path: Path, suffix: str
) -> None:
    # The file failed with a message blaming the video: the sound could not be mixed
    # down ("the video could not be decoded").
    clip = video_with_many_channels(tmp_path / f"multitrack{suffix}")
    info = probe(clip)
    assert (info.audio_stream, info.channels) == (None, None)
    assert info.notes == (SILENT_NOTE,)
    result = highlight(clip, tmp_path / "reel.mp4", HighlightOptions(duration=2))
    assert 2 <= result.duration <= 2.1 + 1 / 30
    assert result.notes[0] == SILENT_NOTE
    assert result.to_dict()["notes"][0] == SILENT_NOTE
    assert _silent(result.output)


def test_sound_damaged_from_the_start_gives_a_silent_reel_with_a_note(tmp_path: Path) -> None:
    clip = make_video(tmp_path / "hiss.mp4", seconds=4.0)
    damage_sound(clip)
    result = highlight(clip, tmp_path / "reel.mp4", HighlightOptions(duration=2))
    assert result.notes[0] == "The sound could not be used (it is damaged); the reel is silent."
    assert result.media.audio_stream is None
    assert _silent(result.output)


def test_sound_damaged_later_on_gives_a_reel_with_a_note(tmp_path: Path) -> None:
    # Its first ten packets decode (the probe keeps the sound), the rest do not, one of them
    # with EPERM rather than "invalid data": analysis failed with "too damaged to use (... of
    # its sound ...)" or "could not be decoded (... Operation not permitted ...)".
    clip = make_video(tmp_path / "later.mp4", seconds=4.0)
    damage_sound(clip, first=10)
    result = highlight(clip, tmp_path / "reel.mp4", HighlightOptions(duration=2))
    assert result.media.audio_codec == "aac"
    assert "Part of the sound is damaged and could not be decoded" in " ".join(result.notes)
