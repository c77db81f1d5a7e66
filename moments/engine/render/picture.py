"""Turning one decoded source frame into one reel picture: upright, scaled, cropped, yuv420p.

A picture is the ``(height * 3 // 2, width)`` uint8 array that PyAV uses for yuv420p
(``VideoFrame.to_ndarray`` / ``from_ndarray``): Y rows, then U and V flattened. Blending two
pictures is plain per-byte arithmetic because YCbCr is an affine function of RGB.
"""

from __future__ import annotations

import math
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
    against under 2 ms this way. A turned clip's planes are read as stored and only the
    window is turned (see ``_scaled_window``)."""
    width, height = max(2, media.width // 2 * 2), max(2, media.height // 2 * 2)
    turned = media.rotation in (90, 270)
    stored_w, stored_h = (height, width) if turned else (width, height)
    native = replace(layout, scaled_width=stored_w, scaled_height=stored_h)
    y, u, v = _upright_planes(frame, replace(media, rotation=0), native)
    x0, y0 = layout.crop_origin(focus)
    w, h = layout.width, layout.height
    sx, sy = layout.scaled_width / width, layout.scaled_height / height
    picture = np.empty((h * 3 // 2, w), y.dtype)
    chroma = picture.reshape(-1)[h * w :].reshape(2, h // 2, w // 2)  # U then V, as PyAV's
    _scaled_window(y, media.rotation, (x0, y0), (sx, sy), picture[:h])
    _scaled_window(u, media.rotation, (x0 / 2, y0 / 2), (sx, sy), chroma[0])
    _scaled_window(v, media.rotation, (x0 / 2, y0 / 2), (sx, sy), chroma[1])
    return picture


_TURN_UPRIGHT = {
    90: cv2.ROTATE_90_CLOCKWISE,
    180: cv2.ROTATE_180,
    270: cv2.ROTATE_90_COUNTERCLOCKWISE,
}
"""OpenCV's turn that shows stored pixels upright, per clockwise display turn."""


def _scaled_window(
    plane: np.ndarray,
    rotation: int,
    origin: tuple[float, float],
    scale: tuple[float, float],
    out: np.ndarray,
) -> None:
    """Into ``out`` (``h`` x ``w``): the window at ``origin`` of ``plane``'s upright picture
    scaled by ``scale``. Only the window (and a pixel around it) is cut from the stored plane,
    turned upright by OpenCV and enlarged by ``cv2.resize``, the window's place rounded to
    the output's pixel (the pixel centres as swscale maps them otherwise). One warp of the
    whole output picture that turned and scaled at once cost 6.6-8.3 ms of processor time a
    portrait 1080p frame into a landscape 1080p reel; this way 2.2-2.6 ms, 53.5 dB PSNR
    against the warp's pictures (41 frames of the benchmark's portrait clip)."""
    turned = rotation % 360 in (90, 270)
    up_w, up_h = (plane.shape[0], plane.shape[1]) if turned else (plane.shape[1], plane.shape[0])
    (ox, oy), (sx, sy) = origin, scale
    h, w = out.shape
    # The upright source pixels under the window, with one more each side to interpolate from.
    a = max(0, math.floor(ox / sx) - 1)
    b = min(up_w, math.ceil((ox + w) / sx) + 1)
    c = max(0, math.floor(oy / sy) - 1)
    e = min(up_h, math.ceil((oy + h) / sy) + 1)
    rows, cols = {
        90: (slice(up_w - b, up_w - a), slice(c, e)),
        180: (slice(up_h - e, up_h - c), slice(up_w - b, up_w - a)),
        270: (slice(a, b), slice(up_h - e, up_h - c)),
    }.get(rotation % 360, (slice(c, e), slice(a, b)))
    window = plane[rows, cols]
    if rotation % 360:
        window = cv2.rotate(window, _TURN_UPRIGHT[rotation % 360])
    bx, by = round(ox - a * sx), round(oy - c * sy)
    size = (max(round((b - a) * sx), bx + w), max(round((e - c) * sy), by + h))
    enlarged = cv2.resize(window, size, interpolation=cv2.INTER_LINEAR)
    out[...] = enlarged[by : by + h, bx : bx + w]


def to_frame(picture: np.ndarray) -> av.VideoFrame:
    """A reel picture as a frame: 8-bit (uint8) or 10-bit (uint16, an HDR reel) 4:2:0.

    An 8-bit picture is wrapped, not copied: the frame's planes are the picture's own bytes
    (which must not change while the frame is in use; the encoders, x264 and x265, copy a
    picture in as they are given it). ``from_ndarray`` allocated a new frame and copied the
    picture into it, 3.3-4 ms of processor time a 1080p picture, all of it holding the GIL,
    against ~15 ms for x264 to encode it: on every re-encoded picture of a reel.
    """
    if picture.dtype == np.uint16:  # PyAV wraps no 10-bit 4:2:0 array
        return _deep_frame(picture)
    return av.VideoFrame.from_numpy_buffer(np.ascontiguousarray(picture), format="yuv420p")


def _deep_frame(picture: np.ndarray) -> av.VideoFrame:
    """A 10-bit picture copied once into a new frame's planes. ``from_ndarray`` copies it twice
    (a ``tobytes`` of the whole array, then each row): 23 ms a 4K picture against 12, on each
    of a 4K HDR reel's re-encoded pictures."""
    height, width = picture.shape[0] * 2 // 3, picture.shape[1]
    frame = av.VideoFrame(width, height, "yuv420p10le")
    chroma = picture.reshape(-1)[height * width :].reshape(2, height // 2, width // 2)  # U, V
    for plane, part in zip(frame.planes, (picture[:height], chroma[0], chroma[1]), strict=True):
        rows = np.frombuffer(memoryview(plane), np.uint16).reshape(-1, plane.line_size // 2)
        rows[: part.shape[0], : part.shape[1]] = part
    return frame


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
