"""One decode pass that measures shots, motion, audio and quality into a :class:`Timeline`."""

from __future__ import annotations

from ..models import HighlightOptions, MediaInfo
from ..progress import Reporter
from ..timeline import Timeline


def analyse(media: MediaInfo, options: HighlightOptions, reporter: Reporter) -> Timeline:
    raise NotImplementedError
