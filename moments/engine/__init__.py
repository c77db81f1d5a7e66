"""The highlight engine: a pure library (no web, database or queue) from video to reel.

Data flows one way: :func:`probe` -> analyse -> select -> render, all driven by
:func:`highlight` (one video) or :func:`highlight_many` (a reel of many clips).
"""

from .errors import Cancelled, EngineError
from .models import HighlightOptions, HighlightResult, Limits, MediaInfo, Segment
from .pipeline import analyse_clip, highlight, highlight_many, reel_from_clips
from .probe import probe
from .progress import STAGES, CancelToken, ProgressFn

ENGINE_VERSION = "2026.12.10-1"
"""Names what an analysis (a clip's timeline) was measured by: a stored analysis is used again
only by the same version. Change it whenever analysis or the Timeline changes what it holds."""

__all__ = [
    "ENGINE_VERSION",
    "STAGES",
    "CancelToken",
    "Cancelled",
    "EngineError",
    "HighlightOptions",
    "HighlightResult",
    "Limits",
    "MediaInfo",
    "ProgressFn",
    "Segment",
    "analyse_clip",
    "highlight",
    "highlight_many",
    "probe",
    "reel_from_clips",
]
