"""Smart render of a reel of many clips (issue 20): the GOPs of clips whose stream is the reel's
are copied bit for bit, clips of another shape or camera mode are re-encoded into the same
track, and the spliced reel decodes strictly, with sane timestamps and its sound in place.

Small synthetic phone-like clips (an IDR every 15 frames, B-frames), each frame carrying its
clip's number and its own (``test_render.numbered``), each clip's sound a click at a known time.
"""

from __future__ import annotations

import itertools
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from moments.engine import HighlightOptions, probe
from moments.engine.progress import Reporter
from moments.engine.render.copyplan import first_frame
from moments.engine.render.many import render_many
from moments.engine.render.reelcopy import copy_group, plan_copies, turn_picture

from .media_factory import make_video
from .test_render import audio_samples, check_reel, numbered, read_number, segs, video_frames
from .test_render_copy import PHONE, decode_strict, psnr, source_frames, video_packets

CLICK = 1.0
"""Source seconds of each clip's click."""


def clicked(seconds: float) -> np.ndarray:
    """A quiet tone with one loud 20 ms click at ``CLICK``."""
    t = np.arange(int(seconds * 48_000)) / 48_000
    sound = 0.02 * np.sin(2 * np.pi * 300 * t)
    at = int(CLICK * 48_000)
    sound[at : at + 960] = 0.9 * np.sign(np.sin(2 * np.pi * 1000 * t[at : at + 960]))
    return sound


def clip_frames(clip: int):
    """Frame ``i`` of clip ``clip`` shows the number ``clip * 40 + i`` (clips of < 40 frames
    apart are told apart by number; 8 bits hold 0..255)."""

    def frame(i: int, width: int, height: int) -> np.ndarray:
        return numbered((clip * 40 + i) % 256, width, height)

    return frame


def landscape(path: Path, clip: int, options: dict[str, str] = PHONE) -> Path:
    return make_video(
        path,
        seconds=3.0,
        frame_fn=clip_frames(clip),
        video_options=options,
        audio_samples=clicked(3.0),
    )


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("many-copy")
    return {
        "a": landscape(folder / "a.mp4", 0),
        "b": landscape(folder / "b.mp4", 1),
        # Same size and shape, another camera mode: other parameter sets (no CABAC).
        "other": landscape(folder / "other.mp4", 2, {**PHONE, "x264-params": "keyint=15:cabac=0"}),
        # Held upright: stored on its side, shown through a display matrix.
        "portrait": make_video(
            folder / "portrait.mp4",
            seconds=3.0,
            rotation=90,
            frame_fn=_top_bright,
            video_options=PHONE,
            audio_samples=clicked(3.0),
        ),
    }


