"""Turning irregular per-frame and per-audio-frame measurements into the regular timeline grid."""

from __future__ import annotations

import itertools
from dataclasses import replace

import numpy as np

from ..models import MediaInfo
from ..timeline import Timeline
from . import audio as au
from . import video
from .video import BLACK, CUT_THRESHOLD, GAP_CUT, VideoSamples

STEP = 0.1
"""Grid spacing in seconds."""
GAP_STANDS_OUT = 0.2
"""...and by how much it must exceed the change across the neighbouring stretches."""
GAP_NEIGHBOURS = 3
CUT_ALONE = 0.2
CUT_CONTRAST = 0.2
"""A cut is one frame unlike the one before; the frames within ``CUT_ALONE`` s of it score at
least this much lower. A car crossing close to the lens changes five frames in a row about as
much (0.43-0.58): it passed for a cut in two encodings of a clip and not in two others, and
split a shot in those two. The 11 real cuts of that clip score 0.41-0.97 above their
neighbours."""
SHAKE_TREND = 0.3
"""Seconds of camera velocity whose mean is the camera's intended move (a pan); what differs
from it is shake. Seconds, not frames: 9 frames, as it was, are half the time at 60 fps, where a
3 Hz tremor then passed for a move (shake 0.74 at 30 fps, 0.46 at 60)."""
SHAKE_SPAN = 0.5
"""Seconds over which the shake's RMS is taken."""
CAMERA_FULL = 0.5
"""Camera speed (picture widths a second) that counts as a full-speed pan: across the frame
in two seconds."""


def build_timeline(
    media: MediaInfo,
    v: VideoSamples,
    sound: au.AudioFrames | None,
    spikes: list[float] | None = None,
) -> Timeline:
    """``spikes``: times of outsized packets in stretches that were not decoded."""
    duration = max(media.duration, v.t[-1] if v.t else 0.0)
    n = int(np.floor(duration / STEP)) + 1
    grid = np.arange(n) * STEP
    t = np.asarray(v.t)
    v = _without_pairs_across_cuts(v)

    hidden, unsure = gap_cuts(v, spikes or [])
    shots = _merge(_shots(t, np.asarray(v.cut)), hidden, _black_dips(t, np.asarray(v.brightness)))
    # Within shots, and straight across what was not decoded (see ``_interp``'s ``hold``).
    motion = _smooth(_interp_in_shots(t, v.motion, grid, shots, 0.0, hold=False), 3)
    shake = _interp_in_shots(t, _shake(t, v.vx, v.vy, v.motion), grid, shots, 0.0, hold=False)
    speed = np.hypot(v.vx, v.vy)
    speed = _smooth(_interp_in_shots(t, speed, grid, shots, 0.0, hold=False), 5)
    flat = _smooth(_interp(t, v.plain, grid, 0.0), 5)
    signals = {
        "motion": 1.0 - np.exp(-motion / 0.03),
        "camera": np.clip(speed / CAMERA_FULL, 0.0, 1.0),
        "shake": np.clip((shake - 0.05) / 0.25, 0.0, 1.0),
        "quality": _quality(v, grid, flat, shots),
        "plain": np.clip((flat - 0.45) / 0.3, 0.0, 1.0),
        "faces": np.clip(_faces(v, grid, shots) / 0.02, 0, 1),
    }
    talk = np.zeros(n, bool)
    tune = np.zeros(n)
    quiet: list[float] = []
    if sound is not None and len(sound.level_db):
        frame_t = np.arange(len(sound.level_db)) * au.FRAME_STEP + au.N_FFT / au.RATE / 2
        excite = au.excitement(sound)
        signals["audio"] = _interp(frame_t, au.moving_mean(excite, 6), grid, 0.0)
        spoken = au.speech(sound)
        talk = _nearest(frame_t, spoken.astype(float), grid) > 0.5
        tune = _nearest(frame_t, au.music(sound).astype(float), grid)
        quiet = au.quiet_points(sound, spoken)
        # A pocket: dark picture and muffled sound. Never a moment, whatever the level.
        muffled = _interp(frame_t, au.moving_mean(sound.high_ratio, 30), grid, 1.0) < 0.01
        dark = _interp(t, v.brightness, grid, 128.0) < 30
        signals["quality"] = np.where(muffled & dark, 0.0, signals["quality"])
    else:
        signals["audio"] = np.zeros(n)
    signals["speech"] = talk.astype(float)
    signals["music"] = np.where(talk, 0.0, tune)
    return Timeline(
        duration=duration,
        step=STEP,
        signals=signals,
        shots=shots,
        quiet=quiet,
        speech=talk,
        focus=_focus(v, grid, shots),
        unsure=unsure,
        thumbs=_thumbs(v, t, grid),
    )


