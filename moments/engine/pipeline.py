"""The engine's one entry point: probe -> analyse -> select -> render."""

from __future__ import annotations

import time
from pathlib import Path

from .analyse import analyse
from .errors import EngineError
from .models import HighlightOptions, HighlightResult
from .probe import probe
from .progress import CancelToken, ProgressFn, Reporter
from .render import render
from .select import candidates, poster_time, select, shortfall


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
        raise EngineError("found nothing worth keeping in this video", file=source.name)
    notes = [*media.notes, *(note for note in [shortfall(segments, timeline, options)] if note)]
    done("select")

    timed("render")
    poster = poster_time(segments, timeline) if options.poster else None
    info = render(media, segments, output, options, reporter, poster_time=poster)
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
        notes=[*notes, *info.notes],
        timeline=timeline,
        bitrate=info.bitrate,
        codec=info.codec,
        profile=info.profile,
    )
