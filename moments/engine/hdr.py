"""HDR (PQ / HLG, BT.2020) to SDR (BT.709) tone mapping with OpenCV lookup tables.

This FFmpeg build has no zscale/tonemap filters, so phone HDR clips are mapped here, as a
display-light conversion (ITU-R BT.2408 / BT.2446): non-linear 16-bit RGB -> display light
(PQ EOTF; HLG inverse OETF and the BT.2100 OOTF of a 1000 cd/m2 display) relative to HDR
reference white (203 cd/m2) -> a tone curve that leaves everything up to near reference white
alone and rolls highlights off -> BT.2020 to BT.709 gamut matrix -> the inverse of the SDR
display's EOTF (BT.1886, gamma 2.4) -> 8-bit full-range RGB.

Anchor: BT.2408's display-referred mapping puts SDR 100% at HDR reference white (75% HLG,
58% PQ), so reference white comes out at (nearly) SDR white, 18% grey (HLG/PQ 38%, 26 cd/m2)
at 0.43 (8-bit 109). The light is already display-referred, so the SDR side is the inverse
of the display's EOTF: the BT.709 camera OETF there would apply the system gamma a second
time (mid grey came out at 86, about 20% too dark).

Speed: everything up to the matrix is per channel, so it is one lookup: ``cv2.LUT`` on the
high byte of each 16-bit code (256 knots) plus the low byte times the slope between knots
(linear interpolation; error far below one 8-bit step). After the matrix: clamp, power,
round: all OpenCV vector loops. ``python benchmarks/tone_map.py`` times a 1080p frame.

Tried for the reel's pictures and not kept: the whole plane mapping as one numba loop per 2x2
block (the same tables; the inverse EOTF from a table on the fourth root of light), no
temporaries. Alone it took 9-24 ms of processor time a 1080p picture against 30-33 ms for
these passes on one thread, but in the render, beside the decoder and x264, its bands took
as long as these passes' (23.8 s against 22.2 s for the iphone-hdr clip's 30 s reel) and
the whole run's processor time did not move (medians 62.3 against 64.2 s, ranges
overlapping, 3 interleaved runs each): the machine's cores and memory, not the passes, set
the pace there. ``cv2.LUT`` and ``cv2.remap`` gathers measured no faster than ``np.take``.

Where an hdr=sdr run's processor time goes (the benchmark's iphone-hdr clip with its
BT.2020 pictures, a 30 s reel of 6 segments, 962 pictures; one render each on a machine
loaded ~10x over its 2 cores): decoding alone (and the sound) 10.1 s, with the tone map 36.0
s, with x264 too 73.7 s: ~10 ms decode, ~27 ms tone map, ~39 ms x264 a picture (x264 alone
on 120 of these pictures: 32-35 ms, the same with 1, 2 or its default threads). The whole
run took 79.4 s against 31.3 s for a full decode (8.7 ms a frame): a ratio of 1 needs the
three together under ~25 ms a picture, so even a free tone map leaves it at ~1.7; x264 at
this quality is the larger share (``encode.TONE_MAPPED_PARAMS``). ``benchmarks/engine.py
--source iphone-hdr --hdr sdr`` (3 runs, same load): whole run / full decode 2.31 (runs
118.7-154.0 s against 66.1 s), processor time 2.76 (79.2 s against 28.7 s). Only the
pictures the reel shows are tone-mapped (not the frames a seek decodes up to a segment's
start; analysis maps 90x160 images). Measured again on a machine less loaded (load 1-7,
after this module's arrays were kept from picture to picture and x264 given frame threads):
whole run 65.6-76.8 s of processor time against 26.5-27.8 s for the full decode (2.4-2.8),
wall 34-40 s against 16-17.5 s (2.1-2.5); a render picture costs ~10-12 ms to decode, ~19-20
to tone-map, ~25-30 for x264, so the ratio of 1 is out of reach of the tone map and of
x264's settings alone (``encode.TONE_MAPPED_THREADS`` lists what they buy). Also tried and
not kept for the chroma path:
- a nearest-neighbour 3D table on (2x2 mean luma, Cb, Cr) in place of the exact colour
  (one gather, the offset and both chroma bytes packed in 32 bits): 20-23 ms a 1080p picture
  against 28-31, but up to 8-17 codes off in chroma on the benchmark's scenes (22 on smoothed
  noise) even with a table every 4 codes (68 MB), where a channel's light is near zero, as
  in saturated colours: ``x ** (1 / 2.4)`` has no bounded slope there;
- ``cv2.pow`` replaced by a table on the float's exponent and top mantissa bits: 7.7 ms
  against 5.2 for 1.5 M values (NumPy's passes cost more than the SIMD power);
- ``np.intp`` indices for ``np.take`` (faster alone) and ``cv2.multiply`` to round the
  offsets: the same planes, 26.3 against 26.8 ms a picture (medians of 30, interleaved).

Where a whole hdr=sdr run's processor time goes (2026-12-07: perf sampling of one run, the
iphone-hdr clip's 30 s reel of 942 pictures, after a full decode of the clip in the same
process, 19.5 s or 5.4 ms a frame; load 9-14 on 2 cores), in full decodes: analysis 0.38
(7.4 s; its sparse HEVC decode 0.23), selection 0.01, render 2.13: x264 0.92 (17.9 s, 19 ms
a picture), this module with the blends and fades (NumPy, OpenCV) 0.70 (13.6 s, 14 ms a
picture), the reel's HEVC decode 0.30 (5.8 s), Python, kernel and libc 0.19, sound 0.02;
2.52 in all (benchmarks/engine.py in the same hour, 3 runs: 2.50; 3 more, each against a full
decode of its own: 2.32, 2.19-2.75; wall time, at load 8-17, said nothing). A ratio of 1
leaves, after analysis, selection, the reel's decode and sound (13.9 s), 2-6 ms of processor
time a picture for the tone map and x264 together (as the 3.7 s of Python, kernel and libc go
or stay; 7-11 ms counting the wall-clock edge of a run that keeps both cores busy where a full
decode keeps ~1.6), and x264 alone takes 19-22 ms at the reel's picture quality, 12-14 at
settings 1.0-1.6 dB worse, 8.5 at ``ultrafast`` (on 240 of the pictures: PSNR-Y 31.8 dB
against 40.3, the worst picture 18.4): out of reach whatever the tone map costs. x264's settings
measured on that whole reel at its cap (942 pictures as the render hands them over, 2.38
Mbit/s, frame threads, 2 rounds interleaved, ms of processor time a picture, PSNR-Y mean /
worst, SSIM-Y): ``encode.TONE_MAPPED_PARAMS`` 22.3 (21.6-23.0), 37.61 / 29.57, 0.9467; no
B-frames 13.9 (12.5-15.4), 36.56 / 28.42, 0.9353; no B-frames at subme 2 17.8 (17.7-18.0),
37.32 / 28.84, 0.9456; ``ultrafast`` with deblocking, CABAC and the macroblock tree 13.1
(11.9-14.2), 36.25 / 26.00, 0.9353: every cheaper setting a worse picture at the same size
(2.45 Mbit/s). Tried again then and not kept:
- the whole mapping as one numba kernel, row by row so its arithmetic vectorises (the same
  tables, the inverse EOTF interpolated on the fourth root of light; one code off on 0.005%
  of pixels): 12.8 ms of processor time a 1080p picture on one thread against 12.3 for these
  passes (its gathers alone took 0.84 ms against 2.3 for ``np.take``, its arithmetic more);
- swscale's colour management in the wheel's FFmpeg (``scale`` with ``out_transfer=bt709``,
  ``out_primaries=bt709``; it accepts HLG): 41 ms a picture against 15 for this module, and
  another mapping (mean luma 116 against 111, up to 57 codes apart);
- chroma scaled by the luma ratio through a 2x2 matrix, luma from the grey table alone (a
  third of the passes): 20-76 codes off in RGB on tests/engine/test_hdr_planes.py's colour
  patches, whose bound is 3.
- FFmpeg's ``lut3d`` (a 33-point cube of :func:`tone_map`) between swscale's conversions to
  16-bit RGB and back: 25-28 ms a picture tetrahedral, 52-55 trilinear, against 18 for this
  module on the same 25 frames of the benchmark clip.

The HLG OOTF is applied per channel (exact for greys; BT.2100's luminance-based form needs the
three channels together and would cost a pass of powers per pixel): saturated highlights may
come out slightly more saturated than a reference conversion.

Known answers (HLG, limited range, neutral chroma; tests/engine/test_hdr.py): 75% (reference
white, 203 cd/m2) -> 8-bit luma 230, 97.7% of SDR white's signal (BT.2408 says 100%: the
shoulder above ``KNEE`` keeps 2.3% for highlights); 38% (18% grey, 26 cd/m2) -> 110 against
109.4 for 26/203 of SDR white's light on a gamma 2.4 display (0.6 of a step: the plane mapping's
fixed-point rounding); 50% -> 139 against 138.9.

"HDR reels 4.6% darker than SDR" (mean luma 104.5 against 109.5 for the benchmark's
iphone-hdr clip and its SDR twin) was the benchmark's clip, not this mapping: it put the SDR
pictures' BT.709 RGB into the BT.2020 container unconverted, so they were more saturated
colours, which this mapping (rightly) shows as such in BT.709 — and a more saturated colour of
the same light has a lower luma (Y' of gamma-encoded channels): over every scene of the
benchmark's minute, 106.1 against 111.2 for the same pictures' BT.709 luma (-4.6%). With the
primaries converted (BT.2087) and BT.2100's inverse OOTF on luminance, as the benchmark now
makes the clip: 109.8 against 111.2 (-1.3%), all of it this module's per-channel OOTF (the
same clip made with a per-channel inverse OOTF maps to +0.4%; the highlight shoulder moves the
mean by under 0.05%). Its SDR twin was also not comparable as it was: untagged, encoded with
swscale's default BT.601 matrix (mean luma 109.7 where BT.709's is 111.2).
"""

