"""Container-level facts (nearly free: demux only) and the sparse decode plan built from them."""

from __future__ import annotations

import time
from dataclasses import dataclass

import av
import numpy as np

from ..models import Limits, MediaInfo
from ..probe import MIN_FPS, check_length, check_timing
from ..progress import Reporter
from .idr import IdrReader

PAIR_RUN = 3
"""Packets decoded at least after every keyframe: the keyframe and two successors give two
pairs of truly consecutive frames (motion, camera shake) per group of pictures."""
COARSE_MIN_GOPS = 24
"""Fewer GOPs than this (a short clip, or long GOPs): one pass, a second would save little."""
COARSE_MAX_SPACING = 2.5
"""Seconds between the GOPs of the coarse pass at most: every other phone GOP (2 s) is
sampled; with longer GOPs every one is, in one pass."""
RUN_EVERY = 1.2
"""Seconds a GOP may span and still be measured by its first frames alone; a longer one is
measured by runs inside it too, on a grid of whole seconds (``GRID``) from the stream's start,
so that encodings whose keyframes fall in different places are measured at the same times (a
run inside a GOP needs every picture before it decoded, not measured). Measured at its start
alone, a 2 s GOP's second half was its first held over (the same footage with a keyframe every
1 s and every 2 s: picks of a fixed camera over people walking overlapping by 0.71-0.77);
decoded whole, a long GOP cost up to twice a full decode (every frame measured: OpenCV's
vtest.avi with a keyframe every 8.3 s, 2.05 of a full decode's processor time); spread evenly
through each GOP instead of on the grid, vtest.avi's 30 s picks across five encodings
overlapped by 0.35 / 0.48 / 0.57 (min / median / mean), on the grid by 0.74 / 0.96 / 0.88.
Phones write a keyframe every second: one run, at the keyframe, as before."""
SPIKE = 4.0
"""A predicted frame this many times larger than the median of its neighbours is mostly coded
afresh: where an encoder without scene-cut keyframes puts a cut."""
STANDS = 2.0
"""...and at least this many times the 90th percentile of the others: with B-frames the
median is a B-frame, which a still picture codes in almost nothing, so every P-frame of a
talking head in HEVC was four times the median (13-19 against 2-4) and five cuts, 0.32 s apart,
were found in the second before a real one. The largest P-frames set the 90th percentile."""


SHIFT = 6.0
"""Predicted frames of a skipped stretch whose median size changes this many times from one
point on were coded from another picture from there: a cut into a simpler one (a car interior
to a green screen: P- and B-frames of 5-14 kB, then of 0.07-1.3 kB) codes no outsized frame,
and was placed at the keyframe after the stretch, 0.7 s late and the stretch before it unsure
(scored nothing) at 720p, while the 360p encoding, decoded whole, saw it where it is. Within
a shot, frame sizes follow motion, which changes less abruptly."""
SHIFT_SIDE = 4
"""Predicted frames each side of a change of level at least (with B-frames sizes alternate)."""


@dataclass(frozen=True)
class PacketIndex:
    """Every video packet of the file, in decode order."""

    times: np.ndarray
    """Presentation time of each packet in seconds (NaN when the container gives none)."""
    sizes: np.ndarray
    keyframe: np.ndarray
    idr: np.ndarray | None = None
    """Which keyframes are IDR pictures (see :mod:`.idr`); None: none known to be."""
    reference: np.ndarray | None = None
    """Which packets are pictures others may refer to, the ones analysis's decoder shows (it
    skips the rest: see :meth:`.idr.IdrReader.is_reference`); None: all of them."""


