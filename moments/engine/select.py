"""Choosing segments under the time budget, with variety, snapped to good cut points.

Every grid point gets a score from the timeline's signals; candidate windows run between
allowed cut points (shot boundaries, pauses in the audio, and anywhere nobody is talking);
a greedy pass takes the best window that still fits, discounted when it looks like a window
already taken or sits right next to one, until the reel reaches the target length. Last,
cuts move (a little) onto keyframes where that lets a smart render copy more (``align``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from .align import snap_to_keyframes
from .models import HighlightOptions, MediaInfo, Segment
from .timeline import Timeline

GOOD_QUALITY = 0.35
"""Windows whose mean quality is below this (dark, blurred, pocket) are not worth keeping."""
OVER = 1.05
"""The reel may be at most 5% longer than asked."""
FREE_CUT_EVERY = 0.5
SHORTLIST = 200
SEPARATION = 0.3
"""Seconds kept between two chosen windows of the same shot."""
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


def frame_scores(timeline: Timeline) -> np.ndarray:
    """Per grid point: how much of a highlight it is (0 for unwatchable footage)."""
    s = timeline.signals
    zeros = np.zeros(len(timeline.times))
    shake = s.get("shake", zeros)
    interest = (
        0.45 * s.get("motion", zeros) * (1.0 - shake)
        + 0.35 * s.get("audio", zeros)
        + 0.2 * s.get("faces", zeros)
        + 0.15 * s.get("speech", zeros)
    )
    quality = s.get("quality", zeros + 1.0)
    return (0.1 + interest) * quality**2 * (1.0 - 0.5 * shake)


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


def select(media: MediaInfo, timeline: Timeline, options: HighlightOptions) -> list[Segment]:
    """Pick chronologically ordered segments whose joined length fits ``options.duration``."""
    score = frame_scores(timeline)
    points = cut_points(timeline)
    fade = options.crossfade
    if timeline.duration <= options.duration * OVER:
        spans = _good_runs(timeline, points, options)
    else:
        cands = _candidates(points, timeline, score, options)
        spans = _greedy(cands, timeline, score, options)
        spans = _fill(spans, points, timeline, score, options)
        if reel_length(spans, fade) < options.duration:
            # Shots too short for the windows (rapid editing, or cuts found where there are
            # none): a reel short of its target is worse than a window across a cut.
            loose = _candidates(points, timeline, score, options, within_shots=False)
            spans = _greedy(loose, timeline, score, options, chosen=spans)
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
    inside = np.searchsorted(shots, end - 0.05) - np.searchsorted(shots, start + 0.05, "right")
    if within_shots and (inside == 0).any():
        start, end = start[inside == 0], end[inside == 0]
    order = np.lexsort((end, start))
    start, end = start[order], end[order]
    quality = timeline.signals.get("quality", np.ones(len(score)))
    return _Candidates(
        start,
        end,
        _window_mean(score, timeline.step, start, end),
        _window_mean(quality, timeline.step, start, end),
    )


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
):
    """Add windows to ``chosen`` (none by default), best first, until the target is reached."""
    target, fade = options.duration, options.crossfade
    chosen = list(chosen or [])
    looks: list[np.ndarray | None] = [_signature(timeline, s, e) for s, e in chosen]
    if len(cands.start) == 0:
        return chosen
    # Prefer longer windows a little: equal interest, fewer joins.
    base = cands.mean * (cands.length / options.max_segment) ** 0.25
    good = cands.quality >= GOOD_QUALITY
    if not good.any():
        good = cands.quality >= cands.quality.max() - 1e-9  # nothing good: the least bad
    alive = good.copy()
    for s, e in chosen:
        alive &= (cands.end <= s - SEPARATION) | (cands.start >= e + SEPARATION)
    spread = max(timeline.duration / max(1.0, target / options.max_segment) / 2, 1.0)
    while True:
        reel = reel_length(chosen, fade)
        if reel >= target:
            break
        fits = reel + cands.length - (fade if chosen else 0.0) <= target * OVER
        pool = np.flatnonzero(alive & fits)
        if len(pool) == 0:
            break
        pool = pool[np.argsort(-base[pool], kind="stable")[:SHORTLIST]]
        best, best_value = -1, -np.inf
        for k in pool:
            s, e = float(cands.start[k]), float(cands.end[k])
            value = float(base[k])
            if chosen:
                gap = min(max(cs - e, s - ce, 0.0) for cs, ce in chosen)
                value *= 1.0 - 0.3 * np.exp(-gap / spread)
                look = _signature(timeline, s, e)
                if look is not None:
                    similar = max(float(look @ other) for other in looks if other is not None)
                    # Near-duplicate takes (correlation above ~0.8) lose most of their value.
                    value *= 1.0 - 0.9 * np.clip((similar - 0.6) / 0.3, 0.0, 1.0)
            if value > best_value:
                best, best_value = int(k), value
        s, e = float(cands.start[best]), float(cands.end[best])
        chosen.append((s, e))
        looks.append(_signature(timeline, s, e))
        alive &= (cands.end <= s - SEPARATION) | (cands.start >= e + SEPARATION)
    return chosen


def _fill(spans, points, timeline: Timeline, score, options: HighlightOptions):
    """Grow chosen windows to neighbouring cut points while the reel is short of the target."""
    target, fade = options.duration, options.crossfade
    shots = sorted(timeline.shots)
    spans = sorted(spans)
    quality = timeline.signals.get("quality", np.ones(len(score)))
    while spans and reel_length(spans, fade) < target:
        reel = reel_length(spans, fade)
        best = None
        for n, (s, e) in enumerate(spans):
            lo = spans[n - 1][1] + SEPARATION if n > 0 else 0.0
            hi = spans[n + 1][0] - SEPARATION if n + 1 < len(spans) else timeline.duration
            before = points[(points < s) & (points >= lo)]
            after = points[(points > e) & (points <= hi)]
            options_ = []
            if len(before):
                options_.append((float(before[-1]), e, float(before[-1]), s))
            if len(after):
                options_.append((s, float(after[0]), e, float(after[0])))
            for ns, ne, a, b in options_:
                crosses = any(min(ns, ne) + 0.05 < c < max(ns, ne) - 0.05 for c in shots)
                grown = reel + (ne - ns) - (e - s)
                if ne - ns > options.max_segment + 1e-6 or grown > target * OVER or crosses:
                    continue
                if float(_window_mean(quality, timeline.step, a, b)) < GOOD_QUALITY:
                    continue
                value = float(_window_mean(score, timeline.step, a, b))
                if best is None or value > best[0]:
                    best = (value, n, ns, ne)
        if best is None:
            break
        _, n, ns, ne = best
        spans[n] = (ns, ne)
    return spans


def _good_runs(timeline: Timeline, points, options: HighlightOptions):
    """For a short input: every stretch of watchable footage, cut at allowed points."""
    quality = timeline.signals.get("quality", np.ones(len(timeline.times)))
    good = quality >= GOOD_QUALITY
    spans: list[tuple[float, float]] = []
    edges = np.flatnonzero(np.diff(np.concatenate([[0], good.astype(np.int8), [0]])))
    for a, b in zip(edges[::2], edges[1::2], strict=True):
        t0, t1 = a * timeline.step, min(timeline.duration, b * timeline.step)
        inner = points[(points >= t0 - 1e-6) & (points <= t1 + 1e-6)]
        if len(inner) >= 2 and inner[-1] - inner[0] >= min(options.min_segment, 0.5):
            spans.append((float(inner[0]), float(inner[-1])))
    if not spans and len(points) >= 2:
        spans.append((float(points[0]), float(points[-1])))  # all poor: the least bad is all
    return spans


def window_signals(timeline: Timeline, start: float, end: float) -> dict[str, float]:
    """Each signal's mean over ``start``..``end`` seconds, rounded for the result document."""
    return {
        name: round(float(_window_mean(values, timeline.step, start, end)), 3)
        for name, values in sorted(timeline.signals.items())
    }


