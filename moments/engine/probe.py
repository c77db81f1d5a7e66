"""Safe probing of untrusted media: whitelisted containers, local files only, hard caps."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av

from .errors import EngineError
from .models import Limits, MediaInfo

# FFmpeg demuxer names we accept. Anything else (HLS, concat, image2, ...) is refused before
# a byte is interpreted, so a file cannot make FFmpeg open another file or URL.
FORMAT_WHITELIST = "mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,avi,mpegts"
OPEN_OPTIONS = {
    "format_whitelist": FORMAT_WHITELIST,
    "protocol_whitelist": "file",
    "probesize": str(32 * 1024 * 1024),
    "analyzeduration": str(10_000_000),
}


def open_input(path: Path | str) -> av.container.InputContainer:
    """Open a local file for demuxing with the safety whitelists applied."""
    path = Path(path)
    if not path.is_file():
        raise EngineError(f"{path.name}: no such file")
    try:
        return av.open(str(path), mode="r", options=dict(OPEN_OPTIONS), timeout=10.0)
    except av.error.InvalidDataError as exc:
        raise EngineError(
            f"{path.name}: not a video we can read (corrupt, truncated, or an unsupported "
            "container; we accept MP4/MOV, Matroska/WebM, AVI, MPEG-TS and 3GP)"
        ) from exc
    except (av.error.FFmpegError, OSError) as exc:
        raise EngineError(f"{path.name}: could not be opened as a video ({exc})") from exc


def probe(path: Path | str, limits: Limits | None = None) -> MediaInfo:
    """Read the facts of ``path`` without decoding the whole file."""
    limits = limits or Limits()
    path = Path(path)
    with open_input(path) as container:
        video = [s for s in container.streams.video if not _is_cover_art(s)]
        if not video:
            raise EngineError(f"{path.name}: has no video stream (audio-only or empty file)")
        stream = video[0]
        cc = stream.codec_context
        audio = container.streams.audio[0] if container.streams.audio else None
        duration = _duration(container, stream)
        sar = float(stream.sample_aspect_ratio or 1) or 1.0
        rotation = 0
        width = round(cc.width * sar) // 2 * 2
        height = cc.height
        if rotation in (90, 270):
            width, height = height, width
        rate = stream.average_rate or stream.guessed_rate or Fraction(30)
        return MediaInfo(
            path=path,
            container=container.format.name,
            size_bytes=path.stat().st_size,
            duration=duration,
            width=width,
            height=height,
            coded_width=cc.width,
            coded_height=cc.height,
            rotation=rotation,
            sample_aspect_ratio=sar,
            fps=float(rate),
            variable_frame_rate=False,
            video_codec=cc.name,
            pixel_format=cc.format.name if cc.format else "unknown",
            bit_depth=8,
            hdr=None,
            video_stream=stream.index,
            audio_stream=audio.index if audio else None,
            audio_codec=audio.codec_context.name if audio else None,
            sample_rate=audio.codec_context.sample_rate if audio else None,
            channels=audio.codec_context.channels if audio else None,
        )


def _is_cover_art(stream: av.video.stream.VideoStream) -> bool:
    return bool(stream.disposition & av.stream.Disposition.attached_pic)


def _duration(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> float:
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return container.duration / av.time_base
    return 0.0