def index_packets(
    container: av.container.InputContainer,
    stream: av.stream.Stream,
    reporter: Reporter,
    media: MediaInfo | None = None,
    limits: Limits | None = None,
) -> PacketIndex:
    """Demux (without decoding) the video stream: packet sizes, times and keyframe flags.

    With ``media`` and ``limits``, the file's headers are not trusted for its length: the sound's
    packets are read too (not indexed), and a packet past the length cap from the start stops
    the reading with an :class:`EngineError`, as does video whose pictures are on average
    further apart than ``MIN_FPS`` allows. A header may say 1 s over 3 hours of pictures.
    """
    times: list[float] = []
    sizes: list[int] = []
    keys: list[bool] = []
    idr: list[bool] = []
    reference: list[bool] = []
    reader = IdrReader(stream.codec_context.name, bytes(stream.codec_context.extradata or b""))
    base = float(stream.time_base or 0)
    streams = [stream]
    checked = media is not None and limits is not None
    if checked and media.audio_stream is not None:
        streams.append(container.streams[media.audio_stream])
    last = time.monotonic()
    # Each stream's time base as a float, once: PyAV makes a Fraction on every access. Indexing
    # the 2-minute benchmark clip (9,226 packets) took 0.115-0.16 s of processor time, now 0.11.
    bases = {s.index: float(s.time_base or 0) for s in streams}
    for packet in container.demux(streams):
        if packet.size == 0:
            continue  # the flush packet demux yields at the end
        if checked:
            _check_packet(packet, bases[packet.stream_index], media, limits)
            if packet.stream_index != stream.index:
                continue
        times.append(packet.pts * base if packet.pts is not None else float("nan"))
        sizes.append(packet.size)
        keys.append(bool(packet.is_keyframe))
        data = memoryview(packet)
        idr.append(keys[-1] and reader.is_idr(data))
        reference.append(reader.is_reference(data))
        if time.monotonic() - last > 0.1:
            last = time.monotonic()
            reporter.check()
    index = PacketIndex(
        np.array(times),
        np.array(sizes, dtype=np.int64),
        np.array(keys, bool),
        np.array(idr, bool),
        np.array(reference, bool),
    )
    if checked:
        _check_spacing(index, media)
    return index


def _check_packet(packet: av.Packet, base: float, media: MediaInfo, limits: Limits) -> None:
    """Refuse the file once a packet lies past the length cap (pts, or dts where none; ``base``:
    its stream's time base)."""
    stamp = packet.pts if packet.pts is not None else packet.dts
    if stamp is None or not base:
        return
    check_length(media.path, stamp * base - media.start_time, media.duration, limits)


def _check_spacing(index: PacketIndex, media: MediaInfo) -> None:
    """Refuse pictures that are on average too far apart to be a video (frames lasting
    minutes): the span of their times against their number."""
    finite = index.times[np.isfinite(index.times)]
    if len(finite) < 2:
        return
    spacing = float(finite.max() - finite.min()) / (len(finite) - 1)
    if spacing > 1.0 / MIN_FPS:
        check_timing(media.path, 1.0 / spacing, spacing)


def keyframe_times(index: PacketIndex, offset: float = 0.0) -> list[float]:
    """Sorted times (seconds from ``offset``, the stream start) of the keyframe packets."""
    times = index.times[index.keyframe] - offset
    return sorted({round(float(t), 4) for t in times if np.isfinite(t)})


def _gops(index: PacketIndex) -> tuple[np.ndarray, np.ndarray]:
    """Start and end (exclusive) packet numbers of every group of pictures."""
    n = len(index.sizes)
    starts = np.flatnonzero(index.keyframe)
    if len(starts) == 0 or starts[0] != 0:
        starts = np.concatenate([[0], starts]).astype(int)
    return starts, np.append(starts[1:], n)


def _gop_numbers(index: PacketIndex) -> np.ndarray:
    """The number of the group of pictures (see :func:`_gops`) each packet belongs to."""
    starts, _ = _gops(index)
    return np.searchsorted(starts, np.arange(len(index.sizes)), side="right") - 1


