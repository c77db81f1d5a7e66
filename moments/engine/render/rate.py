"""How many bits the reel's re-encoded pictures may spend, and what the written reel holds.

A reel re-encoded at a fixed quality (CRF) alone spends what the encoder thinks the pictures
deserve, whatever the source spent: a phone clip at 1 Mbit/s (already soft, blocky in places)
came out at 5.9 Mbit/s, three times the source's file size, with none of the extra bits buying
detail the source did not have. So the full re-encode keeps its CRF but is capped (x264's VBV)
at the source's own video bit rate scaled to the reel's pixels and frame rate: easy pictures
still come out smaller than that, hard ones no bigger.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from ..models import MediaInfo
from ..probe import reopen
from .layout import Layout

FLOOR_BITS_PER_PIXEL = 0.02
"""The cap never goes below this many bits per output pixel and frame (720x1280 at 30 fps:
0.55 Mbit/s; 1080x1920: 1.2 Mbit/s), so a source starved of bits (a screen recording of a
still page at 100 kbit/s, say) does not turn every motion in the reel into mush."""
BUFFER_SECONDS = 2.0
"""The VBV buffer: the cap holds on average over this long (one GOP of the reel), so a
keyframe may take what it needs from the frames around it."""
RUN_HEADROOM = 2.0
RUN_BUFFER_SECONDS = 1.0
RUN_BUFFER_START = 0.5
"""A smart render's re-encoded runs are held to twice the reel's cap, over a 1 s buffer half
full at the start. A run is a fresh encode of a few frames from an IDR (0.3-0.6 s at a join,
crossfades being new pictures the source never paid for), which the full encode's rule (the
cap over 2 s, 90% full at the start) does not hold at all. Uncapped, the runs of a grainy
0.32 Mbit/s clip spent 7.1x its rate (tests/engine/test_run_rate.py), now 3.6x; of a grainy
0.65 Mbit/s 720p clip 2.6x, now 2.1x (51.9 -> 51.7 dB PSNR against what they encode, median;
worst 50.3 -> 48.7). At the cap itself (0.5-1 s buffers) the grain clip's runs came to
1.2-1.9x, but clean gradients' runs and crossfades fell under 35 dB (test_render_copy,
test_render), visibly worse than the copied pictures beside them."""


def source_bitrate(media: MediaInfo) -> float | None:
    """The source's video bits per second: the stream's own figure (MP4 sums its samples),
    else the container's less its sound, else the file's size over its length."""
    rate = 0.0
    try:
        with reopen(media) as container:
            rate = float(container.streams[media.video_stream].bit_rate or 0)
            if rate <= 0 and container.bit_rate:
                sound = sum(s.bit_rate or 0 for s in container.streams.audio)
                rate = float(container.bit_rate - sound)
    except (av.error.FFmpegError, OSError):
        pass
    if rate <= 0 and media.duration > 0:
        rate = media.size_bytes * 8 / media.duration
    return rate if rate > 0 else None


def video_cap(media: MediaInfo, layout: Layout, rate: Fraction) -> int | None:
    """The reel's video bit rate cap in bits/s: the source's, scaled by output pixels (and
    frame rate, when the reel halves it), never below the floor; None if unknown."""
    source = source_bitrate(media)
    if source is None:
        return None
    pixels = layout.width * layout.height
    share = pixels / (max(2, media.width) * max(2, media.height))
    frames = min(1.0, float(rate) / media.fps) if media.fps > 0 else 1.0
    floor = FLOOR_BITS_PER_PIXEL * pixels * float(rate)
    return round(max(source * share * frames, floor))


def cap_options(
    maxrate: int | None, seconds: float = BUFFER_SECONDS, start: float | None = None
) -> dict[str, str]:
    """Encoder options (x264, x265) that hold the encode to ``maxrate`` bits/s on average over
    ``seconds``, the buffer ``start`` full at first (the encoder's default when None); none
    when the rate is unknown."""
    if not maxrate:
        return {}
    options = {"maxrate": str(maxrate), "bufsize": str(round(maxrate * seconds))}
    if start is not None:
        options["rc_init_occupancy"] = str(round(maxrate * seconds * start))
    return options


@dataclass(frozen=True)
class Encoded:
    """What the written reel's video stream holds, read back from the file."""

    bitrate: int | None
    """Video bits per second (the sound, AAC at 160 kbit/s, adds its own)."""
    codec: str | None
    profile: str | None


_AVC_PROFILES = {66: "Baseline", 77: "Main", 88: "Extended", 100: "High", 110: "High 10"}


_HEVC_PROFILES = {1: "Main", 2: "Main 10", 3: "Main Still Picture", 4: "Rext"}


def declared_profile(extradata: bytes, codec: str = "h264") -> str | None:
    """The H.264 profile an MP4 track declares (its ``avcC``), which players check first.

    A smart render's track declares the source's profile: its copied GOPs are the source's,
    and its re-encoded joins are Constrained Baseline, which every profile decodes. (FFmpeg
    names the profile of the first picture's parameter set instead: Constrained Baseline
    for a reel that starts with a join.)
    """
    if len(extradata) < 4 or extradata[0] != 1:
        return None
    if codec == "hevc":  # hvcC general_profile_idc (a smart render declares the source's)
        return _HEVC_PROFILES.get(extradata[1] & 0x1F)
    name = _AVC_PROFILES.get(extradata[1])
    if name == "Baseline" and extradata[2] & 0x40:  # constraint_set1: Constrained Baseline
        name = "Constrained Baseline"
    return name


def read_back(path: Path) -> Encoded:
    """The video stream's bit rate (its packets' bytes over its length), codec and profile."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        codec = stream.codec_context.name
        extradata = bytes(stream.codec_context.extradata or b"")
        profile = declared_profile(extradata, codec) or stream.codec_context.profile
        size, frames = 0, 0
        for packet in container.demux(stream):
            if packet.size:
                size += packet.size
                frames += 1
        rate = stream.average_rate or stream.guessed_rate
    seconds = frames / float(rate) if rate else 0.0
    bitrate = round(size * 8 / seconds) if seconds > 0 else None
    return Encoded(bitrate, codec, profile)
