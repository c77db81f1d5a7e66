"""How a smart render's video track is made per codec: H.264 (x264) or HEVC (x265).

Each knows its source's parameter sets, opens the encoder for the re-encoded runs with
parameter-set ids the source does not use, and turns copied and encoded packets into the
samples the MP4 muxer is given (see :mod:`.bitstream` and :mod:`.hevc`).
"""

from __future__ import annotations

from fractions import Fraction
from typing import Protocol

import av

from .bitstream import AvcConfig, split_annexb, to_annexb
from .colour import Colour
from .encode import run_options, x265_run_options
from .hevc import (
    CRA,
    HevcConfig,
    Renumber,
    bla,
    length_prefixed,
    nal_type,
    spliced_hvcc,
    split_parameter_sets,
    sps_level,
)
from .layout import Layout
from .rate import RUN_BUFFER_SECONDS, RUN_BUFFER_START, RUN_HEADROOM, cap_options

SourceConfig = AvcConfig | HevcConfig


class Track(Protocol):
    codec_tag: str | None
    reorder: int
    """Pictures the encoder may decode ahead of display."""

    def encoder(
        self, layout: Layout, rate: Fraction, maxrate: int | None = None
    ) -> av.VideoCodecContext:
        """A fresh encoder for one run, held to ``maxrate`` bits/s (``rate.video_cap``)."""
        ...

    def extradata(self, headers: bytes) -> bytes:
        """The track's extradata, given the encoder's (Annex-B) headers."""
        ...

    def encoded(self, data: bytes) -> bytes:
        """An encoded (Annex-B) packet as the muxer is given it."""
        ...

    def copied(self, nals: list[bytes], first: bool) -> bytes:
        """A source sample's NAL units as the muxer is given them (``first``: of a copy)."""
        ...


def _encoder(
    name: str,
    layout: Layout,
    rate: Fraction,
    options: dict[str, str],
    colour: Colour | None = None,
) -> av.VideoCodecContext:
    encoder = av.CodecContext.create(name, "w")
    encoder.width, encoder.height = layout.width, layout.height
    encoder.pix_fmt = layout.pix_fmt
    if colour:
        colour.apply(encoder)
    encoder.time_base = 1 / rate
    encoder.framerate = rate
    encoder.gop_size = max(1, round(2 * rate))
    encoder.flags |= av.codec.context.Flags.global_header  # parameter sets out of band
    encoder.options = options
    encoder.open()
    return encoder


def run_cap(maxrate: int | None) -> dict[str, str]:
    """A run's encoder options for the reel's cap (about the source's own bit rate)."""
    cap = round(maxrate * RUN_HEADROOM) if maxrate else None
    return cap_options(cap, RUN_BUFFER_SECONDS, RUN_BUFFER_START)


def free_id(config: AvcConfig) -> int:
    """A parameter-set id (0..31) the source does not use, for x264's SPS and PPS."""
    return min(set(range(32)) - config.ids)


class AvcTrack:
    """H.264: the muxer is given Annex-B (it writes the ``avcC`` and length prefixes)."""

    codec_tag = None  # the template's (avc1)
    reorder = 2
    """x264's runs have no B-frames; 2 covers veryfast's pyramid should they ever get them."""

    def __init__(self, config: AvcConfig):
        self._config = config
        self._params_id = free_id(config)

    def encoder(
        self, layout: Layout, rate: Fraction, maxrate: int | None = None
    ) -> av.VideoCodecContext:
        options = run_options(f"sps-id={self._params_id}") | run_cap(maxrate)
        return _encoder("libx264", layout, rate, options)

    def extradata(self, headers: bytes) -> bytes:
        # Annex-B extradata with both sets: the muxer writes an avcC holding 2 SPS + 2 PPS and
        # converts every (Annex-B) packet to length-prefixed NAL units.
        return self._config.annexb + headers

    def encoded(self, data: bytes) -> bytes:
        return to_annexb(split_annexb(data))

    def copied(self, nals: list[bytes], first: bool) -> bytes:
        return to_annexb(nals)


class HevcTrack:
    """HEVC: the muxer is given the ``hvcC`` and length-prefixed samples as they are stored,
    so copied samples go in byte for byte (a CRA that starts a copy becomes a BLA; parameter
    sets a ``hev1`` source repeats in its samples are left to the ``hvcC``)."""

    codec_tag = "hvc1"
    """Parameter sets only in the sample entry: what QuickTime, Safari and AVPlayer accept
    (FFmpeg's default, ``hev1``, they refuse)."""
    reorder = 2

    def __init__(self, config: HevcConfig, colour: Colour | None = None):
        """``colour``: an HDR reel's (10-bit runs with the source's colour and metadata)."""
        self._config = config
        self._renumber = Renumber.avoiding(config)
        self._colour = colour

    def encoder(
        self, layout: Layout, rate: Fraction, maxrate: int | None = None
    ) -> av.VideoCodecContext:
        options = x265_run_options(layout.pix_fmt, self._colour) | run_cap(maxrate)
        return _encoder("libx265", layout, rate, options, self._colour)

    def extradata(self, headers: bytes) -> bytes:
        sets = split_parameter_sets(split_annexb(headers))
        added = {
            kind: [self._renumber.parameter_set(n) for n in nals] for kind, nals in sets.items()
        }
        level = max((sps_level(n) for n in added[33]), default=0)
        return spliced_hvcc(self._config, added, level)

    def encoded(self, data: bytes) -> bytes:
        nals = [
            self._renumber.slice(n)
            for n in split_annexb(data)
            if nal_type(n) < 32 or nal_type(n) in (39, 40)
        ]
        return length_prefixed(nals, self._config.length_size)

    def copied(self, nals: list[bytes], first: bool) -> bytes:
        nals = self._config.in_band(nals)
        if first and any(nal_type(n) == CRA for n in nals):
            nals = [bla(n) for n in nals]
        return length_prefixed(nals, self._config.length_size)


def track_for(config: SourceConfig, colour: Colour | None = None) -> Track:
    if isinstance(config, HevcConfig):
        return HevcTrack(config, colour)
    return AvcTrack(config)