def decode_plan(index: PacketIndex, fraction: float, min_run: int = PAIR_RUN) -> np.ndarray:
    """Which packets to measure: runs of pictures at the start of every group of pictures
    (GOP) and, in a GOP longer than ``RUN_EVERY``, inside it at whole seconds.

    A P-frame needs every earlier frame of its GOP, so the frames cheapest to decode are the
    first ones after each keyframe. Measuring ``fraction`` of each GOP's pictures (at least
    ``min_run`` a run, enough for two motion pairs) bounds the work to about ``fraction`` of
    a full decode where keyframes come every second, as phones write them: there this is the
    keyframe and two frames after it, and the keyframes cost most of it. The decoder is fed
    more than this (see :func:`feed_plan`) where a run lies inside a GOP. The pictures counted
    are the ones shown (see :func:`_runs`), whatever order the encoder stores them in.
    """
    n = len(index.sizes)
    plan = np.zeros(n, dtype=bool)
    if fraction >= 1.0 or n == 0:
        plan[:] = True
        return plan
    finite = index.times[np.isfinite(index.times)]
    origin = float(finite.min()) if len(finite) else 0.0
    for start, end in zip(*_gops(index), strict=True):
        for a, b in _runs(index, start, end, fraction, min_run, origin):
            plan[a:b] = True
    return plan


def feed_plan(index: PacketIndex, plan: np.ndarray) -> np.ndarray:
    """Which packets to feed the decoder so that it shows the pictures ``plan`` measures:
    each GOP up to its last planned packet (a run inside a GOP needs every picture before it)."""
    gop = _gop_numbers(index)
    last = np.full(int(gop.max(initial=-1)) + 1, -1)
    planned = np.flatnonzero(plan)
    np.maximum.at(last, gop[planned], planned)  # each GOP's last planned packet
    return np.arange(len(plan)) <= last[gop]


def _runs(
    index: PacketIndex, start: int, end: int, fraction: float, min_run: int, origin: float
) -> list[tuple[int, int]]:
    """The runs of packets (decode order, ``start`` to ``end`` exclusive) to measure in the
    GOP ``start:end``: one at its keyframe and, in a GOP longer than ``RUN_EVERY``, more on
    the ``GRID`` inside it (see :func:`_inner_runs`; ``origin``: the stream's start), each
    showing ``fraction`` of the run's share of the GOP's pictures (at least ``min_run``) in
    display order.

    Counted in packets, as it once was, a run said little of what is seen: with B-frames the
    stored order is not the shown one, and an open GOP stores the pictures shown before its
    keyframe (which need the skipped GOP before it) right after it. vtest.avi as HEVC with a
    keyframe every 2 s (x265: an open GOP, B-frames nothing refers to) showed only its
    keyframes (42 of 795 frames), so it measured no motion at all, and its picks overlapped
    those of the H.264 encodings by 0.3. Only pictures the decoder shows count: the keyframe
    and those after it that others refer to (the rest it skips).
    """
    times = index.times[start:end]
    if not np.isfinite(times[0]):  # no times: the stored order is all there is
        return [
            (start, start + min(end - start, max(min_run, int(np.ceil(fraction * (end - start))))))
        ]
    shown = np.isfinite(times) & (times >= times[0])
    if index.reference is not None:
        shown &= index.reference[start:end]
    shown[0] = True
    positions = np.flatnonzero(shown)
    order = positions[np.argsort(times[positions], kind="stable")]
    shown_times = times[order]
    length = _gop_seconds(index, start, end)
    starts = [float(times[0]), *_inner_runs(float(times[0]), length, origin)]
    quota = max(min_run, int(np.ceil(fraction * len(positions) / len(starts))))
    runs = []
    for k, when in enumerate(starts):
        at = int(np.searchsorted(shown_times, when - 1e-6))
        chosen = order[at : at + quota]
        if not len(chosen):
            break
        first = 0 if k == 0 else int(chosen.min())
        runs.append((start + first, start + int(chosen.max()) + 1))
    return runs


GRID = 1.0
"""Seconds between the times the runs inside long GOPs are placed on (from the stream's
start), so that encodings with keyframes in different places are measured at the same times."""
GRID_MARGIN = 0.3
"""A grid time this close to a keyframe is left to that keyframe's run."""