from __future__ import annotations

import itertools
import threading
from concurrent.futures import ThreadPoolExecutor
from functools import cache

import cv2
import numpy as np

REFERENCE_WHITE_NITS = 203.0
"""HDR reference ("graphics") white (BT.2408): SDR white in the mapping."""
HLG_PEAK_NITS = 1000.0
"""Nominal display peak used for the HLG OOTF (BT.2100 reference display)."""
SDR_GAMMA = 2.4
"""The SDR display's EOTF (BT.1886 with a zero black level); its inverse makes the signal."""
KNEE = 0.85
"""Relative display light (1 = reference white) below which the tone curve is the identity.
Above it highlights roll off towards SDR white; reference white itself lands at 0.945 of SDR
white's light, 0.977 of its signal (8-bit 249), leaving a little room for what is brighter."""

# BT.2020 -> BT.709 primaries, for linear RGB (ITU-R BT.2087).
BT2020_TO_BT709 = np.array(
    [
        [1.6605, -0.5876, -0.0728],
        [-0.1246, 1.1329, -0.0083],
        [-0.0182, -0.1006, 1.1187],
    ],
    dtype=np.float32,
)

_KNOT = 256
_FLOOR = 1e-9
"""16-bit codes between two knots of the input table (its index is a code's high byte)."""


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
    scene = np.where(e <= 0.5, e * e / 3.0, (np.exp((np.maximum(e, 0.5) - c) / a) + b) / 12.0)
    return HLG_PEAK_NITS * np.power(scene, 1.2)


