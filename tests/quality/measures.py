"""Figures of a reel against a clip's labels, and the naive reel they are compared with.

A reel is judged by its picks (source spans) and its poster; the same figures are computed
for the NAIVE reel: evenly spaced picks of the same total length and the same number of segments,
its poster the frame in the middle of its middle pick. A figure that the engine does no better on
than the naive reel is a figure the engine's choices are not earning.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path

import av
import cv2
import numpy as np

from .footage import CARDS, DULL, LIVE, Clip, source_frames

Span = tuple[float, float]

JUMP_GAP = 3.0
"""Two picks of one shot closer than this (source seconds) make a jump cut."""
EDGE = 0.3
"""A pick's end (start) belongs to the shot it shows this long before (after) it: a cut placed a
few frames past a shot boundary does not make the pick end in the next shot."""
COVERED = 1.0
"""Seconds of a live stretch that must be in the reel for it to count as covered."""


def total(spans: list[Span]) -> float:
    return sum(e - s for s, e in spans)


def naive_picks(duration: float, count: int, seconds: float) -> list[Span]:
    """``count`` picks of equal length, ``seconds`` in all, evenly spaced over the clip."""
    count = max(1, count)
    length = min(seconds / count, duration / count)
    centres = [(k + 0.5) * duration / count for k in range(count)]
    return [(round(c - length / 2, 3), round(c + length / 2, 3)) for c in centres]


def overlap(spans: list[Span], start: float, end: float) -> float:
    return sum(max(0.0, min(e, end) - max(s, start)) for s, e in spans)


def seconds_in(clip: Clip, spans: list[Span], kinds: frozenset[str] | set[str]) -> float:
    """Seconds of the picks that lie in stretches of ``kinds``."""
    return sum(overlap(spans, lab.start, lab.end) for lab in clip.labels if lab.kind in kinds)


def by_kind(clip: Clip, spans: list[Span]) -> dict[str, float]:
    found: dict[str, float] = {}
    for lab in clip.labels:
        found[lab.kind] = found.get(lab.kind, 0.0) + overlap(spans, lab.start, lab.end)
    return {k: round(v, 2) for k, v in found.items() if v > 0}


def live_covered(clip: Clip, spans: list[Span]) -> tuple[int, int]:
    """(live stretches with at least ``COVERED`` s in the reel, live stretches)."""
    live = [lab for lab in clip.labels if lab.kind in LIVE]
    got = sum(
        1 for lab in live if overlap(spans, lab.start, lab.end) >= min(COVERED, lab.end - lab.start)
    )
    return got, len(live)


def jump_cuts(clip: Clip, spans: list[Span]) -> list[tuple[Span, Span]]:
    """Pairs of picks in the same ground-truth shot less than ``JUMP_GAP`` s apart."""
    found = []
    for a, b in itertools.combinations(sorted(spans), 2):
        gap = b[0] - a[1]
        end = a[1] - min(EDGE, (a[1] - a[0]) / 2)
        start = b[0] + min(EDGE, (b[1] - b[0]) / 2)
        if 0.0 <= gap < JUMP_GAP and clip.shot_at(end) == clip.shot_at(start):
            found.append((a, b))
    return found


def talk_kept(clip: Clip, spans: list[Span]) -> float | None:
    """Seconds of talk in the reel / min(talk there is, seconds in the reel); None: no talk."""
    talk = clip.seconds_of({"talk"})
    if talk <= 0 or not spans:
        return None
    return seconds_in(clip, spans, {"talk"}) / min(talk, total(spans))


def iou(a: list[Span], b: list[Span]) -> float:
    """Intersection over union of the source time two sets of picks cover."""
    inter = sum(overlap(b, s, e) for s, e in _union(a))
    union = total(_union(a)) + total(_union(b)) - inter
    return inter / union if union > 0 else 1.0


def _union(spans: list[Span]) -> list[Span]:
    merged: list[list[float]] = []
    for s, e in sorted(spans):
        if merged and s <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], e)
        else:
            merged.append([s, e])
    return [(s, e) for s, e in merged]


def brightness(rgb: np.ndarray) -> float:
    """Mean luma, 0..255."""
    return float(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).mean())


@dataclass
class Figures:
    length: float
    asked: float
    segments: int
    dull: float
    """Seconds of the reel's picks in dull stretches (DULL)."""
    cards: float
    """...of which in black, title, frozen or static stretches (CARDS)."""
    kinds: dict[str, float]
    covered: tuple[int, int]
    jumps: int
    talk: float | None
    poster_brightness: float | None
    poster_time: float | None
    poster_kind: str | None
    picked: float = 0.0
    """Source seconds picked (more than ``length`` by the crossfades)."""
    notes: list[str] = field(default_factory=list)

    @property
    def covered_share(self) -> float:
        got, n = self.covered
        return got / n if n else 1.0

    @property
    def poster_dull(self) -> bool | None:
        return None if self.poster_kind is None else self.poster_kind in DULL


