"""Per-frame picture measurements: global (camera) motion, subject motion, cuts, quality."""

from __future__ import annotations

import copy
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import cv2
import numpy as np

from . import colour, faces

SIDE = 160
"""Long side of the images for motion and cuts: small is fast, and enough to see what moves."""
DETAIL_SIDE = 320
"""Long side of the images for sharpness and faces, sampled only every ``DETAIL_EVERY`` s.

Both are long sides, so a portrait clip is measured at the scale of a landscape one: same
sharpness for the same focus, same smallest face, and a third of the pixels it had when
these were widths (the 2-minute benchmark as portrait: analysis 1.80 -> 1.50 s)."""
DETAIL_EVERY = 0.5
FACE_EVERY = 4.0
"""Within one shot, faces are looked for this often: a Haar pass costs up to ~7 ms at 320 px
on busy texture (0.5-1.5 ms on the shared real clips), more than all the other measurements
of a small frame together, and a face worth framing stays in view longer than that. A new
shot is looked at on its first detail frame, since a sample only speaks for its own shot
(see ``build._nearest_in_shot``): before, faces every 1.5 s missed shots shorter than that,
and cost twice as many passes on the 2-minute benchmark."""
CUT_THRESHOLD = 0.38
"""Cut score (see :func:`_cut_score`) of two adjacent frames from which they may be a cut (it
must also stand out from the frames around it: see ``build._shots``). At 0.45 a cut between two
real clips of alike tones and layout (Big Buck Bunny's meadow to a car interior: 0.444) was
missed, and picks either side of it were joined as one shot."""
GAP_CUT = 0.3
"""Colour change across a skipped stretch (up to a GOP, ~1 s on a phone) that may be a cut:
well above what a pan or people moving do to a scene's palette in that time."""
MAX_PAIR_GAP = 0.5
"""Two frames further apart than this (dropped frames) are not compared for motion; frames
either side of a stretch the decoder skipped never are (see :meth:`VideoMeter.gap`). Half a
second, not less: OpenCV's tree.avi holds ~2.4 pictures a second, and at 0.2 a hand sweeping
across its still camera was never measured (motion 0.00 throughout)."""
PAIR_DT = 1 / 15
"""Frames compared for motion are as near this far apart as the run allows, and what moved is
scaled to this gap. Time, not frames: at 60 fps adjacent frames see half the movement they do
at 30. And not the nearest frame either: the decoder skips the B-frames nothing refers to, so
which frames are there depends on the encoder. The same 25 fps content as H.264 had 148 pairs
one frame apart and 449 two apart; as HEVC, 10 and 518, and it measured a third more motion
where things moved (0.54 against 0.71). Two frames at 30 fps are there in every encoding."""
SHORTEST_PAIR = 0.5
"""Frames closer than this share of ``PAIR_DT`` are not compared for motion. What differs
between them is not in proportion to their gap (a pixel differs or not): 1/60 s apart, the
first two frames after a 60 fps keyframe read 0.000-0.005 where the pairs 1/15 s apart after
them read 0.007-0.017, and a GOP's few pairs measured 60 fps a tenth under 30."""
PLAIN_BLOCK = 8
"""Side (pixels of the ``SIDE`` image) of the blocks judged flat or not for :func:`plain`."""
PLAIN_STD = 2.0
"""A block whose luma varies less than this (standard deviation) is flat: a plain card, black,
a featureless wall. Real scenes keep texture and sensor noise above it almost everywhere."""
MARGIN = 8
"""Border pixels ignored after motion compensation (they have no counterpart)."""
DIFF_THRESHOLD = 22
FADE_FLOOR = 4.0
"""Mean luma under which no gain is matched against a picture (nothing left to scale)."""
BLACK = 12.0
"""Mean luma of a black frame (a fade's bottom; limited-range black reads 0-1 here)."""
BLACK_FLAT = 3.0
"""Spread of luma under which a dark frame is black: white words on black are a card."""
FADE_LAYOUT = 0.9
"""Correlation of two thumbnails from which they show one layout."""
STILL_PAIR = 0.001
"""Share of pixels differing between two unshifted frames under which they show one still
picture, whatever phase correlation makes of them."""
MIN_RESPONSE = 0.08
"""Phase-correlation peak below which the shift is noise: several things move different ways
over a featureless background (seen at ~0.03 on such a scene; a textured pan gives ~0.7)."""
SURE_SHIFT = 0.25
"""Phase-correlation peak from which the shift is the camera's and counts for its speed and
shake. Between ``MIN_RESPONSE`` and this the shift is still undone before looking for what
moves, but it is too often wrong to be a velocity: a car crossing a bike shot gave shifts of
a sixteenth of the frame a frame at peaks of 0.01-0.16 in one encoding, where another found
the true -2 px at 0.65, and the shake read 0.0 in one and 0.9 in the other. Real pans peak at
0.5-0.9; the frames either side of a cut at 0.2-0.3."""