def tone_curve(x: np.ndarray) -> np.ndarray:
    """Identity below the knee, then an exponential shoulder approaching 1 (never clips hard).

    The slope is continuous at the knee, so gradients through highlights stay smooth.
    """
    x = np.maximum(x, 0.0)
    shoulder = KNEE + (1.0 - KNEE) * (1.0 - np.exp(-np.maximum(x - KNEE, 0.0) / (1.0 - KNEE)))
    return np.where(x < KNEE, x, shoulder)


def to_sdr_light(signal: np.ndarray, transfer: str) -> np.ndarray:
    """HDR signal 0..1 -> tone-mapped display light relative to SDR white (0..1), per channel."""
    nits = pq_to_nits(signal) if transfer == "pq" else hlg_to_nits(signal)
    return tone_curve(nits / REFERENCE_WHITE_NITS)


@cache
def _input_tables(transfer: str) -> tuple[np.ndarray, np.ndarray]:
    """(value at each knot, slope per code to the next knot), float32, 256 entries each."""
    codes = np.arange(257, dtype=np.float64) * _KNOT
    light = to_sdr_light(np.minimum(codes / 65535.0, 1.0), transfer)
    base = light[:-1].astype(np.float32)
    slope = (np.diff(light) / _KNOT).astype(np.float32)
    return base, slope


