"""One reel from many clips: their order, each one's share of the length, and no repeats.

Clips are put in the order they were shot (their capture-time tags; clips without one follow,
in the order given). Each clip with something worth keeping gets a share of the reel: first a
floor (so every one of them is represented), then the rest in proportion to how much happens in
it. Selection then runs on each clip with its share, as for a single video. Last, when two clips
hold near-identical takes of one moment (a second try at the same shot), only the better take's
segment is kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

import numpy as np

from .models import HighlightOptions, MediaInfo, Segment
from .select import (
    SHORT,
    WHOLE,
    WORTH,
    frame_scores,
    nothing_stands_out,
    reel_length,
    select,
    short_of_footage,
    stood_out,
)
from .timeline import Timeline

FLOOR_SEGMENTS = 1.5
"""Each represented clip gets at least this many ``min_segment`` lengths of the reel."""
SAME_TAKE = 0.9
"""Correlation of two segments' mean tiny thumbnails from which they are the same moment taken
twice. Two takes of one synthetic scene (the subject a little further along its path) score
0.97-0.99; different scenes under 0.6."""
SHORTEST_SHARE = 1.0
"""Seconds: the least a clip is asked for (selection's own floor)."""


@dataclass
class Clip:
    """One input of a many-clip reel, analysed."""

    given: int
    """Its place in the order the clips were given (0-based)."""
    media: MediaInfo
    timeline: Timeline
    shot_at: datetime | None = None


@dataclass
class Choice:
    """What a many-clip reel is made of: clips in reel order with their segments."""

    clips: list[Clip]
    segments: list[list[Segment]]
    notes: list[str]
    footage: list[Clip] = field(default_factory=list)
    """The clips with something worth keeping, those a short reel has no room for too: the
    footage whose shape and rate the reel takes (``render.many.reel_shape``), so a shorter
    re-cut of the same clips keeps the first reel's shape."""
    lively: bool = True
    """Something in the clips stood out (else the reel is their best-lit, steadiest parts)."""


def short_note(choice: Choice, options: HighlightOptions) -> str | None:
    """The sentence for a reel of ``choice`` clearly shorter than asked (once its cuts have
    moved onto a song's beats, if they do). Clips meet on a hard cut, a clip's own segments on a
    crossfade: counting one at every join, a 7.0 s reel said "your reel is 6 s"."""
    got = sum(
        reel_length([(g.source_start, g.source_end) for g in segs], options.crossfade)
        for segs in choice.segments
    )
    if got >= options.duration * SHORT:
        return None
    # Clips shorter in all than the reel asked (two 3 s clips for 15 s): their length is a
    # reason too, as for one short video (``select.shortfall``).
    length = sum(c.timeline.duration for c in choice.footage or choice.clips)
    if length < options.duration * SHORT:
        whole = not choice.lively or got >= WHOLE * length
        said = "These clips are {} s long in all"
        return short_of_footage(got, length, options.duration, whole, said, "of them")
    if choice.lively:
        # A reviewer's four clips gave 12.1 s of 15 and nothing said why.
        return stood_out(got, options.duration, "these clips")
    return None


def reel_order(clips: list[Clip]) -> list[Clip]:
    """Clips in the order they were shot; those that do not say when follow, as given."""
    return sorted(
        clips,
        key=lambda c: (c.shot_at is None, c.shot_at.timestamp() if c.shot_at else 0.0, c.given),
    )


def choose(clips: list[Clip], options: HighlightOptions) -> Choice:
    """Segments from every clip worth a place, together about ``options.duration`` long."""
    ordered = reel_order(clips)
    notes: list[str] = []
    worth = [c for c in ordered if not _dull(c, options)]
    for clip in ordered:
        if clip not in worth and worth:
            notes.append(
                f"{clip.media.path.name}: nothing worth keeping was found in it (nothing "
                "moves or is heard that stands out), so it is left out of the reel."
            )
    lively = bool(worth)
    if not worth:  # all dull: the best-lit, steadiest parts of each, as for one dull video
        worth = ordered
    footage = worth
    room = max(1, int(options.duration // (FLOOR_SEGMENTS * options.min_segment)))
    if len(worth) > room:  # a short reel of many clips: the liveliest clips' moments only
        liveliest = sorted(worth, key=lambda c: -_weight(c))[:room]
        for clip in worth:
            if clip not in liveliest:
                notes.append(
                    f"{clip.media.path.name}: left out: a {options.duration:.0f} s reel has "
                    f"room for the best moments of {room} of these clips."
                )
        worth = [c for c in worth if c in liveliest]
    shares = share(
        [_weight(c) for c in worth],
        [c.timeline.duration for c in worth],
        options.duration,
        min(FLOOR_SEGMENTS * options.min_segment, options.duration / len(worth)),
    )
    picked = [
        select(c.media, c.timeline, replace(options, duration=max(SHORTEST_SHARE, s)))
        for c, s in zip(worth, shares, strict=True)
    ]
    picked, repeat_notes = _drop_repeats(worth, picked)
    notes.extend(repeat_notes)
    kept = [(c, segs) for c, segs in zip(worth, picked, strict=True) if segs]
    return Choice([c for c, _ in kept], [s for _, s in kept], notes, footage, lively)


def share(weights: list[float], caps: list[float], budget: float, floor: float) -> list[float]:
    """Seconds of ``budget`` for each clip: ``floor`` each (never more than its ``caps``, its
    length), the rest in proportion to ``weights``, a clip's surplus over its cap going to the
    others (water-filling)."""
    n = len(weights)
    given = [min(floor, cap) for cap in caps]
    left = budget - sum(given)
    open_ = [i for i in range(n) if given[i] < caps[i]]
    while left > 1e-6 and open_:
        total = sum(max(weights[i], 1e-6) for i in open_)
        spill = 0.0
        for i in open_:
            add = left * max(weights[i], 1e-6) / total
            room = caps[i] - given[i]
            given[i] += min(add, room)
            spill += max(0.0, add - room)
        left = spill
        open_ = [i for i in open_ if given[i] < caps[i] - 1e-6]
    return given


def _dull(clip: Clip, options: HighlightOptions) -> bool:
    score = frame_scores(clip.timeline)
    return nothing_stands_out(score, clip.timeline.step, options)


def _weight(clip: Clip) -> float:
    """How much happens in a clip: seconds of score above what is worth keeping."""
    score = frame_scores(clip.timeline)
    return float(np.clip(score - WORTH, 0.0, None).sum() * clip.timeline.step)


def _look(timeline: Timeline, segment: Segment) -> np.ndarray | None:
    """A segment's mean tiny thumbnail, normalised for brightness and contrast."""
    if timeline.thumbs is None or not len(timeline.thumbs):
        return None
    i = max(0, round(segment.source_start / timeline.step))
    j = min(len(timeline.thumbs), max(i + 1, round(segment.source_end / timeline.step)))
    mean = timeline.thumbs[i:j].astype(np.float32).mean(axis=0).ravel()
    spread = float(mean.std())
    if spread < 1.0:  # a flat picture: black, a wall; alike by nature, not the same take
        return None
    return (mean - mean.mean()) / spread


def _drop_repeats(
    clips: list[Clip], picked: list[list[Segment]]
) -> tuple[list[list[Segment]], list[str]]:
    """Of near-identical segments in different clips, the better-scoring one only."""
    looks = [[_look(c.timeline, s) for s in segs] for c, segs in zip(clips, picked, strict=True)]
    dropped: set[tuple[int, int]] = set()
    notes: list[str] = []
    ranked = sorted(
        ((a, i) for a, segs in enumerate(picked) for i in range(len(segs))),
        key=lambda ai: -picked[ai[0]][ai[1]].score,
    )
    for rank, (a, i) in enumerate(ranked):
        if (a, i) in dropped or looks[a][i] is None:
            continue
        for b, j in ranked[rank + 1 :]:
            if b == a or (b, j) in dropped or looks[b][j] is None:
                continue
            if float(looks[a][i] @ looks[b][j]) / len(looks[a][i]) >= SAME_TAKE:
                dropped.add((b, j))
                notes.append(
                    f"{clips[b].media.path.name} and {clips[a].media.path.name} hold the same "
                    f"moment; the reel shows it once, from {clips[a].media.path.name}."
                )
    kept = [
        [s for i, s in enumerate(segs) if (a, i) not in dropped] for a, segs in enumerate(picked)
    ]
    return kept, list(dict.fromkeys(notes))
