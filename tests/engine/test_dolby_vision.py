"""Dolby Vision from a phone: a profile 8.4 source (what iPhones record in HDR: an HLG base layer,
an RPU NAL unit of type 62 at the end of every sample, a ``dvvC`` box in the MP4 sample entry)
keeps its RPUs and its configuration record in the copied GOPs of a reel (issue 18, 3).

No download: the source is the HLG test clip of ``test_render_hdr_keep`` with a made-up RPU
appended to every sample (its payload names the sample, so copies can be traced; FFmpeg's
decoder cannot parse it and ignores it, as it does a damaged RPU) and a hand-written ``dvvC``
box (profile 8, level 4, RPU present, base layer compatibility 4 = HLG) put into the MP4 that
PyAV wrote (``moov`` follows ``mdat``, so no chunk offset moves). FFmpeg reads that box as it
reads an iPhone's.

What is not kept: re-encoded pictures (the joins, or a whole reel that is cropped, scaled or
tone-mapped) carry no RPU, and a fully re-encoded reel no record: plain HLG, which is what a
profile 8.4 player shows of the base layer anyway.
"""

from __future__ import annotations

import struct
from pathlib import Path

import av
import pytest

from moments.engine import HighlightOptions, probe
from moments.engine.progress import Reporter
from moments.engine.render import copy_refusal, render
from moments.engine.render.bitstream import length_prefixed_nals
from moments.engine.render.copyplan import plan_copy
from moments.engine.render.hevc import PPS, SPS, VPS, bla, nal_type
from moments.engine.render.layout import Plan, output_rate

from .test_render import segs
from .test_render_copy import decode_strict
from .test_render_hdr_keep import hdr_clip

RPU = 62
CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl"}


def dvvc_box(profile: int = 8, level: int = 4, compatibility: int = 4) -> bytes:
    """A DOVIDecoderConfigurationRecord in its box: version 1.0, RPU and base layer present."""
    flags = (profile << 9) | (level << 3) | 0b101  # rpu_present, no EL, bl_present
    body = bytes([1, 0]) + struct.pack(">H", flags) + bytes([compatibility << 4]) + bytes(19)
    return struct.pack(">I", 8 + len(body)) + b"dvvC" + body


def _boxes(data: bytes, start: int, end: int):
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack(">I4s", data[pos : pos + 8])
        if size < 8:
            return
        yield pos, size, kind
        pos += size


def _sample_entry_path(data: bytes) -> list[int]:
    """Offsets of moov, trak, ..., stsd and the first hvc1/hev1 sample entry."""

    def walk(start: int, end: int, chain: list[int]) -> list[int] | None:
        for pos, size, kind in _boxes(data, start, end):
            if kind in CONTAINERS:
                found = walk(pos + 8, pos + size, [*chain, pos])
                if found:
                    return found
            elif kind == b"stsd":
                for entry, _size, name in _boxes(data, pos + 16, pos + size):
                    if name in (b"hvc1", b"hev1"):
                        return [*chain, pos, entry]
        return None

    found = walk(0, len(data), [])
    assert found, "no HEVC sample entry"
    return found


def sample_entry_boxes(path: Path) -> dict[bytes, bytes]:
    """The boxes inside the video track's HEVC sample entry (hvcC, colr, dvvC...), by type."""
    data = path.read_bytes()
    entry = _sample_entry_path(data)[-1]
    size = struct.unpack(">I", data[entry : entry + 4])[0]
    # A VisualSampleEntry's own fields take 78 bytes after its 8-byte header.
    return {kind: data[p + 8 : p + s] for p, s, kind in _boxes(data, entry + 86, entry + size)}


def with_box_in_sample_entry(data: bytes, box: bytes) -> bytes:
    chain = _sample_entry_path(data)
    mdat = next(p for p, _s, kind in _boxes(data, 0, len(data)) if kind == b"mdat")
    assert chain[0] > mdat, "moov must follow mdat (no chunk offset may move)"
    entry = chain[-1]
    end = entry + struct.unpack(">I", data[entry : entry + 4])[0]
    out = bytearray(data[:end] + box + data[end:])
    for pos in chain:
        (size,) = struct.unpack(">I", out[pos : pos + 4])
        out[pos : pos + 4] = struct.pack(">I", size + len(box))
    return bytes(out)


def rpu_nal(index: int) -> bytes:
    """A type-62 NAL unit (layer 0, temporal id 0) whose payload names sample ``index``."""
    return bytes([RPU << 1, 1, 0x19, 0x08]) + struct.pack(">I", index) + b"\xaa\x55" * 8 + b"\x80"


