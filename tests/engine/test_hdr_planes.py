"""Tone mapping straight on the 10-bit planes (the render's way) gives the colours the RGB
mapping gives (``hdr.tone_map``, itself checked against BT.2100 in test_hdr.py).

Colour patches are made as 16-bit BT.2020 RGB, turned into 10-bit 4:2:0 planes by swscale
(a real yuv420p10le frame, as a decoder hands it over), mapped, and turned back into RGB by
swscale with the BT.709 matrix the reel is tagged with.
"""

from __future__ import annotations

import av
import cv2
import numpy as np
import pytest

from moments.engine.hdr import tone_map, tone_map_planes

BT2020, BT709 = 9, 1
PATCH = 16
# Non-linear BT.2020 RGB (0..1): greys, skin, sky, grass, a saturated red, a highlight.
COLOURS = [
    (0.38, 0.38, 0.38),
    (0.75, 0.75, 0.75),
    (0.55, 0.42, 0.36),
    (0.30, 0.42, 0.58),
    (0.28, 0.45, 0.22),
    (0.62, 0.12, 0.10),
    (0.90, 0.85, 0.70),
    (0.10, 0.10, 0.12),
]


def patches() -> np.ndarray:
    rgb = np.zeros((PATCH, PATCH * len(COLOURS), 3), np.uint16)
    for k, colour in enumerate(COLOURS):
        rgb[:, k * PATCH : (k + 1) * PATCH] = np.round(np.array(colour) * 65535)
    return rgb


