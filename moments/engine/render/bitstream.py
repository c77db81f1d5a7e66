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


# ------------------------------------------------------------------ SPS without its frame rate

_HIGH_PROFILES = {100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135}
"""profile_idc values whose SPS carries chroma format and bit depths (H.264 7.3.2.1.1)."""


def _rbsp_bits(nal: bytes) -> str:
    """The NAL unit's payload after its header as '0'/'1', emulation prevention removed."""
    payload = nal[1:].replace(b"\x00\x00\x03", b"\x00\x00")
    return "".join(f"{byte:08b}" for byte in payload)


def _escaped(bits: str) -> bytes:
    """RBSP bits (stop bit and alignment included) as NAL payload bytes, with emulation
    prevention bytes put back (a 0x03 after two zero bytes before any byte <= 3)."""
    raw = int(bits, 2).to_bytes(len(bits) // 8, "big")
    out, zeros = bytearray(), 0
    for byte in raw:
        if zeros >= 2 and byte <= 3:
            out.append(3)
            zeros = 0
        out.append(byte)
        zeros = zeros + 1 if byte == 0 else 0
    return bytes(out)


class _Reader:
    def __init__(self, bits: str):
        self.bits, self.pos = bits, 0

    def u(self, n: int) -> int:
        if self.pos + n > len(self.bits):
            raise ValueError("the parameter set ends early")
        value = int(self.bits[self.pos : self.pos + n] or "0", 2)
        self.pos += n
        return value

    def ue(self) -> int:
        zeros = 0
        while self.u(1) == 0:
            zeros += 1
            if zeros > 31:
                raise ValueError("an Exp-Golomb code too long")
        return (1 << zeros) - 1 + self.u(zeros)

    def se(self) -> int:
        code = self.ue()
        return (code + 1) // 2 if code % 2 else -(code // 2)


def _timing_position(bits: str) -> int | None:
    """Where an SPS's ``timing_info_present_flag`` is (a bit offset into ``_rbsp_bits``),
    or None when it has no VUI. Raises ValueError for an SPS this does not read (scaling
    matrices)."""
    read = _Reader(bits)
    profile = read.u(8)
    read.u(16)  # constraint flags, level_idc
    read.ue()  # seq_parameter_set_id
    if profile in _HIGH_PROFILES:
        if read.ue() == 3:  # chroma_format_idc 4:4:4
            read.u(1)
        read.ue(), read.ue(), read.u(1)  # bit depths, qpprime_y_zero_transform_bypass
        if read.u(1):
            raise ValueError("scaling matrices in the SPS")
    read.ue()  # log2_max_frame_num_minus4
    poc_type = read.ue()
    if poc_type == 0:
        read.ue()
    elif poc_type == 1:
        read.u(1), read.se(), read.se()
        for _ in range(read.ue()):
            read.se()
    read.ue(), read.u(1), read.ue(), read.ue()  # refs, gaps, width, height in macroblocks
    if not read.u(1):  # frame_mbs_only_flag
        read.u(1)
    read.u(1)  # direct_8x8_inference_flag
    if read.u(1):  # frame cropping
        read.ue(), read.ue(), read.ue(), read.ue()
    if not read.u(1):  # vui_parameters_present_flag
        return None
    if read.u(1) and read.u(8) == 255:  # aspect_ratio_info_present: idc, extended SAR
        read.u(32)
    if read.u(1):  # overscan_info_present
        read.u(1)
    if read.u(1):  # video_signal_type_present: format, full range, colour description
        read.u(4)
        if read.u(1):
            read.u(24)
    if read.u(1):  # chroma_loc_info_present
        read.ue(), read.ue()
    return read.pos


def sps_without_rate(nal: bytes, level: int | None = None) -> bytes | None:
    """The SPS ``nal`` without what only tells its frame rate: no VUI timing information,
    ``level_idc`` set to ``level`` (kept when None). A phone writes the same SPS for its
    30 and 60 fps clips but for those two (the level follows the macroblocks a second);
    decoding uses neither, so one SPS without timing at the higher level decodes both.

    None when the SPS is not read here (scaling matrices, HRD parameters after the timing,
    a malformed one)."""
    try:
        bits = _rbsp_bits(nal)
        at = _timing_position(bits)
    except ValueError:
        return None
    end = bits.rstrip("0")
    if not end or (at is not None and at >= len(end)):
        return None
    end = end[:-1]  # the payload without its rbsp_stop_one_bit and alignment
    if at is not None and end[at] == "1":
        after = at + 1 + 65  # num_units_in_tick, time_scale, fixed_frame_rate_flag
        if end[after : after + 2] != "00":
            return None  # HRD parameters follow (they are timed): left as they are
        end = end[:at] + "0" + end[after:]
    if level is not None:
        end = end[:16] + f"{level:08b}" + end[24:]
    bits = end + "1"
    bits += "0" * (-len(bits) % 8)
    return nal[:1] + _escaped(bits)


def sps_level(nal: bytes) -> int:
    """level_idc of an H.264 SPS (ten times the level: 40 for 4.0)."""
    return nal[3]
