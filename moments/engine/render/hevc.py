"""Just enough HEVC bitstream handling to splice copied and re-encoded pictures into one track.

MP4 stores HEVC as length-prefixed NAL units with the parameter sets (VPS/SPS/PPS) in an
``hvcC`` record. The splice writes its own ``hvcC`` (the source's record with x265's parameter
sets added) and length-prefixed samples, so copied samples go in byte for byte.

x265 always numbers its parameter sets 0, as phones do, and has no option to change that, so
its output is renumbered: the VPS and SPS ids (fixed-length, or inside the parameter sets,
which are rewritten whole) to ones the source does not use, and the PPS id to one whose
Exp-Golomb code is exactly 8 bits longer than id 0's (15..30). That id is the third field of
every slice header, so a slice only gains one byte near its start: the slice data behind it
(CABAC, byte-aligned) stays as x265 wrote it.

Random access: a copy may start at an IDR, or at a CRA whose leading pictures (shown before
it, decoded after it) are left out. Such a CRA is marked BLA_N_LP (a "broken link", which is
what the standard provides for splicing: no leading pictures follow, none are expected), so a
decoder starts afresh there instead of looking for pictures from before the join.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .bitstream import START_CODE

VPS, SPS, PPS = 32, 33, 34
BLA_N_LP = 18
IDR_W_RADL, IDR_N_LP, CRA = 19, 20, 21
LEADING = frozenset({6, 7, 8, 9})
"""RADL_N, RADL_R, RASL_N, RASL_R: pictures shown before the IRAP picture they follow."""
RANDOM_ACCESS = frozenset({16, 17, 18, IDR_W_RADL, IDR_N_LP, CRA})
"""BLA, IDR and CRA pictures: decoding can start at them."""
PPS_IDS = range(15, 31)
"""PPS ids whose ue(v) code is 9 bits, 8 more than id 0's (see the module docstring)."""


def nal_type(nal: bytes) -> int:
    return (nal[0] >> 1) & 0x3F


@dataclass(frozen=True)
class HevcConfig:
    """The parts of an ``hvcC`` record the splice needs."""

    header: bytes
    """The record's first 22 bytes: profile, level, chroma format, bit depth, length size."""
    arrays: tuple[tuple[int, tuple[bytes, ...]], ...]
    """(NAL unit type, NAL units) per array: VPS, SPS, PPS and any SEI, as stored."""

    @property
    def length_size(self) -> int:
        return (self.header[21] & 3) + 1

    def sets(self, kind: int) -> tuple[bytes, ...]:
        return next((nals for t, nals in self.arrays if t == kind), ())

    @property
    def ids(self) -> tuple[set[int], set[int], set[int]]:
        """VPS, SPS and PPS ids in use: the re-encoded parts must pick others."""
        return (
            {vps_id(n) for n in self.sets(VPS)},
            {sps_id(n) for n in self.sets(SPS)},
            {pps_ids(n)[0] for n in self.sets(PPS)},
        )

    def random_access(self, nals: list[bytes]) -> bool:
        return any(nal_type(n) in RANDOM_ACCESS for n in nals)

    def leading(self, nals: list[bytes]) -> bool:
        return any(nal_type(n) in LEADING for n in nals)

    def in_band(self, nals: list[bytes]) -> list[bytes]:
        """The sample without its in-band parameter sets, which ``hvc1`` does not allow (a
        ``hev1`` source may repeat them at keyframes); ValueError if one is not in the
        ``hvcC`` (a mid-stream change the reel's sample entry cannot describe)."""
        known = {nal for _kind, sets in self.arrays for nal in sets}
        kept = []
        for nal in nals:
            if nal_type(nal) in (VPS, SPS, PPS):
                if nal not in known:
                    raise ValueError("an in-band parameter set differs from the hvcC's")
                continue
            kept.append(nal)
        return kept


