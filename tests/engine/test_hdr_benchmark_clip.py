"""The benchmark's HLG clip (``benchmarks/engine.py --source iphone-hdr``) is its SDR pictures
converted as BT.2408's display-referred conversion does it, so an hdr=sdr reel of it can be
compared with the same pictures in SDR.

Its pictures were once put into BT.2020 RGB without converting their BT.709 primaries: the
engine, mapping BT.2020 to BT.709 as it must, then showed more saturated colours whose mean luma
was 4.6% under the SDR pictures' (what was measured as "HDR reels darker than SDR").
The reference here is written from BT.2100 (HLG inverse OETF, the OOTF on luminance of a
1000 cd/m2 display) and BT.2087 (BT.2020 -> BT.709 primaries), not taken from the engine.
"""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from moments.engine.hdr import tone_map_planes

ROOT = Path(__file__).resolve().parents[2]
BT2020_TO_BT709 = np.array(
    [[1.6605, -0.5876, -0.0728], [-0.1246, 1.1329, -0.0083], [-0.0182, -0.1006, 1.1187]]
)  # ITU-R BT.2087
BT2020, BT709, LIMITED = 9, 1, 1


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_engine", ROOT / "benchmarks/engine.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


def hlg_to_sdr_light(codes: np.ndarray) -> np.ndarray:
    """16-bit HLG BT.2020 RGB -> linear BT.709 display light, 1 = reference white."""
    a = 0.17883277
    b, c = 1 - 4 * a, 0.5 - a * math.log(4 * a)
    e = codes / 65535.0
    scene = np.where(e <= 0.5, e * e / 3, (np.exp((np.maximum(e, 0.5) - c) / a) + b) / 12)
    luminance = scene @ np.array([0.2627, 0.6780, 0.0593])
    nits = 1000.0 * luminance[..., None] ** 0.2 * scene  # BT.2100 OOTF, gamma 1.2
    return nits / 203.0 @ BT2020_TO_BT709.T


def test_benchmark_hlg_pictures_are_the_bt2100_conversion_of_the_sdr_ones(bench) -> None:
    # Greys, BT.709's primaries and secondaries at full and half level, skin, sky, grass.
    colours = [(0, 0, 0), (255, 255, 255), (128, 128, 128), (40, 40, 40)]
    for level in (255, 128):
        for r, g, b in [(1, 0, 0), (0, 1, 0), (0, 0, 1), (1, 1, 0), (0, 1, 1), (1, 0, 1)]:
            colours.append((r * level, g * level, b * level))
    colours += [(224, 172, 150), (110, 160, 220), (70, 120, 40)]
    sdr = np.array(colours, np.uint8)[None]
    back = hlg_to_sdr_light(bench.sdr_to_hlg(sdr).astype(np.float64))
    # In light, not 8-bit codes: BT.2087's matrices in 4 digits are inverses to 1e-4, which
    # near black is several codes. Before: pure red came back as (1.27, -0.10, -0.01), out
    # of BT.709 (clipped: brightness lost), skin (0.87, 0.37, 0.29) for (0.73, 0.39, 0.28).
    error = np.abs(back - (sdr / 255.0) ** 2.4).max(axis=-1)
    assert error.max() < 1e-3, error


def planes_of(frame: av.VideoFrame) -> list[np.ndarray]:
    dtype = np.uint16 if frame.format.name.endswith("10le") else np.uint8
    step = np.dtype(dtype).itemsize
    return [
        np.ascontiguousarray(
            np.frombuffer(p, dtype).reshape(-1, p.line_size // step)[: p.height, : p.width]
        )
        for p in frame.planes
    ]


def test_hdr_to_sdr_of_the_benchmark_clip_is_as_bright_as_its_sdr_pictures(bench) -> None:
    """The benchmark's scenes (tinted texture, coloured discs), as HLG 10-bit planes through
    the engine's tone map, against the same pictures' BT.709 luma: before, 4.6% darker."""
    rng = np.random.default_rng(1)
    width, height = 640, 360
    texture = cv2.resize(
        rng.integers(0, 255, (height // 8, width // 8 + 64, 3), dtype=np.uint8),
        (width + 512, height),
        interpolation=cv2.INTER_LINEAR,
    )
    mapped, sdr = [], []
    for t in np.arange(0.5, 60, 3.5):  # every scene of the minute the benchmark loops
        img = bench._picture(t, texture, width, height)
        hlg = av.VideoFrame.from_ndarray(bench.sdr_to_hlg(img), format="rgb48le").reformat(
            format="yuv420p10le", dst_colorspace=BT2020, dst_color_range=LIMITED
        )
        mapped.append(tone_map_planes(*planes_of(hlg), "hlg")[0].mean())
        plain = av.VideoFrame.from_ndarray(img, format="rgb24").reformat(
            format="yuv420p", dst_colorspace=BT709, dst_color_range=LIMITED
        )
        sdr.append(planes_of(plain)[0].mean())
    ratio = np.mean(mapped) / np.mean(sdr)
    # 1.3% under: the engine's per-channel OOTF against BT.2100's on luminance (see hdr.py).
    assert abs(ratio - 1) < 0.02, f"HDR -> SDR mean luma {ratio - 1:+.1%} of the SDR pictures'"
