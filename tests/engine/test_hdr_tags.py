"""A reel made from HDR footage says what it is: SDR, BT.709 primaries, transfer and matrix."""

from __future__ import annotations

import av

from .test_hdr import hlg_reel  # noqa: F401  (the fixture: a reel rendered from an HLG clip)


def test_hdr_reel_is_tagged_bt709(hlg_reel) -> None:  # noqa: F811
    reel, _ = hlg_reel
    with av.open(str(reel)) as container:
        context = container.streams.video[0].codec_context
        tags = (context.color_primaries, context.color_trc, context.colorspace)
        assert tags == (1, 1, 1), tags  # BT.709 (the source said BT.2020 / HLG)
        assert context.color_range == 1  # limited, as the pictures are made