def parse_hvcc(extradata: bytes) -> HevcConfig | None:
    """Read an ``hvcC`` record; None when ``extradata`` is not one (e.g. Annex-B)."""
    if len(extradata) < 23 or extradata[0] != 1:
        return None
    arrays: list[tuple[int, tuple[bytes, ...]]] = []
    pos = 23
    try:
        for _ in range(extradata[22]):
            kind = extradata[pos] & 0x3F
            count = int.from_bytes(extradata[pos + 1 : pos + 3], "big")
            pos += 3
            nals = []
            for _ in range(count):
                size = int.from_bytes(extradata[pos : pos + 2], "big")
                nal = extradata[pos + 2 : pos + 2 + size]
                if len(nal) != size or size < 3:
                    return None
                nals.append(nal)
                pos += 2 + size
            arrays.append((kind, tuple(nals)))
    except IndexError:
        return None
    config = HevcConfig(extradata[:22], tuple(arrays))
    if not all(config.sets(kind) for kind in (VPS, SPS, PPS)):
        return None
    try:
        vps, sps, pps = config.ids  # every parameter set must parse...
    except ValueError:
        return None
    if len(vps) == 16 or len(sps) == 16 or set(PPS_IDS) <= pps:
        return None  # ...and leave ids for x265's (see ``Renumber``)
    return config


# ---------------------------------------------------------------- RBSP and Exp-Golomb


_EMULATED = re.compile(b"\x00\x00\x03")
_NEEDS_ESCAPE = re.compile(b"\x00\x00(?=[\x00-\x03])")


def unescape(nal: bytes) -> bytes:
    """The raw payload of a NAL unit: emulation prevention bytes removed."""
    return _EMULATED.sub(b"\x00\x00", nal)


def escape(rbsp: bytes) -> bytes:
    """Emulation prevention bytes put back (after every 00 00 that precedes 00..03)."""
    return _NEEDS_ESCAPE.sub(b"\x00\x00\x03", rbsp)


def _bits(data: bytes) -> str:
    return "".join(f"{byte:08b}" for byte in data)


