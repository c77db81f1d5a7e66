"""Rendering a reel of many clips: one size, one frame rate, one soundtrack.

Clips of different sizes, orientations, frame rates and dynamic range become one reel: every
picture is scaled to cover the reel's frame and cropped around its segment's subject (as the
9:16 and 1:1 crops of one video are), decoded on the reel's frame grid whatever the clip's own
rate; HDR is kept where every clip is HDR of one kind, else tone-mapped to SDR BT.709 (one
reel has one transfer). The clips whose pictures the reel shows unchanged and whose stream
is one phone mode's (same parameter sets) have their GOPs copied, each with its own timing
(:mod:`.reelcopy`); the rest is re-encoded into the same track. Within a clip segments
crossfade as in a single-video reel; between two clips the cut is hard, since their sounds
and scenes have nothing in common to blend.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from ..errors import EngineError
from ..models import HighlightOptions, MediaInfo, RenderInfo, Segment
from ..progress import Reporter
from . import _temporary, _ticker
from .audio import normalise, reel_audio, sample_at
from .choice import HDR_FORMAT, SDR_FORMAT, full_codec, keeps_hdr
from .colour import source_colour
from .encode import ReelWriter, write_video
from .layout import (
    _RATIOS,
    MAX_UPSCALE,
    MIN_REEL_FPS,
    RATE_MATCH,
    STANDARD_SHORT_SIDE,
    Layout,
    Plan,
    _even_ceil,
    _even_floor,
    output_rate,
    own_rate,
)
from .music import soften_cuts
from .poster import poster_focus, write_poster
from .rate import read_back, video_cap
from .reelcopy import copy_group, part_ticks, plan_copies, write_reel_spliced
from .soundtrack import ReelSound
from .tags import reel_metadata, source_metadata

log = logging.getLogger(__name__)

ManySoundFn = Callable[[np.ndarray, list["Part"]], np.ndarray]
"""Makes the reel's soundtrack from the clips' own sound joined (not yet normalised) and the
parts it is made of: a reel set to music (:func:`.music.music_for_many`)."""


@dataclass(frozen=True)
class Part:
    """One clip's run of segments in the reel."""

    media: MediaInfo
    segments: list[Segment]
    layout: Layout
    plan: Plan

    @property
    def samples(self) -> int:
        return sample_at(self.plan, self.plan.total)


def reel_shape(
    medias: list[MediaInfo],
    options: HighlightOptions,
    shown: Sequence[tuple[MediaInfo, float]] | None = None,
) -> tuple[Layout, Fraction]:
    """The reel's frame and rate, for the footage ``medias`` (the clips worth keeping) of
    which ``shown`` says how many seconds of which clip the reel shows (by default: all of
    each).

    The shape: the asked aspect, or else the shape most of the footage has (by length). The
    size: the biggest picture of that shape a clip gives (``Layout.for_media``: a 9:16 crop
    of a small clip is enlarged up to ``MAX_UPSCALE``), each first shrunk until it enlarges
    most of the footage shown no more than ``MAX_UPSCALE`` a side: a 1.5 s 1080p card does
    not blow up the 320x240 and 720x528 clips around it 4.5 and 2.7 times (they make a
    640x468 reel: 2x and 0.89x). The rate: that of most of the footage shown
    (:func:`.layout.output_rate`; 23.976 and 24 counted as one), among the clips of
    ``MIN_REEL_FPS`` and more; a slower one (a 2.35 fps AVI) has its pictures held whatever
    the rate, so it has no say unless every clip is that slow."""
    if shown is None:
        shown = [(m, m.duration) for m in medias]
    shown = [(m, seconds) for m, seconds in shown if seconds > 0] or [(m, 1.0) for m in medias]

    def shape(m: MediaInfo) -> str:
        return "square" if m.width == m.height else "landscape" if m.width > m.height else "tall"

    by_rate: Counter[Fraction] = Counter()
    steady = [(m, s) for m, s in shown if own_rate(m) >= MIN_REEL_FPS * (1 - RATE_MATCH)]
    for media, seconds in steady or shown:
        by_rate[output_rate(media)] += seconds
    # Rates a hair apart (23.976 and 24) are one: the most footage's rate of the most.
    alike = {r: sum(s for q, s in by_rate.items() if abs(q / r - 1) <= RATE_MATCH) for r in by_rate}
    rate = max(by_rate, key=lambda r: (alike[r], by_rate[r]))
    if options.aspect == "source":
        by_shape: Counter[str] = Counter()
        for media in medias:
            by_shape[shape(media)] += media.duration
        most = by_shape.most_common(1)[0][0]
        layouts = [Layout.for_media(m, options) for m in medias if shape(m) == most]
    else:  # the clips' pictures of that shape (a tall clip's is the biggest, for 9:16)
        layouts = [Layout.for_media(m, options) for m in medias]
    frames = [_fitted(layout, shown, options) for layout in layouts]
    return max(frames, key=lambda lay: lay.width * lay.height), rate