def tone_map(rgb16: np.ndarray, transfer: str) -> np.ndarray:
    """Map full-range 16-bit non-linear BT.2020 RGB (HxWx3 uint16) to SDR BT.709 uint8 RGB.

    ``transfer`` is ``"pq"`` or ``"hlg"``. The result is full-range RGB for a BT.1886 display
    (BT.709 primaries and matrix once converted to YCbCr).
    """
    if transfer not in ("pq", "hlg"):
        raise ValueError(f"unknown HDR transfer {transfer!r}")
    height, width = rgb16.shape[:2]
    flat = rgb16.reshape(height, width * 3)
    high = (flat >> 8).astype(np.uint8)
    low = flat.astype(np.uint8).astype(np.float32)  # astype keeps the low byte
    base, slope = _input_tables(transfer)
    light = cv2.LUT(high, base)
    cv2.accumulateProduct(cv2.LUT(high, slope), low, light)
    light = cv2.transform(light.reshape(height, width, 3), BT2020_TO_BT709)
    # Out of the BT.709 gamut: clipped to its edge. Not to 0: OpenCV's pow takes a slow path
    # on exact zeros (15x slower); 1e-9 still rounds to 0.
    np.maximum(light, np.float32(_FLOOR), out=light)
    cv2.pow(light, 1.0 / SDR_GAMMA, dst=light)
    return cv2.convertScaleAbs(light, alpha=255.0)  # rounds and saturates at 255


# ------------------------------------------------------------------ straight from the planes

# BT.2020 (non-constant luminance) and BT.709 luma weights.
_KR_2020, _KB_2020 = 0.2627, 0.0593
_KR_709, _KB_709 = 0.2126, 0.0722
_CODES = 1024
"""10-bit codes: the size of the grey table (one entry per code, no interpolation)."""
_SIGNAL_STEPS = 16384
"""Steps of the per-channel table used at chroma resolution (14 bits: finer than the source)."""


@cache
def _grey_table(transfer: str, full_range: bool) -> np.ndarray:
    """8-bit limited-range BT.709 luma of a grey, per 10-bit HDR luma code (float32)."""
    codes = np.arange(_CODES, dtype=np.float64)
    signal = codes / 1023.0 if full_range else (codes - 64.0) / 876.0
    light = to_sdr_light(np.clip(signal, 0.0, 1.0), transfer)
    # Greys stay grey through the gamut matrix (its rows sum to 1).
    sdr = 16.5 + 219.0 * np.power(np.minimum(light, 1.0), 1.0 / SDR_GAMMA)  # +0.5: see below
    return sdr.astype(np.float32)


@cache
def _channel_table(transfer: str) -> np.ndarray:
    """Tone-mapped display light per non-linear HDR channel value, in ``_SIGNAL_STEPS``."""
    signal = np.arange(_SIGNAL_STEPS, dtype=np.float64) / (_SIGNAL_STEPS - 1)
    return to_sdr_light(signal, transfer).astype(np.float32)


def _yuv_to_rgb(kr: float, kb: float) -> np.ndarray:
    """YCbCr (Y 0..1, Cb and Cr -0.5..0.5) to non-linear RGB, as a 3x3 matrix."""
    kg = 1 - kr - kb
    return np.array(
        [
            [1.0, 0.0, 2 - 2 * kr],
            [1.0, -kb * (2 - 2 * kb) / kg, -kr * (2 - 2 * kr) / kg],
            [1.0, 2 - 2 * kb, 0.0],
        ]
    )


@cache
def _colour_matrices(full_range: bool) -> tuple[np.ndarray, np.ndarray]:
    """(10-bit BT.2020 Y, Cb, Cr codes -> table index of R, G, B, as 3x4 affine; SDR R, G, B
    -> 8-bit limited BT.709 Y, Cb, Cr, as 3x4 affine), float32."""
    if full_range:
        scale, offset = np.diag([1 / 1023.0] * 3), np.array([0.0, -512 / 1023.0, -512 / 1023.0])
    else:
        scale = np.diag([1 / 876.0, 1 / 896.0, 1 / 896.0])
        offset = np.array([-64 / 876.0, -512 / 896.0, -512 / 896.0])
    to_rgb = _yuv_to_rgb(_KR_2020, _KB_2020)
    top = _SIGNAL_STEPS - 1
    linear = top * to_rgb @ scale
    # +0.5: the float -> int conversion truncates, so indices are rounded.
    decode = np.hstack([linear, (top * to_rgb @ offset + 0.5)[:, None]])
    to_yuv = np.linalg.inv(_yuv_to_rgb(_KR_709, _KB_709))
    encode = np.hstack([np.diag([219.0, 224.0, 224.0]) @ to_yuv, [[16.5], [128.5], [128.5]]])
    return decode.astype(np.float32), encode.astype(np.float32)


