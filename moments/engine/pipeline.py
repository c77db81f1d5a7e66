"""The engine's one entry point: probe -> analyse -> select -> render."""

from __future__ import annotations

import time
from pathlib import Path

from .analyse import analyse
from .errors import EngineError
from .models import HighlightOptions, HighlightResult, Segment
from .probe import probe
from .progress import CancelToken, ProgressFn, Reporter
from .render import render
from .select import candidates, select


def highlight(
    source: Path | str,
    output: Path | str,
    options: HighlightOptions | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> HighlightResult:
    """Turn the video at ``source`` into a reel at ``output`` (an MP4 path).

    ``progress`` receives (stage, fraction) as work goes on; setting ``cancel`` stops the
    work within a second by raising :class:`~moments.engine.errors.Cancelled`. Bad input
    raises :class:`~moments.engine.errors.EngineError` with a message for a person.
    """
    options = options or HighlightOptions()
    source, output = Path(source), Path(output)
    reporter = Reporter(progress, cancel)
    timings: dict[str, float] = {}

    def timed(stage: str):
        reporter.start(stage)
        timings[stage] = -time.perf_counter()

    def done(stage: str) -> None:
        timings[stage] += time.perf_counter()
        reporter.update(1.0)

    timed("probe")
    media = probe(source, options.limits)
    done("probe")

    timed("analyse")
    timeline = analyse(
        media, options, reporter, candidates=lambda rough: candidates(media, rough, options)
    )
    done("analyse")

    timed("select")
    segments = select(media, timeline, options)
    if not segments:
        raise EngineError(f"{source.name}: found nothing worth keeping in this video")
    done("select")

    timed("render")
    poster_time = _poster_time(segments, timeline.keyframes)
    info = render(media, segments, output, options, reporter, poster_time=poster_time)
    done("render")

    timings["total"] = sum(timings.values())
    return HighlightResult(
        output=info.output,
        poster=info.poster,
        duration=info.duration,
        width=info.width,
        height=info.height,
        media=media,
        options=options,
        segments=segments,
        timings=timings,
        timeline=timeline,
    )


POSTER_AFTER_KEYFRAME = 0.001
"""Seconds past a keyframe at which the poster is taken: that keyframe is on screen, and the
seek before the poster lands on it rather than on the keyframe before."""


def _poster_time(segments: list[Segment], keyframes: list[float]) -> float:
    """The middle of the best segment, or the keyframe inside it nearest its middle: the
    poster then decodes one picture instead of up to a GOP of them (and a keyframe is the
    sharpest picture of its GOP)."""
    best = max(segments, key=lambda s: s.score)
    middle = (best.source_start + best.source_end) / 2
    inside = [k for k in keyframes if best.source_start <= k < best.source_end]
    if not inside:
        return middle
    return min(inside, key=lambda k: abs(k - middle)) + POSTER_AFTER_KEYFRAME
