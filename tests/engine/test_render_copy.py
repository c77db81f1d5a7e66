"""Smart render: whole source GOPs copied, joins re-encoded, one stream that decodes cleanly.

Sources are small synthetic H.264 clips with phone-like short GOPs (an IDR every 15 frames)
and B-frames, each frame carrying its own number (see ``test_render.numbered``). The reel is
decoded with FFmpeg's strictest error detection (``err_detect=explode`` turns any bitstream
error into an exception) and compared frame by frame with the decoded source.
"""

from __future__ import annotations

import itertools
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from moments.engine import Cancelled, HighlightOptions, probe
from moments.engine.progress import Reporter
from moments.engine.render import can_copy, copy_refusal, render
from moments.engine.render.bitstream import parse_avcc, pps_id, sps_id
from moments.engine.render.copyplan import first_frame, plan_copy
from moments.engine.render.layout import Plan, output_rate

from .media_factory import make_video
from .test_render import check_reel, numbered, read_number, render_workers, segs, video_frames

GOP = 15
PHONE = {"preset": "veryfast", "x264-params": f"keyint={GOP}:min-keyint={GOP}:scenecut=0"}


def moving(index: int, width: int, height: int) -> np.ndarray:
    """The frame number on top, a drifting gradient below: real motion, so x264 uses B-frames."""
    img = numbered(index, width, height)
    x = np.arange(width)[None, :] + 3 * index
    y = np.arange(height // 2)[:, None]
    img[height // 2 :] = ((np.sin(x / 9.0) + np.cos(y / 7.0 + index / 5)) * 50 + 120)[..., None]
    return img.astype(np.uint8)


@pytest.fixture(scope="module")
def phone_clip(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("copy") / "phone.mp4"
    return make_video(path, seconds=5.0, frame_fn=moving, video_options=PHONE)


def decode_strict(path: Path) -> list[av.VideoFrame]:
    """Every video frame, with any decoding error raised instead of concealed."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.codec_context.options = {"err_detect": "explode"}
        frames = []
        for packet in container.demux(stream):
            frames.extend(packet.decode())
    return frames


def source_frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray() for f in container.decode(video=0)]


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255**2 / mse)


def video_packets(path: Path) -> list[tuple[int, int, bool]]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return [(p.pts, p.dts, p.is_keyframe) for p in container.demux(stream) if p.size]


# ---------------------------------------------------------------- the spliced reel


def test_source_really_is_phone_like(phone_clip: Path) -> None:
    packets = video_packets(phone_clip)
    keys = [n for n, (_pts, _dts, key) in enumerate(packets) if key]
    assert len(keys) == 150 // GOP
    pts = [p[0] for p in packets]
    assert any(b < a for a, b in itertools.pairwise(pts))  # B-frames: reordered


def test_spliced_reel_decodes_cleanly_with_source_frames_copied(
    phone_clip: Path, tmp_path: Path
) -> None:
    media = probe(phone_clip)
    assert can_copy(media, HighlightOptions())
    chosen = segs((0.3, 2.2), (2.9, 4.6))
    options = HighlightOptions(crossfade=0.2, poster=False)
    plan = Plan.build(chosen, output_rate(media), options.crossfade)
    copy_plan = plan_copy(media, chosen, plan, lambda: None)
    assert copy_plan is not None and sorted(copy_plan.ranges) == [0, 1]
    # The last segment's copy runs on past its last keyframe and stops mid-GOP, B-frames and all.
    last = copy_plan.ranges[1]
    assert (last.source + last.frames) % GOP != 0 and last.frames > GOP
    out = tmp_path / "reel.mp4"
    render(media, chosen, out, options, Reporter())

    frames = decode_strict(out)
    assert len(frames) == plan.total
    check_reel(out, media.width, media.height, plan.duration)
    source = source_frames(phone_clip)
    copied = reencoded = 0
    for index, segment in enumerate(chosen):
        first = first_frame(segment, plan.rate)
        head = plan.fade if index > 0 else 0
        tail = plan.fade if index < len(chosen) - 1 else 0
        copy = copy_plan.ranges[index]
        for k in range(head, plan.frames[index] - tail):  # frames shown unblended
            got = frames[plan.starts[index] + k].to_ndarray()
            want = source[first + k]
            if copy.start <= k < copy.end:
                assert np.array_equal(got, want), (index, k)
                copied += 1
            else:
                assert psnr(got, want) > 35, (index, k)
                reencoded += 1
    assert copied == copy_plan.frames >= 2 * GOP
    assert reencoded > 0
    # And the frame numbers read back are exactly what the full re-encode shows.
    full = tmp_path / "full.mp4"
    render(media, chosen, full, options, Reporter(), smart=False)
    numbers = [read_number(f.to_ndarray(format="rgb24")) for f in frames]
    assert numbers == [read_number(f.to_ndarray(format="rgb24")) for f in decode_strict(full)]


def test_track_carries_both_parameter_sets_and_sane_timestamps(
    phone_clip: Path, tmp_path: Path
) -> None:
    media = probe(phone_clip)
    out = tmp_path / "reel.mp4"
    render(media, segs((0.3, 2.2), (2.9, 4.6)), out, HighlightOptions(poster=False), Reporter())
    with av.open(str(out)) as container:
        config = parse_avcc(bytes(container.streams.video[0].codec_context.extradata))
    assert config is not None and len(config.sps) == 2 and len(config.pps) == 2
    assert len({sps_id(s) for s in config.sps}) == 2 and len({pps_id(p) for p in config.pps}) == 2
    packets = video_packets(out)
    dts = [d for _p, d, _k in packets]
    assert all(b > a for a, b in itertools.pairwise(dts))  # strictly monotonic
    assert all(p >= d for p, d, _k in packets)
    assert packets[0][2]  # starts on a keyframe
    assert sorted(p for p, _d, _k in packets) == sorted(set(p for p, _d, _k in packets))


def test_crossfades_still_blend_across_a_splice(tmp_path: Path) -> None:
    def level(i: int, w: int, h: int) -> np.ndarray:
        return np.full((h, w, 3), 40 if i < 75 else 200, np.uint8)

    src = make_video(tmp_path / "l.mp4", seconds=5.0, frame_fn=level, video_options=PHONE)
    media = probe(src)
    chosen = segs((0.0, 2.0), (3.0, 5.0))
    options = HighlightOptions(crossfade=0.2, poster=False)
    plan = Plan.build(chosen, output_rate(media), 0.2)
    copy_plan = plan_copy(media, chosen, plan, lambda: None)
    assert copy_plan is not None and copy_plan.frames >= 2 * GOP
    out = tmp_path / "reel.mp4"
    render(media, chosen, out, options, Reporter())
    means = [f.to_ndarray(format="rgb24").mean() for f in decode_strict(out)]
    assert len(means) == 120 - 6
    assert all(abs(m - 40) < 4 for m in means[:54]) and all(abs(m - 200) < 4 for m in means[60:])
    expected = [40 + 160 * (k + 1) / 7 for k in range(6)]
    assert np.allclose(means[54:60], expected, atol=5), (means[54:60], expected)


def test_keyframe_aligned_cut_copies_from_the_first_frame(phone_clip: Path, tmp_path: Path) -> None:
    media = probe(phone_clip)
    chosen = segs((1.0, 3.0))  # frames 30..89: 30 and 60 are IDRs, 90 too
    plan = Plan.build(chosen, output_rate(media), 0.0)
    copy_plan = plan_copy(media, chosen, plan, lambda: None)
    assert copy_plan is not None
    assert copy_plan.ranges[0].start == 0 and copy_plan.ranges[0].end == 60  # nothing re-encoded
    out = tmp_path / "reel.mp4"
    render(media, chosen, out, HighlightOptions(poster=False), Reporter())
    frames = decode_strict(out)
    source = source_frames(phone_clip)
    assert len(frames) == 60
    assert all(np.array_equal(f.to_ndarray(), source[30 + k]) for k, f in enumerate(frames))
    check_reel(out, media.width, media.height, 2.0)


def test_long_gops_fall_back_to_a_full_encode(tmp_path: Path) -> None:
    # x264 defaults (a keyframe every 250 frames): no segment holds a keyframe to copy from.
    src = make_video(tmp_path / "long.mp4", seconds=4.0, frame_fn=moving)
    media = probe(src)
    chosen = segs((0.5, 2.0), (2.5, 3.8))
    plan = Plan.build(chosen, output_rate(media), 0.25)
    copy_plan = plan_copy(media, chosen, plan, lambda: None)
    assert copy_plan is not None and copy_plan.ranges == {}
    out = tmp_path / "reel.mp4"
    render(media, chosen, out, HighlightOptions(poster=False), Reporter())
    assert len(decode_strict(out)) == plan.total


# ---------------------------------------------------------------- when copying is refused


def _refusal(tmp_path: Path, **kwargs) -> str | None:
    options = kwargs.pop("options", HighlightOptions())
    src = make_video(tmp_path / "r.mp4", seconds=1.0, audio=False, **kwargs)
    return copy_refusal(probe(src), options)


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"sar": (2, 3)}, "square"),
        ({"pix_fmt": "yuv420p10le"}, "10-bit"),
        ({"pix_fmt": "yuv422p"}, "yuv422p"),
        ({"pix_fmt": "yuv420p10le", "color_trc": 16, "color_primaries": 9}, "HDR"),
        ({"options": HighlightOptions(aspect="9:16")}, "crops"),
        ({"options": HighlightOptions(max_output_side=160)}, "scaled"),
        ({"rotation": 90, "options": HighlightOptions(max_output_side=160)}, "scaled"),
        ({"codec": "libvpx-vp9"}, "vp9"),
        ({"fps": 120}, "frame rate is halved"),
    ],
)
def test_copy_is_refused_where_the_picture_changes(tmp_path: Path, kwargs, reason: str) -> None:
    refusal = _refusal(tmp_path, **kwargs)
    assert refusal is not None and reason in refusal


def test_plain_h264_at_source_size_is_copyable(tmp_path: Path) -> None:
    assert _refusal(tmp_path) is None
    assert _refusal(tmp_path, options=HighlightOptions(aspect="16:9")) is None  # same as source
    # A portrait phone clip asked for as 9:16 (what a phone app asks for): its own shape.
    assert _refusal(tmp_path, rotation=90, options=HighlightOptions(aspect="9:16")) is None


def test_refused_sources_still_render_on_the_full_path(tmp_path: Path) -> None:
    src = make_video(tmp_path / "sar.mp4", seconds=2.0, sar=(4, 3), video_options=PHONE)
    media = probe(src)
    assert not can_copy(media, HighlightOptions())
    out = tmp_path / "reel.mp4"
    info = render(media, segs((0.2, 1.8)), out, HighlightOptions(poster=False), Reporter())
    assert (info.width, info.height) == (media.width, media.height) == (426, 180)
    assert len(decode_strict(out)) == 48


@pytest.mark.parametrize("rotation", [90, 180, 270])
def test_portrait_clip_is_copied_as_stored_and_shown_upright(tmp_path: Path, rotation: int) -> None:
    # A phone held upright stores its pictures on their side with a display matrix. The smart
    # render copies them as stored, makes its crossfade the same way and writes the same
    # matrix, so a player shows what the full path (which turns every picture) shows.
    src = make_video(tmp_path / "p.mp4", seconds=3.0, rotation=rotation, video_options=PHONE)
    media = probe(src)
    assert media.rotation == rotation and can_copy(media, HighlightOptions())
    spans = segs((0.0, 1.4), (1.5, 2.9))
    options = HighlightOptions(poster=False)
    smart, full = tmp_path / "smart.mp4", tmp_path / "full.mp4"
    info = render(media, spans, smart, options, Reporter())
    render(media, spans, full, options, Reporter(), smart=False)
    assert (info.width, info.height) == (media.width, media.height)
    with av.open(str(smart)) as container:
        stream = container.streams.video[0]
        assert (stream.width, stream.height) == (media.coded_width, media.coded_height)
    plan = Plan.build(spans, output_rate(media), options.crossfade)
    copy_plan = plan_copy(media, spans, plan, lambda: None)
    assert copy_plan is not None and copy_plan.frames > plan.total / 2
    stored = source_frames(src)
    reel = [frame.to_ndarray() for frame in decode_strict(smart)]
    copied = sum(any(np.array_equal(got, want) for want in stored) for got in reel)
    assert copied >= copy_plan.frames  # the source's own pictures, bit for bit
    shown, expected = video_frames(smart), video_frames(full)
    assert len(shown) == len(expected) == len(reel) == plan.total
    for got, want in zip(shown, expected, strict=True):  # crossfade frames included
        assert got.shape == want.shape == (media.height, media.width, 3)
        assert np.abs(got.astype(float) - want.astype(float)).mean() < 3


# ---------------------------------------------------------------- cancellation


class AfterChecks:
    """A cancel token that trips on the ``n``-th check once the partial reel exists."""

    def __init__(self, folder: Path, n: int):
        self.folder, self.n, self.checks = folder, n, 0

    def is_set(self) -> bool:
        if any(p.suffix == ".mp4" for p in self.folder.iterdir()):
            self.checks += 1
        return self.checks >= self.n


def test_cancel_midway_through_a_copy_leaves_nothing(phone_clip: Path, tmp_path: Path) -> None:
    # One long segment: from its first IDR to its last, all 135 frames are copied, and each
    # copied packet is a cancellation check.
    chosen = segs((0.0, 4.9))
    folder = tmp_path / "out"
    folder.mkdir()
    counter = AfterChecks(folder, n=10**9)
    render(
        probe(phone_clip), chosen, folder / "reel.mp4", HighlightOptions(), Reporter(None, counter)
    )
    assert counter.checks > 135  # a full run checks at least once per copied packet
    for path in folder.iterdir():
        path.unlink()
    token = AfterChecks(folder, n=60)
    with pytest.raises(Cancelled):
        render(
            probe(phone_clip),
            chosen,
            folder / "reel.mp4",
            HighlightOptions(),
            Reporter(None, token),
        )
    assert list(folder.iterdir()) == []  # the partial reel is gone
    assert not render_workers()


# ---------------------------------------------------------------- bitstream helpers


def test_parameter_set_ids_are_read_from_x264_headers() -> None:
    for wanted in (0, 1, 5, 31):
        encoder = av.CodecContext.create("libx264", "w")
        encoder.width, encoder.height, encoder.pix_fmt = 64, 64, "yuv420p"
        encoder.time_base = Fraction(1, 30)
        encoder.flags |= av.codec.context.Flags.global_header
        encoder.options = {"x264-params": f"sps-id={wanted}"}
        encoder.open()
        from moments.engine.render.bitstream import NAL_PPS, NAL_SPS, nal_type, split_annexb

        nals = split_annexb(bytes(encoder.extradata))
        assert [sps_id(n) for n in nals if nal_type(n) == NAL_SPS] == [wanted]
        assert [pps_id(n) for n in nals if nal_type(n) == NAL_PPS] == [wanted]


def test_non_avcc_extradata_is_not_parsed() -> None:
    assert parse_avcc(b"") is None
    assert parse_avcc(b"\x00\x00\x00\x01\x67\x64") is None


def test_a_15_fps_clip_is_copied_into_a_30_fps_reel(tmp_path: Path) -> None:
    """A reel plays at 24 fps or more: a 15 fps clip's is 30 fps, its re-encoded pictures each
    held two slots, its GOPs copied at their own 15 fps, showing what the full encode shows."""
    clip = make_video(tmp_path / "slow.mp4", seconds=8.0, fps=15, frame_fn=moving,
                      video_options=PHONE)  # fmt: skip
    media = probe(clip)
    assert output_rate(media) == 30 and can_copy(media, HighlightOptions())
    chosen = segs((0.5, 3.5), (4.0, 7.5))
    options = HighlightOptions(poster=False)
    plan = Plan.build(chosen, output_rate(media), options.crossfade)
    copy_plan = plan_copy(media, chosen, plan, lambda: None)
    assert copy_plan is not None and copy_plan.frames >= GOP
    out, full = tmp_path / "reel.mp4", tmp_path / "full.mp4"
    render(media, chosen, out, options, Reporter())
    render(media, chosen, full, options, Reporter(), smart=False)
    check_reel(out, media.width, media.height, plan.duration)

    def shown(path: Path) -> list[tuple[float, int]]:
        with av.open(str(path)) as container:
            return [(float(f.time), read_number(f.to_ndarray(format="rgb24")))
                    for f in container.decode(video=0)]  # fmt: skip

    spliced, whole = shown(out), shown(full)
    assert len(whole) == plan.total and np.allclose(np.diff([t for t, _ in whole]), 1 / 30)
    gaps = np.diff([t for t, _ in spliced])
    assert np.sum(np.isclose(gaps, 1 / 15)) >= GOP - 1  # copied pictures keep their own time
    assert set(np.round(gaps, 4)) <= {round(1 / 30, 4), round(1 / 15, 4)}
    # At every slot of the full encode the spliced reel shows the same source picture.
    times = [t for t, _ in spliced]
    blends = {slot + k for slot in plan.starts[1:] for k in range(plan.fade)}
    for slot, (at, number) in enumerate(whole):
        k = int(np.searchsorted(times, at + 1e-4)) - 1
        assert slot in blends or spliced[k][1] == number, at