def _top_bright(i: int, width: int, height: int) -> np.ndarray:
    """Bright top half, dark bottom half, as shown upright (a wrong turn would show halves
    side by side)."""
    img = np.full((height, width, 3), 30, np.uint8)
    img[:, : width // 2] = 220  # stored on its side: turned 90 clockwise, this is the top
    return img


def test_matching_clips_are_copied_bit_for_bit_and_others_re_encoded(
    clips: dict[str, Path], tmp_path: Path
) -> None:
    names = ["portrait", "a", "b", "other"]  # the track starts with a re-encoded run
    medias = [probe(clips[n]) for n in names]
    spans = {
        "a": segs((0.3, 2.6)),
        "portrait": segs((0.5, 1.5)),
        "b": segs((0.1, 1.4), (1.6, 2.9)),
        "other": segs((0.4, 2.4)),
    }
    options = HighlightOptions(crossfade=0.2, poster=False)
    out = tmp_path / "reel.mp4"
    info, parts = render_many(
        [(m, spans[n]) for m, n in zip(medias, names, strict=True)], out, options, Reporter()
    )
    assert (info.width, info.height) == (320, 180)
    frame = parts[0].layout
    group = copy_group(medias, frame, options, hdr=False)
    assert group is not None and group.members == (1, 2)  # not the portrait, not the other mode
    copies = plan_copies(parts, group, lambda: None)
    assert sorted(copies) == [1, 2] and all(copies[i].frames >= 15 for i in copies)

    decoded = decode_strict(out)  # any bitstream error at a join raises
    total = sum(p.plan.total for p in parts)
    assert len(decoded) == total
    check_reel(out, 320, 180, info.duration)
    shown = video_frames(out)
    offset = 0
    copied = 0
    for index, (name, part) in enumerate(zip(names, parts, strict=True)):
        source = source_frames(clips[name])
        plan = part.plan
        for s, segment in enumerate(part.segments):
            first = first_frame(segment, plan.rate)
            head = plan.fade if s > 0 else 0
            tail = plan.fade if s < len(part.segments) - 1 else 0
            run = copies[index].ranges.get(s) if index in copies else None
            for k in range(head, plan.frames[s] - tail):
                at = offset + plan.starts[s] + k
                got = decoded[at].to_ndarray()
                if run is not None and run.start <= k < run.end:
                    assert np.array_equal(got, source[first + k]), (name, s, k)
                    copied += 1
                elif name == "portrait":
                    # Re-encoded: turned upright, cropped to the landscape frame.
                    rgb = shown[at]
                    assert rgb.shape == (180, 320, 3)
                    assert rgb[:60].mean() > 150 and rgb[-60:].mean() < 80
                else:
                    # Same picture (its number reads back), but not the source's own bits.
                    want = _clip_number(name) * 40 + first + k
                    assert read_number(shown[at]) == want % 256, (name, s, k)
                    assert psnr(got, source[first + k]) > 30
                    if name == "other":
                        assert not np.array_equal(got, source[first + k])
        offset += plan.total
    assert copied == sum(c.frames for c in copies.values())

    packets = video_packets(out)
    dts = [d for _p, d, _k in packets]
    assert all(b > a for a, b in itertools.pairwise(dts))  # strictly monotonic
    assert all(p >= d for p, d, _k in packets)
    pts = sorted(p for p, _d, _k in packets)
    assert len(set(pts)) == len(pts) and packets[0][2]

    # Sound in sync: each clip's click is heard where its picture plays.
    sound = np.abs(audio_samples(out)[0])
    offset = 0
    for part in parts:
        plan = part.plan
        for s, seg in enumerate(part.segments):
            if seg.source_start + 0.05 < CLICK < seg.source_end - 0.05:
                when = (offset + plan.starts[s]) / plan.rate + (CLICK - seg.source_start)
                at = round(float(when) * 48_000)
                window = sound[at - 4800 : at + 4800]
                peak = (np.argmax(window > 0.5 * window.max()) - 4800) / 48_000
                assert abs(peak) < 0.02, (seg, peak)
        offset += plan.total


def _portrait_clips(folder: Path, modes: list[dict]) -> list[Path]:
    """2 s portrait clips (stored on their side, turned 90 by metadata), one per encoder
    ``modes``, each numbered by :func:`clip_frames`."""
    return [
        make_video(folder / f"p{k}.mp4", seconds=2.0, rotation=90, frame_fn=clip_frames(k),
                   video_options=options, audio=False)
        for k, options in enumerate(modes)
    ]  # fmt: skip


def _clip_number(name: str) -> int:
    return {"a": 0, "b": 1, "other": 2}[name]


def test_a_portrait_reel_copies_its_portrait_clips_and_turns_the_landscape_one(
    tmp_path: Path,
) -> None:
    tall = _portrait_clips(tmp_path, [PHONE, PHONE])
    wide = make_video(
        tmp_path / "wide.mp4", seconds=2.0, frame_fn=_top_dark, video_options=PHONE, audio=False
    )
    medias = [probe(tall[0]), probe(wide), probe(tall[1])]
    chosen = [segs((0.2, 1.8)), segs((0.3, 1.3)), segs((0.1, 1.9))]
    out = tmp_path / "reel.mp4"
    info, parts = render_many(
        list(zip(medias, chosen, strict=True)),
        out,
        HighlightOptions(poster=False, crossfade=0.0),
        Reporter(),
    )
    assert (info.width, info.height) == (180, 320)
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        assert (stream.width, stream.height) == (320, 180)  # stored on its side, as the clips
    group = copy_group(medias, parts[0].layout, HighlightOptions(), hdr=False)
    assert group is not None and group.members == (0, 2) and group.rotation == 90
    decoded = decode_strict(out)
    assert len(decoded) == sum(p.plan.total for p in parts)
    shown = video_frames(out)
    start = parts[0].plan.total
    for rgb in shown[start : start + parts[1].plan.total]:
        assert rgb.shape == (320, 180, 3)
        # The landscape clip, upright: dark on top, bright below.
        assert rgb[:100].mean() < 80 and rgb[-100:].mean() > 150
    stored = source_frames(tall[1])
    tail = [f.to_ndarray() for f in decoded[start + parts[1].plan.total :]]
    assert sum(any(np.array_equal(f, s) for s in stored) for f in tail) >= 15


def _top_dark(i: int, width: int, height: int) -> np.ndarray:
    img = np.full((height, width, 3), 220, np.uint8)
    img[: height // 2] = 30
    return img


def test_turn_picture_is_the_inverse_of_the_display_turn() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 255, (4, 6), dtype=np.uint8)
    u = rng.integers(0, 255, (2, 3), dtype=np.uint8)
    v = rng.integers(0, 255, (2, 3), dtype=np.uint8)
    picture = np.concatenate([y.ravel(), u.ravel(), v.ravel()]).reshape(6, 6)
    for rotation in (90, 180, 270):
        turned = turn_picture(picture, rotation)
        height = turned.shape[0] * 2 // 3
        back_y = np.rot90(turned[:height], k=-(rotation // 90))  # as a player shows it
        assert np.array_equal(back_y, y)
        chroma = turned[height:].ravel()
        back_u = np.rot90(chroma[:6].reshape(u.shape[::-1] if rotation % 180 else u.shape),
                          k=-(rotation // 90))  # fmt: skip
        assert np.array_equal(back_u, u)
    assert turn_picture(picture, 0) is picture


@pytest.mark.parametrize("rotation", [90, 180, 270])
def test_an_enlarged_crop_of_a_turned_clip_is_the_crop_of_its_upright_picture(
    tmp_path: Path, rotation: int
) -> None:
    # Only the crop's window is turned (no turned copy of each whole plane): the result must
    # be what cropping the upright picture gives.
    from dataclasses import replace

    from moments.engine.render.layout import Layout
    from moments.engine.render.many import covering
    from moments.engine.render.picture import make_picture

    rng = np.random.default_rng(rotation)
    stored = rng.integers(0, 255, (90, 160, 3), dtype=np.uint8)
    stored = cv2_blur(stored)
    turned = av.VideoFrame.from_ndarray(stored, format="rgb24").reformat(format="yuv420p")
    upright_rgb = np.ascontiguousarray(np.rot90(stored, k=-(rotation // 90)))
    upright = av.VideoFrame.from_ndarray(upright_rgb, format="rgb24").reformat(format="yuv420p")
    width, height = upright_rgb.shape[1], upright_rgb.shape[0]
    media = replace(
        probe(make_video(tmp_path / "m.mp4", seconds=0.6, audio=False)),
        width=width, height=height, coded_width=160, coded_height=90, rotation=rotation,
    )  # fmt: skip
    frame = Layout(height * 2, width * 2, height * 2, width * 2)  # the other shape, enlarged
    layout = covering(media, frame)
    assert layout.scaled_width > media.width  # the enlarged path
    # (0, 0) and (1, 1): the window at the frame's edges, where fewer pixels lie around it.
    for focus in ((0.5, 0.5), (0.2, 0.8), (0.0, 0.0), (1.0, 1.0)):
        got = make_picture(turned, media, layout, focus)
        want = make_picture(upright, replace(media, rotation=0), layout, focus)
        # Planes converted from RGB once each way round: a level or two apart at most.
        assert np.abs(got.astype(int) - want.astype(int)).max() <= 3


def cv2_blur(img: np.ndarray) -> np.ndarray:
    """Smooth noise, so 4:2:0 chroma of the turned and the upright frame agree."""
    import cv2

    return cv2.GaussianBlur(img, (0, 0), 3)


def test_hevc_clips_of_one_mode_are_copied_into_one_hvc1_track(tmp_path: Path) -> None:
    # iPhone-like: HEVC with open GOPs (CRA keyframes); a portrait clip of the same mode is
    # re-encoded by x265 into the same track, under parameter-set ids of its own.
    from .test_render_copy_hevc import hevc_clip

    paths = [
        hevc_clip(tmp_path / "h0.mp4", open_gop=True, seconds=2.0, audio=False),
        hevc_clip(tmp_path / "hp.mp4", open_gop=True, seconds=2.0, audio=False, rotation=90),
        hevc_clip(tmp_path / "h1.mp4", open_gop=True, seconds=2.0, audio=False),
    ]
    medias = [probe(p) for p in paths]
    chosen = [segs((0.4, 1.9)), segs((0.2, 1.2)), segs((0.0, 1.6))]
    out = tmp_path / "reel.mp4"
    options = HighlightOptions(poster=False, crossfade=0.0)
    info, parts = render_many(list(zip(medias, chosen, strict=True)), out, options, Reporter())
    assert (info.width, info.height) == (320, 180)
    group = copy_group(medias, parts[0].layout, options, hdr=False)
    assert group is not None and group.members == (0, 2)
    copies = plan_copies(parts, group, lambda: None)
    assert sorted(copies) == [0, 2]
    decoded = decode_strict(out)
    assert len(decoded) == sum(p.plan.total for p in parts)
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "hevc" and stream.codec_tag == "hvc1"
    copied = 0
    offset = 0
    for index, part in enumerate(parts):
        if index in copies:
            source = source_frames(paths[index])
            run = copies[index].ranges[0]
            first = first_frame(part.segments[0], part.plan.rate)
            for k in range(run.start, run.end):
                assert np.array_equal(decoded[offset + k].to_ndarray(), source[first + k])
                copied += 1
        offset += part.plan.total
    assert copied == sum(c.frames for c in copies.values()) >= 15
    packets = video_packets(out)
    assert all(b[1] > a[1] for a, b in itertools.pairwise(packets))  # decode times rise


def test_hlg_hevc_clips_make_an_hdr_reel_with_their_gops_copied(tmp_path: Path) -> None:
    # An iPhone's HDR clips (HEVC Main 10, HLG): copied as they are, the reel's re-encoded
    # parts 10-bit HLG too (an 8-bit run in a Main 10 track would not decode).
    from .test_render_copy_hevc import hevc_clip

    def deep(i: int, w: int, h: int) -> np.ndarray:
        return numbered(i, w, h).astype(np.uint16) * 200  # 10-bit HLG signal levels

    hlg = {"pix_fmt": "yuv420p10le", "color_trc": 18, "color_primaries": 9, "colorspace": 9}
    paths = [
        hevc_clip(tmp_path / f"h{k}.mp4", open_gop=False, seconds=2.0, audio=False, **hlg)
        for k in range(2)
    ]
    medias = [probe(p) for p in paths]
    assert all(m.hdr == "hlg" for m in medias)
    chosen = [segs((0.3, 1.9)), segs((0.2, 1.7))]
    out = tmp_path / "reel.mp4"
    options = HighlightOptions(poster=False, crossfade=0.0)
    _info, parts = render_many(list(zip(medias, chosen, strict=True)), out, options, Reporter())
    copies = plan_copies(
        parts,
        copy_group(medias, parts[0].layout, options, hdr=True),
        lambda: None,
    )
    assert sorted(copies) == [0, 1]
    decoded = decode_strict(out)
    assert len(decoded) == sum(p.plan.total for p in parts)
    assert all(f.format.name == "yuv420p10le" for f in decoded)
    with av.open(str(out)) as container:
        video = container.streams.video[0].codec_context
        assert (video.name, video.pix_fmt, video.color_trc) == ("hevc", "yuv420p10le", 18)
    # A re-encoded head (before the first keyframe) reads back as the source's frame.
    source = source_frames(paths[0])
    run = copies[0].ranges[0]
    assert run.start > 0
    first = first_frame(chosen[0][0], parts[0].plan.rate)
    assert psnr(decoded[0].to_ndarray() >> 2, source[first] >> 2) > 30
    assert np.array_equal(decoded[run.start].to_ndarray(), source[first + run.start])


def test_cancel_midway_through_a_spliced_reel_leaves_nothing(
    clips: dict[str, Path], tmp_path: Path
) -> None:
    from moments.engine import Cancelled

    from .test_render import render_workers
    from .test_render_copy import AfterChecks

    chosen = [(probe(clips[n]), segs((0.1, 2.9))) for n in ("a", "portrait", "b")]
    folder = tmp_path / "out"
    folder.mkdir()
    # Past the copy planning, into the first clip's copied packets.
    token = AfterChecks(folder, n=40)
    with pytest.raises(Cancelled):
        render_many(chosen, folder / "reel.mp4", HighlightOptions(), Reporter(None, token))
    assert token.checks >= 40
    assert list(folder.iterdir()) == []  # the partial reel is gone
    assert not render_workers()


def test_clips_on_other_clocks_keep_their_timing_in_the_reel(tmp_path: Path) -> None:
    # One phone mode, two MP4 track clocks (90 kHz and 48 kHz): each copy is timed on its
    # own clock, so every picture lands on the reel's 30 fps grid.
    paths = [
        make_video(tmp_path / f"c{k}.mp4", seconds=2.0, frame_fn=clip_frames(k),
                   video_options=PHONE, audio=False, container_options=options)
        for k, options in enumerate([{}, {"video_track_timescale": "48000"}])
    ]  # fmt: skip
    with av.open(str(paths[1])) as container:
        assert container.streams.video[0].time_base == Fraction(1, 48000)
    medias = [probe(p) for p in paths]
    chosen = [segs((0.0, 1.5)), segs((0.5, 2.0))]
    out = tmp_path / "reel.mp4"
    _info, parts = render_many(
        list(zip(medias, chosen, strict=True)), out, HighlightOptions(poster=False), Reporter()
    )
    copies = plan_copies(
        parts, copy_group(medias, parts[0].layout, HighlightOptions(), False),
        lambda: None,
    )  # fmt: skip
    assert sorted(copies) == [0, 1]
    decoded = decode_strict(out)
    assert len(decoded) == 90
    assert [round(float(f.time) * 30, 3) for f in decoded] == list(range(90))
    numbers = [read_number(f.to_ndarray(format="rgb24")) for f in decoded]
    assert numbers == list(range(45)) + [40 + 15 + k for k in range(45)]


def test_a_portrait_clip_of_another_mode_is_made_as_stored_in_a_portrait_reel(
    tmp_path: Path,
) -> None:
    # Two portrait clips of one camera mode are copied; a third, portrait too but of another
    # mode (no CABAC), is re-encoded. It shares the track's turn and is shown whole, so its
    # pictures are made as they are stored (not made upright and turned back): each must be
    # its own source picture, on its side as the copies are.
    from moments.engine.render.reelcopy import _as_made

    tall = _portrait_clips(tmp_path, [PHONE, PHONE, {**PHONE, "x264-params": "keyint=15:cabac=0"}])
    medias = [probe(p) for p in tall]
    chosen = [segs((0.2, 1.8)), segs((0.1, 1.9)), segs((0.3, 1.6))]
    options = HighlightOptions(poster=False, crossfade=0.0)
    out = tmp_path / "reel.mp4"
    info, parts = render_many(list(zip(medias, chosen, strict=True)), out, options, Reporter())
    assert (info.width, info.height) == (180, 320)
    frame = parts[0].layout
    group = copy_group(medias, frame, options, hdr=False)
    assert group is not None and group.members == (0, 1) and group.rotation == 90
    made, layout, turn = _as_made(parts[2], group, frame)
    assert turn == 0 and made.rotation == 0 and (layout.width, layout.height) == (320, 180)
    decoded = decode_strict(out)
    assert len(decoded) == sum(p.plan.total for p in parts)
    start = parts[0].plan.total + parts[1].plan.total
    source = source_frames(tall[2])
    first = first_frame(chosen[2][0], parts[2].plan.rate)
    for k in range(parts[2].plan.total):
        got = decoded[start + k]
        assert (got.width, got.height) == (320, 180)  # stored on its side, as the track
        assert read_number(got.to_ndarray(format="rgb24")) == (2 * 40 + first + k) % 256, k
        assert psnr(got.to_ndarray(), source[first + k]) > 30, k
    # Shown upright by the reel's display matrix, as the source shows it.
    shown = video_frames(out)[start]
    with av.open(str(tall[2])) as container:
        frame0 = next(container.decode(video=0))
        upright = np.rot90(frame0.to_ndarray(format="rgb24"), k=-1)
    assert shown.shape == upright.shape == (320, 180, 3)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("rotation", [90, 180, 270])
def test_turn_picture_is_numpys_turn_of_each_plane(dtype, rotation: int) -> None:
    # Planes turned by OpenCV into their place: the same values as NumPy's turn of each, at a
    # phone's size and in 10 bits too (an HDR reel's pictures).
    rng = np.random.default_rng(rotation)
    height, width = 1920, 1080
    picture = rng.integers(0, 1023, (height * 3 // 2, width)).astype(dtype)
    y = picture[:height]
    chroma = picture[height:].ravel()
    quarter = (height // 2) * (width // 2)
    u = chroma[:quarter].reshape(height // 2, width // 2)
    v = chroma[quarter:].reshape(height // 2, width // 2)
    want = [np.rot90(p, k=rotation // 90) for p in (y, u, v)]
    got = turn_picture(picture, rotation)
    assert got.dtype == dtype
    out_h = want[0].shape[0]
    assert got.shape == (out_h * 3 // 2, want[0].shape[1])
    assert np.array_equal(got[:out_h], want[0])
    assert np.array_equal(got[out_h:].ravel(), np.concatenate([want[1].ravel(), want[2].ravel()]))


def test_a_60_fps_clip_of_the_same_camera_is_copied_at_its_own_rate(tmp_path: Path) -> None:
    # A phone's 60 fps clip has the SPS of its 30 fps ones but for the level and the VUI
    # timing: its GOPs go into the 30 fps reel's track as they are, each picture at its own
    # time (1/60 s apart), under one SPS without a frame rate at the higher level. (Levels of
    # 1080p phones, 4.0 and 4.2, allow the same motion vectors, which x264 writes in the SPS
    # too; 3.1 and 3.2 are their like at this size.)
    from moments.engine.render.bitstream import sps_level

    def phone(name: str, clip: int, fps: int, level: str, seconds: float) -> Path:
        params = f"keyint={fps}:min-keyint={fps}:scenecut=0:level={level}"
        return make_video(
            tmp_path / name, seconds=seconds, fps=fps, frame_fn=clip_frames(clip),
            video_options={**PHONE, "x264-params": params}, audio_samples=clicked(seconds),
        )  # fmt: skip

    fast = phone("60.mp4", 3, 60, "3.2", 2.0)
    paths = [phone("a.mp4", 0, 30, "3.1", 3.0), fast, phone("b.mp4", 1, 30, "3.1", 3.0)]
    medias = [probe(p) for p in paths]
    sources = [_avcc(p) for p in paths]
    assert sources[1].sps != sources[0].sps and sources[0].sps == sources[2].sps
    chosen = [segs((0.3, 2.6)), segs((0.4, 1.9)), segs((0.1, 1.4))]
    out = tmp_path / "reel.mp4"
    options = HighlightOptions(poster=False, crossfade=0.2)
    info, parts = render_many(list(zip(medias, chosen, strict=True)), out, options, Reporter())
    assert parts[0].plan.rate == 30  # the rate of most footage
    group = copy_group(medias, parts[0].layout, options, hdr=False)
    assert group is not None and group.members == (0, 1, 2)
    copies = plan_copies(parts, group, lambda: None)
    assert sorted(copies) == [0, 1, 2]
    run = copies[1].ranges[0]
    assert run.count == 2 * run.frames  # two pictures a reel slot
    assert any("60 frames a second keep their own rate" in note for note in info.notes)
    track = _avcc(out)
    assert max(sps_level(n) for n in track.sps) == sps_level(sources[1].sps[0])

    decoded = decode_strict(out)  # any bitstream error raises
    times = [float(f.time) for f in decoded]
    assert all(b > a for a, b in itertools.pairwise(times))
    # Every copied picture, bit for bit, at its own time: 1/60 s apart in the 60 fps clip.
    offset = parts[0].plan.total / parts[0].plan.rate
    source = source_frames(fast)
    first = round(chosen[1][0].source_start * 60)
    start = offset + run.start / parts[1].plan.rate
    shown = [f for f in decoded if start - 1e-3 <= float(f.time) < start + run.frames / 30 - 1e-3]
    assert len(shown) == run.count
    key = round(run.key_pts * Fraction(1, 90_000) * 60) - first
    for n, frame in enumerate(shown):
        assert np.array_equal(frame.to_ndarray(), source[first + key + n])
        assert float(frame.time) == pytest.approx(start + n / 60, abs=2e-3)
    info_duration = sum(p.plan.total for p in parts) / parts[0].plan.rate
    assert info.duration == pytest.approx(float(info_duration))
    # The sound in sync: the 60 fps clip's click is heard where its picture is shown.
    sound = np.abs(audio_samples(out)[0])
    when = offset + (CLICK - chosen[1][0].source_start)
    at = round(when * 48_000)
    window = sound[at - 4800 : at + 4800]
    peak = (np.argmax(window > 0.5 * window.max()) - 4800) / 48_000
    assert abs(peak) < 0.02


def _avcc(path: Path):
    from moments.engine.render.bitstream import parse_avcc

    with av.open(str(path)) as container:
        config = parse_avcc(bytes(container.streams.video[0].codec_context.extradata))
    assert config is not None
    return config
