"""Writing the reel: libx264 + AAC in a fast-start MP4, video and audio interleaved as we go."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from ..models import MediaInfo, Segment
from .colour import Colour
from .layout import Layout, Plan
from .picture import blend, darken, make_picture, to_frame
from .prefetch import Prefetch
from .rate import cap_options
from .soundtrack import ReelSound, SoundTrack
from .source import VideoSource
from .tags import open_reel

if TYPE_CHECKING:
    from .copyplan import CopyRange

PRESET = "veryfast"
"""libx264 preset. ``veryfast`` is the reference point; at CRF 21 it stays visually clean for
phone footage while ``faster``/``medium`` cost 1.5-3x the time for ~5-10% smaller files, and
``superfast``/``ultrafast`` drop CABAC and trellis (visibly blockier, 1.5-2x bigger files)."""
CRF = "21"


RUN_PRESET = "ultrafast"
RUN_PARAMS = "rc-lookahead=0:mbtree=0:bframes=0:sliced-threads=1:cabac=0:deblock=0,0"
"""x264 for the short re-encoded runs of a smart render (a crossfade, the odd part-GOP), each
a fresh encode of a few frames. Lookahead, macroblock-tree and B-frames exist to spend bits
well across many frames; on a run of 8 they only delay the flush, and frame threads cannot
fill their pipeline, so slices share the cores instead. ``ultrafast`` with the deblocking
filter put back (it keeps the runs from looking blocky next to the copied GOPs): on 8 runs of
8 1080p frames of the benchmark clip, worst-frame PSNR 47.3 dB against superfast's 45.7.
CAVLC, not CABAC: the entropy coder changes the bits, not the pictures (the decoded reels
were identical to the bit), and CABAC cost a quarter more encoding CPU for 5% smaller
files (the 2-minute benchmark's 30 s reel: render 2.79 -> 2.39 s, 4.95 -> 4.25 s of CPU,
49.9 -> 52.6 MB, medians of 8)."""


TONE_MAPPED_PARAMS = "me=dia:subme=1:partitions=i8x8,i4x4"
"""x264 for a reel tone-mapped from HDR (``hdr=sdr``): ``veryfast``'s rate control (lookahead,
macroblock tree) with ``superfast``'s motion search and partitions. Each picture costs a tone
map of ~20 ms beside the encode, so the encode is made cheaper: on 120 tone-mapped 1080p
pictures of the iphone-hdr benchmark clip, 28-31 -> 20-21 ms of processor time a picture for
the same PSNR against them (40.83 dB mean, 39.79 worst, against 40.91 and 39.73) and 16% more
bytes (``superfast`` itself, without the macroblock tree: 2.6x the bytes).

Those bytes are not free in a real reel: it is held to the source's bit rate
(:func:`.rate.video_cap`; the iphone-hdr clip's 30 s reel came out at 2.64 Mbit/s against a
2.58 Mbit/s cap), so a cheaper encode shows as a worse picture at the same size. On 120
tone-mapped 1080p pictures of that clip at its cap (PSNR against them, mean): these options
22-26 ms of processor time a picture, 37.8 dB; no B-frames 15-16 ms, 36.8 dB; no B-frames
and CAVLC 14.5 ms, 34.6 dB; ``ultrafast`` with deblocking and the macroblock tree 12.5-14 ms,
34.0 dB; ``veryfast`` itself 39-43 ms, 38.3 dB. Frame threads instead of PyAV's default
slices: the same time, +0.1 dB mean and +1.5 dB on the worst picture."""


TONE_MAPPED_THREADS = "FRAME"
"""x264's threads for a tone-mapped reel: frames, not PyAV's default slices. Slices split each
picture into independently coded parts, a cost in bits that a reel held to its cap pays in
quality; on 300 tone-mapped 1080p pictures of the iphone-hdr clip at its cap (2.38 Mbit/s, 3
rounds interleaved): 29.1 (28.2-29.5) ms against 29.0 (28.2-30.6) ms of processor time a
picture, PSNR-Y against the pictures 37.61 -> 37.71 dB mean, 31.97 -> 32.49 worst, SSIM-Y
0.9423 -> 0.9433, the same size. With ``hdr._Scratch``, the whole run against a full decode
(benchmarks/engine.py's iphone-hdr clip, 4 rounds interleaved with the code before both, load
1-6): wall 2.57 (2.19-2.78) -> 2.25 (2.13-2.53), faster every round; processor time 2.78
(2.38-2.79) -> 2.58 (2.36-2.77).