def make_dolby_vision(source: Path, path: Path) -> Path:
    """``source`` (an HLG HEVC MP4, 4-byte lengths) with an RPU ending every video sample and a
    ``dvvC`` box in its sample entry."""
    plain = path.with_name(f"{path.stem}-no-dvvc.mp4")
    with av.open(str(source)) as inp, av.open(str(plain), "w", format="mp4") as out:
        video_in, audio_in = inp.streams.video[0], inp.streams.audio[0]
        video = out.add_stream_from_template(video_in)
        video.codec_tag = "hvc1"
        audio = out.add_stream_from_template(audio_in)
        count = 0
        for packet in inp.demux(video_in, audio_in):
            if not packet.size:
                continue
            if packet.stream is video_in:
                nal = rpu_nal(count)
                made = av.Packet(bytes(packet) + len(nal).to_bytes(4, "big") + nal)
                made.pts, made.dts, made.time_base = packet.pts, packet.dts, packet.time_base
                made.is_keyframe = packet.is_keyframe
                made.stream = video
                out.mux(made)
                count += 1
            else:
                packet.stream = audio
                out.mux(packet)
    path.write_bytes(with_box_in_sample_entry(plain.read_bytes(), dvvc_box()))
    return path


def samples(path: Path) -> list[list[bytes]]:
    """Each video sample's NAL units, in decode order."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return [length_prefixed_nals(bytes(p), 4) for p in container.demux(stream) if p.size]


@pytest.fixture(scope="module")
def dv_clip(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("dolby")
    return make_dolby_vision(hdr_clip(folder / "hlg.mp4"), folder / "dv.mp4")


def test_the_made_source_reads_as_a_dolby_vision_hlg_clip(dv_clip: Path) -> None:
    media = probe(dv_clip)
    assert (media.video_codec, media.hdr, media.bit_depth) == ("hevc", "hlg", 10)
    assert copy_refusal(media, HighlightOptions()) is None
    assert sample_entry_boxes(dv_clip)[b"dvvC"] == dvvc_box()[8:]
    assert all(nals[-1] == rpu_nal(i) for i, nals in enumerate(samples(dv_clip)))
    assert len(decode_strict(dv_clip)) == 150  # the RPUs break no decoding


def test_copied_gops_keep_their_rpus_and_the_reel_its_dvvc(dv_clip: Path, tmp_path: Path) -> None:
    media = probe(dv_clip)
    chosen = segs((0.3, 2.2), (2.9, 4.6))
    options = HighlightOptions(crossfade=0.2, poster=False)
    plan = Plan.build(chosen, output_rate(media), options.crossfade)
    copy_plan = plan_copy(media, chosen, plan, lambda: None)
    assert copy_plan is not None and sorted(copy_plan.ranges) == [0, 1]
    out = tmp_path / "reel.mp4"
    info = render(media, chosen, out, options, Reporter())
    assert (info.codec, info.profile) == ("hevc", "Main 10")

    # The configuration record, byte for byte (before: the muxer dropped it, FFmpeg writes it
    # only with strict=unofficial).
    assert sample_entry_boxes(out).get(b"dvvC") == dvvc_box()[8:]
    # Every copied sample is the source's, its RPU included, byte for byte (the first of each
    # copy may start at a CRA, marked BLA there); the re-encoded ones have none.
    source = {nals[-1]: nals for nals in samples(dv_clip)}
    reel = samples(out)
    copied = [nals for nals in reel if nal_type(nals[-1]) == RPU]
    assert len(copied) == sum(r.count for r in copy_plan.ranges.values())
    for nals in copied:
        # (Less any in-band parameter sets, which ``hvc1`` keeps in the hvcC alone.)
        want = [n for n in source[nals[-1]] if nal_type(n) not in (VPS, SPS, PPS)]
        assert nals in (want, [bla(n) for n in want])
    assert not any(nal_type(n) == RPU for nals in reel for n in nals if nals not in copied)
    # The joins without RPUs decode strictly, with the copies, into every picture of the reel.
    assert len(decode_strict(out)) == plan.total


def test_a_reel_without_dolby_vision_has_no_record(tmp_path: Path) -> None:
    src = hdr_clip(tmp_path / "hlg.mp4")
    out = tmp_path / "reel.mp4"
    render(probe(src), segs((0.3, 2.2)), out, HighlightOptions(poster=False), Reporter())
    assert b"dvvC" not in sample_entry_boxes(out) and b"hvcC" in sample_entry_boxes(out)


def test_a_re_encoded_reel_of_a_dolby_vision_source_is_plain_hlg(
    dv_clip: Path, tmp_path: Path
) -> None:
    # Cropped, so nothing is copied: no RPU and no record (a profile 8.4 player shows the HLG
    # base layer then), and it decodes.
    media = probe(dv_clip)
    options = HighlightOptions(aspect="1:1", poster=False)
    assert "crops" in (copy_refusal(media, options) or "")
    out = tmp_path / "reel.mp4"
    render(media, segs((0.5, 1.5)), out, options, Reporter())
    assert b"dvvC" not in sample_entry_boxes(out)
    assert not any(nal_type(n) == RPU for nals in samples(out) for n in nals)
    assert len(decode_strict(out)) == 30
