"""Rendering real and synthetic files, checked by decoding the reel with FFmpeg (PyAV).

Synthetic clips carry ground truth: each frame draws its own index as 8 black/white bars
(robust to compression and scaling), or a known brightness, or a bright object at a known
place; audio is generated at known levels.
"""

from __future__ import annotations

import struct
import threading
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from moments.engine import Cancelled, EngineError, HighlightOptions, Segment, probe
from moments.engine.frames import to_rgb
from moments.engine.progress import Reporter
from moments.engine.render import render
from moments.engine.render.audio import TARGET_LUFS, reel_audio
from moments.engine.render.layout import Layout, Plan, output_rate
from moments.engine.render.loudness import limit, measure
from moments.engine.render.picture import make_picture, to_frame

from .media_factory import make_video

W, H, FPS = 320, 180, 30
BITS = 8


# ---------------------------------------------------------------- synthetic inputs


def numbered(index: int, width: int = W, height: int = H) -> np.ndarray:
    """Frame ``index`` written as 8 bars across the top half (white = 1, MSB first)."""
    img = np.full((height, width, 3), 90, np.uint8)
    bar = width // BITS
    for bit in range(BITS):
        if index >> (BITS - 1 - bit) & 1:
            img[: height // 2, bit * bar : (bit + 1) * bar] = 235
        else:
            img[: height // 2, bit * bar : (bit + 1) * bar] = 16
    return img


def read_number(rgb: np.ndarray) -> int:
    height, width = rgb.shape[:2]
    bar = width // BITS
    gray = rgb.mean(axis=2)
    value = 0
    for bit in range(BITS):
        cell = gray[
            height // 8 : height * 3 // 8, bit * bar + bar // 4 : (bit + 1) * bar - bar // 4
        ]
        value = value << 1 | int(cell.mean() > 128)
    return value


def write_clip(
    path: Path,
    seconds: float,
    frame_fn,
    audio_fn=None,
    width: int = W,
    height: int = H,
) -> Path:
    """A small H.264 (+ AAC stereo 48 kHz if ``audio_fn``) MP4. ``audio_fn(t) -> (2, n)``.

    CRF 12 keeps the frame numbers readable after a re-encode. Silent clips come from
    ``media_factory.make_video``; it writes mono sound only, and the loudness and crossfade
    tests measure stereo (channels at different levels), so those clips add their own track.
    """
    video_options = {"crf": "12"}
    if audio_fn is None:
        return make_video(
            path, seconds=seconds, width=width, height=height, fps=FPS, frame_fn=frame_fn,
            audio=False, video_options=video_options,
        )  # fmt: skip
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=FPS)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.options = {"preset": "ultrafast", **video_options}
        sound = out.add_stream("aac", rate=48_000, layout="stereo")
        for i in range(round(seconds * FPS)):
            frame = av.VideoFrame.from_ndarray(frame_fn(i, width, height), format="rgb24")
            frame.pts = i
            frame.time_base = Fraction(1, FPS)
            out.mux(video.encode(frame))
        out.mux(video.encode())
        samples = audio_fn(np.arange(round(seconds * 48_000)) / 48_000).astype(np.float32)
        for start in range(0, samples.shape[1], 1024):
            chunk = np.ascontiguousarray(samples[:, start : start + 1024])
            frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="stereo")
            frame.sample_rate, frame.pts = 48_000, start
            out.mux(sound.encode(frame))
        out.mux(sound.encode())
    return path


def segs(*spans: tuple[float, float], focus=(0.5, 0.5)) -> list[Segment]:
    out, at = [], 0.0
    for start, end in spans:
        out.append(Segment(start, end, at, 1.0, {}, "test", focus))
        at += end - start
    return out


# ---------------------------------------------------------------- reading the reel back


def atoms(path: Path) -> list[str]:
    """Top-level MP4 box types in file order."""
    names, data, pos = [], path.read_bytes(), 0
    while pos + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[pos : pos + 8])
        if size == 1:
            size = struct.unpack(">Q", data[pos + 8 : pos + 16])[0]
        elif size == 0:
            size = len(data) - pos
        names.append(kind.decode("latin-1"))
        pos += size
    return names