def _segment(start: float, end: float, out: float, timeline: Timeline, score) -> Segment:
    signals = window_signals(timeline, start, end)
    focus = (0.5, 0.5)
    if timeline.focus is not None and len(timeline.focus):
        i = max(0, round(start / timeline.step))
        j = min(len(timeline.focus), max(i + 1, round(end / timeline.step)))
        fx, fy = timeline.focus[i:j].mean(axis=0)
        focus = (round(float(fx), 3), round(float(fy), 3))
    return Segment(
        source_start=round(start, 3),
        source_end=round(end, 3),
        output_start=round(out, 3),
        score=round(float(_window_mean(score, timeline.step, start, end)), 4),
        signals=signals,
        reason=reason(signals, _shake_around(timeline, start, end)),
        focus=focus,
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


def reason(signals: dict[str, float], shake_nearby: float = 0.0) -> str:
    """A short explanation (one to three parts) from a segment's strongest signals.

    The words depend on context so that they read true: excitement in the sound while someone
    talks is lively speech, not a crowd; "cheering" is loud excitement with nobody talking.
    ``shake_nearby`` (0..1) is the camera shake just outside the segment: a steady segment cut
    out of shaky footage says so.
    """
    audio, speech = signals.get("audio", 0.0), signals.get("speech", 0.0)
    shake = signals.get("shake", 0.0)
    motion = signals.get("motion", 0.0) * (1 - shake)  # a shaking camera is not action
    found = [
        (motion, "fast motion" if motion >= FAST else "movement"),
        (signals.get("faces", 0.0), "faces"),
    ]
    if speech >= 0.5:
        found.append((max(0.8 * speech, audio), "lively speech" if audio >= 0.3 else "speech"))
    elif audio >= 0.3:
        found.append((audio, "cheering" if audio >= 0.5 else "lively sound"))
    parts = [label for value, label in sorted(found, key=lambda f: -f[0]) if value >= 0.3][:2]
    if not parts:
        steady = signals.get("quality", 1.0) >= 0.7 and shake < 0.3
        parts = ["steady, well-lit shot" if steady else "the best of what there is"]
    if shake_nearby >= 0.5 and shake < 0.2:
        parts.append("camera shake avoided")
    return " + ".join(parts)