def _sdr_colour(yuv: np.ndarray, transfer: str, full_range: bool, scratch: _Scratch) -> None:
    """The exact mapping of ``h x w x 3`` 10-bit BT.2020 Y, Cb, Cr codes (float32), in place:
    8-bit limited-range BT.709 Y, Cb, Cr (float32, +0.5 so truncating rounds)."""
    decode, encode = _colour_matrices(full_range)
    work, index = scratch.work, scratch.index
    cv2.transform(yuv, decode, dst=work)
    np.copyto(index, work, casting="unsafe")  # truncates, as astype does
    np.take(_channel_table(transfer), index, mode="clip", out=yuv)  # per channel
    cv2.transform(yuv, BT2020_TO_BT709, dst=work)
    np.clip(work, np.float32(_FLOOR), np.float32(1.0), out=work)
    cv2.pow(work, 1.0 / SDR_GAMMA, dst=work)
    cv2.transform(work, encode, dst=yuv)


BANDS = 2
"""Horizontal bands a large picture is mapped in, each on its own thread (OpenCV and NumPy
let go of the GIL): the bands are independent (split on whole 2x2 blocks) and map exactly
as the whole does. In the render the mapping runs on the thread that decodes and makes the
pictures, against the encoder's threads; mapped whole, that thread was the bottleneck: runnable
(running or waiting for a core, /proc schedstat) 96% of a 10 s hdr=sdr reel's render of the
iphone-hdr benchmark clip, 10.8 s of processor time against 5.9 s for all of x264's threads.
In two bands, each band's thread was runnable 70-82% and the picture thread 15% (render wall
time 79.9 -> 63.8 s on a machine loaded ~9x over its 2 cores: timings only indicative)."""
BAND_PIXELS = 640 * 360
"""Pictures from this size up are split into ``BANDS``; below, a thread's hand-off costs more
than it saves (analysis maps 160-320 px images)."""
_POOL = ThreadPoolExecutor(max_workers=BANDS, thread_name_prefix="tone-map")


