"""Tiny colour histograms: the one look at a frame that survives a second of camera motion.

Two frames a second apart (either side of a stretch that was not decoded) differ in layout
whenever the camera pans or things move, but a scene keeps its palette; a cut changes it.
"""

from __future__ import annotations

import av
import cv2
import numpy as np

BINS = 16
_PLANAR_8BIT = frozenset(
    {"yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "yuv440p", "yuvj440p"}
)
_THUMB = (32, 18)


def histogram(frame: av.VideoFrame, gray: np.ndarray) -> np.ndarray:
    """Luma (from the small analysis image) and, for planar 8-bit YUV, chroma histograms.

    Each channel's histogram sums to 1. Chroma is read straight from the decoder's planes and
    shrunk to a thumbnail (orientation does not matter to a histogram); for other pixel
    formats the luma histogram stands alone.
    """
    parts = [_hist(gray)]
    if frame.format.name in _PLANAR_8BIT:
        for plane in frame.planes[1:3]:
            rows = np.frombuffer(plane, dtype=np.uint8)
            rows = rows[: plane.line_size * plane.height].reshape(plane.height, plane.line_size)
            # Every 4th pixel of a large plane first: a histogram does not need them all.
            step = max(1, plane.width // (_THUMB[0] * 4))
            chroma = rows[::step, : plane.width : step]
            small = cv2.resize(chroma, _THUMB, interpolation=cv2.INTER_AREA)
            parts.append(_hist(small))
    return np.concatenate(parts)


def _hist(image: np.ndarray) -> np.ndarray:
    counts = cv2.calcHist([image], [0], None, [BINS], [0, 256]).ravel()
    return counts / max(1.0, float(counts.sum()))


def distance(a: np.ndarray, b: np.ndarray) -> float:
    """0..1: half the L1 distance per channel, averaged (1 = no tone in common)."""
    if a.shape != b.shape:
        a, b = a[:BINS], b[:BINS]
    return float(0.5 * np.abs(a - b).sum() / (len(a) // BINS))
