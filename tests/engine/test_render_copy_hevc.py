"""Smart render of HEVC sources: whole GOPs copied, joins re-encoded with x265, ``hvc1``.

Sources are small x265 clips with phone-like short GOPs (a keyframe every 15 frames) and
B-frames, closed (every keyframe an IDR) and open (CRA keyframes whose leading pictures refer
to the GOP before). The reel is decoded with FFmpeg's strictest error detection and compared
frame by frame with the decoded source, as for H.264 in ``test_render_copy``.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from moments.engine import EngineError, HighlightOptions, probe
from moments.engine.progress import Reporter
from moments.engine.render import can_copy, copy_refusal, render
from moments.engine.render.bitstream import split_annexb
from moments.engine.render.copyplan import first_frame, plan_copy
from moments.engine.render.hevc import (
    CRA,
    IDR_N_LP,
    IDR_W_RADL,
    LEADING,
    PPS,
    SPS,
    VPS,
    Renumber,
    escape,
    nal_type,
    parse_hvcc,
    pps_ids,
    sps_id,
    unescape,
    vps_id,
)
from moments.engine.render.layout import Plan, output_rate

from .media_factory import make_video
from .test_render import read_number, segs, video_frames
from .test_render_copy import GOP, decode_strict, moving, psnr, source_frames

X265 = "log-level=error:keyint={gop}:min-keyint={gop}:scenecut=0:bframes=3:{gop_kind}"


def hevc_clip(path: Path, open_gop: bool, seconds: float = 5.0, **kwargs) -> Path:
    params = X265.format(gop=GOP, gop_kind="open-gop=1" if open_gop else "no-open-gop=1")
    options = {"preset": "veryfast", "x265-params": params}
    return make_video(
        path, seconds=seconds, codec="libx265", frame_fn=moving, video_options=options, **kwargs
    )


@pytest.fixture(scope="module")
def closed_gop(tmp_path_factory) -> Path:
    return hevc_clip(tmp_path_factory.mktemp("hevc") / "closed.mp4", open_gop=False)


@pytest.fixture(scope="module")
def open_gop(tmp_path_factory) -> Path:
    return hevc_clip(tmp_path_factory.mktemp("hevc") / "open.mp4", open_gop=True)


def samples(path: Path) -> list[tuple[int, bytes]]:
    """(pts, bytes) of every video sample, in decode order."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return [(p.pts, bytes(p)) for p in container.demux(stream) if p.size]


def sample_types(data: bytes) -> list[int]:
    types, pos = [], 0
    while pos < len(data):
        size = int.from_bytes(data[pos : pos + 4], "big")
        types.append(nal_type(data[pos + 4 : pos + 4 + size]))
        pos += 4 + size
    return types