def _bytes(bits: str) -> bytes:
    return int(bits, 2).to_bytes(len(bits) // 8, "big") if bits else b""


def ue(value: int) -> str:
    code = f"{value + 1:b}"
    return "0" * (len(code) - 1) + code


def _read_ue(bits: str, pos: int) -> tuple[int, int]:
    """(value, position after it) of the ue(v) code at ``pos``."""
    zeros = 0
    while pos + zeros < len(bits) and bits[pos + zeros] == "0":
        zeros += 1
    if pos + 2 * zeros + 1 > len(bits) or zeros > 31:
        raise ValueError("Exp-Golomb code runs past the data")
    return int(bits[pos + zeros : pos + 2 * zeros + 1], 2) - 1, pos + 2 * zeros + 1


# The fields read and renumbered, as bit positions in the RBSP after the 2-byte NAL header:
# VPS: vps_video_parameter_set_id u(4) first. SPS: sps_video_parameter_set_id u(4),
# max_sub_layers_minus1 u(3), temporal_id_nesting u(1), profile_tier_level (96 bits with one
# sub-layer; sub-layer flags and data otherwise), then sps_seq_parameter_set_id ue(v).
# PPS: pps_pic_parameter_set_id ue(v), pps_seq_parameter_set_id ue(v).


def vps_id(nal: bytes) -> int:
    return nal[2] >> 4


def _sps_id_at(bits: str) -> int:
    """Where sps_seq_parameter_set_id starts in an SPS's RBSP bits (after the NAL header)."""
    sub_layers = int(bits[4:7], 2)
    pos = 8 + 88 + 8  # general profile (88 bits) and level
    if sub_layers:
        flags = bits[pos : pos + 2 * sub_layers]
        pos += 16  # sub_layer_profile/level_present flags, padded to 8 sub-layers
        for layer in range(sub_layers):
            pos += 88 if flags[2 * layer] == "1" else 0
            pos += 8 if flags[2 * layer + 1] == "1" else 0
    return pos


def sps_id(nal: bytes) -> int:
    bits = _bits(unescape(nal)[2:34])
    return _read_ue(bits, _sps_id_at(bits))[0]


def pps_ids(nal: bytes) -> tuple[int, int]:
    """(pps_pic_parameter_set_id, pps_seq_parameter_set_id)."""
    bits = _bits(unescape(nal)[2:12])
    pps, pos = _read_ue(bits, 0)
    return pps, _read_ue(bits, pos)[0]


def _with_trailing(bits: str) -> bytes:
    """RBSP bits (stop bit and padding stripped) with fresh rbsp_trailing_bits."""
    bits += "1"
    return _bytes(bits + "0" * (-len(bits) % 8))


def _payload_bits(nal: bytes) -> str:
    """A parameter set's RBSP bits without the NAL header and rbsp_trailing_bits."""
    return _bits(unescape(nal)[2:]).rstrip("0")[:-1]


@dataclass(frozen=True)
class Renumber:
    """New ids for x265's parameter sets (its own are all 0)."""

    vps: int
    sps: int
    pps: int

    @classmethod
    def avoiding(cls, config: HevcConfig) -> Renumber:
        vps, sps, pps = config.ids
        return cls(
            min(set(range(16)) - vps),
            min(set(range(16)) - sps),
            min(set(PPS_IDS) - pps),
        )

    def parameter_set(self, nal: bytes) -> bytes:
        """x265's VPS, SPS or PPS with the new ids (other NAL units unchanged)."""
        kind = nal_type(nal)
        if kind not in (VPS, SPS, PPS):
            return nal
        bits = _payload_bits(nal)
        if kind == VPS:
            bits = f"{self.vps:04b}" + bits[4:]
        elif kind == SPS:
            at = _sps_id_at(bits)
            _old, after = _read_ue(bits, at)
            bits = f"{self.vps:04b}" + bits[4:at] + ue(self.sps) + bits[after:]
        else:
            _pps, pos = _read_ue(bits, 0)
            _sps, after = _read_ue(bits, pos)
            bits = ue(self.pps) + ue(self.sps) + bits[after:]
        return nal[:2] + escape(_with_trailing(bits))

    def slice(self, nal: bytes) -> bytes:
        """A slice of x265's with the new PPS id: one byte longer, slice data untouched."""
        kind = nal_type(nal)
        if kind >= 32:
            return nal  # not a slice (SEI, AUD...)
        rbsp = unescape(nal)
        head = _bits(rbsp[2:4])
        at = 2 if 16 <= kind <= 23 else 1  # first_slice_segment_in_pic, no_output_of_prior_pics
        if head[at] != "1":
            raise ValueError("x265 slice does not refer to PPS 0")
        new = head[:at] + ue(self.pps) + head[at + 1 :]
        return escape(rbsp[:2] + _bytes(new) + rbsp[4:])


def split_parameter_sets(nals: list[bytes]) -> dict[int, list[bytes]]:
    """x265's header NAL units by type (VPS, SPS, PPS); SEI and others left out."""
    found: dict[int, list[bytes]] = {VPS: [], SPS: [], PPS: []}
    for nal in nals:
        if nal_type(nal) in found:
            found[nal_type(nal)].append(nal)
    return found


def spliced_hvcc(config: HevcConfig, added: dict[int, list[bytes]], level: int) -> bytes:
    """The reel's ``hvcC``: the source's record with ``added`` parameter sets in its arrays.

    Every parameter set the track uses is listed (array_completeness 1, as ``hvc1`` requires).
    The level is the higher of the source's and ``level`` (x265's); min_spatial_segmentation
    and parallelismType are cleared, as x265 promises neither.
    """
    header = bytearray(config.header)
    header[12] = max(header[12], level)
    header[13:15] = b"\xf0\x00"
    header[15] = 0xFC
    arrays = []
    kinds = [kind for kind, _ in config.arrays]
    for kind, nals in config.arrays:
        arrays.append((kind, nals + tuple(added.get(kind, ()))))
    for kind in (VPS, SPS, PPS):
        if kind not in kinds:
            arrays.append((kind, tuple(added.get(kind, ()))))
    out = bytearray(header)
    out.append(len(arrays))
    for kind, nals in arrays:
        complete = 0x80 if kind in (VPS, SPS, PPS) else 0
        out.append(complete | kind)
        out += len(nals).to_bytes(2, "big")
        for nal in nals:
            out += len(nal).to_bytes(2, "big") + nal
    return bytes(out)


def sps_level(nal: bytes) -> int:
    """general_level_idc of an SPS."""
    return unescape(nal)[2 + 12]


def bla(nal: bytes) -> bytes:
    """A CRA slice marked BLA_N_LP (its leading pictures are not in the reel)."""
    if nal_type(nal) != CRA:
        return nal
    return bytes([(nal[0] & 0x81) | (BLA_N_LP << 1)]) + nal[1:]


def length_prefixed(nals: list[bytes], length_size: int) -> bytes:
    return b"".join(len(n).to_bytes(length_size, "big") + n for n in nals)


def annexb(nals: list[bytes]) -> bytes:
    return b"".join(START_CODE + n for n in nals)