def _fitted(
    layout: Layout, shown: Sequence[tuple[MediaInfo, float]], options: HighlightOptions
) -> Layout:
    """``layout``'s frame, shrunk (never enlarged) as far as it takes for most of the footage
    ``shown`` to be enlarged at most ``MAX_UPSCALE`` a side to cover it."""
    total = sum(seconds for _, seconds in shown)
    covered, most = 0.0, 1.0
    for factor, seconds in sorted((enlargement(m, layout), s) for m, s in shown):
        covered, most = covered + seconds, factor
        if covered > total / 2:
            break
    scale = min(1.0, MAX_UPSCALE / most)
    if scale > 0.99:
        return layout
    width, height = (_even_floor(side * scale + 1e-6) for side in (layout.width, layout.height))
    standard = layout.standard  # (a reel short of its aspect's standard size says so)
    short = STANDARD_SHORT_SIDE
    if standard is None and options.aspect in ("9:16", "1:1") and min(width, height) < short:
        standard = (short, _even_floor(short / _RATIOS[options.aspect]))
    return replace(layout, width=width, height=height, scaled_width=width,
                   scaled_height=height, standard=standard)  # fmt: skip


def enlargement(media: MediaInfo, frame: Layout) -> float:
    """How many times a side ``media``'s picture is enlarged to cover ``frame``."""
    return max(frame.width / max(2, media.width), frame.height / max(2, media.height))


def covering(media: MediaInfo, frame: Layout) -> Layout:
    """``media`` scaled to cover ``frame``'s size, the reel's picture cut from it."""
    width, height = frame.width, frame.height
    factor = enlargement(media, frame)
    scaled_w = max(width, _even_ceil(media.width * factor))
    scaled_h = max(height, _even_ceil(media.height * factor))
    return Layout(width, height, scaled_w, scaled_h)


