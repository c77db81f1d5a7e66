"""The engine's one entry point: probe -> analyse -> select -> render."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

from .analyse import analyse
from .beats import footage_bounds, music_options, snap_to_beats
from .capture import capture_time
from .errors import EngineError
from .many import Choice, Clip, choose, short_note
from .memory import release_free_memory
from .models import HighlightOptions, HighlightResult, MediaInfo, RenderInfo, Segment
from .music import Music, load_music
from .probe import probe
from .progress import CancelToken, ProgressFn, Reporter
from .render import render
from .render.layout import MAX_UPSCALE, Layout, output_rate
from .render.many import enlargement, reel_shape, render_many
from .render.music import music_for_many, music_soundtrack, picture_fade
from .render.tags import source_metadata
from .select import (
    candidates,
    fit_to_length,
    no_pick_reason,
    poster_moment,
    poster_time,
    select,
    shortfall,
)
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
    options = fit_to_length(options or HighlightOptions())
    source, output = Path(source), Path(output)
    reporter = Reporter(progress, cancel)
    timings = reporter.timings

    reporter.start("probe")
    media = probe(source, options.limits)
    reporter.done()

    reporter.start("analyse")
    music: Music | None = None
    music_notes: list[str] = []
    if options.music is not None:
        music = load_music(options.music, options.limits)
        options, music_notes = music_options(options, music.downbeats, music.duration)
        if options.music_mode == "mix" and not media.has_audio:
            music_notes.append("The video has no sound of its own: the reel's sound is the music.")
        music_notes.extend(_beat_note(music))
    timeline = analyse(
        media, options, reporter, candidates=lambda rough: candidates(media, rough, options)
    )
    reporter.done()

    reporter.start("select")
    segments = select(media, timeline, options)
    if segments and music is not None and music.steady:
        bounds = footage_bounds(segments, timeline.duration, timeline.shots)
        segments = snap_to_beats(
            segments, bounds, music.beats, music.downbeats, output_rate(media), options
        )
    if not segments:
        raise EngineError(no_pick_reason(timeline, options), file=source.name)
    notes = [
        *media.notes,
        *music_notes,
        *(note for note in [shortfall(segments, timeline, options)] if note),
    ]
    reporter.done()

    reporter.start("render")
    release_free_memory()  # what analysis freed, before the render needs its own (.memory)
    poster = poster_time(segments, timeline) if options.poster else None
    soundtrack = None
    if music is not None:
        soundtrack = music_soundtrack(music, options.music_mode, _speech(timeline), timeline.step)
    info = render(
        media,
        segments,
        output,
        options,
        reporter,
        poster_time=poster,
        soundtrack=soundtrack,
        outro=picture_fade(music) if music is not None else 0.0,
    )
    reporter.done()

    return _result(
        info,
        timings,
        media=media,
        options=options,
        segments=segments,
        notes=[*notes, *info.notes],
        timeline=timeline,
    )


def _beat_note(music: Music) -> list[str]:
    if music.steady:
        return []
    return [
        f"No steady beat was found in {music.path.name}, so the cuts are not on its beat "
        "(it plays under the reel all the same)."
    ]


def _speech(timeline: Timeline):
    """Per grid point: someone talks (the voice model's mask, else the speech signal)."""
    if timeline.speech is not None:
        return timeline.speech
    speech = timeline.signals.get("speech")
    return None if speech is None else speech >= 0.5


def highlight_many(
    sources: Sequence[Path | str],
    output: Path | str,
    options: HighlightOptions | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> HighlightResult:
    """One reel at ``output`` from the clips at ``sources`` (see :mod:`.many`).

    Each clip is probed and analysed (:func:`analyse_clip`), then :func:`reel_from_clips`
    makes the reel: clips in the order they were shot (then the order given), the length
    shared so every clip with something worth keeping is in it, near-identical takes shown
    once, a clip with nothing worth keeping left out (the result's notes say so). Segments
    name their clip (``Segment.clip``: an index into ``HighlightResult.clips``). One clip is
    made into a reel as by :func:`highlight`.
    """
    options = fit_to_length(options or HighlightOptions())
    paths = [Path(s) for s in sources]
    if not paths:
        raise EngineError("no clips were given")
    if len(paths) > options.limits.max_clips:
        raise EngineError(
            f"{len(paths)} clips were given; a reel is made of at most {options.limits.max_clips}"
        )
    if len(paths) == 1:
        return highlight(paths[0], output, options, progress, cancel)
    reporter = Reporter(progress, cancel)
    timings = reporter.timings
    reporter.start("probe")
    medias = []
    for index, path in enumerate(paths):
        medias.append(probe(path, options.limits))
        reporter.update((index + 1) / len(paths))
    footage = sum(m.duration for m in medias)
    if footage > options.limits.max_total_duration:
        raise EngineError(
            f"the clips last {footage / 60:.0f} minutes together; a reel is made of at most "
            f"{options.limits.max_total_duration / 60:.0f} minutes of footage"
        )
    reporter.done()
    reporter.start("analyse")
    clips = []
    for index, media in enumerate(medias):

        def forward(_stage: str, fraction: float, index: int = index) -> None:
            reporter.update((index + fraction) / len(medias))

        clips.append(_analysed(media, index, options, Reporter(forward, cancel)))
    reporter.done()
    result = reel_from_clips(clips, output, options, progress, cancel)
    timings.update(result.timings)
    timings["total"] = sum(v for k, v in timings.items() if k != "total")
    return replace(result, timings=timings)


def analyse_clip(
    source: Path | str,
    options: HighlightOptions | None = None,
    given: int = 0,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> Clip:
    """Probe and analyse one clip of a many-clip reel: what :func:`reel_from_clips` needs of
    it (picklable, so it can be made by one worker and kept). ``given`` is its place in the
    order the clips were given."""
    options = fit_to_length(options or HighlightOptions())
    reporter = Reporter(progress, cancel)
    reporter.start("probe")
    media = probe(source, options.limits)
    reporter.start("analyse")
    return _analysed(media, given, options, reporter)


def _analysed(media: MediaInfo, given: int, options: HighlightOptions, reporter: Reporter) -> Clip:
    # Measured finely where a reel of this clip alone would look (see ``candidates``).
    wide = replace(options, duration=min(options.duration, max(1.0, media.duration)))
    timeline = analyse(
        media, wide, reporter, candidates=lambda rough: candidates(media, rough, wide)
    )
    return Clip(given, media, timeline, capture_time(source_metadata(media)))


def reel_from_clips(
    clips: list[Clip],
    output: Path | str,
    options: HighlightOptions | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> HighlightResult:
    """Select from and render analysed ``clips`` (:func:`analyse_clip`) into one reel at
    ``output``: the second half of :func:`highlight_many`, and all a re-cut (another length,
    shape or song) of the same clips needs."""
    options = fit_to_length(options or HighlightOptions())
    output = Path(output)
    if not clips:
        raise EngineError("no clips were given")
    reporter = Reporter(progress, cancel)
    timings = reporter.timings

    reporter.start("select")
    music: Music | None = None
    music_notes: list[str] = []
    if options.music is not None:
        music = load_music(options.music, options.limits)
        options, music_notes = music_options(options, music.downbeats, music.duration)
        music_notes.extend(_beat_note(music))
    choice = choose(clips, options)
    if not choice.clips:
        raise EngineError("found nothing worth keeping in any of these clips")
    if len(clips) == 1:  # one video (a re-cut): told of a short reel as highlight() tells it
        short = shortfall(choice.segments[0], choice.clips[0].timeline, options)
        choice = replace(choice, notes=[*choice.notes, *([short] if short else [])])
    if music is not None and music.steady:
        # Each segment carries its clip through the snapping, which keeps their order.
        flat = [replace(s, clip=k) for k, segs in enumerate(choice.segments) for s in segs]
        bounds = [
            b
            for clip, segs in zip(choice.clips, choice.segments, strict=True)
            for b in footage_bounds(segs, clip.timeline.duration, clip.timeline.shots)
        ]
        _, rate = _reel_shape(choice, options)
        snapped = snap_to_beats(flat, bounds, music.beats, music.downbeats, rate, options)
        grouped: list[list[Segment]] = [[] for _ in choice.clips]
        for segment in snapped:
            grouped[segment.clip or 0].append(segment)
        kept = [(c, g) for c, g in zip(choice.clips, grouped, strict=True) if g]
        choice = replace(choice, clips=[c for c, _ in kept], segments=[g for _, g in kept])
    if len(clips) > 1 and (short := short_note(choice, options)):
        choice = replace(choice, notes=[*choice.notes, short])
    reporter.done()

    reporter.start("render")
    release_free_memory()  # what analysis freed, before the render needs its own (.memory)
    # The best-looking frame of the best moments of every clip, not only of the clip whose
    # moment scored best (a talk over a flat card); a clip the reel blows up beyond the limit
    # (a 320x240 clip in a 720p reel) is as much less sharp in it.
    frame, _ = _reel_shape(choice, options)
    best, when = poster_moment(
        [(segs, c.timeline) for c, segs in zip(choice.clips, choice.segments, strict=True)],
        [min(1.0, MAX_UPSCALE / enlargement(c.media, frame)) for c in choice.clips],
    )
    segments: list[Segment] = []
    outro = picture_fade(music) if music is not None else 0.0  # the picture fades with the song
    if len(choice.clips) == 1:  # one clip: the single-video render (smart copy and all)
        clip, chosen = choice.clips[0], choice.segments[0]
        soundtrack = None
        if music is not None:
            speech = _speech(clip.timeline)
            soundtrack = music_soundtrack(music, options.music_mode, speech, clip.timeline.step)
        info = render(
            clip.media,
            chosen,
            output,
            options,
            reporter,
            poster_time=when if options.poster else None,
            soundtrack=soundtrack,
            outro=outro,
        )
        segments = [replace(segment, clip=0) for segment in chosen]
    else:
        many_sound = None
        if music is not None:
            speeches = [(_speech(c.timeline), c.timeline.step) for c in choice.clips]
            many_sound = music_for_many(music, options.music_mode, speeches)
        info, parts = render_many(
            [(c.media, segs) for c, segs in zip(choice.clips, choice.segments, strict=True)],
            output,
            options,
            reporter,
            poster=(best, when) if options.poster else None,
            soundtrack=many_sound,
            outro=outro,
            footage=[c.media for c in choice.footage] or None,
        )
        frames = 0
        for k, part in enumerate(parts):
            for index, segment in enumerate(part.segments):
                start = (frames + part.plan.starts[index]) / part.plan.rate
                segments.append(replace(segment, output_start=round(float(start), 3), clip=k))
            frames += part.plan.total
    reporter.done()

    return _result(
        info,
        timings,
        media=choice.clips[0].media,
        options=options,
        segments=segments,
        notes=[
            *(note for c in choice.clips for note in c.media.notes),
            *music_notes,
            *choice.notes,
            *info.notes,
        ],
        clips=[c.media for c in choice.clips],
    )


def _reel_shape(choice: Choice, options: HighlightOptions) -> tuple[Layout, Fraction]:
    """The frame and rate of the reel of ``choice`` (:func:`.render.many.reel_shape`)."""
    shown = [
        (c.media, sum(s.duration for s in segs))
        for c, segs in zip(choice.clips, choice.segments, strict=True)
    ]
    return reel_shape([c.media for c in choice.footage or choice.clips], options, shown)


def _result(
    info: RenderInfo,
    timings: dict[str, float],
    *,
    media: MediaInfo,
    options: HighlightOptions,
    segments: list[Segment],
    notes: list[str],
    timeline: Timeline | None = None,
    clips: list[MediaInfo] | None = None,
) -> HighlightResult:
    """The result of a run whose reel ``render`` describes in ``info`` (its file, size and
    video facts), with the stages' ``timings`` and their total."""
    timings["total"] = sum(v for stage, v in timings.items() if stage != "total")
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
        notes=notes,
        timeline=timeline,
        bitrate=info.bitrate,
        codec=info.codec,
        profile=info.profile,
        clips=clips or [],
    )
