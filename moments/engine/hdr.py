"""HDR (PQ / HLG, BT.2020) to SDR (BT.709) tone mapping in numpy.

This FFmpeg build has no zscale/tonemap filters, so phone HDR clips are mapped here:
non-linear 16-bit RGB -> linear light (lookup table) -> BT.2020 to BT.709 gamut matrix ->
a tone curve that keeps mid-tones and rolls highlights off smoothly -> BT.709 OETF -> uint8.

Linear light is expressed relative to HDR reference white (203 nits, ITU-R BT.2408), which maps
to SDR white. Both lookup tables are computed once; a 1080p frame takes a few tens of ms.
"""

from __future__ import annotations

from functools import cache

import cv2
import numpy as np

REFERENCE_WHITE_NITS = 203.0
"""HDR "graphics white" (BT.2408); scenes are exposed so that this reads as SDR white."""
HLG_PEAK_NITS = 1000.0
"""Nominal display peak used for the HLG OOTF (BT.2100 reference display)."""
KNEE = 0.6
"""Relative linear level below which the tone curve is the identity (mid-tones untouched)."""

# BT.2020 -> BT.709 primaries, for linear RGB (ITU-R BT.2087).
BT2020_TO_BT709 = np.array(
    [
        [1.6605, -0.5876, -0.0728],
        [-0.1246, 1.1329, -0.0083],
        [-0.0182, -0.1006, 1.1187],
    ],
    dtype=np.float32,
)

_OUT_STEPS = 4096
_MAX_RELATIVE = 10000.0 / REFERENCE_WHITE_NITS


def pq_to_nits(signal: np.ndarray) -> np.ndarray:
    """SMPTE ST 2084 EOTF: non-linear signal 0..1 -> display luminance in nits."""
    m1, m2 = 2610 / 16384, 2523 / 4096 * 128
    c1, c2, c3 = 3424 / 4096, 2413 / 4096 * 32, 2392 / 4096 * 32
    p = np.power(np.clip(signal, 0.0, 1.0), 1.0 / m2)
    return 10000.0 * np.power(np.maximum(p - c1, 0.0) / (c2 - c3 * p), 1.0 / m1)


def nits_to_pq(nits: np.ndarray | float) -> np.ndarray:
    """SMPTE ST 2084 inverse EOTF: nits -> non-linear signal 0..1 (used to build test clips)."""
    m1, m2 = 2610 / 16384, 2523 / 4096 * 128
    c1, c2, c3 = 3424 / 4096, 2413 / 4096 * 32, 2392 / 4096 * 32
    y = np.power(np.clip(np.asarray(nits, dtype=np.float64) / 10000.0, 0.0, 1.0), m1)
    return np.power((c1 + c2 * y) / (1.0 + c3 * y), m2)


def hlg_to_nits(signal: np.ndarray) -> np.ndarray:
    """ARIB STD-B67 inverse OETF then a per-channel BT.2100 OOTF (gamma 1.2, 1000-nit peak)."""
    a, b = 0.17883277, 0.28466892
    c = 0.5 - a * np.log(4 * a)
    e = np.clip(signal, 0.0, 1.0)
    scene = np.where(e <= 0.5, e * e / 3.0, (np.exp((e - c) / a) + b) / 12.0)
    return HLG_PEAK_NITS * np.power(scene, 1.2)


@cache
def _to_linear_lut(transfer: str) -> np.ndarray:
    """16-bit code -> linear light relative to reference white (float32, 65536 entries)."""
    signal = np.arange(65536, dtype=np.float64) / 65535.0
    nits = pq_to_nits(signal) if transfer == "pq" else hlg_to_nits(signal)
    return (nits / REFERENCE_WHITE_NITS).astype(np.float32)


def tone_curve(x: np.ndarray) -> np.ndarray:
    """Identity below the knee, then an exponential shoulder approaching 1 (never clips hard).

    The slope is continuous at the knee, so gradients through highlights stay smooth.
    """
    x = np.maximum(x, 0.0)
    shoulder = KNEE + (1.0 - KNEE) * (1.0 - np.exp(-(x - KNEE) / (1.0 - KNEE)))
    return np.where(x < KNEE, x, shoulder)


def bt709_oetf(linear: np.ndarray) -> np.ndarray:
    linear = np.clip(linear, 0.0, 1.0)
    return np.where(linear < 0.018, 4.5 * linear, 1.099 * np.power(linear, 0.45) - 0.099)


@cache
def _to_sdr_lut() -> np.ndarray:
    """sqrt-spaced index over relative linear light -> 8-bit BT.709 code (tone curve + OETF).

    sqrt spacing gives fine steps near black, where 8-bit banding would show first.
    """
    index = np.arange(_OUT_STEPS, dtype=np.float64) / (_OUT_STEPS - 1)
    linear = np.square(index) * _MAX_RELATIVE
    return np.round(bt709_oetf(tone_curve(linear)) * 255.0).astype(np.uint8)


def tone_map(rgb16: np.ndarray, transfer: str) -> np.ndarray:
    """Map full-range 16-bit non-linear BT.2020 RGB (HxWx3 uint16) to SDR BT.709 uint8 RGB.

    ``transfer`` is ``"pq"`` or ``"hlg"``.
    """
    if transfer not in ("pq", "hlg"):
        raise ValueError(f"unknown HDR transfer {transfer!r}")
    linear = _to_linear_lut(transfer)[rgb16]
    linear = cv2.transform(linear, BT2020_TO_BT709)
    np.maximum(linear, 0.0, out=linear)
    scale = (_OUT_STEPS - 1) / np.sqrt(_MAX_RELATIVE)
    index = np.sqrt(linear, out=linear)
    index *= scale
    index += 0.5
    np.minimum(index, _OUT_STEPS - 1, out=index)
    return _to_sdr_lut()[index.astype(np.int32)]