def video_frames(path: Path) -> list[np.ndarray]:
    """Every frame as RGB, the way a player shows it: turned by the track's display matrix."""
    with av.open(str(path)) as c:
        frames = []
        for frame in c.decode(video=0):
            clockwise = round(-float(frame.rotation) / 90) % 4  # PyAV's angle is anticlockwise
            frames.append(np.rot90(frame.to_ndarray(format="rgb24"), k=-clockwise))
        return frames


def audio_samples(path: Path) -> np.ndarray:
    with av.open(str(path)) as c:
        chunks = [f.to_ndarray() for f in c.decode(audio=0)]
    return np.concatenate(chunks, axis=1)


def interleave_gap(path: Path) -> float:
    """Seconds one stream runs ahead of the other, at worst, reading the file front to back."""
    with av.open(str(path)) as c:
        packets = [
            (p.pos, p.stream.type, float(p.pts * p.time_base))
            for p in c.demux()
            if p.size and p.pts is not None
        ]
    last: dict[str, float] = {}
    worst = 0.0
    for _pos, kind, t in sorted(packets):
        last[kind] = t
        if len(last) == 2:
            worst = max(worst, abs(last["video"] - last["audio"]))
    return worst


def check_reel(out: Path, width: int, height: int, seconds: float, codec: str = "h264") -> None:
    """Every reel: faststart MP4, H.264 (or HEVC) yuv420p at the size, AAC 48 kHz stereo, right
    length, sound and pictures interleaved (a player streaming it needs both as it goes)."""
    assert atoms(out)[:2] == ["ftyp", "moov"] and "mdat" in atoms(out)
    assert interleave_gap(out) < 1.5
    with av.open(str(out)) as c:
        assert c.format.name.startswith("mov,mp4")
        v, a = c.streams.video[0], c.streams.audio[0]
        assert v.codec_context.name == codec and v.codec_context.format.name == "yuv420p"
        assert (v.width, v.height) == (width, height)
        assert width % 2 == 0 and height % 2 == 0
        assert a.codec_context.name == "aac"
        assert a.codec_context.sample_rate == 48_000 and a.codec_context.channels == 2
        frames = sum(1 for _ in c.decode(video=0))
        fps = float(v.average_rate)  # while open: PyAV 18.1.1 refuses a closed file's streams
    assert abs(frames / fps - seconds) <= 2 / fps
    audio = audio_samples(out)
    assert abs(audio.shape[1] / 48_000 - seconds) <= 0.05


# ---------------------------------------------------------------- real files


REAL = {
    "example.mp4": [(3.0, 5.0), (20.0, 22.5), (30.0, 31.5)],
    "man-on-green-screen.mp4": [(1.0, 3.0), (10.0, 12.0)],
    "SAR-2by3.mp4": [(0.2, 0.9), (1.1, 1.8)],
    "testsrc-hevc.mp4": [(0.0, 0.8), (1.0, 1.9)],
    "test_yuv422p.mp4": [(0.1, 0.9), (1.0, 1.8)],
    "h264-mjpeg.mp4": [(0.0, 0.8), (1.0, 1.8)],
    "mov_text.mp4": [(0.0, 0.6), (0.7, 1.4)],
}


@pytest.mark.parametrize("name", sorted(REAL))
def test_real_file_renders_to_a_clean_reel(media_dir: Path, tmp_path: Path, name: str) -> None:
    media = probe(media_dir / name)
    spans = REAL[name]
    options = HighlightOptions(crossfade=0.2)
    out = tmp_path / "reel.mp4"
    info = render(media, segs(*spans), out, options, Reporter(), poster_time=spans[0][0] + 0.3)
    fade = round(0.2 * media.fps) / media.fps
    expected = sum(e - s for s, e in spans) - (len(spans) - 1) * fade
    assert abs(info.duration - expected) <= 2 / media.fps
    # codec=auto: an HEVC source's GOPs are copied, so its reel is HEVC too
    codec = "hevc" if name == "testsrc-hevc.mp4" else "h264"
    check_reel(out, info.width, info.height, expected, codec)
    # Display aspect kept (non-square pixels made square), never upscaled.
    assert abs(info.width / info.height - media.width / media.height) < 0.03
    assert info.height <= media.height
    poster = cv2.imread(str(info.poster))
    assert info.poster.read_bytes()[:3] == b"\xff\xd8\xff"
    assert poster.shape[:2] == (info.height, info.width)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["reel.jpg", "reel.mp4"]


