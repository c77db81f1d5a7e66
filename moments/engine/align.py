"""Moving chosen cuts onto keyframes, so a smart render copies more and re-encodes less.

What the copy plan (``render/copyplan.py``) can copy of a segment runs from its first IDR at
or after ``first + head`` to ``first + frames - tail``, where ``head``/``tail`` are the
crossfade frames (``F``) at a join (0 at the reel's very start and end): a copy may stop
mid-GOP, since what follows it starts with an IDR of its own. Crossfaded frames are blends, so
they are re-encoded whatever we do; the frames between the fade-in and that first IDR are
re-encoded too. The arrangement that re-encodes nothing but the blends is therefore:

* a segment that follows another starts ``F`` frames *before* a keyframe ``K``: its fade-in
  is the ``F`` frames before ``K`` (decoded, blended, re-encoded), and ``K`` onwards is copied;
* a segment that another follows ends ``F`` frames *after* a keyframe ``K'``: its fade-out
  is then decoded from ``K'`` (elsewhere, the frames between the last keyframe and the
  fade-out are decoded only to be thrown away: far cheaper than re-encoding, but not free);
* the reel's first segment starts on a keyframe.

Starting *on* a keyframe at a join would put the IDR under the blend and cost a whole GOP.
Each snap moves a cut by at most ``TOLERANCE`` (1 s, one phone GOP), keeps the selection's
rules (no cut while someone talks, no new shot boundary inside a segment, segment lengths, the
space between segments, quality, most of the highlight score) and keeps the reel within the
same budget. Long-GOP sources (a keyframe every few seconds) rarely have a keyframe within
reach, so nothing moves there.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from .models import HighlightOptions, MediaInfo
from .render.copyplan import GRID_TOLERANCE, copy_refusal, start_frame
from .render.layout import output_rate
from .timeline import Timeline

TOLERANCE = 1.0
"""Most seconds a cut may move to land on a keyframe (and at most one GOP). Enough to reach
the aligned point inside a shot that begins or ends on a keyframe (a GOP less a fade away:
0.73 s with phone GOPs of 1 s and 0.25 s fades) and to trade a GOP of length between
segments to keep the budget. On the 2-minute benchmark (900 reel frames, 72 in crossfades),
the frames re-encoded outside crossfades were 324 with 0.5 s, 78 with 0.8 s and 54 with 1 s
(20 without the score rule below)."""
KEEP_SCORE = 0.85
ADDED_SCORE = 0.3
"""What a stretch a snap adds to a segment must score, at least, against the segment's own
mean: a dull lead-in (a frozen frame before the action) is not taken in for a copy's sake."""
"""A moved segment keeps at least this share of its mean highlight score."""
GOOD_QUALITY = 0.35
"""As in selection: a watchable segment stays watchable."""
MAX_OPTIONS = 12
"""Cut pairs weighed per span (the chosen one and the cheapest others): bounds the search."""
DECODE_COST = 0.15
"""Re-encoded frames one frame decoded and thrown away is worth (1080p: ~2 ms against ~13)."""
MOVE_COST = 0.01
"""Re-encoded frames one frame of moving a cut is worth: ties keep the chosen cut."""

Span = tuple[float, float]


