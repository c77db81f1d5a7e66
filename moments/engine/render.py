"""Rendering the chosen segments into an H.264/AAC MP4 reel and a JPEG poster."""

from __future__ import annotations

from pathlib import Path

from .models import HighlightOptions, MediaInfo, RenderInfo, Segment
from .progress import Reporter


def render(
    media: MediaInfo,
    segments: list[Segment],
    output: Path,
    options: HighlightOptions,
    reporter: Reporter,
    poster_time: float | None = None,
) -> RenderInfo:
    raise NotImplementedError