def test_source_without_audio_gets_a_silent_aac_track(tmp_path: Path) -> None:
    # (man-on-green-screen.mp4 does carry a track despite the media README, so make one.)
    media = probe(write_clip(tmp_path / "mute.mp4", 3.0, numbered))
    assert not media.has_audio
    out = tmp_path / "reel.mp4"
    info = render(media, segs((0.5, 2.5)), out, HighlightOptions(poster=False), Reporter())
    check_reel(out, info.width, info.height, 2.0)
    assert np.abs(audio_samples(out)).max() < 1e-4
    assert info.poster is None and not (tmp_path / "reel.jpg").exists()


def test_long_side_is_capped(media_dir: Path, tmp_path: Path) -> None:
    media = probe(media_dir / "example.mp4")
    options = HighlightOptions(max_output_side=640, poster=False)
    info = render(media, segs((1.0, 2.0)), tmp_path / "r.mp4", options, Reporter())
    assert (info.width, info.height) == (640, 360)
    check_reel(tmp_path / "r.mp4", 640, 360, 1.0)


# ---------------------------------------------------------------- timing and content


def test_frames_come_from_the_right_source_times(tmp_path: Path) -> None:
    src = write_clip(tmp_path / "n.mp4", 4.0, numbered)
    media = probe(src)
    options = HighlightOptions(crossfade=0.0, poster=False)
    out = tmp_path / "reel.mp4"
    render(media, segs((0.5, 1.5), (3.0, 3.5), (2.0, 2.4)), out, options, Reporter())
    got = [read_number(f) for f in video_frames(out)]
    want = list(range(15, 45)) + list(range(90, 105)) + list(range(60, 72))
    assert got == want


def test_variable_frame_rate_source_plays_at_real_speed(tmp_path: Path) -> None:
    # 30 fps with a 0.5 s stall in the middle and a 60 fps burst: a phone under load.
    times = [i / 30 for i in range(30)] + [1.5 + i / 30 for i in range(15)]
    times += [2.0 + i / 60 for i in range(60)]
    src = make_video(tmp_path / "vfr.mp4", frame_fn=numbered, frame_times=times, audio=False)
    media = probe(src)
    out = tmp_path / "reel.mp4"
    info = render(media, segs((0.5, 2.8)), out, HighlightOptions(poster=False), Reporter())
    fps = float(output_rate(media))
    assert abs(info.duration - 2.3) <= 1 / fps  # real seconds, not a count of source frames
    got = [read_number(f) for f in video_frames(out)]
    ticks = [0.5 + k / fps for k in range(len(got))]
    want = [max(i for i, t in enumerate(times) if t <= tick + 0.5 / fps) for tick in ticks]
    assert got == want


def test_crossfade_frames_are_blends_and_length_shrinks(tmp_path: Path) -> None:
    def level(i: int, w: int, h: int) -> np.ndarray:
        return np.full((h, w, 3), 40 if i < 45 else 200, np.uint8)

    src = write_clip(tmp_path / "l.mp4", 3.0, level)
    media = probe(src)
    options = HighlightOptions(crossfade=0.2, poster=False)
    out = tmp_path / "reel.mp4"
    info = render(media, segs((0.0, 1.0), (2.0, 3.0)), out, options, Reporter())
    plan = Plan.build(segs((0.0, 1.0), (2.0, 3.0)), output_rate(media), 0.2)
    assert plan.fade == 6
    means = [f.mean() for f in video_frames(out)]
    assert len(means) == 60 - 6 and abs(info.duration - 54 / 30) < 1e-6
    assert all(abs(m - 40) < 4 for m in means[:24])
    assert all(abs(m - 200) < 4 for m in means[30:])
    fade = means[24:30]
    expected = [40 + 160 * (k + 1) / 7 for k in range(6)]
    assert np.allclose(fade, expected, atol=5), (fade, expected)