def keyframe_types(path: Path) -> dict[int, int]:
    """Source frame number -> NAL type of each keyframe (IDR 19/20, CRA 21)."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        rate = stream.average_rate
        kinds = {}
        for packet in container.demux(stream):
            if packet.size and packet.is_keyframe:
                frame = round(packet.pts * stream.time_base * rate)
                kinds[frame] = sample_types(bytes(packet))[-1]
    return kinds


# ---------------------------------------------------------------- the spliced reel


def test_sources_really_are_closed_and_open_gop(closed_gop: Path, open_gop: Path) -> None:
    closed, opened = keyframe_types(closed_gop), keyframe_types(open_gop)
    assert sorted(closed) == sorted(opened) == list(range(0, 150, GOP))
    assert set(closed.values()) <= {IDR_W_RADL, IDR_N_LP}
    assert set(list(opened.values())[1:]) == {CRA}
    # CRA leading pictures (shown before their keyframe, refer to the GOP before) are there.
    assert any(set(sample_types(d)) & LEADING for _pts, d in samples(open_gop))


@pytest.mark.parametrize("gop", ["closed", "open"])
def test_hevc_reel_copies_gops_bit_exact_and_decodes_strictly(
    gop: str, closed_gop: Path, open_gop: Path, tmp_path: Path
) -> None:
    source_path = closed_gop if gop == "closed" else open_gop
    media = probe(source_path)
    assert media.video_codec == "hevc" and can_copy(media, HighlightOptions())
    chosen = segs((0.3, 2.2), (2.9, 4.6))
    options = HighlightOptions(crossfade=0.2, poster=False)
    plan = Plan.build(chosen, output_rate(media), options.crossfade)
    copy_plan = plan_copy(media, chosen, plan, lambda: None)
    assert copy_plan is not None and sorted(copy_plan.ranges) == [0, 1]
    starts = {keyframe_types(source_path)[r.source] for r in copy_plan.ranges.values()}
    assert starts == {CRA} if gop == "open" else starts <= {IDR_W_RADL, IDR_N_LP}
    out = tmp_path / "reel.mp4"
    info = render(media, chosen, out, options, Reporter())
    assert (info.codec, info.profile) == ("hevc", "Main")

    frames = decode_strict(out)
    assert len(frames) == plan.total
    source = source_frames(source_path)
    copied = joins = 0
    for index, segment in enumerate(chosen):
        first = first_frame(segment, plan.rate)
        head = plan.fade if index > 0 else 0
        tail = plan.fade if index < len(chosen) - 1 else 0
        copy = copy_plan.ranges[index]
        for k in range(head, plan.frames[index] - tail):
            got, want = frames[plan.starts[index] + k].to_ndarray(), source[first + k]
            if copy.start <= k < copy.end:
                assert np.array_equal(got, want), (index, k)
                copied += 1
            else:
                assert psnr(got, want) >= 35, (index, k)
                joins += 1
    assert copied == copy_plan.frames >= 2 * GOP and joins > 0
    # Same pictures as the full re-encode shows, frame for frame.
    full = tmp_path / "full.mp4"
    render(media, chosen, full, options, Reporter(), smart=False)
    numbers = [read_number(f.to_ndarray(format="rgb24")) for f in frames]
    assert numbers == [read_number(f.to_ndarray(format="rgb24")) for f in decode_strict(full)]


def test_copied_samples_are_the_sources_bytes_and_the_track_is_hvc1(
    open_gop: Path, tmp_path: Path
) -> None:
    media = probe(open_gop)
    chosen = segs((0.3, 2.2), (2.9, 4.6))
    plan = Plan.build(chosen, output_rate(media), 0.25)
    copy_plan = plan_copy(media, chosen, plan, lambda: None)
    assert copy_plan is not None
    out = tmp_path / "reel.mp4"
    render(media, chosen, out, HighlightOptions(poster=False), Reporter())
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        assert stream.codec_tag == "hvc1"
        config = parse_hvcc(bytes(stream.codec_context.extradata))
    assert config is not None
    vps_ids, sps_ids, pps_id_set = config.ids
    assert len(config.sets(VPS)) == len(vps_ids) == 2
    assert len(config.sets(SPS)) == len(sps_ids) == 2
    assert len(config.sets(PPS)) == len(pps_id_set) == 2
    source = {data for _pts, data in samples(open_gop)}
    reel = samples(out)
    same = sum(data in source for _pts, data in reel)
    # Every copied sample byte for byte, but the CRA each copy starts at: marked BLA (one bit
    # of each NAL header), since its leading pictures are not in the reel.
    assert same == copy_plan.frames - len(copy_plan.ranges)
    assert not any(t in (VPS, SPS, PPS) for _pts, d in reel for t in sample_types(d))  # hvc1
    assert sum(18 in sample_types(d) for _pts, d in reel) == len(copy_plan.ranges)  # BLA_N_LP


def test_portrait_hevc_is_copied_as_stored_and_shown_upright(tmp_path: Path) -> None:
    src = hevc_clip(tmp_path / "p.mp4", open_gop=True, seconds=3.0, rotation=90)
    media = probe(src)
    assert media.rotation == 90 and can_copy(media, HighlightOptions(aspect="9:16"))
    spans = segs((0.0, 1.4), (1.5, 2.9))
    options = HighlightOptions(poster=False, aspect="9:16")
    smart = tmp_path / "smart.mp4"
    info = render(media, spans, smart, options, Reporter())
    assert (info.width, info.height) == (media.width, media.height) == (180, 320)
    plan = Plan.build(spans, output_rate(media), options.crossfade)
    copy_plan = plan_copy(media, spans, plan, lambda: None)
    assert copy_plan is not None and copy_plan.frames > plan.total / 2
    stored = source_frames(src)
    reel = [frame.to_ndarray() for frame in decode_strict(smart)]
    assert reel[0].shape[1] == media.coded_width == 320  # stored on its side, as the source
    copied = sum(any(np.array_equal(got, want) for want in stored) for got in reel)
    assert copied >= copy_plan.frames
    # Shown upright (the display matrix), each unblended frame the source's as a player shows it.
    shown, upright = video_frames(smart), video_frames(src)
    assert len(shown) == plan.total
    for index, segment in enumerate(spans):
        first = first_frame(segment, plan.rate)
        head = plan.fade if index > 0 else 0
        tail = plan.fade if index < len(spans) - 1 else 0
        for k in range(head, plan.frames[index] - tail):
            got, want = shown[plan.starts[index] + k], upright[first + k]
            assert got.shape == want.shape == (320, 180, 3)
            assert np.abs(got.astype(float) - want.astype(float)).mean() < 2, (index, k)


# ---------------------------------------------------------------- bitstream helpers


def x265_headers() -> list[bytes]:
    encoder = av.CodecContext.create("libx265", "w")
    encoder.width, encoder.height, encoder.pix_fmt = 64, 64, "yuv420p"
    encoder.time_base = Fraction(1, 30)
    encoder.flags |= av.codec.context.Flags.global_header
    encoder.options = {"x265-params": "log-level=error"}
    encoder.open()
    return split_annexb(bytes(encoder.extradata))


def test_x265_parameter_sets_are_renumbered() -> None:
    nals = {nal_type(n): n for n in x265_headers() if nal_type(n) in (VPS, SPS, PPS)}
    assert (vps_id(nals[VPS]), sps_id(nals[SPS]), pps_ids(nals[PPS])) == (0, 0, (0, 0))
    renumber = Renumber(vps=3, sps=5, pps=17)
    vps, sps, pps = (renumber.parameter_set(nals[k]) for k in (VPS, SPS, PPS))
    assert vps_id(vps) == 3 and sps_id(sps) == 5 and pps_ids(pps) == (17, 5)
    assert unescape(sps)[2] >> 4 == 3  # the SPS names the new VPS


def test_emulation_prevention_round_trips() -> None:
    raw = bytes([0, 0, 0, 0, 0, 1, 0, 0, 2, 0, 0, 3, 7, 0, 0])
    escaped = escape(raw)
    assert b"\x00\x00\x00" not in escaped and b"\x00\x00\x01" not in escaped
    assert unescape(escaped) == raw


# ---------------------------------------------------------------- the codec asked for


def codec_of(path: Path) -> tuple[str, str, str]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return stream.codec_context.name, stream.codec_tag, stream.codec_context.pix_fmt


def test_h264_asked_for_from_hevc_is_a_full_h264_encode(closed_gop: Path, tmp_path: Path) -> None:
    media = probe(closed_gop)
    options = HighlightOptions(codec="h264", poster=False)
    refusal = copy_refusal(media, options)
    assert refusal is not None and "H.264 was asked for" in refusal
    chosen = segs((0.3, 2.2))
    out = tmp_path / "reel.mp4"
    info = render(media, chosen, out, options, Reporter())
    assert (info.codec, info.profile) == ("h264", "High")
    assert codec_of(out) == ("h264", "avc1", "yuv420p")
    frames = decode_strict(out)
    source = source_frames(closed_gop)
    assert len(frames) == 57
    assert min(psnr(f.to_ndarray(), source[9 + k]) for k, f in enumerate(frames)) > 30


def test_hevc_asked_for_from_h264_is_a_full_hevc_encode(tmp_path: Path) -> None:
    src = make_video(tmp_path / "h264.mp4", seconds=2.0)
    media = probe(src)
    options = HighlightOptions(codec="hevc", poster=False)
    assert "HEVC was asked for" in (copy_refusal(media, options) or "")
    out = tmp_path / "reel.mp4"
    info = render(media, segs((0.2, 1.8)), out, options, Reporter())
    assert (info.codec, info.profile) == ("hevc", "Main")
    assert codec_of(out) == ("hevc", "hvc1", "yuv420p")
    assert len(decode_strict(out)) == 48


def test_auto_keeps_hevc_only_where_it_copies(closed_gop: Path, tmp_path: Path) -> None:
    media = probe(closed_gop)
    chosen = segs((0.3, 2.2))
    copied, cropped = tmp_path / "copied.mp4", tmp_path / "cropped.mp4"
    assert render(media, chosen, copied, HighlightOptions(poster=False), Reporter()).codec == (
        "hevc"
    )
    square = HighlightOptions(poster=False, aspect="1:1")  # a crop: every picture re-encoded
    assert render(media, chosen, cropped, square, Reporter()).codec == "h264"


def test_unknown_codec_is_refused() -> None:
    with pytest.raises(EngineError, match="codec must be one of auto, h264, hevc"):
        HighlightOptions(codec="vp9")  # type: ignore[arg-type]


def test_parameter_sets_repeated_in_band_stay_in_the_hvcc(tmp_path: Path) -> None:
    # A hev1 source (Android phones write these) repeats VPS/SPS/PPS in its keyframe samples;
    # hvc1 allows them only in the sample entry, so the copies leave them to the hvcC.
    params = X265.format(gop=GOP, gop_kind="open-gop=1") + ":repeat-headers=1"
    src = make_video(
        tmp_path / "hev1.mp4", seconds=3.0, codec="libx265", frame_fn=moving,
        video_options={"preset": "veryfast", "x265-params": params},
    )  # fmt: skip
    assert any({VPS, SPS, PPS} <= set(sample_types(d)) for _pts, d in samples(src))
    media = probe(src)
    chosen = segs((0.3, 2.8))
    plan = Plan.build(chosen, output_rate(media), 0.0)
    copy_plan = plan_copy(media, chosen, plan, lambda: None)
    assert copy_plan is not None and copy_plan.frames >= 2 * GOP
    out = tmp_path / "reel.mp4"
    render(media, chosen, out, HighlightOptions(poster=False), Reporter())
    assert not any(t in (VPS, SPS, PPS) for _pts, d in samples(out) for t in sample_types(d))
    frames, source = decode_strict(out), source_frames(src)
    copy = copy_plan.ranges[0]
    first = first_frame(chosen[0], plan.rate)
    for k in range(copy.start, copy.end):
        assert np.array_equal(frames[k].to_ndarray(), source[first + k]), k


def test_hvcc_that_leaves_no_free_id_is_not_copied(closed_gop: Path) -> None:
    with av.open(str(closed_gop)) as container:
        config = parse_hvcc(bytes(container.streams.video[0].codec_context.extradata))
    assert config is not None
    pps = config.sets(PPS)[0]
    # The same PPS under every id x265's could take (ue(v) codes of 9 bits: ids 15..30).
    taken = [Renumber(0, 0, n).parameter_set(pps) for n in range(15, 31)]
    assert {pps_ids(p)[0] for p in taken} == set(range(15, 31))
    record = bytearray(config.header) + bytes([3])
    for kind, nals in ((VPS, config.sets(VPS)), (SPS, config.sets(SPS)), (PPS, tuple(taken))):
        record += bytes([0x80 | kind]) + len(nals).to_bytes(2, "big")
        for nal in nals:
            record += len(nal).to_bytes(2, "big") + nal
    assert parse_hvcc(bytes(record)) is None
    assert parse_hvcc(bytes(record[: len(record) - 1])) is None  # truncated
