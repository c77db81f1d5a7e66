"""What uploads we accept, stated once: for ``GET /upload/formats`` and for 415 answers.

The containers mirror the engine probe's demuxer whitelist; the codec lists are filtered by what
the bundled FFmpeg can actually decode, so the page never promises more than we can read.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import av

from moments.engine import Limits
from moments.engine.models import ASPECTS

CONTAINERS: tuple[dict[str, Any], ...] = (
    {"name": "MP4 / QuickTime", "extensions": ["mp4", "m4v", "mov", "3gp", "3g2"]},
    {"name": "Matroska / WebM", "extensions": ["mkv", "webm"]},
    {"name": "AVI", "extensions": ["avi"]},
    {"name": "MPEG transport stream", "extensions": ["ts", "mts", "m2ts"]},
)
EXTENSIONS = frozenset(ext for c in CONTAINERS for ext in c["extensions"])
SUMMARY = "MP4/MOV, Matroska/WebM, AVI, MPEG-TS or 3GP with a video track"

_VIDEO_CANDIDATES = (
    "h264", "hevc", "av1", "vp9", "vp8", "prores", "mpeg4", "mpeg2video", "mjpeg", "dnxhd", "h263"
)  # fmt: skip
_AUDIO_CANDIDATES = ("aac", "mp3", "opus", "vorbis", "alac", "flac", "ac3", "eac3", "pcm_s16le")

UPLOAD_STYLES = [
    "multipart/form-data with a 'file' part (and optional 'duration', 'aspect' fields)",
    "raw body with Content-Type video/* or application/octet-stream (options as query "
    "parameters, file name in X-Filename or Content-Disposition)",
]


@cache
def decodable(candidates: tuple[str, ...]) -> list[str]:
    found = []
    for name in candidates:
        try:
            av.Codec(name, "r")
        except Exception:  # unknown to this FFmpeg build: not offered
            continue
        found.append(name)
    return found


def formats_document(
    *,
    max_upload_bytes: int,
    default_duration: float,
    max_duration: float,
    resolutions: list[str],
) -> dict[str, Any]:
    limits = Limits()
    return {
        "containers": [dict(c) for c in CONTAINERS],
        "video_codecs": decodable(_VIDEO_CANDIDATES),
        "audio_codecs": decodable(_AUDIO_CANDIDATES),
        "max_upload_bytes": max_upload_bytes,
        "min_video_seconds": limits.min_duration,
        "max_video_seconds": limits.max_duration,
        "max_width": limits.max_width,
        "max_height": limits.max_height,
        "aspects": list(ASPECTS),
        "default_duration": default_duration,
        "max_duration": max_duration,
        "resolutions": resolutions,
        "upload_styles": UPLOAD_STYLES,
    }