def _thumbs(v: VideoSamples, t: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Each grid point's thumbnail: its nearest sample's, but blended between the two ends of
    a skipped stretch that a fade spans (see :func:`video._faded`), as the fade itself is. Held,
    the HEVC trailer's last caption stayed lit until halfway to the black keyframe after it
    and then went black at once, so nothing marked the fade (``select.fading``) and a pick ran
    into it, where its H.264 encoding, decoded whole, saw the fade and kept out of it."""
    thumbs = np.stack(v.thumbs)
    out = thumbs[_nearest_index(t, grid)]
    for before, after, change in zip(v.gap_before, v.gap_t, v.gap_change, strict=True):
        if change != 0.0:
            continue  # not a fade (or no colours to tell)
        i = int(np.searchsorted(t, after))
        inside = np.flatnonzero((grid > before) & (grid < after))
        if not len(inside) or i < 1 or i >= len(thumbs):
            continue
        w = ((grid[inside] - before) / (after - before)).astype(np.float32)[:, None, None]
        blend = thumbs[i - 1].astype(np.float32) * (1 - w) + thumbs[i].astype(np.float32) * w
        out[inside] = np.rint(blend).astype(np.uint8)
    return out


def _without_pairs_across_cuts(v: VideoSamples) -> VideoSamples:
    """``v`` without the motion of frame pairs that straddle a cut: such a pair says nothing
    about motion or shake. ``v`` itself is left as it is (a coarse pass's samples are built
    into a timeline and then merged with a fine pass's)."""
    across = [score > CUT_THRESHOLD for score in v.cut]

    def dropped(values: list[float]) -> list[float]:
        return [float("nan") if cut else value for value, cut in zip(values, across, strict=True)]

    return replace(
        v,
        vx=dropped(v.vx),
        vy=dropped(v.vy),
        motion=dropped(v.motion),
        mx=dropped(v.mx),
        my=dropped(v.my),
    )


def _interp(
    t: np.ndarray, values, grid: np.ndarray, default: float, hold: bool = True
) -> np.ndarray:
    """Linear interpolation onto the grid, ignoring NaN samples.

    With ``hold``, across a stretch that was not decoded, the last value before it is held
    instead: the stretch is the rest of the GOP just measured, and a new shot would have begun
    a new GOP. Motion is not held (``hold=False``, within shots): held, a GOP's first frames
    stood for all of it, so the signal lagged by half a GOP in a 2 s-GOP encoding and not in
    one decoded whole, and picks of a fixed camera over people walking (OpenCV's vtest.avi)
    shifted by 1.5-2.5 s between the two. Without it, each short run of decoded frames is
    one point (see :func:`_runs_as_points`), with straight lines between.
    """
    values = np.asarray(values, dtype=float)
    ok = ~np.isnan(values)
    if len(values) == 0 or not ok.any():
        return np.full(len(grid), default)
    t, values = t[ok], values[ok]
    if len(t) == 1:
        return np.full(len(grid), values[0])
    if not hold:
        t, values = _runs_as_points(t, values)
        return np.interp(grid, t, values)
    out = np.interp(grid, t, values)
    after = np.clip(np.searchsorted(t, grid), 1, len(t) - 1)
    gap = (t[after] - t[after - 1] > 0.3) & (grid > t[after - 1]) & (grid < t[after])
    out[gap] = values[after - 1][gap]
    return out


RUN_GAP = 0.3
"""Seconds between two samples from which they belong to separate runs of decoded frames."""
RUN_POINT = 0.5
"""Longest run (seconds) taken as one point: a GOP's first frames, not a stretch decoded whole.
Pair by pair, the first after a keyframe read low at 60 fps (a disc swinging across a still
backdrop: 0.000-0.005 where the pairs after it read 0.007-0.017, a fifth of a pixel's shift at
analysis size), and as the end of a straight line it pulled 60 fps motion a quarter under 30."""


def _runs_as_points(t: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``values`` at times ``t`` with each run of samples under ``RUN_POINT`` long (frames
    closer than ``RUN_GAP``) replaced by its mean at its mean time."""
    bounds = [0, *(np.flatnonzero(np.diff(t) > RUN_GAP) + 1).tolist(), len(t)]
    times, means = [], []
    for a, b in itertools.pairwise(bounds):
        if t[b - 1] - t[a] <= RUN_POINT:
            times.append(t[a:b].mean(keepdims=True))
            means.append(values[a:b].mean(keepdims=True))
        else:
            times.append(t[a:b])
            means.append(values[a:b])
    return np.concatenate(times), np.concatenate(means)


def _nearest_index(t: np.ndarray, grid: np.ndarray) -> np.ndarray:
    right = np.clip(np.searchsorted(t, grid), 0, len(t) - 1)
    left = np.clip(right - 1, 0, len(t) - 1)
    return np.where(np.abs(t[left] - grid) <= np.abs(t[right] - grid), left, right)


def _faces(v: VideoSamples, grid: np.ndarray, shots: list[float]) -> np.ndarray:
    """Face area per grid point: the largest found within ``video.FACE_EVERY`` s in its shot,
    else its shot's nearest sample. A face is looked for every few seconds, at times that
    depend on where the keyframes fall; the nearest sample alone made a car close-up a face
    for all of its 4 s in one encoding (one look, at 23.7 s) and for half of them in another
    (looks at 23.6 s, face, and 26.0 s, turned away)."""
    area = _nearest_in_shot(v.face_t, v.face_area, grid, shots)
    cuts = np.asarray(shots, dtype=float)
    for t, found in zip(v.face_t, v.face_area, strict=True):
        if found <= 0:
            continue
        shot = np.searchsorted(cuts, t, side="right")
        start = max(t - video.FACE_EVERY, cuts[shot - 1] if shot > 0 else -np.inf)
        end = min(t + video.FACE_EVERY, cuts[shot] if shot < len(cuts) else np.inf)
        lo, hi = np.searchsorted(grid, start), np.searchsorted(grid, end)
        area[lo:hi] = np.maximum(area[lo:hi], found)
    return area


def _nearest_in_shot(t, values, grid: np.ndarray, shots: list[float]) -> np.ndarray:
    """Like :func:`_nearest`, but a grid point takes a sample from its own shot only (0 when
    its shot has none): a face seen just before a cut says nothing about the next shot."""
    t, values = np.asarray(t, dtype=float), np.asarray(values, dtype=float)
    out = np.zeros(len(grid))
    cuts = np.asarray(shots, dtype=float)
    sample_shot = np.searchsorted(cuts, t, side="right")
    grid_shot = np.searchsorted(cuts, grid, side="right")
    for shot in np.unique(sample_shot):
        mine, where = sample_shot == shot, grid_shot == shot
        if where.any():
            out[where] = _nearest(t[mine], values[mine], grid[where])
    return out


def _nearest(t: np.ndarray, values, grid: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    if len(values) == 0:
        return np.zeros(len(grid))
    return np.nan_to_num(values[_nearest_index(np.asarray(t), grid)])


def _smooth(x: np.ndarray, width: int) -> np.ndarray:
    return au.moving_mean(x, width)


def _shake(t: np.ndarray, vx, vy, motion) -> np.ndarray:
    """Jitter of the camera: global velocity minus its own slow trend (a pan is not shake).

    The trend is taken within runs of consecutive frames only: across a skipped stretch (a
    second, when only the start of each GOP is decoded) the velocity of a steady pan or of a
    moving subject changes as much as a shaking camera's does between frames.
    """
    v = np.stack([np.asarray(vx, float), np.asarray(vy, float)], axis=1)
    ok = ~np.isnan(v[:, 0])
    out = np.full(len(t), np.nan)
    if ok.sum() < 2:
        return out
    index = np.flatnonzero(ok)
    vo, to = v[ok], t[ok]
    # A new run wherever a frame pair was not measured or frames are not adjacent.
    breaks = (np.diff(index) > 1) | (np.diff(to) > video.MAX_PAIR_GAP)
    bounds = [0, *(np.flatnonzero(breaks) + 1).tolist(), len(vo)]
    jitter = np.zeros(len(vo))
    pace = _pace(to)
    for a, b in itertools.pairwise(bounds):
        width = max(1, round(SHAKE_TREND / (_pace(to[a:b]) or pace)))
        trend = np.stack([au.moving_mean(vo[a:b, i], width) for i in range(2)], axis=1)
        jitter[a:b] = ((vo[a:b] - trend) ** 2).sum(axis=1)
        if b - a == 1:
            jitter[a:b] = np.nan  # a lone pair has no trend to differ from
    keep = ~np.isnan(jitter)
    if not keep.any():
        return out
    rms = np.full(len(vo), np.nan)
    rms[keep] = np.sqrt(au.moving_mean(jitter[keep], max(1, round(SHAKE_SPAN / pace))))
    out[index] = rms
    # A pair measured with no camera shift to speak of (a flat backdrop, darkness, no one
    # shift) shows no shake; left out, the shake of the next shot was drawn across it.
    out[np.isnan(out) & ~np.isnan(np.asarray(motion, float))] = 0.0
    return out


def _pace(t: np.ndarray) -> float:
    """Median seconds between consecutive samples (1/30 when there are too few to tell)."""
    steps = np.diff(t)
    steps = steps[steps > 0]
    return float(np.median(steps)) if len(steps) else 1 / 30


def _quality(v: VideoSamples, grid: np.ndarray, flat: np.ndarray, shots: list[float]) -> np.ndarray:
    """0..1: 1 is well lit and sharp. Dark or blurred footage scores near 0.

    A flat picture (``flat``: share of flat blocks) has nothing to be sharp: a card or a wall
    is judged by its light alone, and is found dull by its ``plain`` signal instead, so that
    talk over a plain card still counts as talk.
    """
    t = np.asarray(v.t)
    brightness = _interp(t, v.brightness, grid, 128.0)
    lit = np.clip((brightness - 22.0) / 30.0, 0.0, 1.0)
    if v.sharpness:
        lap = np.log10(np.asarray(v.sharpness) + 1.0)
        # Over a second: one frame's focus is chance (motion blur comes and goes from frame
        # to frame, and which frames are sampled depends on the encoding: a shaky bike shot
        # read 0.74 in one encoding and 1.0 in another, on frames 0.04 s apart).
        # Within shots: a black first frame (OpenCV's Megamind.avi) made the talk's first
        # 0.8 s unwatchable, and the reel began after its first words.
        lap = _interp_in_shots(np.asarray(v.detail_t), lap, grid, shots, 2.0)
        lap = _smooth_in_shots(lap, grid, shots, round(1.0 / STEP))
        sharp = np.clip((lap - 0.9) / 0.9, 0, 1)
    else:
        sharp = np.ones(len(grid))
    sharp = np.maximum(sharp, np.clip((flat - 0.6) / 0.3, 0.0, 1.0))
    return np.minimum(lit, sharp)


def _shots(t: np.ndarray, cut: np.ndarray) -> list[float]:
    """Shot boundaries: frames that differ sharply from the one before, and locally most so."""
    shots: list[float] = []
    for i in np.flatnonzero(cut > CUT_THRESHOLD):
        near = (t > t[i] - 0.5) & (t < t[i] + 0.5)
        # A cut stands out from its neighbours; a shaky or busy stretch is uniformly high.
        stands_out = cut[i] - float(np.median(cut[near])) > 0.35
        beside = (np.abs(t - t[i]) <= CUT_ALONE) & (np.arange(len(t)) != i)
        alone = not beside.any() or cut[i] - float(cut[beside].max()) > CUT_CONTRAST
        if (
            stands_out
            and alone
            and cut[i] >= cut[near].max()
            and (not shots or t[i] - shots[-1] > 0.3)
        ):
            shots.append(round(float(t[i]), 3))
    return shots


def gap_cuts(v: VideoSamples, spikes: list[float]) -> tuple[list[float], list[tuple[float, float]]]:
    """Cuts hidden in skipped stretches, where the palette changes across the stretch.

    Frames either side of a stretch are too far apart for the adjacent-frame test (a pan moves
    the whole layout in a second), so only a colour histogram change counts. Outsized packets
    in the stretch (P-frames coded afresh: where the encoder saw the picture change) are where
    the cuts are; without one, the change must stand out from the changes across the
    stretches around it (a busy scene changes every second alike) and the cut is placed at
    the keyframe after the stretch, which is then returned as unsure too: (last frame seen
    before it, that keyframe). A cut into a simpler picture (a green screen after a car
    interior) codes small, and was placed 0.7 s late, in a pick's last second.
    """
    t, before = np.asarray(v.gap_t), np.asarray(v.gap_before)
    change = np.asarray(v.gap_change, dtype=float)
    hints = np.asarray(spikes, dtype=float)
    cuts: list[float] = []
    unsure: list[tuple[float, float]] = []
    for i in np.flatnonzero(change > GAP_CUT):
        inside = hints[(hints > before[i]) & (hints < t[i] - 1e-3)]
        if len(inside):
            cuts.extend(round(float(c), 3) for c in inside)
            continue
        lo, hi = max(0, i - GAP_NEIGHBOURS), min(len(change), i + GAP_NEIGHBOURS + 1)
        others = np.delete(change[lo:hi], i - lo)
        others = others[~np.isnan(others)]
        usual = float(np.median(others)) if len(others) else 0.0
        if change[i] - usual >= GAP_STANDS_OUT:
            cuts.append(round(float(t[i]), 3))
            unsure.append((float(before[i]), float(t[i])))
    return cuts, unsure


def _black_dips(t: np.ndarray, brightness: np.ndarray) -> list[float]:
    """Shot boundaries at fades through black: the middle of each run of black frames with
    picture on both sides. Frame to frame a fade changes too little to be a cut, while frames a
    GOP apart (sparse decoding) see it as one: the same trailer (Big Buck Bunny's, which fades
    through black between shots) had 6 shots decoded whole at 360p and 13 decoded sparsely at
    720p, 4 of them in common; with these (and ``video._faded``), 8 and 10, all 8 in common.
    """
    black = brightness < BLACK
    out = []
    for a, b in au.runs(black):
        if a > 0 and b < len(t):
            out.append(round(float((t[a] + t[b - 1]) / 2), 3))
    return out


def _merge(*lists: list[float]) -> list[float]:
    out: list[float] = []
    for cut in sorted(c for cuts in lists for c in cuts):
        if not out or cut - out[-1] > 0.3:
            out.append(cut)
    return out


def _focus(v: VideoSamples, grid: np.ndarray, shots: list[float]) -> np.ndarray:
    """Subject centre per grid point: the largest face if any, else where things move, held
    from the nearest moment of its shot where something does (the centre in a shot where
    nothing does). Centred while nothing had moved yet, a 9:16 crop of a man walking in from
    the frame's edge showed empty green screen until he was a third of the way in.

    Smoothed within each shot only: a crop just after a cut must not lean towards where the
    subject was in the shot before.
    """
    t = np.asarray(v.t)
    mx = _interp_in_shots(t, v.mx, grid, shots, 0.5)
    my = _interp_in_shots(t, v.my, grid, shots, 0.5)
    if v.face_t and any(a > 0 for a in v.face_area):
        fx = _nearest_in_shot(v.face_t, v.face_x, grid, shots)
        fy = _nearest_in_shot(v.face_t, v.face_y, grid, shots)
        has = _nearest_in_shot(v.face_t, v.face_area, grid, shots) > 0
        mx, my = np.where(has, fx, mx), np.where(has, fy, my)
    focus = np.stack(
        [_smooth_in_shots(mx, grid, shots, 11), _smooth_in_shots(my, grid, shots, 11)], 1
    )
    return np.clip(focus, 0.0, 1.0)


def _shot_spans(grid: np.ndarray, shots: list[float]) -> list[tuple[int, int, float, float]]:
    """Each shot as (first grid index, end grid index, start time, end time)."""
    bounds = [0, *np.searchsorted(grid, shots).tolist(), len(grid)]
    edges = [-np.inf, *shots, np.inf]
    return [
        (a, b, start, end)
        for (a, b), (start, end) in zip(
            itertools.pairwise(bounds), itertools.pairwise(edges), strict=True
        )
    ]


def _interp_in_shots(
    t: np.ndarray,
    values,
    grid: np.ndarray,
    shots: list[float],
    default: float,
    hold: bool = True,
):
    """:func:`_interp` within each shot, from that shot's samples alone (``default`` where it has
    none)."""
    values = np.asarray(values, dtype=float)
    out = np.full(len(grid), default)
    for a, b, start, end in _shot_spans(grid, shots):
        inside = (t >= start) & (t < end)
        if b > a and inside.any():
            out[a:b] = _interp(t[inside], values[inside], grid[a:b], default, hold)
    return out


def _smooth_in_shots(values: np.ndarray, grid: np.ndarray, shots: list[float], width: int):
    """:func:`_smooth` within each shot: nothing of one shot leaks into the next."""
    out = np.asarray(values, dtype=float).copy()
    for a, b, _, _ in _shot_spans(grid, shots):
        out[a:b] = _smooth(out[a:b], width)
    return out
