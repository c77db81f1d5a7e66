"""The poster: one JPEG frame of the reel's look (same crop and size), for thumbnails."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from ..errors import EngineError
from ..models import MediaInfo, Segment
from .layout import Layout
from .picture import BT709, LIMITED, make_picture, to_frame
from .source import VideoSource

JPEG_QUALITY = 88


def poster_focus(segments: list[Segment], seconds: float) -> tuple[float, float]:
    """The crop focus at source time ``seconds``: the segment holding it, else the nearest."""

    def distance(s: Segment) -> float:
        return max(s.source_start - seconds, seconds - s.source_end, 0.0)

    return min(segments, key=distance).focus_at(seconds)


def write_poster(
    path: Path,
    media: MediaInfo,
    layout: Layout,
    seconds: float,
    focus: tuple[float, float],
    tick: Callable[[], None],
) -> None:
    """Write the frame on screen at source time ``seconds`` to ``path`` as a JPEG."""
    with VideoSource(media, tick, short_runs=True) as source:  # one frame after a seek
        source.start(seconds)
        frame = source.frame_at(seconds, slack=0.0)
        if frame is None:
            reason = f"no frame to make a poster from at {seconds:.1f} s"
            raise EngineError(reason, file=media.path.name)
        picture = make_picture(frame, media, layout, focus)
    # An HDR source's pictures are tone-mapped BT.709 (SDR); others keep swscale's default.
    matrix = {"src_colorspace": BT709, "src_color_range": LIMITED} if media.hdr else {}
    rgb = to_frame(picture).reformat(format="rgb24", **matrix).to_ndarray()
    ok, data = cv2.imencode(
        ".jpg", np.ascontiguousarray(rgb[:, :, ::-1]), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]
    )
    if not ok:
        raise EngineError("could not encode the poster image")
    path.write_bytes(data.tobytes())