def _inner_runs(begin: float, length: float, origin: float) -> list[float]:
    """The times of the runs inside a GOP from ``begin`` lasting ``length`` seconds: none
    when it lasts ``RUN_EVERY`` or less, else the ``GRID`` times inside it (``origin``: the
    stream's start), or, where none falls far enough from its ends, its middle."""
    if length <= RUN_EVERY + 1e-6:
        return []
    first = np.ceil((begin + GRID_MARGIN - origin) / GRID - 1e-6) * GRID + origin
    grid = np.arange(first, begin + length - GRID_MARGIN + 1e-6, GRID)
    return grid.tolist() if len(grid) else [begin + length / 2]


def _gop_seconds(index: PacketIndex, start: int, end: int) -> float:
    """Time from a GOP's keyframe to the next one's (its own span, and a frame, for the last)."""
    begin = index.times[start]
    if end < len(index.times) and np.isfinite(index.times[end]) and np.isfinite(begin):
        return float(index.times[end] - begin)
    times = index.times[start:end]
    times = np.sort(times[np.isfinite(times)])
    step = float(np.median(np.diff(times))) if len(times) > 1 else 0.0
    return float(times[-1] - times[0]) + step if len(times) else 0.0


def run_starts(plan: np.ndarray) -> np.ndarray:
    """Packets that begin a run of the plan (the first planned packet after a skipped one)."""
    return plan & ~np.concatenate([[False], plan[:-1]])


def coarse_plan(index: PacketIndex, plan: np.ndarray) -> np.ndarray | None:
    """The runs of a sparse ``plan`` in every other GOP; None where a coarse first pass does
    not pay."""
    starts, _ = _gops(index)
    if plan.all() or len(starts) < COARSE_MIN_GOPS:
        return None
    spacing = np.diff(index.times[starts[::2]])
    if not np.isfinite(spacing).all() or float(np.median(spacing)) > COARSE_MAX_SPACING:
        return None
    return plan & (_gop_numbers(index) % 2 == 0)


def within(index: PacketIndex, spans: list[tuple[float, float]], offset: float) -> np.ndarray:
    """Packets of the GOPs whose keyframe lies in one of ``spans`` (seconds from ``offset``)."""
    out = np.zeros(len(index.sizes), bool)
    if not len(out):
        return out
    starts, _ = _gops(index)
    t = index.times[starts[_gop_numbers(index)]] - offset
    for lo, hi in spans:
        out |= (t >= lo) & (t <= hi)
    return out


def gops_skipped_within(
    index: PacketIndex, gaps: list[tuple[float, float]], offset: float
) -> np.ndarray:
    """Every packet of the GOPs in which a skipped stretch ``(before, after)`` (seconds from
    ``offset``: the last frame decoded before it, the first after it) lies whole, and the
    keyframe after each where the stretch ends there: a cut on that keyframe is then seen
    between two adjacent frames. A stretch across whole skipped GOPs (a coarse pass) is not
    one of them."""
    out = np.zeros(len(index.sizes), bool)
    if not len(out) or not gaps:
        return out
    starts, ends = _gops(index)
    begin = index.times[starts] - offset
    for before, after in gaps:
        k = int(np.searchsorted(begin, before + 1e-6, side="right")) - 1
        following = begin[k + 1] if k + 1 < len(begin) else np.inf
        if k < 0:
            continue
        if abs(following - after) < 1e-3:
            out[starts[k] : ends[k] + 1] = True
        elif after < following:  # it ends at a run inside the GOP (see ``RUN_EVERY``)
            out[starts[k] : ends[k]] = True
    return out