def figures(
    clip: Clip,
    spans: list[Span],
    length: float,
    asked: float,
    poster: np.ndarray | None,
    poster_time: float | None,
    notes: list[str] | None = None,
) -> Figures:
    return Figures(
        length=round(length, 2),
        asked=asked,
        segments=len(spans),
        dull=round(seconds_in(clip, spans, DULL), 2),
        cards=round(seconds_in(clip, spans, CARDS), 2),
        kinds=by_kind(clip, spans),
        covered=live_covered(clip, spans),
        jumps=len(jump_cuts(clip, spans)),
        talk=talk_kept(clip, spans),
        poster_brightness=None if poster is None else round(brightness(poster), 1),
        poster_time=poster_time,
        poster_kind=None if poster_time is None else clip.kind_at(poster_time),
        picked=round(total(spans), 2),
        notes=list(notes or []),
    )


# --- one evaluated run ------------------------------------------------------------------------


@dataclass
class Run:
    clip: Clip
    asked: float
    result: object
    """The engine's HighlightResult."""
    spans: list[Span]
    engine: Figures
    naive_spans: list[Span]
    naive: Figures
    sheet_frames: list[tuple[float, np.ndarray]]
    """(reel seconds, RGB) one per second of the reel, for the contact sheet."""

    @property
    def notes(self) -> list[str]:
        return list(getattr(self.result, "notes", []) or [])


