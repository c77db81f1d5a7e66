"""Choosing segments under the time budget, with variety, snapped to good cut points.

Every grid point gets a score from the timeline's signals; candidate windows run between
allowed cut points (shot boundaries, pauses in the audio, and anywhere nobody is talking);
a greedy pass takes the best window that still fits, discounted when it looks like a window
already taken or sits right next to one, until the reel reaches the target length. Last,
cuts move (a little) onto keyframes where that lets a smart render copy more (``align``).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from .align import snap_to_keyframes
from .analyse.audio import moving_mean, runs
from .analyse.video import BLACK
from .models import HighlightOptions, MediaInfo, Segment
from .timeline import Timeline

GOOD_QUALITY = 0.35
"""Windows whose mean quality is below this (dark, blurred, pocket) are not worth keeping."""
OVER = 1.05
"""The reel may be at most 5% longer than asked."""
FREE_CUT_EVERY = 0.5
SHORTLIST = 200
SEPARATION = 0.3
"""Seconds kept between two chosen windows across a cut."""
JUMP = 3.0
"""Seconds kept between two chosen windows of the same shot: closer, the join is a jump cut
(the same scene skips ahead a moment)."""
FAST = 0.6
"""Motion score from which movement reads as "fast motion" (a slow drift scores ~0.4)."""
NEARBY = 2.0
"""Seconds either side of a segment that its reason may compare it with."""
WIDER = 2.0
"""The budget for finding candidates on a coarse timeline, as a multiple of the reel's: what
the coarse measurements rank a little low can still be chosen once measured finely."""
CANDIDATE_MARGIN = 2.0
"""Seconds measured finely either side of a candidate: cuts move to better points nearby
(keyframes up to ``align.TOLERANCE`` away, shot boundaries that the finer sampling finds)."""


PAN_EVERY = 0.25
PAN_EASE = 1.0
"""Seconds over which a crop's path is eased (on top of the subject position's own 1.1 s)."""
PAN_STILL = 0.03
"""A subject that moves less than this (share of the frame) is followed by a still crop."""
ON_CUT = 0.01
"""A cut point and the shot boundary it stands for differ by no more than this (points are
kept to 0.01 s): a window that starts this close to a cut starts on it. At 0.05, as it was, a
window from 11.00 s took in a frame of the shot before a cut at 11.04 s, and snapping onto a
keyframe then stretched it a whole second into that shot."""
WORTH = 0.06
"""Mean score from which a window is worth a place in a reel. A still, silent shot scores ~0.01
however well lit it is; the faint movement of leaves, or a timecode ticking on a plain card,
stays under 0.03; a person walking through a fixed camera's view scores 0.2, talk 0.5."""


STILL = 0.1
"""What a watchable moment is worth when nothing in the whole video stands out."""
FADE_STEP = 1.03
"""Each step (``Timeline.step``) of a fade is at least this much brighter than the next
darker one: a fade to black over 1.5 s at 0.1 s steps darkens by about 20% a step."""
NEXT_TO = 0.3
"""Share of its value a window loses right beside a chosen pick (less further off): variety."""
MUSIC_ONSETS = 0.85
"""Share of the sound's onsets that music takes away: they are its beats, not an event."""


def nothing_stands_out(score: np.ndarray, step: float, options: HighlightOptions) -> bool:
    """Whether no stretch of ``options.min_segment`` of ``score`` (per ``step`` seconds: see
    :func:`frame_scores`) is worth a place in a reel."""
    width = max(1, round(options.min_segment / step))
    return not len(score) or float(moving_mean(score, width).max()) < WORTH


def interest(timeline: Timeline) -> np.ndarray:
    """Per grid point, 0..~1: what happens, seen and heard, whatever the picture's quality.

    Nothing here for merely being watchable: a steady, well-lit shot where nothing moves and
    nobody speaks is not a highlight. What a flat picture (a title card, black) seems to do,
    a timecode ticking or a fade, is not movement.
    """
    s = timeline.signals
    zeros = np.zeros(len(timeline.times))
    motion, plain = s.get("motion", zeros), s.get("plain", zeros)
    steady = 1.0 - backed_shake(timeline)  # a shaking camera is not action
    # On a flat backdrop the picture's shift is the subject's, not the camera's.
    moves = (0.55 * motion + 0.15 * s.get("camera", zeros) * (1.0 - plain)) * steady
    on_card = card_discount(plain, motion)
    seen = moves * on_card + 0.3 * s.get("faces", zeros)
    music = s.get("music", zeros)
    lively = (
        # Beats and drums are onsets too, but a song is not a cheering crowd: at 0.4 of them
        # left, as it was, a trailer's title music over drifting clouds (onsets 0.24) scored
        # 0.07 and its titles opened the reel.
        0.35 * s.get("audio", zeros) * (1.0 - MUSIC_ONSETS * music)
        # Music alone makes no moment (a song over a still title is still a title); it adds a
        # little to what is seen with it.
        + 0.15 * music * seen
    )
    # Over a card only talk counts: a trailer's title sequence has a lively score too.
    heard = 0.5 * s.get("speech", zeros) + lively * on_card
    return seen + heard


def card_discount(plain, motion):
    """What movement on a flat picture is worth: the little change on a card (a timecode
    ticking: motion 0.01 on example.mp4) is nothing; a person moving in front of a plain
    backdrop (a green screen: 0.2-0.6) is all there."""
    return 1.0 - plain * np.clip(1.0 - np.asarray(motion) / 0.1, 0.0, 1.0)


def watchable(timeline: Timeline) -> np.ndarray:
    """Per grid point, 0..1: how well a moment can be watched (light, focus, a steady camera),
    whatever happens in it."""
    s = timeline.signals
    zeros = np.zeros(len(timeline.times))
    return s.get("quality", zeros + 1.0) ** 2 * (1.0 - 0.5 * backed_shake(timeline))


def backed_shake(timeline: Timeline) -> np.ndarray:
    """Per grid point: the camera's shake, where the picture has a backdrop to shake against.
    On a flat one (a green screen) the only texture is the subject: its jitter as it walks
    read shake 0.5 on a fixed camera (man-on-green-screen.mp4), halving his walk's score."""
    s = timeline.signals
    zeros = np.zeros(len(timeline.times))
    return s.get("shake", zeros) * (1.0 - s.get("plain", zeros))


def frame_scores(timeline: Timeline) -> np.ndarray:
    """Per grid point: how much of a highlight it is (0 for unwatchable or dull footage, and
    where a cut may be that was not seen: ``Timeline.unsure``)."""
    score = interest(timeline) * watchable(timeline)
    times = timeline.times
    for start, end in timeline.unsure:
        score[(times > start) & (times < end)] = 0.0
    score[fading(timeline)] = 0.0
    return score


