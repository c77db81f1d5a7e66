"""The engine's one entry point: probe -> analyse -> select -> render."""

from __future__ import annotations

import time
from pathlib import Path

from .analyse import analyse
from .beats import music_options, snap_to_beats
from .errors import EngineError
from .models import HighlightOptions, HighlightResult
from .music import Music, load_music
from .probe import probe
from .progress import CancelToken, ProgressFn, Reporter
from .render import render
from .render.layout import output_rate
from .render.music import music_soundtrack
from .select import candidates, poster_time, select, shortfall
from .timeline import Timeline


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
    music: Music | None = None
    music_notes: list[str] = []
    if options.music is not None:
        music = load_music(options.music, options.limits)
        options, music_notes = music_options(options, music.downbeats, music.duration)
        if options.music_mode == "mix" and not media.has_audio:
            music_notes.append("The video has no sound of its own: the reel's sound is the music.")
    timeline = analyse(
        media, options, reporter, candidates=lambda rough: candidates(media, rough, options)
    )
    done("analyse")

    timed("select")
    segments = select(media, timeline, options)
    if segments and music is not None:
        segments = snap_to_beats(
            segments,
            music.beats,
            music.downbeats,
            output_rate(media),
            options,
            timeline.duration,
            timeline.shots,
        )
    if not segments:
        raise EngineError("found nothing worth keeping in this video", file=source.name)
    notes = [
        *media.notes,
        *music_notes,
        *(note for note in [shortfall(segments, timeline, options)] if note),
    ]
    done("select")

    timed("render")
    poster = poster_time(segments, timeline) if options.poster else None
    soundtrack = None
    if music is not None:
        soundtrack = music_soundtrack(music, options.music_mode, _speech(timeline), timeline.step)
    info = render(
        media, segments, output, options, reporter, poster_time=poster, soundtrack=soundtrack
    )
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


def _speech(timeline: Timeline):
    """Per grid point: someone talks (the voice model's mask, else the speech signal)."""
    if timeline.speech is not None:
        return timeline.speech
    speech = timeline.signals.get("speech")
    return None if speech is None else speech >= 0.5