Also measured then, frame threads each (300 pictures, 3-4 rounds, medians; x264 alone was
26-31 ms a picture): no B-frames 19-23 ms (-29-34%), PSNR-Y 37.11-37.18 dB against 37.71-37.74
(-0.6 dB; worst picture +0.5), SSIM-Y 0.9372-0.9379 against 0.9431-0.9437: in the whole run
~10% less processor time (2.24 against 2.49 of a full decode's, 3 rounds), not taken: under
the 2x for 0.5 dB a worse picture would have to buy. One B-frame 22.5 ms, 37.39 dB (worst
-1.4). No B-frames with ``subme=2`` (or 3): the same time as these settings (25-29 ms against
27-30), 37.79-37.94 dB, worst 33.5-33.8, SSIM 0.947: a better picture, not a faster one.
No macroblock tree, a lookahead of 5, no weighted prediction, no psy: no cheaper, or worse.
FFmpeg's filters as a tone map: the wheel has no zscale, its ``colorspace`` refuses HLG
(EINVAL), and ``tonemap`` wants linear light (none of the filters makes it) and cost 61 ms of
processor time a 1080p picture against ~20 for ``hdr.tone_map_planes``."""


def x264_options(tone_mapped: bool = False) -> dict[str, str]:
    """Encoder options shared by the full re-encode and the re-encoded parts of a splice
    (``tone_mapped``: the pictures were tone-mapped from HDR, see ``TONE_MAPPED_PARAMS``)."""
    options = {"preset": PRESET, "crf": CRF, "profile": "high"}
    if tone_mapped:
        options["x264-params"] = TONE_MAPPED_PARAMS
    return options


def run_options(params: str = "") -> dict[str, str]:
    """Encoder options for a smart render's short re-encoded runs (``params``: extra x264)."""
    extra = f"{RUN_PARAMS}:{params}" if params else RUN_PARAMS
    return {"preset": RUN_PRESET, "crf": CRF, "profile": "high", "x264-params": extra}


X265_RUN_PARAMS = (
    "log-level=error:bframes=0:rc-lookahead=0:no-open-gop=1:info=0:repeat-headers=0"
    ":frame-threads=1:aud=0:hash=0:min-cu-size=32:rd=1:rdoq-level=0:max-merge=1"
)
"""x265 for the smart render's short runs of an HEVC source, on the same reasoning as
``RUN_PARAMS``: no B-frames or lookahead (a run is a few frames), a closed GOP (the run starts
with an IDR), parameter sets only in the header (``hvc1`` wants them there alone), no version
SEI. x265 costs ~8x x264's time a picture at 1080p even at ``ultrafast``; coding units of at
least 32x32, RD level 1, no RDOQ and one merge candidate took its CPU time a frame from 0.053
to 0.029-0.037 s (10 frames of the benchmark scene) for a worst-frame PSNR of 48.7 dB against
49.1."""
X265_RUN_CRF = "22"


def x265_run_options(pix_fmt: str = "yuv420p", colour: Colour | None = None) -> dict[str, str]:
    """libx265 options for a smart render's runs (Main, or Main 10 for 10-bit pictures;
    ``colour``: an HDR reel's colour description and metadata)."""
    profile = "main10" if pix_fmt.endswith("10le") else "main"
    params = X265_RUN_PARAMS + (f":{colour.x265_params()}" if colour else "")
    return {"preset": RUN_PRESET, "crf": X265_RUN_CRF, "profile": profile, "x265-params": params}


X265_PRESET = "ultrafast"
X265_CRF = "22"
"""libx265 for a full re-encode to HEVC (asked for, or an HDR reel). On 60 frames of the
benchmark's 1080p iPhone-like clip: x264 ``veryfast`` CRF 21 (the H.264 reel) 0.025 s of CPU a
frame, 15 kB, 43.6 dB PSNR; x265 ``superfast`` CRF 24 0.045 s, 8 kB, 44.7 dB; ``ultrafast``
CRF 22 0.033 s, 8 kB, 44.3 dB (CRF 24: 7 kB, 43.2 dB). 10-bit 1080p HLG: superfast 0.070 s a
frame, ultrafast 0.043 s."""


def x265_options(pix_fmt: str = "yuv420p", colour: Colour | None = None) -> dict[str, str]:
    profile = "main10" if pix_fmt.endswith("10le") else "main"
    params = "log-level=error:info=0:repeat-headers=0"
    if colour:
        params += f":{colour.x265_params()}"
    return {"preset": X265_PRESET, "crf": X265_CRF, "profile": profile, "x265-params": params}


ENCODERS = {"h264": "libx264", "hevc": "libx265"}


class ReelWriter:
    """An open MP4 with one H.264 (or HEVC) and one AAC stream; pictures and samples go in in
    order."""

    def __init__(
        self,
        path: Path,
        layout: Layout,
        rate: Fraction,
        sound: ReelSound,
        bt709: bool = False,
        maxrate: int | None = None,
        metadata: Mapping[str, str] | None = None,
        codec: str = "h264",
        colour: Colour | None = None,
    ):
        """``codec``: "h264" (libx264) or "hevc" (libx265, tagged ``hvc1``). ``bt709``: tag
        the pictures BT.709 (primaries, transfer, matrix, limited range), as the tone mapping
        of an HDR source makes them. ``colour``: an HDR reel's (10-bit ``layout.pix_fmt``
        pictures, HEVC Main 10 with the source's colour description). ``maxrate``: the
        video's cap in bits/s (:func:`.rate.video_cap`: about the source's own rate)."""
        self._out = open_reel(path, metadata)  # container tags: .tags.reel_metadata
        video = self._out.add_stream(ENCODERS[codec], rate=rate)
        video.width, video.height, video.pix_fmt = layout.width, layout.height, layout.pix_fmt
        if bt709:
            context = video.codec_context
            context.color_primaries = context.color_trc = context.colorspace = 1  # BT.709
            context.color_range = 1  # limited (MPEG)
        video.time_base = video.codec_context.time_base = 1 / rate
        video.codec_context.gop_size = max(1, round(2 * rate))  # a keyframe every ~2 s: seeking
        if colour:
            colour.apply(video.codec_context)
        if codec == "hevc":
            options = x265_options(layout.pix_fmt, colour)
        else:
            options = x264_options(tone_mapped=bt709)
        video.options = {**options, **cap_options(maxrate)}
        if bt709 and codec == "h264":
            video.codec_context.thread_type = TONE_MAPPED_THREADS
        if codec == "hevc":
            video.codec_tag = "hvc1"  # what QuickTime, Safari and AVPlayer accept
        self._video = video
        self._sound = SoundTrack(self._out, sound)
        self._rate = rate
        self._frames = 0

    def close(self) -> None:
        self._sound.close()
        self._out.close()

    def add(self, picture: np.ndarray) -> None:
        frame = to_frame(picture)
        frame.pts = self._frames
        frame.time_base = 1 / self._rate  # codec time base; the muxer picks its own stream's
        self._out.mux(self._video.encode(frame))
        self._frames += 1
        self._sound.keep_ahead_of(self._frames / self._rate)

    def finish(self) -> None:
        self._out.mux(self._video.encode(None))
        self._sound.finish()


class PictureSink(Protocol):
    """Where rendered pictures go: :class:`ReelWriter`, or the smart render's splice writer."""

    def add(self, picture: np.ndarray) -> None: ...

    def finish(self) -> None: ...


CopyRun = Callable[["CopyRange"], Iterator[None]]
"""Puts one run of whole source GOPs into the reel as packets, yielding once per frame."""


def write_video(
    writer: PictureSink,
    media: MediaInfo,
    segments: list[Segment],
    plan: Plan,
    layout: Layout,
    tick: Callable[[float], None],
    copies: Mapping[int, CopyRange] | None = None,
    copy_run: CopyRun | None = None,
) -> None:
    """Decode each segment on the output frame grid and send the pictures to ``writer``.

    The last ``fade`` pictures of a segment are held back and blended with the first
    ``fade`` of the next one, so each crossfade is a true mix of both shots. The last
    ``plan.outro`` pictures fade to black, the last one black. A segment with an entry in
    ``copies`` (the smart render) has that run of source packets put in by ``copy_run``
    instead of being decoded and encoded.

    Pictures are decoded and made on a worker thread (:class:`~.prefetch.Prefetch`), a few
    ahead of the encoder: FFmpeg and OpenCV run without the GIL, so decoding the next
    crossfade overlaps encoding this one.
    """
    copies = (copies or {}) if copy_run is not None else {}
    done = 0

    def progress() -> None:
        tick(done / max(1, plan.total))

    def steps(check: Callable[[], None]) -> Iterator[_Step]:
        with VideoSource(media, check, short_runs=bool(copies)) as source:
            yield from _steps(media, segments, plan, layout, copies, source)

    held: list[np.ndarray] = []
    incoming: list[np.ndarray] = []
    current = 0
    depth = prefetch_depth(layout)
    with Prefetch(steps, depth, progress, name="pictures") as prefetched:
        for step in prefetched:
            if step.index != current:
                held, incoming, current = incoming, [], step.index
            if step.copy is not None:
                assert copy_run is not None
                for _ in copy_run(step.copy):
                    done += 1
                    progress()
                continue
            count = plan.frames[step.index]
            final = step.index == len(segments) - 1
            tail = plan.fade if not final else 0
            k, picture = step.k, step.picture
            assert picture is not None
            if final and k >= count - plan.outro:  # the reel's end, fading to black
                picture = darken(picture, (k - (count - plan.outro) + 1) / plan.outro)
            if k < len(held):
                writer.add(blend(held[k], picture, (k + 1) / (plan.fade + 1)))
                held[k] = _SPENT  # see ``_SPENT``
            elif k >= count - tail:
                incoming.append(picture)
            else:
                writer.add(picture)
            if k < len(held) or k < count - tail:
                done += 1
            progress()
    writer.finish()


PREFETCH = 12
"""Pictures made ahead of the encoder at most: a crossfade and a half at 0.25 s and 30 fps..."""
PREFETCH_BYTES = 40 << 20
"""...and no more bytes of them than this (12 8-bit 1080p pictures: 37 MB). A 10-bit picture is
twice the bytes: 12 of them were 75 MB of a 4K60 HDR run's render (6.2 MB each, 1080p)."""


def prefetch_depth(layout: Layout) -> int:
    """Pictures made ahead of the encoder for reel pictures of ``layout``: ``PREFETCH``, or
    fewer where they would take more than ``PREFETCH_BYTES``."""
    size = layout.width * layout.height * 3 // 2 * (2 if layout.pix_fmt.endswith("10le") else 1)
    return max(2, min(PREFETCH, PREFETCH_BYTES // max(1, size)))


_SPENT = np.empty(0, np.uint8)
"""What a held picture is replaced with once blended into a crossfade, so its memory goes back
at once, not when the next segment's tail is held: at 60 fps a 0.25 s crossfade holds 15
pictures, 93 MB of 10-bit 1080p, and a segment's held head and the next one's tail were both
alive at its end."""


@dataclass(frozen=True)
class _Step:
    """What the reel needs next: segment ``index``'s frame ``k`` as a picture, or the copy of
    its source packets that starts there."""

    index: int
    k: int
    picture: np.ndarray | None = None
    copy: CopyRange | None = None


def _steps(
    media: MediaInfo,
    segments: list[Segment],
    plan: Plan,
    layout: Layout,
    copies: Mapping[int, CopyRange],
    source: VideoSource,
) -> Iterator[_Step]:
    """Every step of the reel in order, decoding the pictures that are not copied."""
    step = 1 / float(plan.rate)
    for index, segment in enumerate(segments):
        count = plan.frames[index]
        copy = copies.get(index)
        source.start(segment.source_start)
        last_frame, picture = None, None
        k = 0
        while k < count:
            if copy is not None and k == copy.start:
                yield _Step(index, k, copy=copy)
                k = copy.end
                if k < count:  # decode on from the picture after the copy: a keyframe, or
                    # mid-GOP (the seek then decodes through from the GOP's keyframe; a
                    # quarter frame past it, so rounding never lands on the GOP before)
                    source.start(copy.until + 0.25 * step, seek=True)
                last_frame, picture = None, None
                continue
            frame = source.frame_at(segment.source_start + k * step, slack=step / 2)
            if frame is None:
                if picture is None:
                    raise _no_frames(media, segment)
            else:
                if frame is not last_frame:  # a held frame (VFR gap, end of file) is reused
                    focus = segment.focus_at(segment.source_start + k * step)
                    picture = make_picture(frame, media, layout, focus)
                last_frame = frame
            yield _Step(index, k, picture=picture)
            k += 1


def _no_frames(media: MediaInfo, segment: Segment) -> Exception:
    from ..errors import EngineError

    return EngineError(
        f"{media.path.name}: no video frames could be decoded near {segment.source_start:.1f} s"
    )
