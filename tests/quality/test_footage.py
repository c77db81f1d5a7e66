"""The benchmark's re-encoder of whole real files (``benchmarks/quality.py --footage``)."""

from __future__ import annotations

import av
import numpy as np

from .footage import Encoding, reencode


def test_a_real_file_is_encoded_as_asked_with_every_picture_and_its_sound(media_dir, tmp_path):
    source = media_dir / "man-on-green-screen.mp4"
    encoding = Encoding("hevc-small", codec="hevc", gop=2.0, height=180)
    path = reencode(source, tmp_path, encoding)
    with av.open(str(source)) as inp:
        frames = sum(1 for _ in inp.decode(video=0))
        rate = inp.streams.video[0].average_rate
    with av.open(str(path)) as out:
        video = out.streams.video[0]
        assert video.codec_context.name == "hevc"
        assert (video.codec_context.width, video.codec_context.height) == (320, 180)
        assert out.streams.audio, "the sound is kept"
        packets = [p for p in out.demux(video) if p.size]
        keys = np.array(sorted(float(p.pts * video.time_base) for p in packets if p.is_keyframe))
    # Every picture, each 1/rate after the last, a keyframe every 2 s and no other.
    assert len(packets) == frames
    assert np.allclose(np.diff(keys), 2.0, atol=1 / float(rate))
    # Cached: asked again, the same file is handed back without encoding it again.
    before = path.stat().st_mtime_ns
    assert reencode(source, tmp_path, encoding) == path
    assert path.stat().st_mtime_ns == before
