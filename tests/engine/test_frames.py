"""Upright, display-shaped frames: rotation, non-square pixels, luma fast path, HDR tone mapping."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from moments.engine.frames import to_gray, to_rgb
from moments.engine.hdr import nits_to_pq
from moments.engine.probe import probe

from .media_factory import make_video

RED, BLUE, WHITE = (230, 20, 20), (20, 20, 230), (240, 240, 240)


def upright_portrait(width: int = 180, height: int = 320) -> np.ndarray:
    """What the viewer should see: red top-left, blue bottom-right, white top-right dot."""
    img = np.full((height, width, 3), 60, np.uint8)
    img[:80, :60] = RED
    img[-80:, -60:] = BLUE
    img[:40, -40:] = WHITE
    return img


def first_frame(path: Path) -> av.VideoFrame:
    with av.open(str(path)) as container:
        return next(container.decode(video=0))


@pytest.mark.parametrize("rotation", [90, 180, 270])
def test_rotated_phone_clip_comes_out_upright(tmp_path: Path, rotation: int) -> None:
    truth = upright_portrait()
    # Store the picture turned the other way, as a phone sensor would, and tag the rotation.
    stored = np.ascontiguousarray(np.rot90(truth, k=rotation // 90))
    h, w = stored.shape[:2]
    clip = make_video(
        tmp_path / "phone.mp4", width=w, height=h, rotation=rotation, audio=False,
        frame_fn=lambda i, fw, fh: stored,
    )  # fmt: skip
    media = probe(clip)
    assert media.rotation == rotation
    assert (media.width, media.height) == (180, 320)
    rgb = to_rgb(first_frame(clip), media, media.width, media.height)
    assert rgb.shape == truth.shape
    assert np.abs(rgb.astype(int) - truth).mean() < 8
    assert to_gray(first_frame(clip), media, width=90).shape == (160, 90)


def test_portrait_gray_keeps_the_corners(tmp_path: Path) -> None:
    truth = upright_portrait()
    stored = np.ascontiguousarray(np.rot90(truth, k=1))  # 320x180 landscape in the file
    clip = make_video(
        tmp_path / "p.mp4", width=320, height=180, rotation=90, audio=False,
        frame_fn=lambda i, w, h: stored,
    )  # fmt: skip
    media = probe(clip)
    gray = to_gray(first_frame(clip), media, width=90)
    assert gray.shape == (160, 90)
    assert gray[5, -5] > 200  # white dot top-right
    assert gray[-5, -5] < 80  # blue bottom-right is dark in luma
    assert gray[80, 45] < gray[5, -5]


def test_non_square_pixels_give_display_shape(media_dir: Path) -> None:
    media = probe(media_dir / "SAR-2by3.mp4")
    frame = first_frame(media.path)
    assert to_rgb(frame, media, media.width, media.height).shape == (360, 426, 3)
    assert to_gray(frame, media, width=160).shape == (134, 160)


def test_fast_luma_matches_swscale_with_padded_rows(media_dir: Path) -> None:
    # 300 px wide: the decoder pads rows, so line_size must be respected.
    media = probe(media_dir / "mov_text.mp4")
    frame = first_frame(media.path)
    assert frame.planes[0].line_size != frame.planes[0].width
    fast = to_gray(frame, media, width=150).astype(float)
    reference = frame.reformat(150, 100, format="gray", interpolation="AREA").to_ndarray()
    assert fast.shape == (100, 150)
    # swscale also expands limited-range luma to full range for "gray".
    assert np.abs(fast - reference).mean() < 3.0


def test_limited_range_luma_is_expanded(tmp_path: Path) -> None:
    def halves(i: int, w: int, h: int) -> np.ndarray:
        img = np.zeros((h, w, 3), np.uint8)
        img[:, w // 2 :] = 255
        return img

    clip = make_video(tmp_path / "bw.mp4", audio=False, frame_fn=halves)
    media = probe(clip)
    gray = to_gray(first_frame(clip), media, width=160)
    assert gray[:, :60].max() <= 6 and gray[:, 100:].min() >= 249


def _grey_clip(tmp_path: Path, name: str, trc: int, code: int) -> Path:
    return make_video(
        tmp_path / name, pix_fmt="yuv420p10le", color_trc=trc, color_primaries=9, colorspace=9,
        audio=False, frame_fn=lambda i, w, h: np.full((h, w, 3), code, np.uint16),
    )  # fmt: skip


def test_pq_100_nit_grey_maps_to_mid_grey(tmp_path: Path) -> None:
    code = round(float(nits_to_pq(100.0)) * 65535)
    clip = _grey_clip(tmp_path, "pq.mp4", 16, code)
    media = probe(clip)
    assert media.hdr == "pq"
    frame = first_frame(clip)
    rgb = to_rgb(frame, media, 320, 180)
    centre = rgb[60:120, 100:220].reshape(-1, 3).mean(axis=0)
    assert np.all((centre > 140) & (centre < 210)), centre  # mid grey: not black, not clipped
    assert np.ptp(centre) < 6  # stays neutral through the gamut matrix
    naive = frame.reformat(format="rgb24").to_ndarray()[60:120, 100:220].mean()
    assert abs(centre.mean() - naive) > 25  # differs from treating PQ codes as SDR
    gray = to_gray(frame, media)
    assert abs(float(gray.mean()) - centre.mean()) < 10


def test_pq_levels_stay_ordered_and_highlights_roll_off(tmp_path: Path) -> None:
    levels = {}
    for nits in (5, 100, 400, 1000, 4000):
        clip = _grey_clip(tmp_path, f"pq{nits}.mp4", 16, round(float(nits_to_pq(nits)) * 65535))
        media = probe(clip)
        levels[nits] = float(to_rgb(first_frame(clip), media, 320, 180).mean())
    values = [levels[n] for n in sorted(levels)]
    assert values == sorted(values) and values[0] < 90
    assert levels[1000] > 240


def test_hlg_reference_white_is_bright_not_clipped(tmp_path: Path) -> None:
    clip = _grey_clip(tmp_path, "hlg.mp4", 18, round(0.75 * 65535))  # BT.2408 HLG reference white
    media = probe(clip)
    assert media.hdr == "hlg"
    value = float(to_rgb(first_frame(clip), media, 320, 180).mean())
    assert 215 < value < 250


def test_hdr_gray_is_the_luma_of_the_tone_mapped_colours(tmp_path: Path) -> None:
    # to_gray reads an HDR frame's planes shrunk and tone-maps them (no RGB pass over the whole
    # picture): a saturated colour must still read as the luma of its SDR colour, not as the
    # grey of its HDR luma (this red would read 23 levels too bright that way, this blue 14).
    def colours(i: int, w: int, h: int) -> np.ndarray:
        img = np.empty((h, w, 3), np.uint16)
        img[:, : w // 2] = np.round(np.array([0.62, 0.12, 0.10]) * 65535)
        img[:, w // 2 :] = np.round(np.array([0.30, 0.42, 0.58]) * 65535)
        return img

    clip = make_video(
        tmp_path / "hlg-colours.mp4", pix_fmt="yuv420p10le", color_trc=18, color_primaries=9,
        colorspace=9, audio=False, frame_fn=colours,
    )  # fmt: skip
    media = probe(clip)
    frame = first_frame(clip)
    gray = to_gray(frame, media, width=160).astype(float)
    rgb = to_rgb(frame, media, 160, gray.shape[0]).astype(float)
    luma = rgb @ np.array([0.2126, 0.7152, 0.0722])  # BT.709: the reel's matrix
    for half in (slice(8, 72), slice(88, 152)):
        assert abs(gray[:, half].mean() - luma[:, half].mean()) < 4, half
