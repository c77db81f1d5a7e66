"""``moments highlight --keep-location``: the reel keeps where it was shot only when asked."""

from __future__ import annotations

from pathlib import Path

import av

from tests.engine.test_reel_tags import COORDINATES, IPHONE_TAGS, tagged_source

from .test_highlight_command import run_cli


def test_keep_location_flag(tmp_path: Path) -> None:
    source = tagged_source(tmp_path / "iphone.mov", IPHONE_TAGS, copyable=True)
    for flags, kept in (((), False), (("--keep-location",), True)):
        reel = tmp_path / f"reel{len(flags)}.mp4"
        done = run_cli("highlight", str(source), "-o", str(reel), "--duration", "2", *flags)
        assert done.returncode == 0, done.stderr
        with av.open(str(reel)) as container:
            meta = dict(container.metadata)
        assert meta.get("creation_time", "").startswith("2026-07-04T18:30:00")
        assert ("com.apple.quicktime.location.ISO6709" in meta) is kept, meta
        assert (COORDINATES in reel.read_bytes()) is kept
        assert "com.apple.quicktime.model" not in meta