def analysis_width(width: int, height: int, side: int) -> int:
    """Width (even) of the upright analysis image of a ``width`` x ``height`` picture, for
    a long side of ``side``."""
    if width >= height:
        return side
    return max(2, round(side * width / height / 2) * 2)


@dataclass
class VideoSamples:
    """Measurements per analysed frame; motion fields are NaN where no pair was compared."""

    t: list[float] = field(default_factory=list)
    brightness: list[float] = field(default_factory=list)
    cut: list[float] = field(default_factory=list)
    vx: list[float] = field(default_factory=list)
    vy: list[float] = field(default_factory=list)
    motion: list[float] = field(default_factory=list)
    """Share of the picture that moved on its own (after undoing the camera's motion)."""
    plain: list[float] = field(default_factory=list)
    """Share of the picture that is flat (see :func:`plain`): title cards, black, a wall."""
    mx: list[float] = field(default_factory=list)
    my: list[float] = field(default_factory=list)
    thumbs: list[np.ndarray] = field(default_factory=list)
    palette: list[np.ndarray | None] = field(default_factory=list)
    """Each frame's :func:`colour.histogram`: compared across skipped stretches."""
    run_start: list[bool] = field(default_factory=list)
    """The frame is the first decoded after a skipped stretch (or the first of all)."""
    detail_t: list[float] = field(default_factory=list)
    sharpness: list[float] = field(default_factory=list)
    face_t: list[float] = field(default_factory=list)
    face_area: list[float] = field(default_factory=list)
    face_x: list[float] = field(default_factory=list)
    face_y: list[float] = field(default_factory=list)
    gap_t: list[float] = field(default_factory=list)
    """Time of each first frame decoded after a skipped stretch (a keyframe)."""
    gap_before: list[float] = field(default_factory=list)
    """Time of the last frame decoded before that stretch."""
    gap_change: list[float] = field(default_factory=list)
    """0..1 colour histogram distance across the stretch (see :mod:`.colour`)."""

    def find_gaps(self) -> None:
        """Fill the ``gap_*`` lists from the frames' order, runs and colours."""
        self.gap_t, self.gap_before, self.gap_change = [], [], []
        for i in range(1, len(self.t)):
            if self.run_start[i]:
                a, b = self.palette[i - 1], self.palette[i]
                self.gap_t.append(self.t[i])
                self.gap_before.append(self.t[i - 1])
                both = a is not None and b is not None
                change = colour.distance(a, b) if both else float("nan")
                if _faded(self.thumbs[i - 1], self.thumbs[i]):
                    change = 0.0
                self.gap_change.append(change)