def fading(timeline: Timeline) -> np.ndarray:
    """Per grid point: part of a fade to or from black (the picture darkening step by step
    into black frames, or brightening out of them). Lit enough to pass for footage, the first
    0.6 s of a fade-out ended a reel in the evaluation set."""
    n = len(timeline.times)
    out = np.zeros(n, bool)
    luma = timeline.luma
    if luma is None or not n:
        return out
    luma = luma[:n]
    for a, b in runs(luma < BLACK):
        i = a
        while i > 0 and luma[i - 1] > luma[i] * FADE_STEP and luma[i - 1] > BLACK:
            i -= 1
        j = b
        while j < len(luma) and luma[j] > luma[j - 1] * FADE_STEP and luma[j] > BLACK:
            j += 1
        out[i:a] = True
        out[b:j] = True
    return out


def cut_points(timeline: Timeline) -> np.ndarray:
    """Times where a cut is allowed: shot boundaries, pauses, and anywhere outside speech."""
    talking = _talking(timeline)
    free = np.arange(0.0, timeline.duration, FREE_CUT_EVERY)
    every = [*timeline.shots, *timeline.quiet, *free.tolist(), 0.0, timeline.duration]
    points = sorted({round(float(t), 2) for t in every if 0.0 <= t <= timeline.duration})
    points = [t for t in points if t in (0.0, round(timeline.duration, 2)) or not talking(t)]
    return np.asarray(points, dtype=float)


def _talking(timeline: Timeline) -> Callable[[float], bool]:
    """Whether someone is mid-word at a time (a pause between words is not mid-word)."""
    speech = timeline.speech if timeline.speech is not None else np.zeros(len(timeline.times), bool)
    quiet = np.asarray(timeline.quiet, dtype=float)

    def talking(t: float) -> bool:
        i = min(len(speech) - 1, max(0, round(t / timeline.step)))
        pause = len(quiet) > 0 and float(np.min(np.abs(quiet - t))) < 0.06
        return bool(speech[i]) and not pause

    return talking


@dataclass
class _Candidates:
    start: np.ndarray
    end: np.ndarray
    mean: np.ndarray
    quality: np.ndarray

    @property
    def length(self) -> np.ndarray:
        return self.end - self.start


def fit_to_length(options: HighlightOptions) -> HighlightOptions:
    """``options`` for a reel shorter than ``min_segment`` (1 s asked, 1.5 s the shortest
    pick): one pick as long as the reel, to the free cut points' grid (the windows between
    them are whole multiples of it: 1.0 s for 1-1.4 s). Without it no pick fitted, and a reel
    of 1-1.4 s of any video failed with "found nothing worth keeping". (Picks of 0.5 s made
    such reels of two flashes.)"""
    if options.duration >= options.min_segment:
        return options
    grid = FREE_CUT_EVERY * math.floor(options.duration / FREE_CUT_EVERY + 1e-9)
    return replace(options, min_segment=max(FREE_CUT_EVERY, grid))


def no_pick_reason(timeline: Timeline, options: HighlightOptions) -> str:
    """Why selection found no pick, for the error: where something stood out, it is that no
    window of it fits the reel between two cut points (a 1 s reel of a talking clip, whose
    sentences run longer, is never cut mid-word)."""
    if nothing_stands_out(frame_scores(timeline), timeline.step, options):
        return "found nothing worth keeping in this video"
    return (
        f"found no moment that fits a {options.duration:g} s reel without cutting into a word "
        "or a shot; ask for a longer reel"
    )


def select(media: MediaInfo, timeline: Timeline, options: HighlightOptions) -> list[Segment]:
    """Pick chronologically ordered segments whose joined length fits ``options.duration``."""
    score = frame_scores(timeline)
    worth = WORTH
    if nothing_stands_out(score, timeline.step, options):
        worth = 0.0
        # All of it is dull: no highlight for dull footage to pad, so the person gets the reel
        # they asked for from its best-lit, steadiest parts (and is told so: ``shortfall``).
        score = score + STILL * watchable(timeline)
    points = cut_points(timeline)
    fade = options.crossfade
    if timeline.duration <= options.duration * OVER:
        spans = _good_runs(timeline, points, score, options, worth)
    else:
        cands = _candidates(points, timeline, score, options)
        spans = _greedy(cands, timeline, score, options, worth=worth)
        if worth > 0:
            spans = _tighten(spans, points, timeline, score, options)
        spans = _fill(spans, points, timeline, score, options, worth)
        if worth > 0 and reel_length(spans, fade) < options.duration:
            # Short of the target with only cuts in the way: picks grow across the source's
            # own cuts into the shots beside them (an edited video's quick shots, too short
            # for picks of their own), which no jump cut comes of. Only now, so that a reel
            # that can reach its target from separate moments keeps their variety.
            spans = _greedy(cands, timeline, score, options, chosen=spans, across=True)
        rapid = (
            len(timeline.shots) > 1
            and float(np.median(np.diff(sorted(timeline.shots)))) < options.min_segment
        )
        if reel_length(spans, fade) < options.duration and (worth == 0.0 or rapid):
            # Shots too short for the windows (rapid editing, or cuts found where there are
            # none) in footage where nothing stands out: a reel short of its target is worse
            # than a window across a cut. Where something does, windows across cuts would
            # carry dull neighbours into the reel: it is shorter instead, and says so.
            loose = _candidates(points, timeline, score, options, within_shots=False)
            spans = _greedy(loose, timeline, score, options, chosen=spans, worth=worth)
    spans.sort()
    talking = _talking(timeline)
    spans = snap_to_keyframes(
        spans,
        media,
        timeline,
        options,
        lambda t: 0.0 <= t <= timeline.duration and not talking(t),
        score,
    )
    spans = _no_jump_cuts(spans, timeline, score, options)
    segments: list[Segment] = []
    out = 0.0
    for start, end in spans:
        segments.append(_segment(start, end, out, timeline, score))
        out += (end - start) - fade
    return segments


def candidates(
    media: MediaInfo, timeline: Timeline, options: HighlightOptions
) -> list[tuple[float, float]]:
    """Spans of a coarsely measured ``timeline`` worth measuring finely before selecting: what
    selection would choose with ``WIDER`` times the budget, and ``CANDIDATE_MARGIN`` around."""
    wider = replace(options, duration=min(600.0, options.duration * WIDER))
    chosen = select(media, timeline, wider)
    return [(s.source_start - CANDIDATE_MARGIN, s.source_end + CANDIDATE_MARGIN) for s in chosen]


def reel_length(spans: list[tuple[float, float]], crossfade: float) -> float:
    """Length of the joined reel: each join overlaps two segments by ``crossfade``."""
    if not spans:
        return 0.0
    return sum(e - s for s, e in spans) - crossfade * (len(spans) - 1)


def _window_mean(values: np.ndarray, step: float, start, end):
    csum = np.concatenate([[0.0], np.cumsum(values)])
    i = np.clip(np.round(np.asarray(start) / step).astype(int), 0, len(values))
    j = np.clip(np.round(np.asarray(end) / step).astype(int), 0, len(values))
    j = np.maximum(j, i + 1)
    j = np.minimum(j, len(values))
    i = np.minimum(i, j - 1)
    return (csum[j] - csum[i]) / (j - i)


