"""An HDR reel's colour: the source's tags and mastering metadata, for the encoders.

The re-encoded pictures of an HDR reel keep the source's values, so they carry its colour
description (primaries, transfer, matrix, range: the MP4 ``colr`` box and the SPS's VUI) and,
where the source has them, its mastering display (SMPTE ST 2086) and content light levels
(MaxCLL/MaxFALL), which x265 writes as SEI with each keyframe. Copied GOPs keep their own SEI
(and any Dolby Vision NAL units) byte for byte.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import av

from ..models import MediaInfo
from ..probe import reopen

_X265_PRIMARIES = {1: "bt709", 9: "bt2020", 12: "smpte432", 11: "smpte431"}
_X265_TRANSFER = {1: "bt709", 14: "bt2020-10", 16: "smpte2084", 18: "arib-std-b67"}
_X265_MATRIX = {1: "bt709", 9: "bt2020nc", 10: "bt2020c"}


@dataclass(frozen=True)
class Colour:
    """The source's colour description, as FFmpeg numbers it (AVColorPrimaries...)."""

    primaries: int
    transfer: int
    matrix: int
    full_range: bool
    master_display: str | None = None
    """x265's ``master-display`` (G, B, R, white point in 0.00002, luminance in 0.0001 cd/m2)."""
    max_cll: str | None = None
    """x265's ``max-cll``: MaxCLL,MaxFALL in cd/m2."""

    def apply(self, context: av.VideoCodecContext) -> None:
        """Tag an encoder's pictures with this colour (FFmpeg passes it to x265's VUI)."""
        context.color_primaries = self.primaries
        context.color_trc = self.transfer
        context.colorspace = self.matrix
        context.color_range = 2 if self.full_range else 1

    def x265_params(self) -> str:
        """x265 parameters: the VUI (as FFmpeg would set it) and the HDR metadata SEI."""
        params = []
        for key, table, value in (
            ("colorprim", _X265_PRIMARIES, self.primaries),
            ("transfer", _X265_TRANSFER, self.transfer),
            ("colormatrix", _X265_MATRIX, self.matrix),
        ):
            if value in table:
                params.append(f"{key}={table[value]}")
        params.append(f"range={'full' if self.full_range else 'limited'}")
        if self.master_display:
            params.append(f"master-display={self.master_display}")
        if self.max_cll:
            params.append(f"max-cll={self.max_cll}")
        return ":".join(params)


def source_colour(media: MediaInfo) -> Colour:
    """The source's colour tags, and its HDR metadata from the first picture's side data."""
    with reopen(media) as container:
        stream = container.streams[media.video_stream]
        context = stream.codec_context
        frame = next(container.decode(stream), None)
        tags = frame if frame is not None else context
        master = light = None
        if frame is not None:
            for data in side_data(frame):
                kind = str(data.type)
                if kind.endswith("MASTERING_DISPLAY_METADATA"):
                    master = mastering_display(bytes(data))
                elif kind.endswith("CONTENT_LIGHT_LEVEL"):
                    light = content_light(bytes(data))
        return Colour(
            int(tags.color_primaries or context.color_primaries or 9),
            int(tags.color_trc or context.color_trc or 0),
            int(tags.colorspace or context.colorspace or 9),
            int(tags.color_range or context.color_range or 1) == 2,
            master,
            light,
        )


def side_data(frame: av.VideoFrame) -> list:
    """The frame's side data entries (each with its ``type``), whatever the PyAV version:
    PyAV 18.1.1's ``frame.side_data`` iterates as a mapping, giving the types alone; iterated
    as before, every HDR reel lost its source's mastering display and light levels."""
    data = frame.side_data
    # 18.1.0 iterates the entries themselves (and its values() fails); 18.1.1 the types.
    return [item if hasattr(item, "type") else data[item] for item in data]


def mastering_display(data: bytes) -> str | None:
    """x265's ``master-display`` from FFmpeg's AVMasteringDisplayMetadata (rationals: R, G,
    B primaries, white point, min and max luminance, then has_primaries, has_luminance)."""
    if len(data) < 88:
        return None
    values = struct.unpack("<20i2i", data[:88])
    ratio = [values[i] / values[i + 1] if values[i + 1] else 0.0 for i in range(0, 20, 2)]
    has_primaries, has_luminance = values[20], values[21]
    if not (has_primaries and has_luminance):
        return None
    r, g, b, white = ratio[0:2], ratio[2:4], ratio[4:6], ratio[6:8]
    low, high = ratio[8], ratio[9]

    def xy(pair: list[float]) -> str:
        return f"({round(pair[0] * 50000)},{round(pair[1] * 50000)})"

    return f"G{xy(g)}B{xy(b)}R{xy(r)}WP{xy(white)}L({round(high * 10000)},{round(low * 10000)})"


def content_light(data: bytes) -> str | None:
    """x265's ``max-cll`` from FFmpeg's AVContentLightMetadata (MaxCLL, MaxFALL)."""
    if len(data) < 8:
        return None
    cll, fall = struct.unpack("<2I", data[:8])
    return f"{cll},{fall}" if cll or fall else None
