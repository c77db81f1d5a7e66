"""Small synthetic test videos encoded with PyAV, for tests that need ground truth.

Everything here writes real files through FFmpeg (no mocks), small enough to keep tests fast.
Other test modules may import these helpers; keep them general.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

AUDIO_RATE = 48_000

FrameFn = Callable[[int, int, int], np.ndarray]
"""(index, width, height) -> an HxWx3 uint8 RGB frame (or uint16 for 10-bit input)."""


def arrow_frame(index: int, width: int, height: int) -> np.ndarray:
    """An asymmetric pattern: top-left red block, bottom-right blue, moving green bar.

    The corner colours make any rotation or mirroring visible in a test.
    """
    img = np.full((height, width, 3), 40, np.uint8)
    bw, bh = max(2, width // 4), max(2, height // 4)
    img[:bh, :bw] = (230, 20, 20)
    img[height - bh :, width - bw :] = (20, 20, 230)
    x = (index * 4) % max(1, width - 8)
    img[height // 3 : height // 3 * 2, x : x + 8] = (20, 220, 20)
    return img


def make_video(
    path: Path | str,
    *,
    seconds: float = 1.0,
    width: int = 320,
    height: int = 180,
    fps: int = 30,
    rotation: int = 0,
    sar: Fraction | tuple[int, int] | None = None,
    audio: bool = True,
    codec: str = "libx264",
    pix_fmt: str = "yuv420p",
    color_trc: int | None = None,
    color_primaries: int | None = None,
    colorspace: int | None = None,
    frame_fn: FrameFn | None = None,
    frame_times: Sequence[float] | None = None,
    container_format: str | None = None,
    container_options: dict[str, str] | None = None,
    video_options: dict[str, str] | None = None,
    audio_samples: np.ndarray | None = None,
) -> Path:
    """Encode a small test clip and return its path.

    ``rotation`` is in our convention (clockwise degrees needed to show the frame upright, like
    an iPhone portrait clip with rotation 90); it is stored as a display matrix. ``frame_times``
    (seconds) overrides the regular frame grid to make variable-frame-rate files. ``frame_fn``
    returns RGB frames; for 10-bit pixel formats it may return uint16 RGB (0..65535), which
    is passed through ``rgb48le`` so the full precision reaches the encoder.
    ``container_options`` go to the muxer, e.g. ``{"movflags": "faststart"}``; ``video_options``
    to the encoder (x264 defaults to ``preset=ultrafast``). ``audio_samples`` (mono float at
    48 kHz) replace the default quiet tone when ``audio`` is on.
    """
    path = Path(path)
    frame_fn = frame_fn or arrow_frame
    times = (
        list(frame_times)
        if frame_times is not None
        else [i / fps for i in range(round(seconds * fps))]
    )
    tb = Fraction(1, 90_000)
    with av.open(str(path), "w", format=container_format, options=container_options) as out:
        video = out.add_stream(codec, rate=fps)
        video.width, video.height, video.pix_fmt = width, height, pix_fmt
        video.time_base = tb
        video.codec_context.time_base = tb
        if codec in ("libx264", "libx265"):
            video.options = {"preset": "ultrafast"}
            if codec == "libx265":
                video.options["x265-params"] = "log-level=error"
        if video_options:
            video.options = {**video.options, **video_options}
        if sar is not None:
            video.codec_context.sample_aspect_ratio = (
                Fraction(*sar) if isinstance(sar, tuple) else sar
            )
        if color_trc is not None:
            video.codec_context.color_trc = color_trc
        if color_primaries is not None:
            video.codec_context.color_primaries = color_primaries
        if colorspace is not None:
            video.codec_context.colorspace = colorspace
        if rotation:
            # PyAV's argument is counter-clockwise (FFmpeg display-matrix convention); ours is
            # the clockwise turn that shows the picture upright, hence the sign flip.
            video.set_display_rotation(-rotation)
        sound = None
        if audio:
            sound = out.add_stream("aac", rate=AUDIO_RATE, layout="mono")
        for i, t in enumerate(times):
            rgb = frame_fn(i, width, height)
            fmt = "rgb48le" if rgb.dtype == np.uint16 else "rgb24"
            frame = av.VideoFrame.from_ndarray(rgb, format=fmt)
            if color_trc is not None:
                frame.color_trc = color_trc
            if color_primaries is not None:
                frame.color_primaries = color_primaries
            if colorspace is not None:
                frame.colorspace = colorspace
            frame = frame.reformat(format=pix_fmt, dst_colorspace=colorspace)
            frame.pts = round(t / tb)
            frame.time_base = tb
            out.mux(video.encode(frame))
        out.mux(video.encode())
        if sound is not None:
            if audio_samples is None:
                audio_samples = tone(times[-1] + 1 / fps if times else seconds)
            encode_audio(out, sound, audio_samples)
    return path


def tone(seconds: float) -> np.ndarray:
    """A quiet 440 Hz tone, so the audio track has real samples."""
    t = np.arange(int(seconds * AUDIO_RATE)) / AUDIO_RATE
    return 0.2 * np.sin(2 * np.pi * 440 * t)


def encode_audio(out: av.container.OutputContainer, sound, samples: np.ndarray) -> None:
    """Encode mono float samples at ``AUDIO_RATE`` (clipped to -1..1) and flush the encoder."""
    samples = np.clip(samples, -1, 1).astype(np.float32)
    chunk = 1024
    for start in range(0, len(samples), chunk):
        piece = samples[start : start + chunk]
        frame = av.AudioFrame.from_ndarray(piece[None, :], format="fltp", layout="mono")
        frame.sample_rate = AUDIO_RATE
        frame.pts = start
        frame.time_base = Fraction(1, AUDIO_RATE)
        out.mux(sound.encode(frame))
    out.mux(sound.encode())