def _candidates(
    points, timeline: Timeline, score, options: HighlightOptions, within_shots: bool = True
) -> _Candidates:
    """Every window between two cut points with an allowed length that stays inside one shot
    (if any does and ``within_shots``)."""
    shots = np.asarray(sorted(timeline.shots), dtype=float)
    starts, ends = [], []
    longest = int(np.ceil(options.max_segment / 0.05)) + 1
    for offset in range(1, min(len(points), longest + 1)):
        s, e = points[:-offset], points[offset:]
        length = e - s
        ok = (length >= options.min_segment - 1e-6) & (length <= options.max_segment + 1e-6)
        if not ok.any():
            if (length > options.max_segment).all():
                break
            continue
        starts.append(s[ok])
        ends.append(e[ok])
    if not starts:
        empty = np.zeros(0)
        return _Candidates(empty, empty, empty, empty)
    start, end = np.concatenate(starts), np.concatenate(ends)
    inside = np.searchsorted(shots, end - ON_CUT) - np.searchsorted(shots, start + ON_CUT, "right")
    if within_shots and (inside == 0).any():
        start, end = start[inside == 0], end[inside == 0]
        short = _short_shots(points, shots, timeline.duration, options.min_segment)
        start, end = np.concatenate([start, short[:, 0]]), np.concatenate([end, short[:, 1]])
    order = np.lexsort((end, start))
    start, end = start[order], end[order]
    quality = timeline.signals.get("quality", np.ones(len(score)))
    return _Candidates(
        start,
        end,
        _window_mean(score, timeline.step, start, end),
        _window_mean(quality, timeline.step, start, end),
    )


SHORT_SHOT = 0.5
"""Shortest shot that may extend a pick across the cut before it (or after it): a shot shorter
than ``min_segment`` is no pick of its own, but an edited video's quick shots (1.2 and 1.8 s
of a bike ride between two picks) belong with their neighbours; shorter ones are flashes."""


def _short_shots(points, shots: np.ndarray, duration: float, shortest: float) -> np.ndarray:
    """Whole shots ``SHORT_SHOT`` long or more but under ``shortest``, as (start, end) rows:
    windows that can only extend a pick (see :func:`_abuts`)."""
    bounds = np.asarray([0.0, *shots, round(duration, 2)])
    a, b = bounds[:-1], bounds[1:]
    pointed = np.isin(np.round(a, 2), points) & np.isin(np.round(b, 2), points)
    keep = pointed & (b - a >= SHORT_SHOT) & (b - a < shortest - 1e-6)
    return np.stack([a[keep], b[keep]], axis=1) if keep.any() else np.zeros((0, 2))


def _signature(timeline: Timeline, start: float, end: float) -> np.ndarray | None:
    """A window's look: its mean tiny thumbnail, brightness-normalised."""
    if timeline.thumbs is None:
        return None
    i = max(0, round(start / timeline.step))
    j = min(len(timeline.thumbs), max(i + 1, round(end / timeline.step)))
    mean = timeline.thumbs[i:j].astype(np.float32).mean(axis=0).ravel()
    mean -= mean.mean()
    norm = float(np.linalg.norm(mean))
    return mean / norm if norm > 1e-3 else mean


def _greedy(
    cands: _Candidates,
    timeline: Timeline,
    score,
    options: HighlightOptions,
    chosen: list[tuple[float, float]] | None = None,
    worth: float = WORTH,
    across: bool = False,
):
    """Add windows to ``chosen`` (none by default), best first, until the target is reached.

    A window less than ``JUMP`` from a chosen one of the same shot is no second pick (the join
    would be a jump cut): it extends that pick over the gap, up to ``MERGED`` seconds, and is
    valued by what it adds. With ``across``, so does a window that begins on the cut a pick
    ends on (or ends on the cut it begins on): the source's own cut joins them.
    """
    target, fade = options.duration, options.crossfade
    chosen = sorted(chosen or [])
    if len(cands.start) == 0:
        return chosen
    # Prefer longer windows a little: equal interest, fewer joins.
    base = cands.mean * (cands.length / options.max_segment) ** 0.25
    shots = np.asarray(sorted(timeline.shots), dtype=float)
    alive = (cands.quality >= GOOD_QUALITY) & (cands.mean >= worth)
    # Most of a window must be worth it: one loud word in a silent stretch is no moment.
    lively = (score >= worth).astype(float)
    alive &= _window_mean(lively, timeline.step, cands.start, cands.end) >= LIVE_SHARE
    # Nor does a pick run into a fade: the reel would dim out mid-way (0.6 s of one ended a
    # reel, the half-second trim being too coarse for it).
    faded = fading(timeline).astype(float)
    alive &= _window_mean(faded, timeline.step, cands.start, cands.end) == 0
    if not alive.any() and not chosen:
        # Nothing stands out: the one best window, so the person still gets a reel (and
        # is told why it is short: see ``shortfall``).
        watchable = cands.quality >= min(GOOD_QUALITY, float(cands.quality.max()))
        fits = cands.length <= target * OVER
        best = int(np.argmax(np.where(watchable & fits, base, -np.inf)))
        return [(float(cands.start[best]), float(cands.end[best]))]
    csum = np.concatenate([[0.0], np.cumsum(score)])
    spread = max(timeline.duration / max(1.0, target / options.max_segment) / 2, 1.0)
    merged_cap = MERGED * options.max_segment
    for s, e in chosen:
        alive &= _keeps_off(cands, s, e, shots, across)
    while True:
        reel = reel_length(chosen, fade)
        if reel >= target:
            break
        # What can still fit: alone, or as an extension of a chosen pick (judged below).
        room = target * OVER - reel + (fade if chosen else 0.0)
        none = np.zeros(len(alive), bool)
        abuts = [
            _abuts(cands.start, cands.end, cs, ce, shots) if across else none for cs, ce in chosen
        ]
        joins = [
            _joins(cands.start, cands.end, cs, ce, shots) | a
            for (cs, ce), a in zip(chosen, abuts, strict=True)
        ]
        extends = np.logical_or.reduce(joins) if joins else np.zeros(len(alive), bool)
        fits = (cands.length <= room + 1e-9) & (cands.length >= options.min_segment - 1e-6)
        pool = np.flatnonzero(alive & (fits | extends))
        pool = pool[np.argsort(-base[pool], kind="stable")][: SHORTLIST * 4]
        looks = [(cs, ce, _signature(timeline, cs, ce)) for cs, ce in chosen]
        best, best_value, best_spans = -1, -np.inf, chosen
        tried = 0
        alone: list[tuple[int, float, list]] = []  # new picks weighed: (candidate, value, spans)
        for k in pool:
            s, e = float(cands.start[k]), float(cands.end[k])
            near = [c for c, mask in zip(chosen, joins, strict=True) if mask[k]]
            if near:
                lo, hi = min(s, *(c[0] for c in near)), max(e, *(c[1] for c in near))
                spans = sorted([c for c in chosen if c not in near] + [(lo, hi)])
                added = (hi - lo) - sum(c[1] - c[0] for c in near)
                if hi - lo > merged_cap or added < options.min_segment / 2:
                    continue
                total = _sum(csum, timeline.step, lo, hi) - sum(
                    _sum(csum, timeline.step, *c) for c in near
                )
                if total / added < worth:
                    continue  # a pick grown by a dull stretch is padding
                value = total / added * (added / options.max_segment) ** 0.25
                if any(mask[k] for mask in abuts):
                    value *= 1.0 - NEXT_TO  # across a cut: as a new pick right beside it
            else:
                spans = sorted([*chosen, (s, e)])
                value = float(base[k])
                if chosen:
                    gap = min(max(cs - e, s - ce, 0.0) for cs, ce in chosen)
                    value *= 1.0 - NEXT_TO * np.exp(-gap / spread)
                    # Retakes are other shots: two moments of one long shot look alike
                    # (a fixed camera over a street: 0.95) and are still two moments.
                    others = [look for cs, ce, look in looks if not _one_shot(s, e, cs, ce, shots)]
                    likeness = _likeness(_signature(timeline, s, e), others)
                    if likeness >= DUPLICATE:
                        continue  # a near-duplicate take is worth no place of its own
                    value *= 1.0 - likeness
            if reel_length(spans, fade) > target * OVER:
                continue
            if not near:
                alone.append((int(k), value, spans))
            if value > best_value:
                best, best_value, best_spans = int(k), value, spans
            tried += 1
            if tried >= SHORTLIST:
                break
        if best < 0:
            break
        if any(k == best for k, _, _ in alone):
            best, best_spans = _plateau_middle(best, best_value, alone, cands, shots)
        chosen = best_spans
        alive[best] = False
        for s, e in chosen:
            alive &= _keeps_off(cands, s, e, shots, across)
    return chosen


