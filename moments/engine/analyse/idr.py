"""Whether a keyframe packet is an IDR picture, and whether a picture is one others refer to,
read from its NAL unit headers (no decoding).

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
HEVC_NONREF = frozenset({0, 2, 4, 6, 8, 10, 12, 14})
"""Sub-layer non-reference pictures (TRAIL_N, TSA_N, STSA_N, RADL_N, RASL_N, reserved): what
FFmpeg's decoder skips at ``skip_frame=NONREF`` (``ff_hevc_nal_is_nonref``)."""
HEVC_VCL = 32
"""HEVC NAL unit types below this are slices (pictures); the rest are parameter sets, SEI..."""
H264_SLICE = frozenset({1, 5})
"""H.264 NAL unit types of a picture's slices (non-IDR and IDR)."""
HEAD_BYTES = 4096


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
        heads = self._heads(data)
        if self._codec == "h264":
            return any(head & 0x1F == NAL_IDR for head in heads)
        return any((head >> 1) & 0x3F in HEVC_IDR for head in heads)

    def is_reference(self, data: bytes | memoryview) -> bool:
        """Whether the picture is one others may refer to, so a decoder that skips the rest
        (``skip_frame=NONREF``, as analysis decodes) shows it. Unknown codecs, damage and
        packets without a slice count as reference pictures: shown, as far as we know."""
        if self._codec is None:
            return True
        for head in self._heads(data):
            if self._codec == "h264" and head & 0x1F in H264_SLICE:
                return bool(head & 0x60)  # nal_ref_idc
            if self._codec == "hevc" and (head >> 1) & 0x3F < HEVC_VCL:
                return (head >> 1) & 0x3F not in HEVC_NONREF
        return True

    def _heads(self, data: bytes | memoryview) -> Iterator[int]:
        if self._length_size is None:
            return _annexb_heads(data)
        return _prefixed_heads(data, self._length_size)


def _annexb_heads(data: bytes | memoryview) -> Iterator[int]:
    """The NAL headers of an Annex-B packet, from its first ``HEAD_BYTES`` before all of it: a
    slice's header follows a few small units (delimiter, parameter sets, SEI), so the packets
    of a long MPEG-TS are judged without copying each whole."""
    head = bytes(data[:HEAD_BYTES])
    nals = split_annexb(head)
    yield from (nal[0] for nal in nals)  # a unit cut short by the slice still has its header
    if len(head) < len(data):
        yield from (nal[0] for nal in split_annexb(bytes(data))[len(nals) :])


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
