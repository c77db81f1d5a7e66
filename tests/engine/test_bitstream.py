"""H.264 parameter sets as the smart render of many clips reads and rewrites them."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np

from moments.engine.render.bitstream import (
    parse_avcc,
    split_annexb,
    sps_level,
    sps_without_rate,
    to_annexb,
)

from .media_factory import make_video
from .test_render_copy import PHONE, decode_strict, source_frames


def _sps(path: Path) -> bytes:
    with av.open(str(path)) as container:
        config = parse_avcc(bytes(container.streams.video[0].codec_context.extradata))
    assert config is not None
    return config.sps[0]


def test_an_sps_without_its_rate_decodes_the_same_pictures(tmp_path: Path) -> None:
    # The clip's packets put under its SPS with the VUI timing taken out and another level:
    # every picture decodes strictly to the same pixels.
    src = make_video(tmp_path / "s.mp4", seconds=1.0, fps=60, video_options=PHONE, audio=False)
    sps = _sps(src)
    bare = sps_without_rate(sps, level=42)
    assert bare is not None and sps_level(bare) == 42 and len(bare) < len(sps)  # 8 bytes less
    assert sps_without_rate(bare, sps_level(sps)) == sps_without_rate(sps)  # only those differ

    out = tmp_path / "bare.mp4"
    with av.open(str(src)) as source, av.open(str(out), "w") as target:
        stream = source.streams.video[0]
        video = target.add_stream_from_template(stream)
        config = parse_avcc(bytes(stream.codec_context.extradata))
        assert config is not None
        video.codec_context.extradata = to_annexb([bare, *config.pps])
        length = config.length_size
        for packet in source.demux(stream):
            if not packet.size:
                continue
            data, nals, pos = bytes(packet), [], 0
            while pos < len(data):
                size = int.from_bytes(data[pos : pos + length], "big")
                nals.append(data[pos + length : pos + length + size])
                pos += length + size
            copy = av.Packet(to_annexb(nals))
            copy.pts, copy.dts, copy.time_base = packet.pts, packet.dts, packet.time_base
            copy.is_keyframe = packet.is_keyframe
            copy.stream = video
            target.mux(copy)
    assert split_annexb(to_annexb([bare])) == [bare]
    assert _sps(out) == bare
    got = [f.to_ndarray() for f in decode_strict(out)]
    want = source_frames(src)
    assert len(got) == len(want) == 60
    assert all(np.array_equal(a, b) for a, b in zip(got, want, strict=True))


def test_an_sps_it_does_not_read_is_left_alone() -> None:
    # Scaling matrices in the SPS (seq_scaling_matrix_present_flag): not read, so not merged.
    high = bytes([0x67, 100, 0, 40]) + bytes([0b10000100, 0b01000000])  # ids, 4:2:0, 8-bit
    assert sps_without_rate(high) is None
    assert sps_without_rate(b"\x67\x64") is None  # cut short