def tone_map_planes(
    y: np.ndarray,
    u: np.ndarray,
    v: np.ndarray,
    transfer: str,
    full_range: bool = False,
    out: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Map 10-bit 4:2:0 BT.2020 planes (uint16: Y ``h x w``, U and V ``h/2 x w/2``) to 8-bit
    limited-range BT.709 planes for the reel, without going through RGB at full resolution.

    Large pictures are mapped in ``BANDS`` on threads (the same result: see ``BANDS``).
    ``out``: uint8 planes of those shapes to map into (views of the reel picture: no copies
    of the result), returned; else new ones.
    """
    if transfer not in ("pq", "hlg"):
        raise ValueError(f"unknown HDR transfer {transfer!r}")
    if out is None:
        out = tuple(np.empty(plane.shape, np.uint8) for plane in (y, u, v))
    rows = u.shape[0]
    if y.size < BAND_PIXELS or rows < 2 * BANDS or y.shape[0] != 2 * rows:
        _map_planes(y, u, v, transfer, full_range, out)
        return out
    cuts = [rows * k // BANDS for k in range(BANDS + 1)]
    jobs = [
        _POOL.submit(
            _map_planes,
            y[2 * a : 2 * b],
            u[a:b],
            v[a:b],
            transfer,
            full_range,
            (out[0][2 * a : 2 * b], out[1][a:b], out[2][a:b]),
        )
        for a, b in itertools.pairwise(cuts)
    ]
    for job in jobs:
        job.result()
    return out


def _map_planes(
    y: np.ndarray,
    u: np.ndarray,
    v: np.ndarray,
    transfer: str,
    full_range: bool,
    out: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> None:
    """:func:`tone_map_planes` of one picture or band into ``out``, on the calling thread.

    The colour (and so the chroma planes) is mapped exactly, as :func:`tone_map` does it, at
    chroma resolution: from the 2x2 mean of luma with its U and V. Luma at full resolution is
    the mapped grey of each pixel's own luma (one table lookup) plus, from the chroma sample
    it shares, how far the colour's mapped luma lies from its grey's. Greys are exact; inside
    a 2x2 block, detail follows the grey curve. ``python benchmarks/tone_map.py`` times both.
    """
    height, width = y.shape
    rows, cols = u.shape
    grey = _grey_table(transfer, full_range)
    work = _scratch(y.shape, u.shape)
    # Full resolution in 16-bit fixed point (quarter steps), not float32: a reel picture of
    # the 1080p benchmark clip took 29 ms of processor time with float passes, 20 ms so.
    mapped_grey = np.take(_grey_fixed(transfer, full_range), y, mode="clip", out=work.luma)
    # 2x2 mean of luma at chroma resolution (odd sizes: the chroma planes round up).
    mean = cv2.resize(y, (cols, rows), dst=work.mean, interpolation=cv2.INTER_AREA)
    sdr = work.colour
    np.copyto(sdr, cv2.merge([mean, u, v], dst=work.codes), casting="unsafe")
    _sdr_colour(sdr, transfer, full_range, work)
    sdr_y, sdr_u, sdr_v = cv2.split(sdr, work.split)
    offset = np.take(grey, mean, mode="clip", out=work.offset)
    cv2.subtract(sdr_y, offset, dst=offset)
    np.multiply(offset, FIXED, out=offset)
    np.copyto(work.offset16, np.round(offset, out=offset), casting="unsafe")
    offset = cv2.resize(
        work.offset16, (width, height), dst=work.spread, interpolation=cv2.INTER_NEAREST
    )
    # The grey table and the colour mapping both carry +0.5: truncation rounds.
    luma = cv2.add(mapped_grey, offset, dst=mapped_grey)
    luma = cv2.max(luma, 0, dst=luma)  # (np.maximum: 2.5x the time on int16)
    # Rounds (undoing the +0.5) and saturates; straight into ``out``'s plane when it can (a
    # view with rows apart, as in a picture: OpenCV writes where it is given).
    mapped = cv2.convertScaleAbs(luma, dst=out[0], alpha=1 / FIXED, beta=-0.5)
    if mapped is not out[0]:
        np.copyto(out[0], mapped)
    for plane, dst in zip((sdr_u, sdr_v), out[1:], strict=True):
        np.copyto(dst, np.clip(plane, 0, 255, out=plane), casting="unsafe")  # truncates


class _Scratch:
    """The arrays one thread maps a picture (or band) of one size in, kept from picture to
    picture. New temporaries for every picture cost a third of the mapping's processor time:
    each was fresh memory from the kernel (2,400-2,900 page faults a 1080p picture, each page
    zeroed), 33-41 -> 23-24 ms of processor time a 1080p picture on one thread, the same
    planes to the bit; 34-42 -> 19-20 ms over 200 decoded frames of the iphone-hdr clip. In
    the engine's own render, though, malloc had mostly been handing the same memory back
    (128,000 minor faults a whole hdr=sdr run of that clip, before and after): the whole
    run's processor time moved little (2.48 -> 2.45 of a full decode's, medians of 3 rounds
    interleaved), its wall time more (2.14 -> 1.81, every round faster; load 6-8)."""

    def __init__(self, full: tuple[int, int], chroma: tuple[int, int]) -> None:
        self.luma = np.empty(full, np.int16)
        self.spread = np.empty(full, np.int16)
        self.mean = np.empty(chroma, np.uint16)
        self.codes = np.empty((*chroma, 3), np.uint16)
        self.colour = np.empty((*chroma, 3), np.float32)
        self.work = np.empty((*chroma, 3), np.float32)
        self.index = np.empty((*chroma, 3), np.int32)
        self.split = [np.empty(chroma, np.float32) for _ in range(3)]
        self.offset = np.empty(chroma, np.float32)
        self.offset16 = np.empty(chroma, np.int16)


_THREAD = threading.local()
_SIZES_KEPT = 4
"""Sizes of scratch arrays a thread keeps (bands of an odd height differ by a row)."""


def _scratch(full: tuple[int, int], chroma: tuple[int, int]) -> _Scratch:
    kept: dict[tuple, _Scratch] = _THREAD.__dict__.setdefault("scratch", {})
    key = (full, chroma)
    if key not in kept:
        if len(kept) >= _SIZES_KEPT:
            kept.clear()
        kept[key] = _Scratch(full, chroma)
    return kept[key]


FIXED = 4
"""Fixed-point steps per 8-bit step of the full-resolution luma sums."""


@cache
def _grey_fixed(transfer: str, full_range: bool) -> np.ndarray:
    """:func:`_grey_table` in fixed point (int16)."""
    return np.round(_grey_table(transfer, full_range) * FIXED).astype(np.int16)
