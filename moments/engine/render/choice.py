"""What the reel is made as, from what was asked and what the source is: codec and HDR.

An HDR source (HLG or PQ) gives an HDR reel unless SDR is asked for: 10-bit HEVC (Main 10) with
the source's colour primaries, transfer and matrix. H.264 asked for gives SDR instead, with a
note: phones and browsers play HDR only as HEVC (or AV1), and a 10-bit H.264 stream (High 10)
plays almost nowhere.
"""

from __future__ import annotations

from ..models import HighlightOptions, MediaInfo

HDR_FORMAT = "yuv420p10le"
SDR_FORMAT = "yuv420p"


def keeps_hdr(media: MediaInfo, options: HighlightOptions) -> bool:
    """The reel is HDR: the source is, and neither SDR nor H.264 was asked for."""
    return bool(media.hdr) and options.hdr == "keep" and options.codec != "h264"


def picture_format(media: MediaInfo, options: HighlightOptions) -> str:
    """The reel pictures' pixel format: 10-bit for an HDR reel, else 8-bit."""
    return HDR_FORMAT if keeps_hdr(media, options) else SDR_FORMAT


def full_codec(media: MediaInfo, options: HighlightOptions) -> str:
    """The reel's codec when nothing is copied: the one asked for; with ``auto``, HEVC for an
    HDR reel, else H.264 (``auto`` keeps HEVC only for what it copies: x265 costs several
    times x264's time per picture)."""
    if options.codec != "auto":
        return options.codec
    return "hevc" if keeps_hdr(media, options) else "h264"


def hdr_note(media: MediaInfo, options: HighlightOptions) -> str | None:
    """A sentence for the result when an HDR source gives an SDR reel it was not asked for."""
    if media.hdr and options.hdr == "keep" and not keeps_hdr(media, options):
        return (
            f"The reel is SDR (the {media.hdr.upper()} HDR source was tone-mapped) because "
            "H.264 was asked for: HDR video plays only as HEVC."
        )
    return None
