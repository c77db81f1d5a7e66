"""HDR (HLG / PQ) to SDR: brightness as a BT.2100 / BT.2408 reference conversion gives it.

The reference is written here from the standards' equations, not taken from the engine:
HLG inverse OETF and OOTF (BT.2100, 1000 cd/m2 display), PQ EOTF (ST 2084), HDR reference
white 203 cd/m2 shown at SDR 100% (BT.2408's display-referred mapping), and an SDR display
whose EOTF is BT.1886 with a zero black level (L = V ** 2.4). Clips are real 10-bit H.264
files encoded with PyAV, decoded and mapped the way the render does it.
"""

from __future__ import annotations

import math
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from moments.engine import HighlightOptions, probe
from moments.engine.frames import to_rgb
from moments.engine.progress import Reporter
from moments.engine.render import render

from .media_factory import make_video
from .test_render import segs

HLG, PQ = 18, 16  # transfer characteristics (H.273)
BT2020 = 9
W, H = 448, 64


def reference_white_nits() -> float:
    return 203.0


def hlg_display_nits(signal: float) -> float:
    """BT.2100 HLG: inverse OETF to scene light, then the OOTF of a 1000 cd/m2 display (a
    grey, so Y_s equals each component)."""
    a = 0.17883277
    b = 1 - 4 * a
    c = 0.5 - a * math.log(4 * a)
    scene = signal**2 / 3 if signal <= 0.5 else (math.exp((signal - c) / a) + b) / 12
    gamma = 1.2  # BT.2100 system gamma at 1000 cd/m2
    return 1000.0 * scene ** (gamma - 1) * scene


def pq_signal(nits: float) -> float:
    """SMPTE ST 2084 inverse EOTF."""
    m1, m2 = 2610 / 16384, 2523 / 4096 * 128
    c1, c2, c3 = 3424 / 4096, 2413 / 4096 * 32, 2392 / 4096 * 32
    y = (nits / 10000.0) ** m1
    return ((c1 + c2 * y) / (1 + c3 * y)) ** m2


def sdr_8bit(nits: float) -> float:
    """The full-range 8-bit SDR value that shows ``nits`` of HDR light with reference white
    at SDR white on a BT.1886 (gamma 2.4) display."""
    return 255.0 * min(1.0, nits / reference_white_nits()) ** (1 / 2.4)


def band_clip(tmp_path: Path, name: str, trc: int, signals: list[float], seconds=1.0) -> Path:
    """Vertical bands of grey, one per signal level (0..1 of the 10-bit code range)."""
    band = W // len(signals)

    def frame(i: int, w: int, h: int) -> np.ndarray:
        img = np.zeros((h, w, 3), np.uint16)
        for k, s in enumerate(signals):
            img[:, k * band : (k + 1) * band] = round(s * 65535)
        return img

    return make_video(
        tmp_path / name, seconds=seconds, width=W, height=H, pix_fmt="yuv420p10le",
        color_trc=trc, color_primaries=BT2020, colorspace=BT2020, audio=False, frame_fn=frame,
        video_options={"crf": "4"},
    )  # fmt: skip


def band_values(rgb: np.ndarray, count: int) -> list[float]:
    band = rgb.shape[1] // count
    return [
        float(rgb[8:-8, k * band + band // 4 : (k + 1) * band - band // 4].mean())
        for k in range(count)
    ]


def mapped(path: Path) -> np.ndarray:
    media = probe(path)
    with av.open(str(path)) as container:
        frame = next(container.decode(video=0))
    return to_rgb(frame, media, media.width, media.height)


def assert_close(got: list[float], want: list[float], what: list) -> None:
    for g, w, label in zip(got, want, what, strict=True):
        assert abs(g - w) <= 0.03 * w, f"{label}: got {g:.1f}, BT.2100 reference {w:.1f}"


# HLG signal levels: near black to reference white (75%), 0.38 is BT.2408's 18% grey card.
HLG_RAMP = [0.2, 0.3, 0.38, 0.5, 0.6, 0.7, 0.75]
# PQ levels in cd/m2: 26 is the 18% grey card, 203 reference white (PQ 58%).
PQ_RAMP = [2.0, 10.0, 26.0, 60.0, 100.0, 150.0, 203.0]


def test_hlg_grey_ramp_matches_the_bt2100_reference(tmp_path: Path) -> None:
    clip = band_clip(tmp_path, "hlg.mp4", HLG, HLG_RAMP)
    assert probe(clip).hdr == "hlg"
    want = [sdr_8bit(hlg_display_nits(s)) for s in HLG_RAMP]
    assert 105 < want[2] < 112 and want[-1] > 254  # the reference itself: grey 108.6, white 255
    got = band_values(mapped(clip), len(HLG_RAMP))
    assert_close(got, want, HLG_RAMP)


def test_pq_grey_ramp_matches_the_bt2100_reference(tmp_path: Path) -> None:
    signals = [pq_signal(n) for n in PQ_RAMP]
    assert abs(signals[-1] - 0.58) < 0.005 and abs(signals[2] - 0.38) < 0.005  # BT.2408 table
    clip = band_clip(tmp_path, "pq.mp4", PQ, signals)
    assert probe(clip).hdr == "pq"
    got = band_values(mapped(clip), len(PQ_RAMP))
    assert_close(got, [sdr_8bit(n) for n in PQ_RAMP], PQ_RAMP)


def test_highlights_above_reference_white_roll_off_in_order(tmp_path: Path) -> None:
    nits = [203.0, 400.0, 1000.0, 4000.0]
    clip = band_clip(tmp_path, "pqhi.mp4", PQ, [pq_signal(n) for n in nits])
    got = band_values(mapped(clip), len(nits))
    assert got == sorted(got) and got[0] < got[-1] and got[-1] > 252, got


@pytest.fixture(scope="module")
def hlg_reel(tmp_path_factory) -> tuple[Path, Path | None]:
    tmp = tmp_path_factory.mktemp("hdr")
    clip = band_clip(tmp, "hlg.mp4", HLG, HLG_RAMP, seconds=3.0)
    info = render(
        probe(clip), segs((0.0, 1.0), (1.5, 2.5)), tmp / "reel.mp4", HighlightOptions(hdr="sdr"),
        Reporter(), poster_time=2.0,
    )  # fmt: skip
    return info.output, info.poster


def test_hdr_reel_is_as_bright_as_the_reference(hlg_reel) -> None:
    reel, _ = hlg_reel
    with av.open(str(reel)) as container:
        frame = next(container.decode(video=0))
        rgb = frame.reformat(format="rgb24", src_colorspace=1, src_color_range=1).to_ndarray()
    want = [sdr_8bit(hlg_display_nits(s)) for s in HLG_RAMP]
    assert_close(band_values(rgb, len(HLG_RAMP))[1:], want[1:], HLG_RAMP[1:])


def test_hdr_poster_is_sdr(hlg_reel) -> None:
    _, poster = hlg_reel
    assert poster is not None
    rgb = cv2.imread(str(poster))[:, :, ::-1]
    want = [sdr_8bit(hlg_display_nits(s)) for s in HLG_RAMP]
    assert_close(band_values(rgb, len(HLG_RAMP))[1:], want[1:], HLG_RAMP[1:])