def restarts(index: PacketIndex, plan: np.ndarray) -> np.ndarray:
    """Packets where the decoder must be reset: runs of the plan that do not start at an IDR.

    Later pictures of such a run may refer to pictures in the skipped stretch before it; after
    a reset the decoder knows they are missing and drops them. The first run needs none: the
    decoder starts fresh there.
    """
    starts = run_starts(plan)
    if starts.any():
        starts[np.argmax(starts)] = False
    idr = index.idr if index.idr is not None else np.zeros(len(plan), bool)
    return starts & ~idr[: len(plan)]


def skipped_spikes(index: PacketIndex, plan: np.ndarray) -> list[tuple[float, float, list[float]]]:
    """Per undecoded stretch: (first time, end time, times of its outsized packets).

    The end time is the presentation time of the next decoded packet (the keyframe after the
    stretch). Without decoding, a packet's size is the only hint of what happened in the
    stretch: a P-frame several times larger than the others there was coded mostly afresh, as
    at a cut (or any abrupt change of the picture). Keyframes are large by nature: a stretch
    that holds one (a coarse pass skips whole GOPs) is judged by its other packets alone.
    """
    out: list[tuple[float, float, list[float]]] = []
    skipped = np.flatnonzero(~plan)
    if len(skipped) == 0:
        return out
    breaks = np.flatnonzero(np.diff(skipped) > 1)
    for a, b in zip(
        np.concatenate([[0], breaks + 1]), np.append(breaks + 1, len(skipped)), strict=True
    ):
        first, last = int(skipped[a]), int(skipped[b - 1])
        end = index.times[last + 1] if last + 1 < len(index.times) else np.nan
        sizes = index.sizes[first : last + 1]
        keys = index.keyframe[first : last + 1]
        times = index.times[first : last + 1]
        spikes: list[float] = []
        if np.count_nonzero(~keys) >= 4:
            spikes = [float(times[k]) for k in _outsized(sizes, keys)]
        if not spikes:
            shift = _level_shift(times, sizes, keys)
            spikes = [] if shift is None else [shift]
        out.append((float(index.times[first]), float(end), spikes))
    return out


def _level_shift(times: np.ndarray, sizes: np.ndarray, keys: np.ndarray) -> float | None:
    """The time from which the predicted frames of a stretch code at another level (see
    ``SHIFT``), if they do: the first frame of the new level, in presentation order."""
    predicted = ~keys & np.isfinite(times)
    t, level = times[predicted], np.log(np.maximum(sizes[predicted], 1.0))
    order = np.argsort(t, kind="stable")
    t, level = t[order], level[order]
    if len(t) < 2 * SHIFT_SIDE:
        return None
    # Where the two sides are each closest to their own median (least absolute deviations),
    # among the points where the level changes at once (the frames either side of it differ
    # as much as the sides do: sizes falling step by step as motion slows are no cut). Those
    # points first, for all at once: one by one, this took 0.35 s on the 2-minute benchmark.
    shift = np.log(SHIFT)
    local = np.median(np.lib.stride_tricks.sliding_window_view(level, SHIFT_SIDE), axis=1)
    ks = np.arange(SHIFT_SIDE, len(t) - SHIFT_SIDE + 1)
    best, at = np.inf, None
    for k in ks[np.abs(local[ks - SHIFT_SIDE] - local[ks]) >= shift]:
        a, b = np.median(level[:k]), np.median(level[k:])
        if abs(a - b) < shift:
            continue
        cost = float(np.abs(level[:k] - a).sum() + np.abs(level[k:] - b).sum())
        if cost < best:
            best, at = cost, float(t[k])
    return at


def _outsized(sizes: np.ndarray, keys: np.ndarray) -> list[int]:
    """Positions of the predicted frames in ``sizes`` that stand out (see ``SPIKE``, ``STANDS``)."""
    predicted = np.flatnonzero(~keys)
    usual = max(float(np.median(sizes[predicted])), 1.0)
    out = []
    for k in predicted[sizes[predicted] > SPIKE * usual]:
        others = sizes[predicted[predicted != k]]
        if sizes[k] >= STANDS * max(float(np.percentile(others, 90)), 1.0):
            out.append(int(k))
    return out