@dataclass(frozen=True)
class _Option:
    start: float
    end: float
    cost: float

    @property
    def length(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class Grid:
    """The source's frame grid, its keyframes on it, and the crossfade in frames."""

    rate: Fraction
    keyframes: np.ndarray
    """Sorted source frame numbers of the keyframes."""
    fade: int

    @classmethod
    def for_media(cls, media: MediaInfo, timeline: Timeline, options: HighlightOptions) -> Grid:
        rate = output_rate(media)
        # The end of the stream counts as a keyframe: the copy plan copies a last GOP that a
        # segment ends with.
        times = [*timeline.keyframes, timeline.duration]
        # The frame at or before each keyframe (within the copy plan's tolerance), not the
        # nearest: a phone's keyframe 0.6 of a frame before the grid's frame (its timestamps
        # stray) was put on that frame, a fade-in placed to end there ended 0.4 of a frame
        # past the keyframe, and the copy began a GOP later (android-vfr: 60 pictures
        # re-encoded at each of two joins).
        frames = np.unique(np.floor(np.asarray(times, float) * float(rate) + GRID_TOLERANCE))
        return cls(rate, frames.astype(np.int64), round(options.crossfade * rate))

    def time(self, frame: int) -> float:
        return round(float(frame / self.rate), 3)

    def near(self, seconds: float, offset: int, tolerance: float) -> list[float]:
        """Times ``offset`` frames from a keyframe, within ``tolerance`` of ``seconds``."""
        rate = float(self.rate)
        lo = np.searchsorted(self.keyframes, (seconds - tolerance) * rate - offset - 1)
        hi = np.searchsorted(self.keyframes, (seconds + tolerance) * rate - offset + 1, "right")
        times = (self.time(int(k) + offset) for k in self.keyframes[lo:hi])
        return [t for t in times if abs(t - seconds) <= tolerance]

    def frames(self, option: _Option) -> int:
        """Reel frames the render gives a segment (as ``Plan.build``: whole frames)."""
        return max(1, round((round(option.end, 3) - round(option.start, 3)) * self.rate))

    def _unblended(self, start: float, end: float, head: int, tail: int) -> tuple[int, int]:
        """Source frames ``low..high`` of the segment ``start..end`` outside its blends."""
        first = start_frame(start, self.rate)
        count = self.frames(_Option(start, end, 0.0))
        return first + head, first + count - tail

    def _first_copied(self, low: int, high: int) -> int | None:
        """The keyframe a copy of frames ``low..high`` starts from (None: nothing to copy)."""
        inside = self.keyframes[(self.keyframes >= low) & (self.keyframes < high)]
        return int(inside[0]) if len(inside) else None

    def reencoded(self, start: float, end: float, head: int, tail: int) -> int:
        """Frames of the segment ``start..end`` outside blends that the copy plan re-encodes."""
        low, high = self._unblended(start, end, head, tail)
        if high <= low:
            return 0
        first_copied = self._first_copied(low, high)
        return high - low if first_copied is None else first_copied - low

    def thrown_away(self, start: float, end: float, head: int, tail: int) -> int:
        """Frames decoded only to reach the fade-out after a copy: from the keyframe before
        the copy's end up to it (none when the fade-out starts a fade after a keyframe)."""
        low, high = self._unblended(start, end, head, tail)
        if tail == 0 or high <= low or self._first_copied(low, high) is None:
            return 0  # no fade-out, or no copy: the segment is decoded straight through
        before = self.keyframes[self.keyframes <= high]
        return int(high - before[-1])


def snap_to_keyframes(
    spans: list[Span],
    media: MediaInfo,
    timeline: Timeline,
    options: HighlightOptions,
    allowed: Callable[[float], bool],
    score: np.ndarray | None = None,
) -> list[Span]:
    """``spans`` (chronological) with cuts moved onto keyframes where that saves re-encoding.

    ``allowed(t)`` says whether a cut may be made at ``t`` (nobody talking); ``score`` is the
    per-grid-point highlight score a moved span must keep (``KEEP_SCORE`` of its own). Returns
    ``spans`` unchanged when the render would re-encode everything anyway or GOPs are long.
    """
    if len(spans) == 0 or len(timeline.keyframes) < 2:
        return spans
    if copy_refusal(media, options) is not None:
        return spans
    gop = float(np.median(np.diff(timeline.keyframes)))
    if gop > options.max_segment:
        return spans
    rules = _Rules(
        Grid.for_media(media, timeline, options),
        timeline,
        options,
        allowed,
        score,
        min(TOLERANCE, gop),
    )
    choices = [_options(spans, n, rules) for n in range(len(spans))]
    reel0 = _reel(spans, options.crossfade)
    low = min(options.duration, reel0) - 1e-6
    high = max(options.duration * 1.05, reel0) + 1e-6
    picked = _fit_budget(choices, rules.grid, options.crossfade, low, high)
    return [(o.start, o.end) for o in picked]


def _reel(spans: list[Span], fade: float) -> float:
    return sum(e - s for s, e in spans) - fade * (len(spans) - 1)


@dataclass(frozen=True)
class _Rules:
    """What a moved span must respect, besides the budget."""

    grid: Grid
    timeline: Timeline
    options: HighlightOptions
    allowed: Callable[[float], bool]
    score: np.ndarray | None
    tolerance: float

    def crossings(self, a: float, b: float) -> int:
        """Shot boundaries inside ``a..b`` (half a frame in from either end)."""
        margin = 0.5 / float(self.grid.rate)
        shots = np.asarray(self.timeline.shots, float)
        return int(((shots > a + margin) & (shots < b - margin)).sum())

    def mean(self, name: str, a: float, b: float) -> float | None:
        values = self.score if name == "score" else self.timeline.signals.get(name)
        return None if values is None else _mean(values, self.timeline.step, a, b)


def _options(spans: list[Span], n: int, rules: _Rules) -> list[_Option]:
    """Every allowed (start, end) for span ``n``, the chosen one first, cheapest next."""
    grid, options = rules.grid, rules.options
    s, e = spans[n]
    head = grid.fade if n > 0 else 0
    tail = grid.fade if n < len(spans) - 1 else 0
    # Each neighbour keeps at least the separation (or the gap there was) between them: the
    # middle of a gap is the line neither side crosses, so every span can move independently.
    lo, hi = 0.0, rules.timeline.duration
    if n > 0:
        lo = _boundary(spans[n - 1][1], s, after=True)
    if n < len(spans) - 1:
        hi = _boundary(e, spans[n + 1][0], after=False)
    starts = [s] + [t for t in grid.near(s, -head, rules.tolerance) if t != s and rules.allowed(t)]
    ends = [e] + [t for t in grid.near(e, tail, rules.tolerance) if t != e and rules.allowed(t)]
    length0 = e - s
    shortest = min(options.min_segment, length0) - 1e-6
    longest = max(options.max_segment, length0) + 1e-6
    crossed = rules.crossings(s, e)
    quality0, score0 = rules.mean("quality", s, e), rules.mean("score", s, e)
    out = [_Option(s, e, _cost(grid, s, e, head, tail, 0.0))]
    for a, b in itertools.product(starts, ends):
        if (a, b) == (s, e) or not (lo <= a and b <= hi and shortest <= b - a <= longest):
            continue
        if rules.crossings(a, b) > crossed:
            continue
        quality = rules.mean("quality", a, b)
        if quality is not None and quality0 is not None and quality0 >= GOOD_QUALITY > quality:
            continue
        score = rules.mean("score", a, b)
        if score is not None and score0 is not None and score < KEEP_SCORE * score0:
            continue
        if score0 is not None and _adds_dull(rules, a, b, s, e, ADDED_SCORE * score0):
            continue
        moved = (abs(a - s) + abs(b - e)) * float(grid.rate)
        out.append(_Option(a, b, _cost(grid, a, b, head, tail, moved)))
    out[1:] = sorted(out[1:], key=lambda o: (o.cost, o.start, o.end))
    return out


def _adds_dull(rules: _Rules, a: float, b: float, s: float, e: float, least: float) -> bool:
    """Whether moving ``s``..``e`` to ``a``..``b`` takes in a stretch scoring under ``least``:
    a second of frozen picture before the action is worse than a re-encoded join."""
    added = [(a, s)] if a < s - 1e-6 else []
    added += [(e, b)] if b > e + 1e-6 else []
    for lo, hi in added:
        mean = rules.mean("score", lo, hi)
        if mean is not None and mean < least:
            return True
    return False


def _boundary(end: float, start: float, after: bool) -> float:
    """The nearest a span may come to the gap ``end..start`` from one side (``after``: the
    later span's earliest start; else the earlier span's latest end)."""
    gap = start - end
    keep = min(0.3, max(0.0, gap))
    middle = (end + start) / 2
    return min(start, middle + keep / 2) if after else max(end, middle - keep / 2)


def _cost(grid: Grid, a: float, b: float, head: int, tail: int, moved: float) -> float:
    return (
        grid.reencoded(a, b, head, tail)
        + DECODE_COST * grid.thrown_away(a, b, head, tail)
        + MOVE_COST * moved
    )


def _mean(values: np.ndarray, step: float, a: float, b: float) -> float:
    i = max(0, min(len(values) - 1, round(a / step)))
    j = max(i + 1, min(len(values), round(b / step)))
    return float(np.mean(values[i:j]))


def _fit_budget(
    choices: list[list[_Option]], grid: Grid, crossfade: float, low: float, high: float
) -> list[_Option]:
    """One option per span, least total cost, with the reel within ``low..high`` seconds.

    The reel must fit both as selection counts it (seconds, ``crossfade`` per join) and as the
    render does (whole frames per segment, ``grid.fade`` frames per join). Moves that save
    re-encoding often shorten a segment while the budget is only 5% wide, so spans trade
    length: a small knapsack over the reel's length in frames. The chosen spans (each list's
    option 0) are the fallback.
    """
    choices = [options[:MAX_OPTIONS] for options in choices]
    for margin in (0, 1, 2):
        picked = _knapsack(choices, grid, low, high, margin)
        if (
            picked is not None
            and low <= _reel([(o.start, o.end) for o in picked], crossfade) <= high
        ):
            return picked
    return [options[0] for options in choices]


def _knapsack(
    choices: list[list[_Option]], grid: Grid, low: float, high: float, margin: int
) -> list[_Option] | None:
    """Least-cost picks whose reel (in frames, ``margin`` frames inside the bounds) fits."""
    frames = [np.array([grid.frames(o) for o in options], np.int64) for options in choices]
    lowest = 0  # total segment frames that index 0 of ``cost`` stands for
    cost = np.zeros(1)
    picks: list[np.ndarray] = []
    for options, count in zip(choices, frames, strict=True):
        new_lowest = lowest + int(count.min())
        size = len(cost) + int(count.max() - count.min())
        new = np.full(size, np.inf)
        pick = np.zeros(size, np.int16)
        for j, option in enumerate(options):
            at = int(count[j] - count.min())
            trial = cost + option.cost
            window = new[at : at + len(cost)]
            better = trial < window
            window[better] = trial[better]
            pick[at : at + len(cost)][better] = j
        cost, lowest = new, new_lowest
        picks.append(pick)
    reel = (np.arange(len(cost)) + lowest - grid.fade * (len(choices) - 1)) / float(grid.rate)
    step = margin / float(grid.rate)
    fits = (reel >= low + step) & (reel <= high - step) & np.isfinite(cost)
    if not fits.any():
        return None
    state = int(np.flatnonzero(fits)[np.argmin(cost[fits])])
    out: list[_Option] = []
    for options, count, pick in zip(
        reversed(choices), reversed(frames), reversed(picks), strict=True
    ):
        j = int(pick[state])
        out.append(options[j])
        state -= int(count[j] - count.min())
    return out[::-1]