def _faded(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two frames a skipped stretch apart differ as a fade makes them: one of them
    black (the fade's bottom, a boundary of its own: see ``build._black_dips``), or the same
    layout in other light (a fade scales the contrast; correlation ignores that). Their
    colours differ as across a cut, and the trailer's HEVC encoding, coding a fade with outsized
    packets, had 7 cuts in fades that its other encodings did not."""
    x, y = np.asarray(a, np.float32), np.asarray(b, np.float32)
    if any(z.mean() < BLACK and z.std() < BLACK_FLAT for z in (x, y)):
        return True  # a black frame; white words on black are a card, not a fade
    same = _layout_correlation(x, y)
    return same is not None and same >= FADE_LAYOUT


def without(samples: VideoSamples, spans: list[tuple[float, float]]) -> VideoSamples:
    """``samples`` less those at times within ``spans`` (to be measured again, whole), but for
    a span's first frame where it followed the frame before it with nothing skipped: it was
    compared with that frame (a cut there, and motion), which the decode of the span alone
    cannot do (see :func:`merge`)."""
    out = VideoSamples()
    for names in (_PER_FRAME, _PER_DETAIL, _PER_FACE):
        times = np.asarray(getattr(samples, names[0]), dtype=float)
        keep = np.ones(len(times), bool)
        for lo, hi in spans:
            inside = (times >= lo - 1e-6) & (times <= hi + 1e-6)
            if names is _PER_FRAME and inside.any():
                first = int(np.flatnonzero(inside)[0])
                inside[first] = bool(samples.run_start[first])
            keep &= ~inside
        for name in names:
            values = getattr(samples, name)
            setattr(out, name, [values[i] for i in np.flatnonzero(keep)])
    out.find_gaps()
    return out


# The lists of VideoSamples by what they hold one entry for; each group's first is its time.
_PER_FRAME = (
    *("t", "brightness", "cut", "vx", "vy", "motion", "plain", "mx", "my"),
    *("thumbs", "palette", "run_start"),
)
_PER_DETAIL = ("detail_t", "sharpness")
_PER_FACE = ("face_t", "face_area", "face_x", "face_y")


PLANNED_RUN_GAP = 0.3
"""Seconds between two planned frames from which they belong to separate runs."""


def pairs_as_planned(samples: VideoSamples, planned: np.ndarray) -> VideoSamples:
    """``samples`` of GOPs decoded whole to find a cut, with motion kept only where the sparse
    plan measures it: at each frame of a run of ``planned`` times but its first (which the
    run's own decode has nothing before to compare with).

    Decoded whole, such a GOP measured every pair, where another encoding of the same video,
    with no cut to look for there, measured the runs alone: motion that comes and goes with a
    rhythm of its own then read differently. The Big Buck Bunny trailer's hops, every second
    on the second, peak where the runs fall: the 8 s-GOP encoding, one GOP of it decoded whole,
    read 0.02-0.7 where the others read a steady 0.6, and its picks went elsewhere."""
    times = np.sort(np.asarray(planned, dtype=float))
    t = np.asarray(samples.t, dtype=float)
    keep = np.zeros(len(t), bool)
    if len(times):
        run_first = np.concatenate([[True], np.diff(times) > PLANNED_RUN_GAP])
        at = np.minimum(np.searchsorted(times, t - 1e-4), len(times) - 1)
        keep = (np.abs(times[at] - t) < 1e-4) & ~run_first[at]
    out = copy.copy(samples)
    for name in ("vx", "vy", "motion"):
        values = np.asarray(getattr(samples, name), dtype=float)
        setattr(out, name, np.where(keep, values, np.nan).tolist())
    return out


def merge(a: VideoSamples, b: VideoSamples) -> VideoSamples:
    """The samples of two decodes of different runs of one file's packets, in time order. A
    frame both measured is ``a``'s: a run decoded again whole starts at a keyframe, which its
    own decode cannot compare with the frame before it; the first decode could, where it ran
    on from that frame (see :func:`without`). Dropped, a cut on that keyframe was lost: the
    Big Buck Bunny trailer with 8 s GOPs (x264 put keyframes on its cuts) lost 2 of its hard
    cuts this way, and its picks ran across them."""
    b = _less_frames_at(b, a.t)
    out = VideoSamples()
    for names in (_PER_FRAME, _PER_DETAIL, _PER_FACE):
        key = names[0]
        order = np.argsort(np.concatenate([getattr(a, key), getattr(b, key)]), kind="stable")
        for name in names:
            both = getattr(a, name) + getattr(b, name)
            setattr(out, name, [both[i] for i in order])
    out.find_gaps()
    return out


def _less_frames_at(samples: VideoSamples, times: list[float]) -> VideoSamples:
    """``samples`` without the frames (not details or faces) at any of ``times``. The frame
    after one dropped keeps what it measured against it: the frame at that time is the same
    picture."""
    t = np.asarray(samples.t, dtype=float)
    known = np.asarray(sorted(times), dtype=float)
    if not len(t) or not len(known):
        return samples
    at = np.searchsorted(known, t)
    after = np.abs(known[np.minimum(at, len(known) - 1)] - t)
    before = np.abs(known[np.maximum(at - 1, 0)] - t)
    keep = np.flatnonzero(np.minimum(after, before) >= 1e-6)
    if len(keep) == len(t):
        return samples
    out = VideoSamples()
    for names in (_PER_DETAIL, _PER_FACE):
        for name in names:
            setattr(out, name, list(getattr(samples, name)))
    for name in _PER_FRAME:
        values = getattr(samples, name)
        setattr(out, name, [values[i] for i in keep])
    return out


class VideoMeter:
    """Feed frames in presentation order; collects :class:`VideoSamples`."""

    def __init__(self) -> None:
        self.samples = VideoSamples()
        self._prev: np.ndarray | None = None
        self._prev_t = -1e9
        self._run: list[tuple[float, np.ndarray]] = []
        """The last few frames of the current run, oldest first: motion partners."""
        self._prev_hist: np.ndarray | None = None
        self._prev_thumb: np.ndarray | None = None
        self._next_detail = 0.0
        self._next_face = 0.0
        self._new_shot = False
        self._window: np.ndarray | None = None
        self._face_pool: ThreadPoolExecutor | None = None
        self._face_jobs: list[tuple[float, tuple[int, int], Future]] = []
        self._after_gap = False

    def gap(self) -> None:
        """The decoder skips frames here: the next frame is not adjacent to the last one."""
        self._after_gap = self._prev is not None

    def wants_detail(self, t: float) -> bool:
        return t >= self._next_detail

    def add(self, t: float, gray: np.ndarray, hist: np.ndarray | None = None) -> None:
        """Measure one small (long side ``SIDE``) luma frame at time ``t`` seconds.

        ``hist`` is the frame's :func:`colour.histogram`; it is compared across skipped
        stretches, where nothing else survives the time between the frames.
        """
        if not np.isfinite(t) or t <= self._prev_t:
            return  # no, duplicate or out-of-order timestamp: nothing new to measure
        s = self.samples
        after_gap, self._after_gap = self._after_gap, False
        palette = hist
        before = s.palette[-1] if s.palette and hist is not None else None
        change = colour.distance(before, hist) if before is not None else 0.0
        if after_gap:
            # Maybe a cut in the skipped stretch: faces are looked for on the next detail frame.
            self._new_shot |= change > GAP_CUT
        s.palette.append(palette)
        s.run_start.append(after_gap or self._prev is None)
        img = cv2.GaussianBlur(gray, (3, 3), 0).astype(np.float32)
        hist = cv2.calcHist([gray], [0], None, [16], [0, 256]).ravel() / gray.size
        thumb = cv2.resize(gray, (16, 9), interpolation=cv2.INTER_AREA).astype(np.float32)
        s.t.append(t)
        s.brightness.append(float(img.mean()))
        s.plain.append(plain(gray))
        s.thumbs.append(thumb.astype(np.uint8))
        if self._prev_hist is None or after_gap:
            s.cut.append(0.0)  # not an adjacent pair: judged by the gap test in build
        else:
            # With the colours: a cut between two scenes of alike tones and layout can still
            # change the palette (a tinted scene: luma and layout 0.29, colour 0.45).
            s.cut.append(max(_cut_score(self._prev_hist, hist, self._prev_thumb, thumb), change))
            self._new_shot |= s.cut[-1] > CUT_THRESHOLD
        cut = bool(s.cut[-1] > CUT_THRESHOLD)
        if cut or after_gap or self._prev is None or t - self._prev_t > MAX_PAIR_GAP:
            self._run = []  # no motion partner across a cut either (pairs span two frames)
        partner = _partner(self._run, t)
        if partner is not None and t - partner[0] > PAIR_DT * SHORTEST_PAIR - 1e-3:
            self._motion(partner[1], img, t - partner[0])
        else:
            for name in ("vx", "vy", "motion", "mx", "my"):
                getattr(s, name).append(float("nan"))
        # Partners as far back as PAIR_DT, however many frames a second (and the last three).
        recent = [f for f in self._run if t - f[0] < PAIR_DT * 1.5]
        self._run = [*(recent if len(recent) > 3 else self._run[-3:]), (t, img)]
        self._prev, self._prev_t, self._prev_hist, self._prev_thumb = img, t, hist, thumb

    def add_detail(self, t: float, gray: np.ndarray) -> None:
        """Sharpness and faces from a larger (long side ``DETAIL_SIDE``) luma frame.

        Call it after :meth:`add` of the same frame, so a cut at this frame counts.
        """
        s = self.samples
        self._next_detail = t + DETAIL_EVERY
        s.detail_t.append(t)
        s.sharpness.append(float(cv2.Laplacian(gray, cv2.CV_32F).var()))
        if t >= self._next_face or self._new_shot:
            self._next_face = t + FACE_EVERY - DETAIL_EVERY / 2
            self._new_shot = False
            self._faces(t, gray)

    def _faces(self, t: float, gray: np.ndarray) -> None:
        # On a worker thread (OpenCV releases the GIL): the Haar pass overlaps decoding, which
        # leaves a core idle between the short runs of frames decoded after each keyframe.
        if self._face_pool is None:
            self._face_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="faces")
        self._face_jobs.append((t, gray.shape, self._face_pool.submit(faces.detect, gray)))

    def finish(self) -> VideoSamples:
        """Wait for the face detections still running; the samples are then complete."""
        s = self.samples
        s.find_gaps()
        try:
            for t, (h, w), job in self._face_jobs:
                found = job.result()
                s.face_t.append(t)
                if found:
                    x, y, fw, fh = max(found, key=lambda b: b[2] * b[3])
                    s.face_area.append(sum(b[2] * b[3] for b in found) / (w * h))
                    s.face_x.append((x + fw / 2) / w)
                    s.face_y.append((y + fh / 2) / h)
                else:
                    s.face_area.append(0.0)
                    s.face_x.append(float("nan"))
                    s.face_y.append(float("nan"))
        finally:
            self.close()
        return s

    def close(self) -> None:
        """Stop the face worker (also when analysis is cancelled or fails)."""
        self._face_jobs = []
        if self._face_pool is not None:
            self._face_pool.shutdown(wait=True, cancel_futures=True)
            self._face_pool = None

    def _motion(self, prev: np.ndarray, cur: np.ndarray, dt: float) -> None:
        """Global shift by phase correlation; what still differs after undoing it is the subject."""
        s = self.samples
        if self._window is None or self._window.shape != cur.shape:
            self._window = cv2.createHanningWindow(cur.shape[::-1], cv2.CV_32F)
        # Copies: this OpenCV build's phaseCorrelate may write the window into its inputs.
        (dx, dy), response = cv2.phaseCorrelate(prev.copy(), cur.copy(), self._window)
        h, w = cur.shape
        steady = response >= MIN_RESPONSE
        if not steady:  # no one shift explains the picture: no camera motion to speak of
            dx = dy = 0.0
        moving, x0, y0 = _moving(prev, cur, dx, dy)
        if dx or dy:
            # Where nothing differs unshifted, no camera moved: a plain card whose frames
            # differ by one pixel's codec noise gave phase correlation's peak 0.2 at a shift
            # of 41 px, and the black border that shift brought in read as half the picture
            # moving (the border is now left out in any case: see ``_moving``).
            still, sx, sy = _moving(prev, cur, 0.0, 0.0)
            if moving is None or float(still.mean()) < STILL_PAIR:
                moving, x0, y0, dx, dy = still, sx, sy, 0.0, 0.0
        assert moving is not None
        # A pair further apart than PAIR_DT sees more move: scaled back to that gap.
        frac = float(moving.mean()) * min(1 / SHORTEST_PAIR, max(0.5, PAIR_DT / dt))
        sure = response >= SURE_SHIFT
        s.vx.append(dx / w / dt if sure else float("nan"))
        s.vy.append(dy / w / dt if sure else float("nan"))
        s.motion.append(frac)
        if frac > 0.002:
            ys, xs = np.nonzero(moving)
            s.mx.append((float(xs.mean()) + x0) / w)
            s.my.append((float(ys.mean()) + y0) / h)
        else:  # nothing moves: no subject seen here (its shot's others tell, else the centre)
            s.mx.append(float("nan"))
            s.my.append(float("nan"))


def _moving(
    prev: np.ndarray, cur: np.ndarray, dx: float, dy: float
) -> tuple[np.ndarray | None, int, int]:
    """Which pixels differ once ``prev`` is shifted by (``dx``, ``dy``) onto ``cur``, over the
    part both frames show (``MARGIN`` inside it), and that part's top-left corner; None when
    the shift leaves nothing in common."""
    h, w = cur.shape
    x0, x1 = MARGIN + max(0, int(np.ceil(dx))), w - MARGIN + min(0, int(np.floor(dx)))
    y0, y1 = MARGIN + max(0, int(np.ceil(dy))), h - MARGIN + min(0, int(np.floor(dy)))
    if x1 - x0 < 4 or y1 - y0 < 4:
        return None, x0, y0
    before = prev
    if dx or dy:
        shift = np.float32([[1, 0, dx], [0, 1, dy]])
        before = cv2.warpAffine(prev, shift, (w, h), flags=cv2.INTER_LINEAR)
    before, after = before[y0:y1, x0:x1], cur[y0:y1, x0:x1]
    # A fade (to black, or a caption fading out) scales every pixel alike: matched in gain
    # first, it is no movement. Unmatched, a trailer's last caption fading to black, compared
    # 0.16 s apart (its B-frames skipped), read motion 0.99 and 'fast action'.
    lit_before, lit_after = float(before.mean()), float(after.mean())
    if lit_before > FADE_FLOOR and abs(lit_after / lit_before - 1.0) > 0.02:
        before = before * np.float32(lit_after / lit_before)
    return cv2.absdiff(before, after) > DIFF_THRESHOLD, x0, y0


def _partner(run: list[tuple[float, np.ndarray]], t: float) -> tuple[float, np.ndarray] | None:
    """The frame of ``run`` to compare with one at ``t``: the one nearest ``PAIR_DT`` before it."""
    if not run:
        return None
    return min(run, key=lambda before: abs(t - before[0] - PAIR_DT))


def plain(gray: np.ndarray) -> float:
    """0..1: share of the picture's ``PLAIN_BLOCK`` blocks that are flat."""
    b = PLAIN_BLOCK
    h, w = (gray.shape[0] // b) * b, (gray.shape[1] // b) * b
    if h == 0 or w == 0:
        return 0.0
    blocks = gray[:h, :w].astype(np.float32).reshape(h // b, b, w // b, b)
    return float((blocks.std(axis=(1, 3)) < PLAIN_STD).mean())


def _cut_score(h0: np.ndarray, h1: np.ndarray, t0: np.ndarray, t1: np.ndarray) -> float:
    """0..1: how different two frames look as wholes (tones and layout), ignoring small movers.

    Layout is the correlation of 16x9 thumbnails: a shake or a small moving object keeps it
    near 1, a new scene drops it towards 0 even when its overall tones are alike.
    """
    hist = 0.5 * float(np.abs(h0 - h1).sum())
    same = _layout_correlation(t0, t1, flat=2.0 * 2.0)
    if same is None:
        return hist  # flat frames: layout says nothing
    return min(1.0, max(hist, 1.0 - same))


def _layout_correlation(t0: np.ndarray, t1: np.ndarray, flat: float = 0.0) -> float | None:
    """Correlation of two thumbnails' layouts, their light and contrast aside (a fade changes
    neither's layout); None when they are too flat to tell: the product of their spreads under
    ``flat`` a pixel, or none at all."""
    a, b = t0 - t0.mean(), t1 - t1.mean()
    spread = float(np.sqrt((a * a).sum() * (b * b).sum()))
    if spread <= 0.0 or spread < flat * a.size:
        return None
    return float((a * b).sum()) / spread