def evaluate(clip: Clip, seconds: float, folder: Path) -> Run:
    """Make a reel of ``clip`` ``seconds`` long into ``folder`` and measure it and the naive
    reel."""
    from moments.engine import HighlightOptions, highlight

    folder.mkdir(parents=True, exist_ok=True)
    out = folder / f"{clip.name.replace('@', '.')}.{seconds:g}s.mp4"
    result = highlight(clip.path, out, HighlightOptions(duration=seconds))
    spans = [(s.source_start, s.source_end) for s in result.segments]
    times, small, sheet = _read_reel(result.output)
    poster = _read_rgb(result.poster) if result.poster else None
    poster_time = None
    if poster is not None and len(small):
        # Where the poster was taken: the reel instant that looks most like it, mapped back to
        # source time through the segments (independent of how the engine chose it).
        errors = np.abs(small - _tiny(poster)[None]).mean(axis=(1, 2))
        poster_time = _source_time(result.segments, float(times[int(np.argmin(errors))]))
    notes = list(getattr(result, "notes", []) or [])
    engine = figures(clip, spans, result.duration, seconds, poster, poster_time, notes)
    naive_spans = naive_picks(clip.duration, len(spans), total(spans))
    middle = naive_spans[len(naive_spans) // 2]
    naive_time = (middle[0] + middle[1]) / 2
    naive_poster = next(source_frames(clip.path, naive_time, 1, 25, (320, 180)))
    naive = figures(clip, naive_spans, result.duration, seconds, naive_poster, naive_time)
    return Run(clip, seconds, result, spans, engine, naive_spans, naive, sheet)


def _tiny(rgb: np.ndarray) -> np.ndarray:
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    return cv2.resize(gray, (64, 36), interpolation=cv2.INTER_AREA).astype(np.float32)


def _read_rgb(path: Path) -> np.ndarray | None:
    bgr = cv2.imread(str(path))
    return None if bgr is None else cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _read_reel(path: Path):
    """Every frame of the reel as a tiny grey image, and one RGB frame per second (at k+0.5)."""
    times: list[float] = []
    small: list[np.ndarray] = []
    sheet: list[tuple[float, np.ndarray]] = []
    first = None
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for frame in container.decode(stream):
            t = float(frame.time or 0.0)
            first = t if first is None else first
            t -= first
            rgb = frame.to_ndarray(format="rgb24")
            times.append(t)
            small.append(_tiny(rgb))
            if t >= len(sheet) + 0.5:
                sheet.append((t, rgb))
    return np.asarray(times), np.asarray(small), sheet


def _source_time(segments, reel_time: float) -> float:
    """The source instant shown at ``reel_time`` (the later segment during a crossfade)."""
    chosen = segments[0]
    for seg in segments:
        if seg.output_start <= reel_time + 1e-6:
            chosen = seg
    return min(chosen.source_end, chosen.source_start + reel_time - chosen.output_start)


def reel_kind(run: Run, reel_time: float) -> tuple[int, float, str]:
    """(segment index, source seconds, labelled kind) shown at ``reel_time`` of the reel."""
    segments = run.result.segments
    index = 0
    for n, seg in enumerate(segments):
        if seg.output_start <= reel_time + 1e-6:
            index = n
    t = _source_time(segments, reel_time)
    return index, t, run.clip.kind_at(t)


# --- the table --------------------------------------------------------------------------------


def _pair(a, b, fmt: str = "{:.1f}") -> str:
    def one(x):
        if x is None:
            return "-"
        if isinstance(x, str):
            return x
        return fmt.format(x)

    return f"{one(a)} | {one(b)}"


COLUMNS = (
    ("clip", 24),
    ("ask", 4),
    ("got", 5),
    ("segs", 4),
    ("dull s (eng|naive)", 18),
    ("cards s", 11),
    ("live covered", 13),
    ("jump cuts", 9),
    ("talk kept", 11),
    ("poster luma", 13),
    ("poster in", 21),
)


def table(runs: list[Run]) -> str:
    """One row per run, each engine figure beside the naive reel's."""
    widths = [
        max([w, *(len(r.clip.name) for r in runs)]) if n == 0 else w
        for n, (_, w) in enumerate(COLUMNS)
    ]
    head = "  ".join(name.ljust(width) for (name, _), width in zip(COLUMNS, widths, strict=True))
    lines = [head, "-" * len(head)]
    for run in runs:
        e, n = run.engine, run.naive
        cells = [
            run.clip.name,
            f"{run.asked:g}",
            f"{e.length:.1f}",
            str(e.segments),
            _pair(e.dull, n.dull),
            _pair(e.cards, n.cards),
            f"{e.covered[0]}/{e.covered[1]} | {n.covered[0]}/{n.covered[1]}",
            _pair(e.jumps, n.jumps, "{:d}"),
            _pair(e.talk, n.talk, "{:.2f}"),
            _pair(e.poster_brightness, n.poster_brightness, "{:.0f}"),
            _pair(e.poster_kind, n.poster_kind),
        ]
        lines.append("  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip())
    return "\n".join(lines)


def iou_table(runs: list[Run]) -> str:
    """IoU of the picks between every two encodings of the same content and reel length."""
    groups: dict[tuple[str, float], list[Run]] = {}
    for run in runs:
        groups.setdefault((run.clip.content, run.asked), []).append(run)
    lines = ["content @ reel          encoding A    encoding B    IoU eng | naive"]
    for (content, asked), group in groups.items():
        for a, b in itertools.combinations(group, 2):
            lines.append(
                f"{content + ' @ ' + format(asked, 'g'):23} {a.clip.encoding:13} "
                f"{b.clip.encoding:13} {iou(a.spans, b.spans):.2f} | "
                f"{iou(a.naive_spans, b.naive_spans):.2f}"
            )
    return "\n".join(lines)
