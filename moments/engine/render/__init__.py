"""Rendering the chosen segments into an H.264 or HEVC/AAC MP4 reel and a JPEG poster.

Order of work: the soundtrack first (cheap to decode, and loudness needs the whole reel
before any of it is encoded), then one pass over the video that encodes pictures and
interleaves the finished audio. Both files are written under temporary names in the output
folder and renamed only when complete, so a reel never appears half-written.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import av

from ..errors import EngineError
from ..models import HighlightOptions, MediaInfo, RenderInfo, Segment
from ..progress import Reporter
from .audio import reel_audio, sample_at
from .choice import HDR_FORMAT, full_codec, hdr_note, keeps_hdr
from .colour import source_colour
from .copyplan import as_stored, can_copy, copy_refusal, plan_copy
from .encode import ReelWriter, write_video
from .layout import Layout, Plan, output_rate
from .music import SoundFn
from .poster import poster_focus, write_poster
from .rate import read_back, video_cap
from .soundtrack import ReelSound
from .splice import PacketSource, SpliceWriter, write_spliced
from .tags import reel_metadata, source_metadata

__all__ = ["can_copy", "copy_refusal", "render"]

log = logging.getLogger(__name__)

SCAN_SHARE = 0.02
"""End of the (short) packet scan that finds what a smart render can copy."""
REPORT_EVERY = 0.1
"""Seconds between progress reports; cancellation is still checked on every call."""


def render(
    media: MediaInfo,
    segments: list[Segment],
    output: Path,
    options: HighlightOptions,
    reporter: Reporter,
    poster_time: float | None = None,
    smart: bool = True,
    soundtrack: SoundFn | None = None,
    outro: float = 0.0,
) -> RenderInfo:
    """Render ``segments`` (in output order) of ``media`` into the MP4 ``output``.

    Also writes ``output`` with a ``.jpg`` suffix (the frame at source time ``poster_time``)
    when ``options.poster`` is set. With ``smart`` (the default), the packets of an H.264
    or HEVC source that the reel shows unchanged (from a segment's first keyframe on) are copied
    instead of re-encoded. ``soundtrack`` makes the reel's sound instead of the segments' own
    (a reel set to music: :mod:`.music`); its last ``outro`` seconds fade to black. Raises
    EngineError for input that cannot be rendered and Cancelled when the reporter's token is
    set; in both cases no partial file is left behind.
    """
    output = Path(output)
    if not segments:
        raise EngineError("nothing to render: no segments were chosen")
    segments = sorted(segments, key=lambda s: s.output_start)
    for segment in segments:
        if not segment.source_end > segment.source_start >= 0:
            raise EngineError(
                f"bad segment {segment.source_start:.2f}-{segment.source_end:.2f} s: "
                "it must start at or after 0 and end after it starts"
            )
    layout = Layout.for_media(media, options)
    plan = Plan.build(segments, output_rate(media), options.crossfade, outro)
    poster_path = output.with_suffix(".jpg") if options.poster else None
    video_tmp = _temporary(output)
    poster_tmp = _temporary(poster_path) if poster_path else None
    notes: list[str] = []  # the sound worker's sentences, e.g. on sound that cannot be read
    said = [layout.note(options.aspect), layout.size_note(options), hdr_note(media, options)]
    notes.extend(note for note in said if note)
    try:
        # Made and encoded on the sound worker while the pictures are made.
        make_sound = soundtrack or reel_audio
        sound = ReelSound(
            sample_at(plan, plan.total),
            lambda tick: make_sound(media, segments, plan, tick, notes),
        )
        _write_reel(video_tmp, media, segments, plan, layout, sound, reporter, options, smart)
        if poster_path and poster_tmp:
            seconds = poster_time if poster_time is not None else _middle(segments)
            focus = poster_focus(segments, seconds)
            write_poster(poster_tmp, media, layout, seconds, focus, _ticker(reporter, 0.95, 0.99))
            reporter.update(0.99)
        encoded = read_back(video_tmp)
        os.replace(video_tmp, output)
        if poster_path and poster_tmp:
            os.replace(poster_tmp, poster_path)
    except av.error.FFmpegError as exc:
        raise EngineError(f"could not render the reel ({exc})", file=media.path.name) from exc
    finally:
        video_tmp.unlink(missing_ok=True)
        if poster_tmp:
            poster_tmp.unlink(missing_ok=True)
    return RenderInfo(
        output=output,
        duration=plan.duration,
        width=layout.width,
        height=layout.height,
        poster=poster_path,
        notes=tuple(notes),
        bitrate=encoded.bitrate,
        codec=encoded.codec,
        profile=encoded.profile,
    )


def _write_reel(
    path: Path,
    media: MediaInfo,
    segments: list[Segment],
    plan: Plan,
    layout: Layout,
    sound: ReelSound,
    reporter: Reporter,
    options: HighlightOptions,
    smart: bool,
) -> None:
    """The video pass: spliced (copy + re-encode) when the source allows, else a full encode."""
    video_tick = _ticker(reporter, SCAN_SHARE, 0.95)
    tags = reel_metadata(source_metadata(media), options.keep_location)
    colour = None
    if keeps_hdr(media, options):  # 10-bit pictures with the source's colour (the poster: SDR)
        layout = replace(layout, pix_fmt=HDR_FORMAT)
        colour = source_colour(media)
    refusal = copy_refusal(media, options) if smart else "smart render is off"
    copy_plan = None
    if refusal is None:
        scan_tick = _ticker(reporter, 0.0, SCAN_SHARE)
        copy_plan = plan_copy(media, segments, plan, scan_tick)
        if copy_plan is None:
            refusal = "the parameter sets are not stored as avcC or hvcC"
        elif not copy_plan.ranges:
            refusal = "no segment holds a keyframe to copy from"
    if copy_plan is None or not copy_plan.ranges:
        log.info("full re-encode: %s", refusal)
        maxrate = video_cap(media, layout, plan.rate)
        writer = ReelWriter(
            path,
            layout,
            plan.rate,
            sound,
            bt709=bool(media.hdr) and colour is None,
            maxrate=maxrate,
            metadata=tags,
            codec=full_codec(media, options),
            colour=colour,
        )
        try:
            write_video(writer, media, segments, plan, layout, video_tick)
        finally:
            writer.close()
        return
    # Copied pictures stay as the source stores them (a portrait clip: turned on its side),
    # so the re-encoded ones are made that way too and the reel's display matrix turns both.
    stored, stored_layout = as_stored(media, layout)
    with PacketSource(media, copy_plan.config, reporter.check) as packets:
        spliced = SpliceWriter(
            path,
            packets.stream,
            copy_plan.config,
            stored_layout,
            plan.rate,
            sound,
            copy_plan.delay,
            rotation=media.rotation,
            metadata=tags,
            colour=colour,
            maxrate=video_cap(media, stored_layout, plan.rate),
        )
        try:
            write_spliced(
                spliced, packets, stored, segments, plan, copy_plan, stored_layout, video_tick
            )
        finally:
            spliced.close()


def _temporary(path: Path) -> Path:
    # Same folder (so the rename is atomic), hidden, and never mistaken for a finished file.
    return path.with_name(f".{path.stem}.{uuid.uuid4().hex[:8]}.part{path.suffix}")


def _middle(segments: list[Segment]) -> float:
    best = max(segments, key=lambda s: s.score)
    return (best.source_start + best.source_end) / 2


def _ticker(reporter: Reporter, low: float, high: float) -> Callable[..., None]:
    """A progress callback for one part of the render, mapped into ``low..high``.

    Checks for cancellation on every call but forwards progress at most every 0.1 s, since
    the caller's callback may be expensive (a database write, say).
    """
    last = [0.0]

    def tick(fraction: float | None = None) -> None:
        reporter.check()
        now = time.monotonic()
        if now - last[0] >= REPORT_EVERY:
            last[0] = now
            done = 0.0 if fraction is None else fraction
            reporter.update(low + (high - low) * min(1.0, max(0.0, done)))

    return tick
