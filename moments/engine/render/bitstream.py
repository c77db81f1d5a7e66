"""Just enough H.264 bitstream handling to splice copied and re-encoded pictures into one track.

MP4/MOV store H.264 as length-prefixed NAL units with the parameter sets (SPS/PPS) in an
``avcC`` box; libx264 emits Annex-B (start codes). FFmpeg's MP4 muxer converts Annex-B packets
to length-prefixed ones when the track's extradata is Annex-B, so the splice feeds it Annex-B
throughout: the source's SPS/PPS plus x264's (under other ids) as extradata, and copied source
packets converted to start codes.
"""

from __future__ import annotations

from dataclasses import dataclass

START_CODE = b"\x00\x00\x00\x01"
NAL_IDR = 5
NAL_SPS = 7
NAL_PPS = 8


@dataclass(frozen=True)
class AvcConfig:
    """The parts of an ``avcC`` record the splice needs."""

    length_size: int
    """Bytes in each NAL unit's length prefix (1, 2 or 4)."""
    sps: tuple[bytes, ...]
    pps: tuple[bytes, ...]

    @property
    def annexb(self) -> bytes:
        """The parameter sets as Annex-B NAL units (SPS first, then PPS)."""
        return b"".join(START_CODE + nal for nal in (*self.sps, *self.pps))

    @property
    def ids(self) -> set[int]:
        """Every SPS and PPS id in use: a spliced encoder must pick ids outside this set."""
        return {sps_id(nal) for nal in self.sps} | {pps_id(nal) for nal in self.pps}

    def random_access(self, nals: list[bytes]) -> bool:
        """Decoding can start at this sample: an IDR."""
        return is_idr(nals)

    def in_band(self, nals: list[bytes]) -> list[bytes]:
        """The sample as the spliced track holds it (H.264: as it is; FFmpeg's muxer writes
        the ``avcC``)."""
        return nals

    def leading(self, nals: list[bytes]) -> bool:
        """Shown before the keyframe it follows (an HEVC idea; H.264 IDRs have none)."""
        return False


def parse_avcc(extradata: bytes) -> AvcConfig | None:
    """Read an ``avcC`` record; None when ``extradata`` is not one (e.g. Annex-B from MPEG-TS)."""
    try:
        if len(extradata) < 7 or extradata[0] != 1:
            return None
        length_size = (extradata[4] & 3) + 1
        pos, sets = 5, []
        for mask in (0x1F, 0xFF):  # SPS count has 3 reserved bits; PPS count is a full byte
            count = extradata[pos] & mask
            pos += 1
            nals = []
            for _ in range(count):
                size = int.from_bytes(extradata[pos : pos + 2], "big")
                nal = extradata[pos + 2 : pos + 2 + size]
                if len(nal) != size or size == 0:
                    return None
                nals.append(nal)
                pos += 2 + size
            sets.append(tuple(nals))
    except IndexError:
        return None
    if not sets[0] or not sets[1]:
        return None
    return AvcConfig(length_size, sets[0], sets[1])


def split_annexb(data: bytes) -> list[bytes]:
    """NAL units of an Annex-B buffer (3- or 4-byte start codes)."""
    nals, pos = [], data.find(b"\x00\x00\x01")
    while pos >= 0:
        start = pos + 3
        nxt = data.find(b"\x00\x00\x01", start)
        end = len(data) if nxt < 0 else nxt
        nal = data[start:end]
        if nxt >= 0 and nal.endswith(b"\x00"):
            nal = nal[:-1]  # the leading zero of a 4-byte start code
        if nal:
            nals.append(nal)
        pos = nxt
    return nals


def length_prefixed_nals(data: bytes, length_size: int) -> list[bytes]:
    """NAL units of one MP4 sample; raises ValueError if the lengths do not add up."""
    nals, pos = [], 0
    while pos < len(data):
        size = int.from_bytes(data[pos : pos + length_size], "big")
        pos += length_size
        if size == 0 or pos + size > len(data):
            raise ValueError("NAL length runs past the end of the sample")
        nals.append(data[pos : pos + size])
        pos += size
    return nals


def to_annexb(nals: list[bytes]) -> bytes:
    return b"".join(START_CODE + nal for nal in nals)


def nal_type(nal: bytes) -> int:
    return nal[0] & 0x1F


def is_idr(nals: list[bytes]) -> bool:
    """An IDR picture: decoding can start here and nothing later refers to earlier pictures."""
    return any(nal_type(nal) == NAL_IDR for nal in nals)


def _first_ue(data: bytes) -> int:
    """The first Exp-Golomb ue(v) value in ``data`` (enough for parameter-set ids)."""
    bits = "".join(f"{byte:08b}" for byte in data[:8])
    zeros = len(bits) - len(bits.lstrip("0"))
    if zeros * 2 + 1 > len(bits):
        raise ValueError("parameter set id does not fit the first bytes")
    return int(bits[zeros : 2 * zeros + 1], 2) - 1


def sps_id(nal: bytes) -> int:
    """seq_parameter_set_id: after the NAL header, profile, constraint flags and level."""
    return _first_ue(nal[4:])


def pps_id(nal: bytes) -> int:
    """pic_parameter_set_id: the first field after the NAL header."""
    return _first_ue(nal[1:])
