"""Turning one decoded source frame into one reel picture: upright, scaled, cropped, yuv420p.

A picture is the ``(height * 3 // 2, width)`` uint8 array that PyAV uses for yuv420p
(``VideoFrame.to_ndarray`` / ``from_ndarray``): Y rows, then U and V flattened. Blending two
pictures is plain per-byte arithmetic because YCbCr is an affine function of RGB.
"""

from __future__ import annotations

from dataclasses import replace

import av
import cv2
import numpy as np

from ..hdr import tone_map_planes
from ..models import MediaInfo
from .layout import Layout

BT709 = av.video.reformatter.Colorspace.ITU709
LIMITED = av.video.reformatter.ColorRange.MPEG
FULL_RANGE = int(av.video.reformatter.ColorRange.JPEG)


def _plane(frame: av.VideoFrame, index: int) -> np.ndarray:
    plane = frame.planes[index]
    rows = np.frombuffer(plane, np.uint8).reshape(-1, plane.line_size)
    return rows[: plane.height, : plane.width]


def _plane16(frame: av.VideoFrame, index: int) -> np.ndarray:
    plane = frame.planes[index]
    rows = np.frombuffer(plane, np.uint16).reshape(-1, plane.line_size // 2)
    return rows[: plane.height, : plane.width]


def _upright_planes(frame: av.VideoFrame, media: MediaInfo, layout: Layout) -> list[np.ndarray]:
    width, height = layout.scaled_width, layout.scaled_height
    turned = media.rotation in (90, 270)
    stored_w, stored_h = (height, width) if turned else (width, height)
    if layout.pix_fmt != "yuv420p":  # an HDR reel: the source's 10-bit values, as they are
        deep = frame.reformat(width=stored_w, height=stored_h, format=layout.pix_fmt)
        planes = [_plane16(deep, i) for i in range(3)]
    elif media.hdr:
        # Tone-mapped on the 10-bit planes, straight to the reel's 8-bit BT.709 limited-range
        # planes (ReelWriter's ``bt709``): 1080p ~12 ms a frame against 45-80 ms for an RGB
        # round trip (``python benchmarks/tone_map.py``).
        deep = frame.reformat(width=stored_w, height=stored_h, format="yuv420p10le")
        planes = list(
            tone_map_planes(
                *(_plane16(deep, i) for i in range(3)),
                media.hdr,
                full_range=frame.color_range == FULL_RANGE,
            )
        )
    else:
        yuv = frame.reformat(width=stored_w, height=stored_h, format="yuv420p")
        planes = [_plane(yuv, i) for i in range(3)]
    if media.rotation:
        # Same convention as frames._rotate: rotation is the clockwise turn that shows it upright.
        planes = [np.rot90(p, k=-(media.rotation // 90)) for p in planes]
    return planes


def make_picture(
    frame: av.VideoFrame, media: MediaInfo, layout: Layout, focus: tuple[float, float]
) -> np.ndarray:
    """The reel picture for ``frame``, its crop window centred on ``focus`` where it can be
    (``layout.pix_fmt``: 8-bit, tone-mapped from an HDR source, or 10-bit HDR as the source's)."""
    tone_map = bool(media.hdr) and layout.pix_fmt == "yuv420p"
    if not layout.crops and not tone_map and not media.rotation:
        size = {"width": layout.width, "height": layout.height}
        return frame.reformat(**size, format=layout.pix_fmt).to_ndarray()
    if tone_map and not media.rotation:
        return _tone_mapped(frame, media, layout, focus)
    if not tone_map and layout.scaled_width > media.width:
        return _enlarged_crop(frame, media, layout, focus)
    y, u, v = _upright_planes(frame, media, layout)
    x0, y0 = layout.crop_origin(focus)
    w, h = layout.width, layout.height
    y = y[y0 : y0 + h, x0 : x0 + w]
    u = u[y0 // 2 : (y0 + h) // 2, x0 // 2 : (x0 + w) // 2]
    v = v[y0 // 2 : (y0 + h) // 2, x0 // 2 : (x0 + w) // 2]
    return np.concatenate([y.ravel(), u.ravel(), v.ravel()]).reshape(h * 3 // 2, w)


def _tone_mapped(
    frame: av.VideoFrame, media: MediaInfo, layout: Layout, focus: tuple[float, float]
) -> np.ndarray:
    """The reel picture of an HDR frame (stored upright) for an SDR reel: only the crop
    window is tone-mapped, straight into the picture's planes (mapping the whole frame, then
    copying the window out and the planes together cost two more copies of every picture)."""
    deep = frame.reformat(
        width=layout.scaled_width, height=layout.scaled_height, format="yuv420p10le"
    )
    y, u, v = (_plane16(deep, i) for i in range(3))
    x0, y0 = layout.crop_origin(focus)
    w, h = layout.width, layout.height
    picture = np.empty((h * 3 // 2, w), np.uint8)
    chroma = picture.reshape(-1)[h * w :].reshape(2, h // 2, w // 2)  # U then V, as PyAV's
    window = (slice(y0 // 2, (y0 + h) // 2), slice(x0 // 2, (x0 + w) // 2))
    tone_map_planes(
        y[y0 : y0 + h, x0 : x0 + w], u[window], v[window], media.hdr,
        full_range=frame.color_range == FULL_RANGE, out=(picture[:h], chroma[0], chroma[1]),
    )  # fmt: skip
    return picture


def _enlarged_crop(
    frame: av.VideoFrame, media: MediaInfo, layout: Layout, focus: tuple[float, float]
) -> np.ndarray:
    """A crop that is enlarged (a 9:16 reel of a 720p clip, a portrait clip in a landscape
    reel): the window is cut from the frame at its own size, then only it is scaled. Scaling
    the whole frame first, as a shrinking crop does, cost 14 ms a 1080p frame (to 2276x1280)
    against under 2 ms this way. A turned clip's planes are read as stored, the quarter turn
    folded into the same warp: turning them first (a transposed copy of every plane) took a
    portrait 1080p frame into a landscape 1080p reel from 10.0 to 7.7 ms of processor time."""
    width, height = max(2, media.width // 2 * 2), max(2, media.height // 2 * 2)
    turned = media.rotation in (90, 270)
    stored_w, stored_h = (height, width) if turned else (width, height)
    native = replace(layout, scaled_width=stored_w, scaled_height=stored_h)
    y, u, v = _upright_planes(frame, replace(media, rotation=0), native)
    x0, y0 = layout.crop_origin(focus)
    w, h = layout.width, layout.height
    sx, sy = layout.scaled_width / width, layout.scaled_height / height
    # Output pixel centres mapped onto the frame's (as swscale maps them), chroma at half size;
    # the stored planes first turned upright (exact on pixel centres).
    luma = _crop_warp(sx, sy, x0, y0) @ _turn(media.rotation, stored_w, stored_h)
    chroma = _crop_warp(sx, sy, x0 / 2, y0 / 2) @ _turn(
        media.rotation, stored_w // 2, stored_h // 2
    )
    flags, edge = cv2.INTER_LINEAR, cv2.BORDER_REPLICATE
    y = cv2.warpAffine(y, luma[:2], (w, h), flags=flags, borderMode=edge)
    u = cv2.warpAffine(u, chroma[:2], (w // 2, h // 2), flags=flags, borderMode=edge)
    v = cv2.warpAffine(v, chroma[:2], (w // 2, h // 2), flags=flags, borderMode=edge)
    return np.concatenate([y.ravel(), u.ravel(), v.ravel()]).reshape(h * 3 // 2, w)


def _crop_warp(sx: float, sy: float, x0: float, y0: float) -> np.ndarray:
    """Upright frame pixels to the window's: scaled by (sx, sy), the window at (x0, y0)."""
    return np.array([[sx, 0, (sx - 1) / 2 - x0], [0, sy, (sy - 1) / 2 - y0], [0, 0, 1]])


def _turn(rotation: int, width: int, height: int) -> np.ndarray:
    """Stored pixels of a ``width`` x ``height`` plane to upright ones, for a clockwise
    display turn of ``rotation`` degrees (``MediaInfo.rotation``; as ``np.rot90(k=-turns)``)."""
    turns = {
        90: [[0, -1, height - 1], [1, 0, 0]],
        180: [[-1, 0, width - 1], [0, -1, height - 1]],
        270: [[0, 1, 0], [-1, 0, width - 1]],
    }.get(rotation % 360, [[1, 0, 0], [0, 1, 0]])
    return np.array([*turns, [0, 0, 1]], dtype=np.float64)


def to_frame(picture: np.ndarray) -> av.VideoFrame:
    """A reel picture as a frame: 8-bit (uint8) or 10-bit (uint16, an HDR reel) 4:2:0."""
    fmt = "yuv420p10le" if picture.dtype == np.uint16 else "yuv420p"
    return av.VideoFrame.from_ndarray(picture, format=fmt)


def blend(a: np.ndarray, b: np.ndarray, weight: float) -> np.ndarray:
    """``a`` faded towards ``b`` by ``weight`` (0 = all a, 1 = all b), rounded to bytes."""
    # OpenCV's saturating weighted sum: one pass, no float copies (~8x faster at 1080p).
    return cv2.addWeighted(a, 1.0 - weight, b, weight, 0.0)


def darken(picture: np.ndarray, weight: float) -> np.ndarray:
    """``picture`` faded towards black by ``weight`` (0 = as it is, 1 = black): luma towards
    limited-range black (16, or 64 in 10 bits), chroma towards grey (no colour cast)."""
    height = picture.shape[0] * 2 // 3
    scale = 4 if picture.dtype == np.uint16 else 1
    luma, chroma = picture[:height], picture[height:]
    keep = 1.0 - weight
    return np.concatenate(
        [
            cv2.addWeighted(luma, keep, luma, 0.0, 16 * scale * weight),
            cv2.addWeighted(chroma, keep, chroma, 0.0, 128 * scale * weight),
        ]
    )