def render_many(
    clips: list[tuple[MediaInfo, list[Segment]]],
    output: Path,
    options: HighlightOptions,
    reporter: Reporter,
    poster: tuple[int, float] | None = None,
    soundtrack: ManySoundFn | None = None,
    outro: float = 0.0,
    smart: bool = True,
    footage: list[MediaInfo] | None = None,
) -> tuple[RenderInfo, list[Part]]:
    """Render each clip's ``segments`` in turn into the one MP4 ``output``.

    The reel takes the shape of ``footage`` (:func:`reel_shape`): the clips worth keeping,
    of which ``clips`` are those the reel has room for; by default ``clips``. Its size and
    rate follow the footage it shows.

    ``poster`` is (clip index, source time) of the poster frame; the last ``outro`` seconds
    fade to black. Returns what was written and each clip's part (where its segments landed:
    ``plan``). No partial file is left behind.

    With ``smart`` (the default), the GOPs of the clips whose stream the reel can share are
    copied (:mod:`.reelcopy`).
    """
    output = Path(output)
    shown = [(media, sum(s.duration for s in segs)) for media, segs in clips]
    frame, rate = reel_shape(footage or [m for m, _ in clips], options, shown)
    # HDR stays HDR where every clip is HDR of one kind (all HLG, as an iPhone films; or all
    # PQ) and it is kept for each; anything else is one SDR reel.
    hdr = all(keeps_hdr(m, options) for m, _ in clips) and len({m.hdr for m, _ in clips}) == 1
    pix_fmt = HDR_FORMAT if hdr else SDR_FORMAT
    parts = [
        Part(
            media,
            segs,
            replace(covering(media, frame), pix_fmt=pix_fmt),
            Plan.build(segs, rate, options.crossfade, outro if k == len(clips) - 1 else 0.0),
        )
        for k, (media, segs) in enumerate(clips)
    ]
    said = [frame.note(options.aspect), frame.size_note(options, "the clips' pictures are")]
    notes: list[str] = [note for note in said if note]
    if any(m.hdr for m, _ in clips) and options.hdr == "keep" and not hdr:
        why = (
            "H.264 was asked for: HDR video plays only as HEVC"
            if options.codec == "h264"
            else "its clips are not all HDR of one kind"
        )
        notes.append(f"The reel is SDR (its HDR clips were tone-mapped) because {why}.")
    total = sum(p.samples for p in parts)

    def make_sound(tick: Callable[[float], None]) -> np.ndarray:
        own = [
            reel_audio(p.media, p.segments, p.plan, tick, notes, normalised=False) for p in parts
        ]
        joined = np.concatenate(own, axis=1) if own else np.zeros((2, 0), np.float32)
        if soundtrack is not None:
            return soundtrack(joined, parts)  # (which softens the cuts it makes hard)
        soften_cuts(joined, [int(at) for at in np.cumsum([p.samples for p in parts])[:-1]])
        return normalise(joined, tick=lambda: tick(1.0))

    poster_path = output.with_suffix(".jpg") if options.poster else None
    video_tmp = _temporary(output)
    poster_tmp = _temporary(poster_path) if poster_path else None
    tick = _ticker(reporter, 0.0, 0.95)
    tags = reel_metadata(source_metadata(clips[0][0]), options.keep_location)
    caps = [video_cap(p.media, p.layout, rate) for p in parts]
    maxrate = max((c for c in caps if c), default=None)
    group = copy_group([p.media for p in parts], frame, options, hdr) if smart else None
    try:
        copies = plan_copies(parts, group, reporter.check) if group else {}
        notes.extend(_mixed_note(parts, frame, rate, copies))
        if group and copies:
            copied, slots = write_reel_spliced(
                video_tmp,
                parts,
                group,
                copies,
                frame,
                rate,
                ReelSound(total, make_sound),
                tick,
                reporter.check,
                tags,
                source_colour(parts[group.members[0]].media) if hdr else None,
                maxrate,
            )
            log.info(
                "smart reel: copied %d pictures of %d clips, %d of %d frame slots",
                copied, len(copies), slots, sum(p.plan.total for p in parts),
            )  # fmt: skip
        else:
            log.info("reel re-encoded whole: no clip's GOPs can be copied")
            writer = ReelWriter(
                video_tmp,
                Layout(frame.width, frame.height, frame.width, frame.height, pix_fmt=pix_fmt),
                rate,
                ReelSound(total, make_sound),
                bt709=any(p.media.hdr for p in parts) and not hdr,
                maxrate=maxrate,
                metadata=tags,
                # Nothing is copied: "auto" is HEVC for an HDR reel, else H.264 (plays anywhere).
                codec=(
                    full_codec(clips[0][0], options) if hdr or options.codec != "auto" else "h264"
                ),
                colour=source_colour(clips[0][0]) if hdr else None,
            )
            try:
                _write_parts(writer, parts, tick)
            finally:
                writer.close()
        if poster_path and poster_tmp and poster is not None:
            index, seconds = poster
            part = parts[index]
            focus = poster_focus(part.segments, seconds)
            write_poster(  # SDR, as a JPEG is
                poster_tmp,
                part.media,
                replace(part.layout, pix_fmt=SDR_FORMAT),
                seconds,
                focus,
                _ticker(reporter, 0.95, 0.99),
            )
        encoded = read_back(video_tmp)
        os.replace(video_tmp, output)
        if poster_path and poster_tmp and poster is not None:
            os.replace(poster_tmp, poster_path)
    except av.error.FFmpegError as exc:
        raise EngineError(f"could not render the reel ({exc})") from exc
    finally:
        video_tmp.unlink(missing_ok=True)
        if poster_tmp:
            poster_tmp.unlink(missing_ok=True)
    info = RenderInfo(
        output=output,
        duration=sum(p.plan.duration for p in parts),
        width=frame.width,
        height=frame.height,
        poster=poster_path if poster is not None else None,
        notes=tuple(notes),
        bitrate=encoded.bitrate,
        codec=encoded.codec,
        profile=encoded.profile,
    )
    return info, parts


def _mixed_note(
    parts: list[Part], frame: Layout, rate: Fraction, copies: Mapping[int, object]
) -> list[str]:
    """The note of a reel of clips of several sizes or frame rates: the size and rate they are
    shown at (a clip whose GOPs are copied keeps its own rate: see ``reelcopy.copy_group``)."""
    sizes = {(p.media.width, p.media.height) for p in parts}
    rates = {output_rate(p.media) for p in parts}
    if len(sizes) == 1 and len(rates) == 1:
        return []
    own = sorted({output_rate(parts[i].media) for i in copies} - {rate})
    kept = (
        f" (clips at {' and '.join(f'{float(r):.3g}' for r in own)} frames a second keep "
        "their own rate)"
        if own
        else ""
    )
    return [
        f"The clips differ in size or frame rate; all are shown at {frame.width}x"
        f"{frame.height}, {float(rate):.3g} frames a second{kept}, cropped to fill the frame."
    ]


def _write_parts(writer: ReelWriter, parts: list[Part], tick: Callable[[float], None]) -> None:
    for part, part_tick in part_ticks(parts, tick):
        write_video(_Going(writer), part.media, part.segments, part.plan, part.layout, part_tick)
    writer.finish()


class _Going:
    """The reel's writer, handed to one clip's ``write_video``: its ``finish`` is the reel's,
    not the clip's, so it is not passed on."""

    def __init__(self, writer: ReelWriter) -> None:
        self._writer = writer

    def add(self, picture: np.ndarray) -> None:
        self._writer.add(picture)

    def finish(self) -> None:
        pass
