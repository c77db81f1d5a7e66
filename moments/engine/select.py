"""Choosing segments under the time budget, with variety, snapped to good cut points."""

from __future__ import annotations

from .models import HighlightOptions, MediaInfo, Segment
from .timeline import Timeline


def select(media: MediaInfo, timeline: Timeline, options: HighlightOptions) -> list[Segment]:
    raise NotImplementedError
