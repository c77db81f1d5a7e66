"""Decoded frames made upright and display-shaped: rotation, non-square pixels, HDR."""

from __future__ import annotations

import av
import numpy as np

from .models import MediaInfo


def to_rgb(frame: av.VideoFrame, media: MediaInfo, width: int, height: int) -> np.ndarray:
    """The frame as an upright ``height x width x 3`` uint8 RGB array of the display size given."""
    if media.rotation in (90, 270):
        stored_w, stored_h = height, width
    else:
        stored_w, stored_h = width, height
    rgb = frame.reformat(width=stored_w, height=stored_h, format="rgb24").to_ndarray()
    return _rotate(rgb, media.rotation)


def to_gray(frame: av.VideoFrame, media: MediaInfo, width: int = 160) -> np.ndarray:
    """A small upright luma image (``width`` wide, display aspect) for analysis."""
    height = max(2, round(width * media.height / max(1, media.width)) // 2 * 2)
    if media.rotation in (90, 270):
        stored_w, stored_h = height, width
    else:
        stored_w, stored_h = width, height
    gray = frame.reformat(width=stored_w, height=stored_h, format="gray").to_ndarray()
    return _rotate(gray, media.rotation)


def _rotate(image: np.ndarray, rotation: int) -> np.ndarray:
    # np.rot90 turns counter-clockwise; rotation is the clockwise turn that shows it upright.
    if rotation == 0:
        return image
    return np.ascontiguousarray(np.rot90(image, k=-(rotation // 90)))
