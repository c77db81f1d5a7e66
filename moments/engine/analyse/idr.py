"""Whether a keyframe packet is an IDR picture, read from its NAL unit headers (no decoding).

After an IDR nothing refers to a picture before it, so a decoder fed only the packets from
an IDR on needs no reset. A keyframe that is not one (an open GOP's recovery point, HEVC's
CRA) has pictures after it that refer to pictures before it. Only H.264 and HEVC are read;
any other codec's keyframes count as not IDR, which is always safe.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..render.bitstream import NAL_IDR, split_annexb

HEVC_IDR = frozenset({19, 20})
"""IDR_W_RADL and IDR_N_LP."""


class IdrReader:
    """Reads packets of one video stream; ``codec`` is FFmpeg's name, ``extradata`` its own."""

    def __init__(self, codec: str, extradata: bytes) -> None:
        self._codec = codec if codec in ("h264", "hevc") else None
        # avcC and hvcC records start with version 1 and give the NAL length prefix's size;
        # otherwise (MPEG-TS, Matroska from Annex-B) packets carry start codes.
        self._length_size: int | None = None
        if self._codec == "h264" and len(extradata) > 4 and extradata[0] == 1:
            self._length_size = (extradata[4] & 3) + 1
        elif self._codec == "hevc" and len(extradata) > 21 and extradata[0] == 1:
            self._length_size = (extradata[21] & 3) + 1

    def is_idr(self, data: bytes | memoryview) -> bool:
        if self._codec is None:
            return False
        if self._length_size is None:
            heads = (nal[0] for nal in split_annexb(bytes(data)))
        else:
            heads = _prefixed_heads(data, self._length_size)
        if self._codec == "h264":
            return any(head & 0x1F == NAL_IDR for head in heads)
        return any((head >> 1) & 0x3F in HEVC_IDR for head in heads)


def _prefixed_heads(data: bytes | memoryview, length_size: int) -> Iterator[int]:
    """The first byte (the NAL header) of each length-prefixed NAL unit, copying nothing."""
    pos, end = 0, len(data)
    while pos + length_size < end:
        size = int.from_bytes(data[pos : pos + length_size], "big")
        pos += length_size
        if size == 0 or pos + size > end:
            return  # damaged: what was read so far stands
        yield data[pos]
        pos += size