def planes_of(frame: av.VideoFrame, dtype: type) -> list[np.ndarray]:
    step = np.dtype(dtype).itemsize
    return [
        np.frombuffer(p, dtype).reshape(-1, p.line_size // step)[: p.height, : p.width]
        for p in frame.planes
    ]


def patch_means(rgb: np.ndarray) -> np.ndarray:
    inner = slice(4, PATCH - 4)
    return np.array(
        [rgb[inner, k * PATCH + 4 : (k + 1) * PATCH - 4].reshape(-1, 3).mean(axis=0)
         for k in range(len(COLOURS))]
    )  # fmt: skip


@pytest.mark.parametrize("transfer", ["hlg", "pq"])
def test_planes_mapping_matches_the_rgb_mapping(transfer: str) -> None:
    rgb16 = patches()
    deep = av.VideoFrame.from_ndarray(rgb16, format="rgb48le").reformat(
        format="yuv420p10le", dst_colorspace=BT2020, dst_color_range=1
    )
    y, u, v = tone_map_planes(*planes_of(deep, np.uint16), transfer)
    assert y.dtype == np.uint8 and y.shape == rgb16.shape[:2] and u.shape == (PATCH // 2, 64)

    sdr = av.VideoFrame(y.shape[1], y.shape[0], "yuv420p")
    for plane, data in zip(sdr.planes, (y, u, v), strict=True):
        view = np.frombuffer(plane, np.uint8).reshape(-1, plane.line_size)
        view[: data.shape[0], : data.shape[1]] = data
    got = sdr.reformat(format="rgb24", src_colorspace=BT709, src_color_range=1).to_ndarray()
    want = tone_map(rgb16, transfer)
    difference = np.abs(patch_means(got) - patch_means(want.astype(np.float64)))
    assert difference.max() <= 3.0, (transfer, difference.round(1))
    # Greys stay grey.
    assert np.abs(u[:, : PATCH // 2].astype(int) - 128).max() <= 1


@pytest.mark.parametrize("rows", [720, 718])
def test_large_pictures_mapped_in_bands_on_threads_match_the_whole(rows: int) -> None:
    # tone_map_planes maps a large picture in horizontal bands on threads: the bands must meet
    # on whole 2x2 blocks so the result is the picture mapped whole, to the bit (718 rows: a
    # band edge that is not a multiple of 4 rows).
    from moments.engine import hdr

    rng = np.random.default_rng(3)
    y = rng.integers(64, 941, (rows, 1280), dtype=np.uint16)
    u, v = (rng.integers(64, 961, (rows // 2, 640), dtype=np.uint16) for _ in range(2))
    assert y.size >= hdr.BAND_PIXELS  # the banded way is the one taken
    for transfer in ("hlg", "pq"):
        banded = tone_map_planes(y, u, v, transfer)
        whole = tuple(np.empty(p.shape, np.uint8) for p in (y, u, v))
        hdr._map_planes(y, u, v, transfer, False, whole)
        for got, want in zip(banded, whole, strict=True):
            assert got.shape == want.shape and np.array_equal(got, want)


def test_pictures_mapped_one_after_another_are_each_mapped_as_alone() -> None:
    # A thread keeps its working arrays from picture to picture (hdr._Scratch): nothing of one
    # picture may leak into the next, nor may a result share memory with them, at any size.
    from moments.engine import hdr

    rng = np.random.default_rng(5)

    def picture(rows: int, cols: int) -> tuple[np.ndarray, ...]:
        y = rng.integers(64, 941, (rows, cols), dtype=np.uint16)
        return (y, *(rng.integers(64, 961, (rows // 2, cols // 2), np.uint16) for _ in "uv"))

    first, second, small = picture(720, 1280), picture(720, 1280), picture(90, 160)
    alone = [hdr.tone_map_planes(*p, "hlg") for p in (first, second, small)]
    alone = [tuple(plane.copy() for plane in mapped) for mapped in alone]
    kept = hdr.tone_map_planes(*first, "hlg")
    for planes, want in zip((second, small, first), (alone[1], alone[2], alone[0]), strict=True):
        got = hdr.tone_map_planes(*planes, "hlg")
        assert all(np.array_equal(a, b) for a, b in zip(got, want, strict=True))
    assert all(np.array_equal(a, b) for a, b in zip(kept, alone[0], strict=True))
    assert not np.array_equal(alone[0][0], alone[1][0])  # the pictures do differ


def smooth_codes(rows: int, cols: int, low: int, high: int, seed: int) -> np.ndarray:
    """10-bit codes that wander over ``low..high`` as a picture does (blocks of 8 blended)."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(low, high + 1, (rows // 8 + 1, cols // 8 + 1)).astype(np.float32)
    return cv2.resize(coarse, (cols, rows)).round().astype(np.uint16)


def test_a_cropped_picture_is_the_window_of_the_whole_picture_mapped(tmp_path) -> None:
    # An SDR reel of an HDR clip maps only the crop window (straight into the picture): it
    # must be the window of the whole frame mapped, chroma aligned on its 2x2 blocks.
    from moments.engine.probe import probe
    from moments.engine.render.layout import Layout
    from moments.engine.render.picture import make_picture

    from .media_factory import make_video

    def frame_fn(i: int, w: int, h: int) -> np.ndarray:
        rgb = np.stack([smooth_codes(h, w, 5000, 60000, 10 + k) for k in range(3)], axis=-1)
        return (rgb.astype(np.uint32) * 64).clip(0, 65535).astype(np.uint16)

    clip = make_video(
        tmp_path / "hlg.mp4", seconds=0.6, width=320, height=180, pix_fmt="yuv420p10le",
        color_trc=18, color_primaries=BT2020, colorspace=BT2020, audio=False,
        frame_fn=frame_fn, video_options={"crf": "4"},
    )  # fmt: skip
    media = probe(clip)
    assert media.hdr == "hlg"
    with av.open(str(clip)) as container:
        frame = next(container.decode(video=0))
    whole = make_picture(frame, media, Layout(320, 180, 320, 180), (0.5, 0.5))
    y, u, v = whole[:180], whole[180:].reshape(2, 90, 160)[0], whole[180:].reshape(2, 90, 160)[1]
    window = Layout(100, 120, 320, 180)  # a window smaller both ways
    for focus in ((0.0, 0.0), (0.37, 0.61), (1.0, 1.0)):
        x0, y0 = window.crop_origin(focus)
        got = make_picture(frame, media, window, focus)
        assert got.shape == (180, 100)
        assert np.array_equal(got[:120], y[y0 : y0 + 120, x0 : x0 + 100])
        chroma = got[120:].reshape(2, 60, 50)
        rows, cols = slice(y0 // 2, y0 // 2 + 60), slice(x0 // 2, x0 // 2 + 50)
        assert np.array_equal(chroma[0], u[rows, cols])
        assert np.array_equal(chroma[1], v[rows, cols])
