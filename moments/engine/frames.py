"""Decoded frames made upright and display-shaped: rotation, non-square pixels, HDR.

Frames are scaled to the *stored* orientation of the requested display size (so non-square
pixels are stretched by the same resize) and then turned upright with a cheap array rotation.
"""

from __future__ import annotations

import av
import cv2
import numpy as np

from .hdr import tone_map, tone_map_planes
from .models import MediaInfo

# Pixel formats whose first plane is 8-bit luma: to_gray reads it directly, no swscale.
_LUMA_PLANE_FORMATS = frozenset(
    {
        "yuv420p",
        "yuvj420p",
        "yuv422p",
        "yuvj422p",
        "yuv444p",
        "yuvj444p",
        "yuv440p",
        "yuvj440p",
        "yuv411p",
        "yuv410p",
        "nv12",
        "nv21",
        "nv16",
        "gray",
    }
)
# 10-bit 4:2:0 (HDR phone video): to_gray tone-maps its planes shrunk.
_LUMA_PLANE_10BIT = frozenset({"yuv420p10le"})
_UNSPECIFIED_COLORSPACE = 2
_JPEG_RANGE = 2

# Limited-range (16..235) luma to full range (0..255): analysis sees true blacks and whites.
_EXPAND_LIMITED = np.clip(np.round((np.arange(256) - 16) * 255.0 / 219.0), 0, 255).astype(np.uint8)


def to_rgb(frame: av.VideoFrame, media: MediaInfo, width: int, height: int) -> np.ndarray:
    """The frame as an upright ``height x width x 3`` uint8 RGB array of the display size given.

    HDR (PQ/HLG) frames are tone-mapped to SDR BT.709.
    """
    stored_w, stored_h = _stored_size(media, width, height)
    if media.hdr:
        rgb16 = frame.reformat(width=stored_w, height=stored_h, format="rgb48le").to_ndarray()
        rgb = tone_map(rgb16, media.hdr)
    else:
        rgb = frame.reformat(
            width=stored_w,
            height=stored_h,
            format="rgb24",
            src_colorspace=_guess_colorspace(frame),
        ).to_ndarray()
    return _rotate(rgb, media.rotation)


def to_gray(frame: av.VideoFrame, media: MediaInfo, width: int = 160) -> np.ndarray:
    """A small upright full-range luma image (``width`` wide, display aspect) for analysis.

    For 8-bit SDR video the luma plane is read straight from the decoder's buffer and shrunk
    with OpenCV (area averaging), which is several times faster than a swscale round trip.
    """
    height = max(2, round(width * media.height / max(1, media.width)) // 2 * 2)
    stored_w, stored_h = _stored_size(media, width, height)
    if media.hdr and frame.format.name in _LUMA_PLANE_10BIT:
        # The 10-bit planes shrunk, then tone-mapped as the reel's pictures are (the luma of
        # the SDR picture, as for SDR video): a swscale pass to 16-bit RGB and the RGB tone
        # map took 3.0 ms of processor time a 1080p frame at 160 px (4.3 at 320), this 0.7
        # (1.5).
        full_range = _is_full_range(frame)
        planes = [
            _shrunk(_luma_plane(frame, np.uint16, k), stored_w // (1 + (k > 0)),
                         stored_h // (1 + (k > 0)))
            for k in range(3)
        ]  # fmt: skip
        gray = cv2.LUT(tone_map_planes(*planes, media.hdr, full_range)[0], _EXPAND_LIMITED)
    elif media.hdr:
        rgb = tone_map(
            frame.reformat(width=stored_w, height=stored_h, format="rgb48le").to_ndarray(),
            media.hdr,
        )
        gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    elif frame.format.name in _LUMA_PLANE_FORMATS:
        gray = _shrunk(_luma_plane(frame), stored_w, stored_h)
        if not _is_full_range(frame):
            gray = cv2.LUT(gray, _EXPAND_LIMITED)
    else:
        gray = frame.reformat(width=stored_w, height=stored_h, format="gray").to_ndarray()
    return _rotate(gray, media.rotation)


def _stored_size(media: MediaInfo, width: int, height: int) -> tuple[int, int]:
    """The size to scale the stored (un-rotated) picture to, for an upright ``width x height``."""
    return (height, width) if media.rotation in (90, 270) else (width, height)


def _luma_plane(frame: av.VideoFrame, dtype: type = np.uint8, index: int = 0) -> np.ndarray:
    """The Y plane (or plane ``index``) as a 2-D view, without the decoder's row padding."""
    plane = frame.planes[index]
    rows = np.frombuffer(plane, dtype=dtype)
    per_row = plane.line_size // np.dtype(dtype).itemsize
    rows = rows[: per_row * plane.height].reshape(plane.height, per_row)
    return rows[:, : plane.width]


def _shrunk(plane: np.ndarray, width: int, height: int) -> np.ndarray:
    """A plane (luma, or chroma) shrunk to ``width`` x ``height`` by area averaging.

    Far smaller than the picture (analysis works at 160-320 px): every k-th pixel is taken
    first, keeping twice the target resolution for area averaging; a strided view costs
    nothing, while averaging a whole 4K plane costs milliseconds per frame."""
    step = max(1, plane.shape[1] // (2 * width))
    if step > 1:
        plane = plane[::step, ::step]
    return cv2.resize(plane, (width, height), interpolation=cv2.INTER_AREA)


def _is_full_range(frame: av.VideoFrame) -> bool:
    return frame.color_range == _JPEG_RANGE or frame.format.name.startswith("yuvj")


def _guess_colorspace(frame: av.VideoFrame) -> int | None:
    """BT.709 for untagged HD video (what phones and cameras write); otherwise the frame's tag."""
    if frame.colorspace == _UNSPECIFIED_COLORSPACE and frame.height >= 720:
        return int(av.video.reformatter.Colorspace.ITU709)
    return None


def _rotate(image: np.ndarray, rotation: int) -> np.ndarray:
    # np.rot90 turns counter-clockwise; rotation is the clockwise turn that shows it upright.
    if rotation == 0:
        return image
    return np.ascontiguousarray(np.rot90(image, k=-(rotation // 90)))