PLATEAU = 0.05
"""Windows within this share of the best one's value are as good as it: measurement noise.
Where interest is even (a fixed camera over people walking), the best window's place within
such a plateau followed the encoding (a 2 s-GOP encoding's pick began 1.5 s before the one
decoded whole: overlap 0.64); the plateau's middle does not (vtest.avi's five encodings:
median overlap 0.69 -> 0.78)."""
PLATEAU_STEP = 0.55
"""Seconds between the starts of neighbouring windows of one plateau at most (the free cut
points are ``FREE_CUT_EVERY`` apart)."""


def _plateau_middle(
    best: int,
    best_value: float,
    alone: list[tuple[int, float, list]],
    cands: _Candidates,
    shots: np.ndarray,
) -> tuple[int, list]:
    """The middle window of the best one's plateau: windows as long, in one shot with it (none,
    for a window across cuts), valued within ``PLATEAU`` of it and starting within
    ``PLATEAU_STEP`` of one another. ``alone``: the new picks weighed, as (candidate, value,
    the picks it would make). Returns the chosen candidate and its picks."""
    length = cands.end[best] - cands.start[best]
    level = best_value * (1.0 - PLATEAU)
    same = sorted(
        (float(cands.start[k]), k, spans)
        for k, value, spans in alone
        if k == best
        or (
            value >= level
            and abs((cands.end[k] - cands.start[k]) - length) <= 2 * ON_CUT  # each end to ON_CUT
            and _one_shot(cands.start[k], cands.end[k], cands.start[best], cands.end[best], shots)
        )
    )
    starts = [start for start, _, _ in same]
    i = starts.index(float(cands.start[best]))
    lo = hi = i
    while lo > 0 and starts[lo] - starts[lo - 1] <= PLATEAU_STEP:
        lo -= 1
    while hi + 1 < len(starts) and starts[hi + 1] - starts[hi] <= PLATEAU_STEP:
        hi += 1
    _, k, spans = same[(lo + hi) // 2]
    return k, spans


LIVE_SHARE = 0.5
"""Share of a window's grid points that must each be worth keeping (score ``WORTH`` or more)."""
TRIM = 0.5
"""Seconds of dull footage at a pick's end (or start) from which the pick is cut back."""
DUPLICATE = 0.6
"""Likeness (see :func:`_likeness`) from which a window is a retake of a chosen one."""
MERGED = 2.5
"""Longest pick, as a multiple of ``max_segment``, that windows joined to avoid a jump cut may
make: a long stretch of talk stays whole, but one shot cannot take over the reel."""


def _sum(csum: np.ndarray, step: float, start: float, end: float) -> float:
    """Sum of the scores from ``start`` to ``end`` seconds, times ``step`` points per second."""
    last = len(csum) - 1
    i = min(max(round(start / step), 0), last)
    j = min(max(round(end / step), i), last)
    return float(csum[j] - csum[i]) * step


def _likeness(look: np.ndarray | None, looks: list[np.ndarray | None]) -> float:
    """0..0.9: how much a window (its ``look``: see :func:`_signature`) looks like one of the
    chosen (their ``looks``); near-duplicate takes: 0.9."""
    others = [other for other in looks if other is not None]
    if look is None or not others:
        return 0.0
    similar = max(float(look @ other) for other in others)
    # Near-duplicate takes (correlation above ~0.8) lose most of their value.
    return 0.9 * float(np.clip((similar - 0.6) / 0.3, 0.0, 1.0))


def _one_shot(start, end, s: float, e: float, shots: np.ndarray):
    """Whether windows ``start``..``end`` (arrays or one window) and ``s``..``e`` lie in one
    shot: no cut strictly inside what the two would make together."""
    lo, hi = np.minimum(start, s) + ON_CUT, np.maximum(end, e) - ON_CUT
    return np.searchsorted(shots, hi) <= np.searchsorted(shots, lo, side="right")


def _joins(start: np.ndarray, end: np.ndarray, s: float, e: float, shots: np.ndarray):
    """Which windows ``start``..``end`` overlap the chosen ``s``..``e`` or lie within ``JUMP``
    of it, in the shot it ends (or begins) in, and add to it: picked, they extend it."""
    after, before = start >= e, end <= s
    gap = np.where(after, start - e, np.where(before, s - end, -1.0))
    apart = after | before
    cut = apart & _cut_between(start, end, s, e, shots)
    return ~cut & (gap < JUMP) & ~((start >= s) & (end <= e))


def _cut_between(start: np.ndarray, end: np.ndarray, s: float, e: float, shots: np.ndarray):
    """Whether a cut lies between windows ``start``..``end`` and ``s``..``e`` that do not
    overlap; one on a facing edge (a window that starts where its shot does) counts."""
    after = start >= e
    near = np.where(after, e, end)  # the facing edges
    far = np.where(after, start, s)
    return np.searchsorted(shots, far + ON_CUT) > np.searchsorted(shots, near - ON_CUT, "right")


def _abuts(start: np.ndarray, end: np.ndarray, s: float, e: float, shots: np.ndarray):
    """Which windows ``start``..``end`` begin on the cut that ends the chosen ``s``..``e`` (or
    end on the cut that begins it), less than ``SEPARATION`` away: picked, they extend it
    across the source's own cut, which is no jump cut."""
    out = np.zeros(len(start), bool)
    after = _cut_within(shots, e, e + SEPARATION)
    if after is not None:
        out |= np.abs(start - after) <= ON_CUT
    before = _cut_within(shots, s - SEPARATION, s)
    if before is not None:
        out |= np.abs(end - before) <= ON_CUT
    return out


def _cut_within(shots: np.ndarray, lo: float, hi: float) -> float | None:
    """The cut between ``lo`` and ``hi`` (``ON_CUT`` either side), if there is one."""
    inside = shots[(shots >= lo - ON_CUT) & (shots <= hi + ON_CUT)]
    return float(inside[0]) if len(inside) else None


def _keeps_off(
    cands: _Candidates, s: float, e: float, shots: np.ndarray, across: bool
) -> np.ndarray:
    """Which candidates may still be picked beside the chosen ``s``..``e``: apart from it, or
    extending it (``across`` its cuts too)."""
    start, end = cands.start, cands.end
    keep = _apart(start, end, s, e, shots) | _joins(start, end, s, e, shots)
    return (keep | _abuts(start, end, s, e, shots)) if across else keep


def _apart(start: np.ndarray, end: np.ndarray, s: float, e: float, shots: np.ndarray):
    """Which windows ``start``..``end`` keep their distance from the chosen ``s``..``e``:
    ``JUMP`` within the same shot, ``SEPARATION`` across a cut."""
    after = start >= e
    gap = np.where(after, start - e, s - end)
    cut = _cut_between(start, end, s, e, shots)
    return (np.maximum(start, s) >= np.minimum(end, e)) & (
        gap >= np.where(cut, SEPARATION, JUMP) - 1e-6
    )


def _no_jump_cuts(spans, timeline: Timeline, score, options: HighlightOptions):
    """Picks of one shot that snapping onto keyframes brought closer than ``JUMP``: joined into
    one where the reel stays within its budget, else the weaker one gives way (cut back to
    keep the distance, or left out when too little of it would be left)."""
    spans = sorted(spans)
    n = 0
    while n + 1 < len(spans):
        (s0, e0), (s1, e1) = spans[n], spans[n + 1]
        if s1 - e0 >= _gap_needed(e0, s1, timeline.shots) - 1e-6:
            n += 1
            continue
        joined = [*spans[:n], (s0, e1), *spans[n + 2 :]]
        if reel_length(joined, options.crossfade) <= options.duration * OVER:
            spans = joined
            continue
        weak = (
            n
            if _window_mean(score, timeline.step, s0, e0)
            < _window_mean(score, timeline.step, s1, e1)
            else n + 1
        )
        a, b = spans[weak]
        a, b = (a, s1 - JUMP) if weak == n else (e0 + JUMP, b)
        if b - a >= options.min_segment:
            spans[weak] = (a, b)
            n += 1
        else:
            del spans[weak]
    return spans


EDGE = 0.15
"""A cut this close outside a pick's end still lies between it and the next pick: snapping
onto keyframes leaves picks a few frames either side of the cuts they were cut at."""


def _gap_needed(a: float, b: float, shots: list[float]) -> float:
    """Seconds to keep between a window ending at ``a`` and one starting at ``b``."""
    return SEPARATION if any(a - EDGE < c <= b + EDGE for c in shots) else JUMP


def _tighten(spans, points, timeline: Timeline, score, options: HighlightOptions):
    """Cut each pick back to the cut points nearest its live part, where ``TRIM`` or more of
    dull footage (talk ended, the action left the frame) hangs off either end."""
    step = timeline.step
    live = moving_mean(score, round(0.5 / step)) >= WORTH
    out = []
    for s, e in spans:
        i, j = round(s / step), min(len(live), round(e / step))
        first, last = i, j
        while last > i and not live[last - 1]:
            last -= 1
        while first < last and not live[first]:
            first += 1
        if first >= last:
            out.append((s, e))
            continue
        if (j - last) * step >= TRIM:
            after = points[(points >= last * step + 0.2) & (points <= e)]
            if len(after) and after[0] - s >= options.min_segment:
                e = float(after[0])
        if (first - i) * step >= TRIM:
            before = points[(points <= first * step - 0.2) & (points >= s)]
            if len(before) and e - before[-1] >= options.min_segment:
                s = float(before[-1])
        out.append((s, e))
    return out


def _fill(spans, points, timeline: Timeline, score, options: HighlightOptions, worth=WORTH):
    """Grow chosen windows to neighbouring cut points while the reel is short of the target."""
    target, fade = options.duration, options.crossfade
    shots = sorted(timeline.shots)
    spans = sorted(spans)
    quality = timeline.signals.get("quality", np.ones(len(score)))
    while spans and reel_length(spans, fade) < target:
        reel = reel_length(spans, fade)
        best = None
        for n, (s, e) in enumerate(spans):
            lo, hi = 0.0, timeline.duration
            if n > 0:
                lo = spans[n - 1][1] + _gap_needed(spans[n - 1][1], s, shots)
            if n + 1 < len(spans):
                hi = spans[n + 1][0] - _gap_needed(e, spans[n + 1][0], shots)
            before = points[(points < s) & (points >= lo)]
            after = points[(points > e) & (points <= hi)]
            options_ = []
            if len(before):
                options_.append((float(before[-1]), e, float(before[-1]), s))
            if len(after):
                options_.append((s, float(after[0]), e, float(after[0])))
            for ns, ne, a, b in options_:
                crosses = any(min(ns, ne) + ON_CUT < c < max(ns, ne) - ON_CUT for c in shots)
                grown = reel + (ne - ns) - (e - s)
                if ne - ns > options.max_segment + 1e-6 or grown > target * OVER or crosses:
                    continue
                if float(_window_mean(quality, timeline.step, a, b)) < GOOD_QUALITY:
                    continue
                value = float(_window_mean(score, timeline.step, a, b))
                if value < worth:
                    continue  # padding: a shorter reel is better (see ``shortfall``)
                if best is None or value > best[0]:
                    best = (value, n, ns, ne)
        if best is None:
            break
        _, n, ns, ne = best
        spans[n] = (ns, ne)
    return spans


def _good_runs(timeline: Timeline, points, score, options: HighlightOptions, worth=WORTH):
    """For a short input: every stretch of watchable footage worth keeping, cut at allowed
    points; stretches of one shot closer than ``JUMP`` become one."""
    quality = timeline.signals.get("quality", np.ones(len(timeline.times)))
    lively = moving_mean(score, round(1.0 / timeline.step)) >= worth
    good = (quality >= GOOD_QUALITY) & lively
    spans: list[tuple[float, float]] = []
    for a, b in runs(good):
        t0, t1 = a * timeline.step, min(timeline.duration, b * timeline.step)
        inner = points[(points >= t0 - 1e-6) & (points <= t1 + 1e-6)]
        # Where the points inside leave more than TRIM of it out, from the cut point just
        # outside it: the first point inside may be a pause seconds into the talk (OpenCV's
        # Megamind.avi lost its first words, a phone copy of it its first 4.5 s).
        lo = points[(points < t0) & (points >= t0 - TRIM)]
        hi = points[(points > t1) & (points <= t1 + TRIM)]
        if len(lo) and (not len(inner) or inner[0] - t0 > TRIM):
            inner = np.concatenate([lo[-1:], inner])
        if len(hi) and (not len(inner) or t1 - inner[-1] > TRIM):
            inner = np.concatenate([inner, hi[:1]])
        if len(inner) >= 2 and inner[-1] - inner[0] >= min(options.min_segment, 0.5):
            start, end = float(inner[0]), float(inner[-1])
            if spans and start - spans[-1][1] < _gap_needed(spans[-1][1], start, timeline.shots):
                start = spans.pop()[0]
            spans.append((start, end))
    if not spans:
        cands = _candidates(points, timeline, score, options)
        spans = _greedy(cands, timeline, score, options, worth=worth) if len(cands.start) else []
    if not spans and len(points) >= 2:
        spans.append((float(points[0]), float(points[-1])))  # too short for any window
    return spans


def shortfall(segments: list[Segment], timeline: Timeline, options: HighlightOptions) -> str | None:
    """A sentence for the person when the reel is clearly shorter than asked, saying why."""
    if not segments:
        return None
    score = frame_scores(timeline)
    reel = reel_length([(g.source_start, g.source_end) for g in segments], options.crossfade)
    got, asked = reel_seconds(reel, options.duration)
    short = reel < options.duration * SHORT
    # Shorter than the reel asked (a 2 s clip for a 10 s reel): its length is a reason too.
    brief = timeline.duration < options.duration * SHORT
    if nothing_stands_out(score, timeline.step, options):
        nothing = (
            "Nothing in this video stood out (no movement, talk, faces or lively sound to speak of)"
        )
        if short and brief:
            # A 2 s test card asked for 10 s said only that it showed its best-lit moments.
            said = short_of_footage(reel, timeline.duration, options.duration)
            return f"{said} {nothing}, so it shows its best-lit, steadiest moments."
        if short and timeline.duration > options.duration * OVER:
            # gradio's world.mp4: a dim globe on black, 1.5 s of 15 with no word of why.
            return (
                f"{nothing}, and little of it is lit and sharp enough to watch, so your reel "
                f"is {got} s rather than {asked} s."
            )
        return f"{nothing}, so your reel shows its best-lit, steadiest moments."
    if not short:
        return None
    if brief and reel < WHOLE * timeline.duration:
        # A 2 s clip with 1.6 s worth keeping read "Only 2 s of this video stood out", its
        # length, the first reason a 10 s reel could not be had, unsaid.
        said = short_of_footage(reel, timeline.duration, options.duration, whole=False)
        return f"{said} The rest is {_dull_kinds(timeline, score)}."
    if timeline.duration <= options.duration * OVER and reel >= WHOLE * timeline.duration:
        return (
            f"Your video is {timeline.duration:.0f} s long, so your reel is {got} s "
            f"rather than {asked} s."
        )
    if options.duration < HighlightOptions.min_segment:
        # (see ``fit_to_length``) The trailer's 1.4 s reel, 1.2 s, read "Only 1.2 s of this
        # video stood out", where its 30 s reel is 24 s of what did.
        return (
            f"Your reel is {got} s rather than {asked} s: a reel this short is one moment, "
            "and it could only be cut where a shot changes, at a pause or on a half second."
        )
    return (
        f"{stood_out(reel, options.duration, 'this video')} "
        f"The rest is {_dull_kinds(timeline, score)}."
    )


def stood_out(got: float, asked: float, source: str) -> str:
    """The sentence for a reel of ``got`` seconds, ``asked`` asked, from what stood out of
    ``source`` ("this video", "these clips")."""
    seconds, length = reel_seconds(got, asked)
    return (
        f"Only {seconds} s of {source} stood out; your reel is {seconds} s rather than {length} s."
    )


SHORT = 0.95
"""Share of the length asked under which a reel is short and the result says why."""
WHOLE = 0.85
"""Share of a video short of the reel's length that its reel must hold for the video's own
length to be the reason the reel is short (crossfades and the odd dull second take the rest):
a 30 s video's 13 s reel was put down to its length."""


def reel_seconds(got: float, asked: float) -> tuple[str, str]:
    """Both lengths in whole seconds, or in tenths where whole ones would read the same (a
    3.5 s reel of 4 asked read "your reel is 4 s rather than 4 s") or under 1 s ("0 s")."""
    if f"{got:.0f}" != f"{asked:.0f}" and got >= 1.0:
        return f"{got:.0f}", f"{asked:.0f}"
    return f"{got:.1f}", f"{asked:.1f}".removesuffix(".0")


def short_of_footage(
    reel: float,
    length: float,
    asked: float,
    whole: bool = True,
    footage: str = "Your video is {} s long",
    of: str = "of it",
) -> str:
    """The sentence for a reel of ``reel`` seconds, ``asked`` asked, from footage only
    ``length`` long: all of it worth keeping (``whole``), or only the reel's seconds of it,
    each length in words that tell it apart from the other (tenths where whole seconds would
    read the same). ``footage`` says how long the footage is; ``of``, of what the reel is."""
    got, asked_words = reel_seconds(reel, asked)
    if whole:
        length_words = reel_seconds(length, asked)[0]
        return (
            f"{footage.format(length_words)}, so your reel is {got} s rather than {asked_words} s."
        )
    reel_words, length_words = reel_seconds(reel, length)
    got = got if "." in got else reel_words
    return (
        f"{footage.format(length_words)} and only {got} s {of} stood out, so your reel is "
        f"{got} s rather than {asked_words} s."
    )


def _dull_kinds(timeline: Timeline, score: np.ndarray) -> str:
    """What the footage left out mostly is, in words: "mostly title cards or a blank picture,
    with no one talking"."""
    s = timeline.signals
    zeros = np.zeros(len(timeline.times))
    dull = score < WORTH
    if not dull.any():
        return "too short to make a moment of"
    plain = (s.get("plain", zeros) > 0.5) & (s.get("motion", zeros) < 0.1)
    # (share of the dull footage, as the main words, as what comes with it)
    kinds = [
        (s.get("quality", zeros + 1) < GOOD_QUALITY, "dark or blurred footage", "poor light"),
        (plain, "title cards or a blank picture", "blank frames"),
        (s.get("motion", zeros) < 0.2, "footage where nothing moves", "nothing moving"),
        (s.get("speech", zeros) < 0.5, "footage without talk", "no one talking"),
    ]
    ranked = sorted(
        ((float(mask[dull].mean()), main, extra) for mask, main, extra in kinds),
        key=lambda k: -k[0],
    )
    found = [(main, extra) for share, main, extra in ranked if share >= 0.5]
    if not found:
        return "quiet footage with little happening"
    words = f"mostly {found[0][0]}"
    return f"{words}, with {found[1][1]}" if len(found) > 1 else words


def window_signals(timeline: Timeline, start: float, end: float) -> dict[str, float]:
    """Each signal's mean over ``start``..``end`` seconds, rounded for the result document."""
    return {
        name: round(float(_window_mean(values, timeline.step, start, end)), 3)
        for name, values in sorted(timeline.signals.items())
    }


def _segment(start: float, end: float, out: float, timeline: Timeline, score) -> Segment:
    signals = window_signals(timeline, start, end)
    focus, pan = (0.5, 0.5), ()
    if timeline.focus is not None and len(timeline.focus):
        i = max(0, round(start / timeline.step))
        j = min(len(timeline.focus), max(i + 1, round(end / timeline.step)))
        fx, fy = timeline.focus[i:j].mean(axis=0)
        focus = (round(float(fx), 3), round(float(fy), 3))
        pan = _pan(timeline, i, j)
    return Segment(
        source_start=round(start, 3),
        source_end=round(end, 3),
        output_start=round(out, 3),
        score=round(float(_window_mean(score, timeline.step, start, end)), 4),
        signals=signals,
        reason=_reason(timeline, start, end, signals),
        focus=focus,
        pan=pan,
    )


def _pan(timeline: Timeline, i: int, j: int) -> tuple[tuple[float, float, float], ...]:
    """The subject's path over grid points ``i..j`` for a crop to follow, every ``PAN_EVERY``
    seconds and eased over ``PAN_EASE`` within each shot, jumping at the source's cuts (empty
    when it stays within ``PAN_STILL``). A crop held on a segment's mean missed a man walking
    in from the frame's edge: a 9:16 reel opened on 0.8 s of empty green screen."""
    assert timeline.focus is not None
    step = timeline.step
    # Each shot from its first grid point (at or after its cut).
    cuts = sorted(c for c in timeline.shots if i < np.ceil(c / step - 1e-6) < j)
    bounds = [i, *(int(np.ceil(c / step - 1e-6)) for c in cuts), j]
    path = np.concatenate(
        [
            np.stack(
                [moving_mean(timeline.focus[a:b, axis], round(PAN_EASE / step)) for axis in (0, 1)],
                1,
            )
            for a, b in itertools.pairwise(bounds)
        ]
    )
    if np.ptp(path, axis=0).max() < PAN_STILL:
        return ()
    every = max(1, round(PAN_EVERY / step))
    picks = sorted({*range(0, len(path), every), len(path) - 1, *(b - i for b in bounds[1:-1])})
    times = {k: (i + k) * step for k in picks}
    for cut, b in zip(cuts, bounds[1:-1], strict=True):
        # The shot before holds its place up to the cut; the crop moves on the cut's frame.
        times[b - i - 1] = cut - 0.001
        times[b - i] = cut
    return tuple(
        (round(times[k], 3), round(float(path[k, 0]), 3), round(float(path[k, 1]), 3))
        for k in sorted(times)
    )


def _shake_around(timeline: Timeline, start: float, end: float) -> float:
    """The worst camera shake within ``NEARBY`` seconds either side of a window (0 if none)."""
    shake = timeline.signals.get("shake")
    if shake is None:
        return 0.0
    t = timeline.times
    near = ((t >= start - NEARBY) & (t < start)) | ((t > end) & (t <= end + NEARBY))
    if not near.any():
        return 0.0
    # Smoothed over a second, so one jolt does not count as a shaky stretch.
    return float(np.convolve(shake, np.ones(10) / 10, mode="same")[near].max())


NOTHING_SAID = "the best of what there is"


def _reason(timeline: Timeline, start: float, end: float, signals: dict[str, float]) -> str:
    """The reason of a segment (``signals``: its means): of each of its shots in turn where it
    runs across the source's own cuts. Said of the whole, a pick of a face close-up, a white
    wall and traffic read "fast action, people in view"; now "a face close up, then fast
    action, a sweeping pan"."""
    whole = reason(signals, _shake_around(timeline, start, end))
    cuts = [c for c in sorted(timeline.shots) if start + SHORT_SHOT <= c <= end - SHORT_SHOT]
    if not cuts:
        return whole
    said: list[str] = []
    for a, b in itertools.pairwise([start, *cuts, end]):
        piece = reason(window_signals(timeline, a, b))
        # A shot that says nothing new, in whatever order, is not said again: Megamind.avi's
        # pick read "a face close up, fast action, then a face close up, then a face close up,
        # people moving".
        if piece != NOTHING_SAID and (
            not said or not set(piece.split(", ")) <= set(said[-1].split(", "))
        ):
            said.append(piece)
    if len(said) < 2:
        return whole
    avoided = whole.endswith(SHAKE_AVOIDED) and not said[-1].endswith(SHAKE_AVOIDED)
    return ", then ".join(said[:3]) + (f", {SHAKE_AVOIDED}" if avoided else "")


SHAKE_AVOIDED = "camera shake avoided"


def reason(signals: dict[str, float], shake_nearby: float = 0.0) -> str:
    """A short explanation (one or two parts) from a segment's strongest signals, in words a
    person uses: "someone talking", "music", "crowd cheering", "fast action"...

    The words depend on context so that they read true: excitement in the sound while someone
    talks is lively talk, not a crowd; "cheering" is loud excitement with nobody talking and no
    music. ``shake_nearby`` (0..1) is the camera shake just outside the segment: a steady
    segment cut out of shaky footage says so.
    """
    audio, speech = signals.get("audio", 0.0), signals.get("speech", 0.0)
    music, shake = signals.get("music", 0.0), signals.get("shake", 0.0)
    raw = signals.get("motion", 0.0)
    seen = float(card_discount(signals.get("plain", 0.0), raw))  # a ticking timecode is not
    motion = raw * (1 - shake) * seen
    faces = signals.get("faces", 0.0)
    moving = "fast action" if motion >= FAST else "people moving" if faces >= 0.3 else "movement"
    found = [
        (motion, moving),
        (faces, "a face close up" if faces >= 0.8 else "people in view"),
        (
            signals.get("camera", 0.0) * (1 - shake) * (1 - signals.get("plain", 0.0)),
            "a sweeping pan",
        ),
    ]
    if speech >= 0.5:
        talk = "lively talk" if audio >= 0.3 else "someone talking"
        found.append((max(0.8 * speech, audio), talk))
    elif music >= 0.6:
        found.append((music, "music"))
    elif audio >= 0.5:
        found.append((audio, "crowd cheering"))
    else:
        found.append((audio, "lively sound"))
    ranked = sorted(found, key=lambda f: -f[0])
    parts = [label for value, label in ranked if value >= 0.3][:2]
    if "people moving" in parts and "people in view" in parts:
        parts.remove("people in view")
    if not parts:  # a quieter moment: still say what there is in it
        parts = [label for value, label in ranked if value >= 0.1][:1]
    if not parts:
        parts = [NOTHING_SAID]
    if shake_nearby >= 0.5 and shake < 0.2:
        parts.append(SHAKE_AVOIDED)
    return ", ".join(parts)


POSTER_LIGHT = (100.0, 215.0)
"""Mean luma from which a poster is fully lit, and up to which it is not blown out."""
POSTER_ACTION = 0.4
"""Share of a frame's worth as a poster that rests on something moving in it (full from
``MOVING``) or a face; the rest is how it looks."""
MOVING = 0.5
POSTER_EDGE = 0.5
"""Seconds at each end of a segment the poster is not taken from: crossfades and fades."""
POSTER_AFTER_KEYFRAME = 0.001
"""Seconds past a keyframe at which the poster is taken: that keyframe is on screen, and the
seek before the poster lands on it rather than on the keyframe before."""


def _exposure(timeline: Timeline) -> np.ndarray | float:
    """Per grid point, 0..1: how well exposed the picture is for a poster (mean luma
    ``POSTER_LIGHT`` and up, short of blown out). ``quality`` is content with luma 52, so a
    trailer's dim burrow (luma 70-75) with a face in it, and a caption fading to black (57),
    made its posters over bright, lively frames (luma 130-140)."""
    luma = timeline.luma
    if luma is None:
        return 1.0
    low, high = POSTER_LIGHT
    # Squared: linear, a face in the trailer's dim burrow (luma 76) still made the 15 s reel's
    # poster (0.63 of a lit frame's worth, over 0.56 for the bunny in daylight).
    dim = np.clip((luma - 35.0) / (low - 35.0), 0.05, 1.0) ** 2
    return dim * np.clip((255.0 - luma) / (255.0 - high), 0.05, 1.0)


def poster_time(segments: list[Segment], timeline: Timeline) -> float:
    """The source time of the poster: the best frame of the best moment — sharp, well exposed
    and steady for a second around it (never a fade), a face where there is one, never a
    title card. A keyframe nearly as good is preferred: the poster then decodes one picture."""
    return poster_moment([(segments, timeline)])[1]


def poster_moment(
    clips: Sequence[tuple[list[Segment], Timeline]], weights: Sequence[float] | None = None
) -> tuple[int, float]:
    """The poster of a reel of ``clips`` (each its segments and timeline): (clip index, source
    time), by :func:`poster_time`'s rule over the top three segments of every clip. The best
    segment of all gives the poster unless another's frame is clearly better looking: a talk
    that scored best over a flat card does not make a card the poster of a reel whose other
    clips have a sharp, well lit moment. ``weights`` scale each clip's look (how sharp the
    reel shows it: a small clip blown up is blurred)."""
    best_k, best_t, best_value = 0, None, -1.0
    moments = [
        (k, segment)
        for k, (segments, _) in enumerate(clips)
        for segment in sorted(segments, key=lambda g: -g.score)[:3]
    ]
    moments.sort(key=lambda m: -m[1].score)  # (stable: a clip's own order kept in ties)
    looks: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # per clip: look, grid clear of cuts
    for k, segment in moments:
        timeline = clips[k][1]
        if k not in looks:
            look = _poster_look(timeline) * (1.0 if weights is None else weights[k])
            looks[k] = look, ~_near_cuts(timeline.times, timeline.shots)
        steady, off_cuts = looks[k]
        times, keys = timeline.times, np.asarray(timeline.keyframes, dtype=float)
        lo = segment.source_start + min(POSTER_EDGE, segment.duration / 4)
        hi = segment.source_end - min(POSTER_EDGE, segment.duration / 4)
        within = (times >= lo) & (times <= hi)
        clear = within & off_cuts
        inside = np.flatnonzero(clear if clear.any() else within)
        if not len(inside):
            continue
        # The best segment's frame wins unless another's is clearly better looking.
        weight = 1.0 if best_t is None else 0.8
        i = inside[np.argmax(steady[inside])]
        if steady[i] * weight > best_value:
            best_k, best_t, best_value = k, float(times[i]), float(steady[i]) * weight
            near = keys[(keys >= lo) & (keys <= hi) & (np.abs(keys - best_t) <= 1.0)]
            near = near[~_near_cuts(near, timeline.shots)]
            for key in near:
                j = min(len(steady) - 1, round(float(key) / timeline.step))
                if steady[j] >= 0.9 * steady[i]:
                    best_t = float(key) + POSTER_AFTER_KEYFRAME
                    break
    if best_t is None:
        k, best = max(moments, key=lambda m: m[1].score)
        return k, (best.source_start + best.source_end) / 2
    return best_k, best_t


def _near_cuts(times: np.ndarray, shots: list[float]) -> np.ndarray:
    """Which ``times`` lie within ``POSTER_EDGE`` of a cut: a shot's first frames are often
    the scene before its subject comes in, and what was measured there is least sure. The Big
    Buck Bunny trailer's 30 s poster was the keyframe on a cut inside a pick that ran across
    it: the tree the bunny steps in front of a second later, with no bunny."""
    cuts = np.asarray(sorted(shots), dtype=float)
    times = np.asarray(times, dtype=float)
    if not len(cuts) or not len(times):
        return np.zeros(len(times), bool)
    at = np.clip(np.searchsorted(cuts, times), 1, len(cuts)) - 1
    after = np.minimum(at + 1, len(cuts) - 1)
    gap = np.minimum(np.abs(times - cuts[at]), np.abs(times - cuts[after]))
    return gap < POSTER_EDGE


def _poster_look(timeline: Timeline) -> np.ndarray:
    """Per grid point, how good a poster the picture makes: sharp, no card, a face, steady
    and well exposed, the worst of the second around it (a fade or a flash is no poster)."""
    zeros = np.zeros(len(timeline.times))
    s = timeline.signals
    faces, motion = s.get("faces", zeros), s.get("motion", zeros)
    look = (
        s.get("quality", zeros + 1.0)
        * (1.0 - 0.8 * s.get("plain", zeros))
        * (0.7 + 0.3 * faces)
        * (1.0 - 0.5 * s.get("shake", zeros))
        * _exposure(timeline)
        # The moment itself, not the still before it: OpenCV's tree.avi had the still tree
        # with a hand's edge as poster, where the hand sweeps across it a second later. A
        # face is a moment already (weighed by motion, Megamind.avi's poster was a blink).
        * (1.0 - POSTER_ACTION + POSTER_ACTION * np.maximum(faces, np.clip(motion / MOVING, 0, 1)))
    )
    half = round(0.5 / timeline.step)
    padded = np.pad(look, half, mode="edge")
    return np.lib.stride_tricks.sliding_window_view(padded, 2 * half + 1).min(axis=1)
