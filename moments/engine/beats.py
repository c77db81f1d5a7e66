"""Cutting to the music: the chosen segments' lengths moved so every cut lands on a beat.

A small step after selection. The song plays from its start at the reel's start, so a beat at
``t`` seconds into the song is at ``t`` in the reel. Walking the segments in reel order, each
one's end goes to the beat nearest its chosen length — a bar line where one is near, so that
lengths follow the music's bars — growing into the footage around it or trimmed at its end.
Cuts are whole frames: a cut at beat ``t`` is at frame ``round(t * rate)``, at most half a frame
(17 ms at 30 fps) from the beat. The last segment ends on a bar line: the one nearest the
asked length, or, where the footage does not reach it, the one it reaches.
"""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction

import numpy as np

from .models import HighlightOptions, Segment

OVER = 1.05
"""The reel may be at most 5% longer than asked (as for selection)."""
SHORTEST = 0.6
"""A segment may shrink to this share of ``min_segment`` (or of its own length, if shorter)
to reach a beat."""
SAME_CUT = 0.05
"""Seconds within which a segment's end is taken to be at a shot's cut."""
BAR_REACH = 0.5
"""Bars from its chosen end within which a segment ends on a bar line rather than a beat."""


def footage_bounds(
    segments: list[Segment], source_duration: float, shots: list[float] | None = None
) -> list[tuple[float, float]]:
    """How far each of one video's chronological ``segments`` may grow (source seconds): into
    the unused footage beside it, up to half way to its neighbour, never across a cut of
    ``shots`` (the footage past a cut was not chosen)."""
    cuts = np.asarray(shots or [], dtype=float)
    bounds = []
    for index, segment in enumerate(segments):
        lo = (segments[index - 1].source_end + segment.source_start) / 2 if index else 0.0
        hi = (
            (segment.source_end + segments[index + 1].source_start) / 2
            if index + 1 < len(segments)
            else source_duration
        )
        behind = cuts[cuts <= segment.source_start + SAME_CUT]
        ahead = cuts[cuts >= segment.source_end - SAME_CUT]
        lo = max(lo, float(behind.max()) if len(behind) else lo)
        hi = min(hi, float(ahead.min()) if len(ahead) else hi)
        bounds.append((min(lo, segment.source_start), max(hi, segment.source_end)))
    return bounds


def snap_to_beats(
    segments: list[Segment],
    bounds: list[tuple[float, float]],
    beats: np.ndarray,
    downbeats: np.ndarray,
    rate: Fraction,
    options: HighlightOptions,
) -> list[Segment]:
    """``segments`` (in reel order, joined without crossfades) with their ends on ``beats``
    (seconds of reel time) and the reel's end on one of ``downbeats``.

    Segments grow within their ``bounds`` (source seconds: :func:`footage_bounds`) or shrink
    from their end; one that cannot reach a beat is left out. ``output_start`` is where each
    now starts in the reel.
    """
    beats = np.asarray(beats, dtype=float)
    bars = set(np.round(np.asarray(downbeats, dtype=float), 4).tolist())
    bar = float(np.median(np.diff(downbeats))) if len(downbeats) > 1 else 2.0
    # How near the asked length counts as there: half a bar, up to a second (a slow song's
    # bar is long, and the reel would stop seconds short).
    near = min(0.5 * bar, 1.0)
    target = options.duration
    out: list[Segment] = []
    position = 0  # output frame where the next segment starts
    for index, segment in enumerate(segments):
        start_s = position / rate
        if start_s >= target - near and out:
            break
        lo, hi = bounds[index]
        before = max(0.0, segment.source_start - lo)
        after = max(0.0, hi - segment.source_end)
        length = segment.duration
        longest = min(max(options.max_segment, length), length + before + after)
        shortest = SHORTEST * min(length, options.min_segment)
        ends = beats[(beats - start_s >= shortest) & (beats - start_s <= longest)]
        ends = ends[ends <= target * OVER]
        if not len(ends):
            continue
        last = index == len(segments) - 1 or start_s + length >= target - near
        wanted = target if last else start_s + length
        on_bars = np.asarray([t for t in ends if round(float(t), 4) in bars])
        near_bars = on_bars[np.abs(on_bars - wanted) <= BAR_REACH * bar] if len(on_bars) else []
        # The reel ends on a bar line (where the music comes to rest), even a bar short.
        pool = near_bars if len(near_bars) else on_bars if last and len(on_bars) else ends
        end_s = float(pool[np.argmin(np.abs(np.asarray(pool) - wanted))])
        end_frame = round(end_s * rate)
        if end_frame <= position:
            continue
        new_length = float((end_frame - position) / rate)
        grow = max(0.0, new_length - length)
        later = min(grow, after)
        source_start = segment.source_start - min(grow - later, before)
        out.append(
            replace(
                segment,
                source_start=round(source_start, 3),
                source_end=round(source_start + new_length, 3),
                output_start=round(float(position / rate), 3),
            )
        )
        position = end_frame
        if last:
            break
    return out


def music_options(
    options: HighlightOptions, downbeats: np.ndarray, music_seconds: float
) -> tuple[HighlightOptions, list[str]]:
    """The options a reel set to music is made with, and sentences on what changed.

    Cuts are hard (no crossfade): a dissolve smears the cut over a quarter second, and the
    point of cutting to music is that the picture changes on the beat. The reel is no longer
    than the song's last bar line.
    """
    notes: list[str] = []
    duration = options.duration
    last_bar = float(downbeats[-1]) if len(downbeats) > 1 else music_seconds
    if 1.0 <= last_bar < duration:
        notes.append(
            f"The music is {music_seconds:.0f} s long, so the reel is about {last_bar:.0f} s "
            f"rather than {duration:.0f} s (it ends with the music's last bar)."
        )
        duration = last_bar
    return replace(options, crossfade=0.0, duration=duration), notes