def test_audio_crossfade_ramps_instead_of_cutting(tmp_path: Path) -> None:
    def tone_then_silence(t: np.ndarray) -> np.ndarray:
        wave = 0.3 * np.sin(2 * np.pi * 300 * t) * (t < 1.5)
        return np.stack([wave, wave])

    src = write_clip(tmp_path / "a.mp4", 3.0, numbered, tone_then_silence)
    media = probe(src)
    chosen = segs((0.0, 1.0), (2.0, 3.0))
    plan = Plan.build(chosen, output_rate(media), 0.3)
    audio = reel_audio(media, chosen, plan, lambda _f: None)
    assert audio.shape == (2, round(plan.total / 30 * 48_000))
    window = 480  # 10 ms
    rms = np.sqrt((audio[0, : audio.shape[1] // window * window] ** 2).reshape(-1, window).mean(1))
    start, end = plan.starts[1] * 1600 // window, 30 * 1600 // window  # fade in 10 ms windows
    steady = rms[5 : start - 2]  # (skipping the source encoder's start-up ramp)
    assert steady.min() > 0.5 * steady.max()  # steady tone before
    assert rms[end + 2 :].max() < 1e-3  # silence after
    ramp = rms[start + 1 : end - 1]
    assert len(ramp) >= 20 and np.all(np.diff(ramp) < 0.02 * rms.max())  # falls smoothly...
    assert ramp[0] > 0.6 * rms.max() and ramp[-1] < 0.4 * rms.max()  # ...across the overlap


def test_crop_follows_focus(tmp_path: Path) -> None:
    def object_left(i: int, w: int, h: int) -> np.ndarray:
        img = np.full((h, w, 3), 30, np.uint8)
        img[70:110, 20:60] = 250
        return img

    src = write_clip(tmp_path / "o.mp4", 1.0, object_left)
    media = probe(src)
    for focus, visible in (((0.12, 0.5), True), ((0.5, 0.5), False), ((0.9, 0.5), False)):
        out = tmp_path / f"reel-{focus[0]}.mp4"
        options = HighlightOptions(aspect="9:16")
        info = render(media, segs((0.0, 0.5), focus=focus), out, options, Reporter(), 0.2)
        assert (info.width, info.height) == (202, 360)  # the 101x180 window, enlarged 2x
        frame = video_frames(out)[5]
        poster = cv2.imread(str(info.poster))
        assert bool(frame.max() > 200) is visible
        assert bool(poster.max() > 200) is visible
        if visible:  # the object sits near the middle of the window, not at its edge
            cols = np.nonzero(frame.mean(axis=(0, 2)) > 0)[0]
            bright = np.nonzero(frame[:, :, 0].max(axis=0) > 200)[0]
            assert bright.min() > 5 and bright.max() < cols.max() - 5


@pytest.mark.parametrize(
    ("aspect", "size"),
    [("source", (320, 180)), ("16:9", (320, 180)), ("9:16", (202, 360)), ("1:1", (360, 360))],
)
def test_aspect_sizes(tmp_path: Path, aspect: str, size: tuple[int, int]) -> None:
    src = write_clip(tmp_path / "n.mp4", 1.0, numbered)
    options = HighlightOptions(aspect=aspect, poster=True)
    info = render(probe(src), segs((0.0, 0.5)), tmp_path / "r.mp4", options, Reporter(), 0.1)
    assert (info.width, info.height) == size
    check_reel(tmp_path / "r.mp4", *size, 0.5)
    assert cv2.imread(str(info.poster)).shape[:2] == (size[1], size[0])


@pytest.mark.parametrize(
    ("source", "aspect", "size", "note"),
    [
        ((1280, 720), "9:16", (720, 1280), None),  # 405x720 window enlarged 1.78x
        ((1280, 720), "1:1", (720, 720), None),
        ((1280, 720), "source", (1280, 720), None),
        ((352, 288), "9:16", (324, 576), "9:16 reel is 324x576 rather than 720x1280"),
        ((352, 288), "1:1", (576, 576), "1:1 reel is 576x576 rather than 720x720"),
    ],
)
def test_crops_are_enlarged_to_a_standard_size(
    tmp_path: Path, source: tuple[int, int], aspect: str, size: tuple[int, int], note: str | None
) -> None:
    """A 9:16 or 1:1 crop is at least 720 px on its short side (at most 2x its own pixels per
    side, so a tiny clip says it fell short); ``source`` keeps the clip's size."""
    src = write_clip(tmp_path / "n.mp4", 0.5, numbered, width=source[0], height=source[1])
    out = tmp_path / "r.mp4"
    options = HighlightOptions(aspect=aspect, poster=False)
    info = render(probe(src), segs((0.0, 0.4)), out, options, Reporter())
    assert (info.width, info.height) == size
    check_reel(out, *size, 0.4)  # the encoded stream is that size, as the result says
    if note is None:
        assert not info.notes
    else:
        assert len(info.notes) == 1 and note in info.notes[0]


def textured(index: int, width: int, height: int) -> np.ndarray:
    """A detailed backdrop panning 3 px a frame: costly to encode, like real footage."""
    rng = np.random.default_rng(7)
    tile = cv2.resize(rng.integers(0, 255, (height // 4, width // 4 + 64, 3), np.uint8),
                      (width + 256, height), interpolation=cv2.INTER_LINEAR)  # fmt: skip
    x = index * 3 % 256
    return np.ascontiguousarray(tile[:, x : x + width])


def test_reencoded_reel_spends_about_what_the_source_does(tmp_path: Path) -> None:
    """A cropped (so re-encoded) reel of a 300 kbit/s source stays near the source's rate
    scaled to its pixels (CRF alone gave 2.9x that), in High profile, and the result says so."""
    src = make_video(
        tmp_path / "low.mp4", seconds=3.0, width=640, height=360, frame_fn=textured,
        audio=False, video_options={"x264-params": "bitrate=300:vbv-maxrate=300:vbv-bufsize=300"},
    )  # fmt: skip
    media = probe(src)
    with av.open(str(src)) as c:
        stream = c.streams.video[0]
        source_rate = 8 * sum(p.size for p in c.demux(stream) if p.size) / 3.0
    assert source_rate < 400_000
    out = tmp_path / "r.mp4"
    options = HighlightOptions(aspect="9:16", poster=False)
    info = render(media, segs((0.0, 2.9)), out, options, Reporter())
    assert (info.width, info.height) == (404, 720)
    scaled = source_rate * (404 * 720) / (640 * 360)
    with av.open(str(out)) as c:
        stream = c.streams.video[0]
        profile = stream.codec_context.profile
        bits = 8 * sum(p.size for p in c.demux(stream) if p.size)
    reel_rate = bits / info.duration
    assert reel_rate < 1.5 * scaled, f"{reel_rate:.0f} bit/s against {scaled:.0f}"
    assert profile == "High"  # CABAC, 8x8 transforms, B-frames: not Constrained Baseline
    assert (info.codec, info.profile) == ("h264", "High")
    assert info.bitrate == pytest.approx(reel_rate, rel=0.05)


@pytest.mark.parametrize(("rotation", "aspect", "focus"), [(0, "9:16", 0.3), (90, "1:1", 0.8)])
def test_enlarged_crop_shows_what_scaling_the_whole_frame_does(
    tmp_path: Path, rotation: int, aspect: str, focus: float
) -> None:
    """An enlarged crop is cut first and scaled alone (7x cheaper): the same picture as the
    whole frame scaled to the layout's size and cut, as smaller crops are made."""
    src = make_video(
        tmp_path / "t.mp4", seconds=0.5, width=640, height=360, frame_fn=textured,
        rotation=rotation, audio=False, video_options={"crf": "10"},
    )  # fmt: skip
    media = probe(src)
    layout = Layout.for_media(media, HighlightOptions(aspect=aspect))
    assert layout.scaled_width > media.width  # enlarged: 404x720 of 640x360, 720x720 of 360x640
    with av.open(str(src)) as c:
        frame = next(c.decode(video=0))
    got = to_frame(make_picture(frame, media, layout, (focus, focus))).to_ndarray(format="rgb24")
    turned = (layout.scaled_height, layout.scaled_width) if rotation else None
    w, h = turned or (layout.scaled_width, layout.scaled_height)
    whole = frame.reformat(width=w, height=h).to_ndarray(format="rgb24")
    whole = np.rot90(whole, k=-rotation // 90)
    x0, y0 = layout.crop_origin((focus, focus))
    want = whole[y0 : y0 + layout.height, x0 : x0 + layout.width].astype(float)
    assert got.shape == want.shape
    assert np.abs(got - want).mean() < 3.5  # bilinear both ways; noise-like detail
    shifted = np.roll(want, 4, axis=1)  # the window 4 pixels off
    assert np.abs(got - shifted).mean() > 3 * np.abs(got - want).mean()  # the test can tell


def test_portrait_phone_clip_is_rendered_upright(tmp_path: Path) -> None:
    src = make_video(tmp_path / "rot.mp4", seconds=1.0, rotation=90, audio=False)
    media = probe(src)
    assert media.rotation == 90 and (media.width, media.height) == (180, 320)
    out = tmp_path / "reel.mp4"
    info = render(media, segs((0.0, 0.5)), out, HighlightOptions(poster=False), Reporter())
    assert (info.width, info.height) == (180, 320)
    with av.open(str(src)) as c:
        first = to_rgb(next(c.decode(video=0)), media, 180, 320).astype(float)
    got = video_frames(out)[0].astype(float)
    assert np.abs(got - first).mean() < 6  # same upright picture as frames.to_rgb shows


def test_poster_shows_the_frame_at_poster_time(tmp_path: Path) -> None:
    src = write_clip(tmp_path / "n.mp4", 3.0, numbered)
    options = HighlightOptions()
    info = render(
        probe(src),
        segs((0.0, 1.0), (1.5, 2.5)),
        tmp_path / "r.mp4",
        options,
        Reporter(),
        poster_time=2.0,
    )
    assert info.poster == tmp_path / "r.jpg"
    rgb = cv2.imread(str(info.poster))[:, :, ::-1]
    assert read_number(rgb) == 60


# ---------------------------------------------------------------- loudness


def noisy_music(level: float):
    """Tones plus noise bursts, scaled by ``level``: something like a real soundtrack."""
    rng = np.random.default_rng(7)

    def fn(t: np.ndarray) -> np.ndarray:
        tones = 0.5 * np.sin(2 * np.pi * 220 * t) + 0.3 * np.sin(2 * np.pi * 1250 * t)
        bursts = rng.standard_normal(t.shape) * (np.sin(2 * np.pi * 0.7 * t) > 0.5) * 0.4
        mono = level * (tones + bursts)
        return np.stack([mono, 0.8 * mono])

    return fn


@pytest.mark.parametrize("level", [0.01, 0.9])
def test_loudness_is_normalised_for_quiet_and_loud_input(tmp_path: Path, level: float) -> None:
    src = write_clip(tmp_path / "s.mp4", 5.0, numbered, noisy_music(level))
    source_loudness = measure(audio_samples(src)).integrated
    out = tmp_path / "reel.mp4"
    options = HighlightOptions(poster=False)
    render(probe(src), segs((0.2, 2.4), (2.6, 4.8)), out, options, Reporter())
    result = measure(audio_samples(out))
    assert abs(source_loudness - TARGET_LUFS) > 5  # the input really was off target
    assert abs(result.integrated - TARGET_LUFS) < 1.0, result
    assert 20 * np.log10(result.true_peak) < -0.3, result


def test_the_limiter_holds_the_true_peak_between_samples() -> None:
    # A tone at a quarter of the sample rate, sampled 45 degrees off its crests (faded in and
    # out over 10 ms): every sample is at 0.71 of the wave's peak, which a converter plays, 3 dB
    # over the samples. Limited to -1.3 dBTP, FFmpeg's ebur128 meter reads its true peak under
    # -1 dBTP (a limiter of sample peaks left it at 0 dBTP), as it does for noise bursts.
    t = np.arange(48_000)
    fade = np.minimum(1.0, np.minimum(t, t[::-1]) / 480)
    tone = np.sin(np.pi / 2 * t + np.pi / 4) * fade
    bursts = np.random.default_rng(5).normal(0, 0.5, t.shape) * np.exp(-(t % 10_560) / 384)
    ceiling = 10 ** (-1.3 / 20)
    for name, mono in (("tone", tone), ("bursts", bursts)):
        stereo = np.stack([mono, mono]).astype(np.float32)
        if name == "tone":
            assert measure(stereo).true_peak > 1.35 * np.abs(stereo).max()  # between samples
        limited = measure(limit(stereo, ceiling))
        assert 20 * np.log10(limited.true_peak) <= -1.0, (name, limited)


# ---------------------------------------------------------------- failure and cancellation


class CancelWhen:
    """A real cancel token that trips once ``condition()`` holds (mid-render, deterministic)."""

    def __init__(self, condition):
        self.condition, self.tripped = condition, False

    def is_set(self) -> bool:
        self.tripped = self.tripped or self.condition()
        return self.tripped


def test_cancel_at_start_leaves_nothing(tmp_path: Path) -> None:
    src = write_clip(tmp_path / "n.mp4", 3.0, numbered, noisy_music(0.3))
    folder = tmp_path / "out"
    folder.mkdir()
    with pytest.raises(Cancelled):
        render(
            probe(src),
            segs((0.0, 2.5)),
            folder / "reel.mp4",
            HighlightOptions(),
            Reporter(None, CancelWhen(lambda: True)),
        )
    assert list(folder.iterdir()) == []


def test_cancel_midway_removes_the_partial_reel(tmp_path: Path) -> None:
    src = write_clip(tmp_path / "n.mp4", 3.0, numbered, noisy_music(0.3))
    folder = tmp_path / "out"
    folder.mkdir()

    def partial_reel_has_data() -> bool:
        return any(p.suffix == ".mp4" and p.stat().st_size > 1000 for p in folder.iterdir())

    token = CancelWhen(partial_reel_has_data)
    with pytest.raises(Cancelled):
        render(
            probe(src),
            segs((0.0, 2.9)),
            folder / "reel.mp4",
            HighlightOptions(),
            Reporter(None, token),
        )
    assert token.tripped  # it really stopped with a half-written file on disk...
    assert list(folder.iterdir()) == []  # ...which is gone
    assert not render_workers()  # and its worker threads were stopped


def render_workers() -> list[threading.Thread]:
    """The render's worker threads (sound, pictures) still alive."""
    names = {"aac", "pictures"}
    return [t for t in threading.enumerate() if t.name in names and t.is_alive()]


def test_cancel_from_another_thread_stops_quickly(media_dir: Path, tmp_path: Path) -> None:
    media = probe(media_dir / "example.mp4")
    event = threading.Event()
    fractions: list[float] = []

    def progress(stage: str, fraction: float) -> None:
        fractions.append(fraction)
        if fraction > 0.2:
            event.set()

    with pytest.raises(Cancelled):
        render(
            media,
            segs((0.0, 30.0)),
            tmp_path / "r.mp4",
            HighlightOptions(),
            Reporter(progress, event),
        )
    assert max(fractions) < 0.5
    assert list(tmp_path.iterdir()) == []


def test_bad_segments_are_refused(tmp_path: Path) -> None:
    src = write_clip(tmp_path / "n.mp4", 1.0, numbered)
    with pytest.raises(EngineError):
        render(probe(src), [], tmp_path / "r.mp4", HighlightOptions(), Reporter())
    with pytest.raises(EngineError):
        render(probe(src), segs((0.8, 0.2)), tmp_path / "r.mp4", HighlightOptions(), Reporter())


def test_a_reel_picture_becomes_a_frame_without_a_copy() -> None:
    """The frame's planes are the picture's bytes (a 1080p copy cost 3.3-4 ms a picture), and
    the frame shows the picture: from a contiguous picture, or from a view of a larger one."""
    rng = np.random.default_rng(7)
    big = rng.integers(0, 256, (360 * 3 // 2, 2 * 640), np.uint8)
    picture = np.ascontiguousarray(big[:, :640])
    frame = to_frame(picture)
    assert np.frombuffer(frame.planes[0], np.uint8).ctypes.data == picture.ctypes.data
    assert (frame.width, frame.height, frame.format.name) == (640, 360, "yuv420p")
    np.testing.assert_array_equal(frame.to_ndarray(), picture)
    view = big[:, :640]  # rows further apart than a picture's: copied, then wrapped
    np.testing.assert_array_equal(to_frame(view).to_ndarray(), picture)
    deep = rng.integers(0, 1024, (360 * 3 // 2, 2 * 640), np.uint16)  # an HDR reel's 10 bits
    for part in (np.ascontiguousarray(deep[:, :640]), deep[:, 640:]):  # copied once, either way
        frame = to_frame(part)
        assert (frame.width, frame.height, frame.format.name) == (640, 360, "yuv420p10le")
        np.testing.assert_array_equal(frame.to_ndarray(), part)
