"""Safe probing of untrusted media: whitelisted containers, local files only, hard caps.

Every input is treated as hostile. The order of checks matters: cheap checks on the path and
the first bytes come first, then FFmpeg opens the file with format/protocol whitelists (so a
file can never make FFmpeg read another file or a URL), then the caps in :class:`Limits` are
applied to what the headers claim, and only then is a single frame decoded.
"""

from __future__ import annotations

import logging
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from .errors import EngineError
from .models import Limits, MediaInfo

log = logging.getLogger(__name__)

# FFmpeg demuxer names we accept. Anything else (HLS, concat, image2, ...) is refused before
# a byte is interpreted, so a file cannot make FFmpeg open another file or URL.
FORMAT_WHITELIST = "mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,avi,mpegts"
ACCEPTED = "MP4/MOV, Matroska/WebM, AVI, MPEG-TS and 3GP"
OPEN_TIMEOUT = 10.0
"""Seconds FFmpeg may spend in any single open/read call before it is interrupted."""
VFR_PACKETS = 300
"""Video packets whose timestamps are inspected for variable frame rate (no decoding)."""
DECODE_BUDGET = 5.0
"""Wall-clock seconds the probe may spend looking for the first decodable frame."""

MIN_FPS = 0.9
"""Fewest pictures a second we accept: about one, with room for timestamps' rounding. Fewer is
a slideshow or a broken time base (an ``mdhd`` time scale of 1 made each frame of a phone clip
last 512 s, and its reel one frame long)."""
MAX_FPS = 1000.0
"""Most pictures a second we accept (phones' slow motion is 240)."""

MAX_AUDIO_CHANNELS = 8
"""Most sound channels we use (7.1). A track with more (a 64-channel recorder's PCM, say) is
set aside: the reel is silent and says why, rather than the picture failing with it."""
SOUND_RATES = (1000, 768_000)
"""Sample rates (per second) a usable sound track lies between."""
SOUND_TRIAL_ERRORS = 8
"""Sound packets that may fail to decode, before any decodes, ere the sound counts as damaged."""
SOUND_RATE = 48_000
"""Rate the trial mixes the sound down at, as analysis and render do."""

HDR_TRANSFERS = {16: "pq", 18: "hlg"}  # AVCOL_TRC_SMPTE2084, AVCOL_TRC_ARIB_STD_B67


def open_options(limits: Limits | None = None) -> dict[str, str]:
    """FFmpeg options for opening untrusted input (format and codec options together)."""
    limits = limits or Limits()
    return {
        "format_whitelist": FORMAT_WHITELIST,
        "protocol_whitelist": "file",
        # mov/mp4 "data references" can name other files; never follow them.
        "enable_drefs": "0",
        "use_absolute_path": "0",
        "probesize": str(16 * 1024 * 1024),
        "analyzeduration": str(5_000_000),
        "max_streams": str(limits.max_streams + 1),
        # Decoders (also those run inside stream-info probing) refuse bigger pictures.
        "max_pixels": str(limits.max_pixels),
    }


def open_input(path: Path | str, limits: Limits | None = None) -> av.container.InputContainer:
    """Open a local file for demuxing with the safety whitelists applied.

    Raises :class:`EngineError` with a sentence a person can act on; FFmpeg's own wording is
    only logged.
    """
    path = Path(path)
    limits = limits or Limits()
    _check_file(path, limits)
    try:
        return av.open(str(path), mode="r", options=open_options(limits), timeout=OPEN_TIMEOUT)
    except av.error.FFmpegError as exc:
        log.info("opening %s failed: %r", path, exc)
        raise EngineError(_explain_open_error(exc), file=path.name) from exc
    except OSError as exc:
        log.info("opening %s failed: %r", path, exc)
        raise EngineError("the file could not be read", file=path.name) from exc


REOPEN_OPTIONS = {"probesize": "32", "analyzeduration": "0"}
"""Opening a file already probed: no stream-info probing. That probing decodes the first
frames (a 1080p keyframe: ~17 ms of an open's 18; far more for 4K HEVC), and the engine opens
an input about eight times between analysis and render."""


def reopen(media: MediaInfo) -> av.container.InputContainer:
    """Open a probed input again, quickly when its header alone names the same streams.

    Containers whose streams are found only by reading packets (MPEG-TS) come back without
    them from a quick open; those, and anything else that does not match ``media``, are
    opened in full as by :func:`open_input`.
    """
    _check_file(media.path, Limits())
    options = {**open_options(), **REOPEN_OPTIONS}
    try:
        container = av.open(str(media.path), mode="r", options=options, timeout=OPEN_TIMEOUT)
    except (av.error.FFmpegError, OSError):
        return open_input(media.path)
    if _same_streams(container, media):
        return container
    container.close()
    return open_input(media.path)


def _same_streams(container: av.container.InputContainer, media: MediaInfo) -> bool:
    """The header alone names ``media``'s streams, with their codecs and picture size."""
    wanted = [(media.video_stream, "video", media.video_codec)]
    if media.audio_stream is not None:
        wanted.append((media.audio_stream, "audio", media.audio_codec))
    streams = container.streams
    named = all(
        index < len(streams)
        and streams[index].type == kind
        and streams[index].codec_context is not None
        and streams[index].codec_context.name == codec
        and streams[index].time_base is not None
        for index, kind, codec in wanted
    )
    if not named:
        return False
    video = streams[media.video_stream].codec_context
    return (video.width, video.height) == (media.coded_width, media.coded_height)


def probe(path: Path | str, limits: Limits | None = None) -> MediaInfo:
    """Read the facts of ``path``: headers, caps, then one decoded frame and packet timing."""
    limits = limits or Limits()
    path = Path(path)
    with open_input(path, limits) as container:
        if len(container.streams) > limits.max_streams:
            raise EngineError(
                f"has {len(container.streams)} tracks; we accept at most {limits.max_streams}",
                file=path.name,
            )
        stream = _pick_video(container, path)
        audio, unusable = _pick_audio(container)
        cc = stream.codec_context
        _check_size(path, cc.width, cc.height, limits)
        duration = _duration(container, stream)
        _check_duration(path, duration, limits)

        trial = _SoundTrial(audio)
        frame, deltas = _first_frame_and_timing(container, stream, path, limits, trial)
        if trial.refusal is not None:
            audio, unusable = None, trial.refusal
        # The decoded picture is the truth; a header may disagree with the bitstream.
        coded_w, coded_h = frame.width, frame.height
        _check_size(path, coded_w, coded_h, limits)
        fps = _fps(stream, deltas)
        check_timing(path, fps, float(np.median(deltas)) if len(deltas) else None)
        sar = _sample_aspect_ratio(stream)
        rotation = _rotation(frame)
        width, height = display_size(coded_w, coded_h, sar, rotation)
        _check_size(path, width, height, limits)
        pix_fmt = frame.format.name
        return MediaInfo(
            path=path,
            container=container.format.name,
            size_bytes=path.stat().st_size,
            duration=duration,
            width=width,
            height=height,
            coded_width=coded_w,
            coded_height=coded_h,
            rotation=rotation,
            sample_aspect_ratio=sar,
            fps=fps,
            variable_frame_rate=is_variable_frame_rate(deltas),
            video_codec=cc.name,
            pixel_format=pix_fmt,
            bit_depth=bit_depth(pix_fmt),
            hdr=HDR_TRANSFERS.get(int(frame.color_trc or cc.color_trc or 0)),
            video_stream=stream.index,
            audio_stream=audio.index if audio else None,
            audio_codec=audio.codec_context.name if audio else None,
            sample_rate=audio.codec_context.sample_rate if audio else None,
            channels=audio.codec_context.channels if audio else None,
            start_time=_start_time(container, stream),
            nominal_fps=nominal_fps(deltas),
            notes=(f"The sound could not be used ({unusable}); the reel is silent.",)
            if unusable
            else (),
        )


# --- before FFmpeg sees the file ---------------------------------------------------------------

_TEXT_BYTES = bytes(range(32, 127)) + b"\t\r\n\x0c"
_AUDIO_MAGIC = (b"ID3", b"fLaC", b"#!AMR", b"MThd")


def _check_file(path: Path, limits: Limits) -> None:
    if not path.is_file():
        raise EngineError("no such file", file=path.name)
    size = path.stat().st_size
    if size == 0:
        raise EngineError("the file is empty", file=path.name)
    if size > limits.max_file_bytes:
        raise EngineError(
            f"the file is {_gib(size)}; the largest we accept is {_gib(limits.max_file_bytes)}",
            file=path.name,
        )
    try:
        with path.open("rb") as fh:
            head = fh.read(512)
    except OSError as exc:
        raise EngineError("the file could not be read", file=path.name) from exc
    _sniff(path, head)
    if _declared_end(path, head, size) > size:
        raise EngineError(
            "the file is incomplete (it was probably cut off while uploading or "
            "copying); please upload the whole video",
            file=path.name,
        )


def _declared_end(path: Path, head: bytes, size: int) -> int:
    """Where the container's own size fields say the file ends (0 if they do not say).

    A cut-off MP4 with its index up front, or a cut-off Matroska file, still opens and decodes
    its first frame; comparing the declared sizes with the real size catches them cheaply.
    """
    if head[:4] == b"RIFF":  # AVI: the first RIFF chunk size
        return 8 + int.from_bytes(head[4:8], "little")
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return _matroska_segment_end(head)
    if head[4:8] in (b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip"):
        return _mp4_boxes_end(path, size)
    return 0


_MP4_TOP_LEVEL = {
    b"ftyp", b"styp", b"moov", b"mdat", b"moof", b"mfra", b"free", b"skip", b"wide", b"pdin",
    b"meta", b"uuid", b"sidx", b"ssix", b"prft", b"emsg", b"udta", b"pnot", b"PICT",
}  # fmt: skip
"""Box types found at the top level of MP4/MOV files (ISO 14496-12, QuickTime)."""


def _mp4_boxes_end(path: Path, size: int, max_boxes: int = 1000) -> int:
    """Walk the top-level MP4 boxes; return the end of the last one (or past EOF if cut).

    Once a whole ``moov`` and a whole ``mdat`` are in, bytes that do not start another known
    box are trailing data (a few stray bytes, an appended ZIP): players ignore them, so do we.
    """
    offset = 0
    complete: set[bytes] = set()
    with path.open("rb") as fh:
        for _ in range(max_boxes):
            if offset + 8 > size:
                break
            fh.seek(offset)
            header = fh.read(16)
            if {b"moov", b"mdat"} <= complete and header[4:8] not in _MP4_TOP_LEVEL:
                return offset
            box = int.from_bytes(header[:4], "big")
            if box == 1 and len(header) == 16:
                box = int.from_bytes(header[8:16], "big")
            elif box == 0:  # "extends to end of file"
                return size
            if box < 8:
                return 0  # not a box structure we understand; let FFmpeg judge
            if offset + box <= size:
                complete.add(header[4:8])
            offset += box
    return offset


def _matroska_segment_end(head: bytes) -> int:
    """End of the Segment element from its EBML size, 0 if unknown-sized or unreadable."""
    pos = 4
    header_size, pos = _ebml_vint(head, pos)
    if header_size is None:
        return 0
    pos += header_size
    if head[pos : pos + 4] != b"\x18\x53\x80\x67":
        return 0
    segment_size, data_start = _ebml_vint(head, pos + 4)
    return data_start + segment_size if segment_size is not None else 0


def _ebml_vint(data: bytes, pos: int) -> tuple[int | None, int]:
    """Decode an EBML variable-size integer; None for "unknown size" or bad data."""
    if pos >= len(data) or data[pos] == 0:
        return None, pos
    first = data[pos]
    length = 8 - first.bit_length() + 1
    if pos + length > len(data):
        return None, pos
    value = first & ((1 << (8 - length)) - 1)
    for byte in data[pos + 1 : pos + length]:
        value = (value << 8) | byte
    if value == (1 << (7 * length)) - 1:
        return None, pos + length
    return value, pos + length


def _sniff(path: Path, head: bytes) -> None:
    """Refuse playlists, text and audio-only files by their first bytes, with a clear reason.

    The format whitelist already stops FFmpeg from following playlists; this only turns the
    refusal into a sentence that says what the file is.
    """
    if not head.strip(_TEXT_BYTES):
        lowered = head.lower()
        if lowered.startswith((b"#extm3u", b"ffconcat", b"[playlist]", b"<?xml", b"<smil")) or (
            b"://" in lowered
        ):
            raise EngineError(
                "is a playlist or a list of other files, not a video; "
                "please upload the video file itself",
                file=path.name,
            )
        raise EngineError("is a text file, not a video", file=path.name)
    is_mpeg_audio = len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0
    is_wave = head[:4] == b"RIFF" and head[8:12] == b"WAVE"
    if head.startswith(_AUDIO_MAGIC) or is_mpeg_audio or is_wave:
        raise EngineError(
            "has no video stream (it is an audio-only file); please upload a video",
            file=path.name,
        )


def _explain_open_error(exc: av.error.FFmpegError) -> str:
    """Why FFmpeg could not open the file, for a person (the file is named by the caller)."""
    if isinstance(exc, av.error.ExitError):
        return "reading the file took too long; it may be damaged"
    if isinstance(exc, av.error.ArgumentError):
        # EINVAL at open means the detected format is not on our whitelist.
        return f"is not in a video format we accept ({ACCEPTED})"
    if isinstance(exc, av.error.MemoryError):
        return "needs more memory to read than we allow; it may be damaged"
    if isinstance(exc, av.error.PermissionError):
        return "the file could not be read (permission denied)"
    return (
        f"is not a video we can read: it is damaged, incomplete or in a format "
        f"we do not accept ({ACCEPTED})"
    )


def _gib(size: int) -> str:
    return f"{size / 1024**3:.1f} GiB" if size >= 1024**3 else f"{size / 1024**2:.1f} MiB"


# --- streams and caps --------------------------------------------------------------------------


def _pick_video(container: av.container.InputContainer, path: Path) -> av.video.stream.VideoStream:
    """The main video stream: not a cover image, with a decoder; the largest if several."""
    candidates = [
        s
        for s in container.streams.video
        if not s.disposition & av.stream.Disposition.attached_pic and s.codec_context is not None
    ]
    if not candidates:
        if container.streams.video:
            raise EngineError("has only a still cover image, no video stream", file=path.name)
        kind = "it is an audio-only file" if container.streams.audio else "the file is empty"
        raise EngineError(f"has no video stream ({kind}); please upload a video", file=path.name)
    return max(candidates, key=lambda s: (s.codec_context.width * s.codec_context.height, -s.index))


def _pick_audio(
    container: av.container.InputContainer,
) -> tuple[av.audio.stream.AudioStream | None, str | None]:
    """The first sound track we can use, or None and why the first one cannot be (None when
    there is no sound at all)."""
    refusal = None
    for stream in container.streams.audio:
        why = _sound_refusal(stream)
        if why is None:
            return stream, None
        refusal = refusal or why
    return None, refusal


def _sound_refusal(stream: av.audio.stream.AudioStream) -> str | None:
    """Why a sound track cannot be used, judged from its header (None: it may be)."""
    cc = stream.codec_context
    if cc is None:
        return "it is in a format we cannot decode"
    if not cc.channels or not cc.sample_rate:
        return "its header is damaged"
    if cc.channels > MAX_AUDIO_CHANNELS:
        return f"{cc.channels} channels"
    if not SOUND_RATES[0] <= cc.sample_rate <= SOUND_RATES[1]:
        return f"{cc.sample_rate} samples a second"
    return None


class _SoundTrial:
    """Decodes the first sound packets the probe meets and mixes a frame down as analysis
    (mono) and render (stereo) do. ``refusal`` says why the sound cannot be used, if so; a
    file whose sound the probe does not reach keeps it."""

    def __init__(self, stream: av.audio.stream.AudioStream | None) -> None:
        self.stream = stream
        self.refusal: str | None = None
        self.done = stream is None
        self._errors = 0

    def feed(self, packet: av.Packet) -> None:
        if self.done or self.stream is None:
            return
        try:
            frames = self.stream.decode(packet)
        except av.error.FFmpegError as exc:
            log.info("sound decode error: %r", exc)
            self._errors += 1
            if self._errors >= SOUND_TRIAL_ERRORS:
                self.refusal, self.done = "it is damaged", True
            return
        if not frames:
            return
        self.done = True
        frame = frames[0]
        try:
            for fmt, layout in (("flt", "mono"), ("fltp", "stereo")):
                av.AudioResampler(format=fmt, layout=layout, rate=SOUND_RATE).resample(frame)
        except (av.error.FFmpegError, ValueError) as exc:
            log.info("sound mix-down failed: %r", exc)
            self.refusal = f"its {frame.layout.name} layout cannot be mixed down"


def _check_size(path: Path, width: int, height: int, limits: Limits) -> None:
    if width <= 0 or height <= 0:
        raise EngineError("the video has no picture size; the file is damaged", file=path.name)
    if width > limits.max_width or height > limits.max_height or width * height > limits.max_pixels:
        raise EngineError(
            f"the picture is {width}x{height}, larger than we accept "
            f"(at most {limits.max_width}x{limits.max_height}, "
            f"{limits.max_pixels / 1e6:.1f} megapixels)",
            file=path.name,
        )


def _check_duration(path: Path, duration: float, limits: Limits) -> None:
    if not np.isfinite(duration) or duration <= 0:
        raise EngineError("the length of the video cannot be read; it is damaged", file=path.name)
    if duration > limits.max_duration:
        raise EngineError(
            f"the video is {_clock(duration)} long; the longest we accept is "
            f"{_clock(limits.max_duration)}",
            file=path.name,
        )
    if duration < limits.min_duration:
        raise EngineError(
            f"the video is only {duration:.2f} s long; it must be at least "
            f"{limits.min_duration:g} s",
            file=path.name,
        )


def check_length(path: Path, seen: float, claimed: float, limits: Limits) -> None:
    """Refuse a video found to hold ``seen`` seconds past its start when that is over the cap,
    whatever its header ``claimed``: the cap holds on what is in the file."""
    if seen > limits.max_duration + LENGTH_SLACK:
        raise EngineError(
            f"the video holds more than {_clock(limits.max_duration)} of pictures "
            f"or sound (its header says {_clock(claimed)}); the longest we accept is "
            f"{_clock(limits.max_duration)}",
            file=path.name,
        )


LENGTH_SLACK = 1.0
"""Seconds a file may run past the length cap before :func:`check_length` refuses it."""


def check_timing(path: Path, fps: float, spacing: float | None) -> None:
    """Refuse absurd timing: a frame rate, or a typical (median) time between pictures, outside
    ``MIN_FPS``..``MAX_FPS``. Such a file cannot be shown at its true speed: a time base of 1
    can turn each frame of a clip into minutes."""
    rates = [fps] if spacing is None or spacing <= 0 else [fps, 1.0 / spacing]
    slowest, fastest = min(rates), max(rates)
    if slowest < MIN_FPS:
        gap = 1.0 / slowest if slowest > 0 else np.inf
        shown = f"{gap:.0f} s" if gap >= 10 else f"{gap:.1f} s"
        raise EngineError(
            f"the video's timing is broken: its pictures are {shown} apart "
            "(a video needs at least one picture a second)",
            file=path.name,
        )
    if fastest > MAX_FPS:
        raise EngineError(
            f"the video's timing is broken: it claims {fastest:.0f} pictures a "
            f"second (at most {MAX_FPS:.0f} make sense)",
            file=path.name,
        )


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _duration(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> float:
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return container.duration / av.time_base
    return 0.0


def _start_time(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream
) -> float:
    if stream.start_time is not None and stream.time_base:
        return float(stream.start_time * stream.time_base)
    if container.start_time is not None:
        return container.start_time / av.time_base
    return 0.0


# --- one frame and packet timing ---------------------------------------------------------------


def _first_frame_and_timing(
    container: av.container.InputContainer,
    stream: av.video.stream.VideoStream,
    path: Path,
    limits: Limits,
    sound: _SoundTrial | None = None,
) -> tuple[av.VideoFrame, np.ndarray]:
    """Decode the first picture and collect the pts spacing of the first packets; the sound
    packets met on the way go to ``sound``.

    Bounded by packet count and wall time, so a hostile file cannot keep the probe busy.
    Returns the frame and the sorted pts deltas in seconds.
    """
    cc = stream.codec_context
    cc.options = {"max_pixels": str(limits.max_pixels)}
    frame: av.VideoFrame | None = None
    pts: list[int] = []
    errors = 0
    deadline = time.monotonic() + DECODE_BUDGET
    try:
        streams = [stream] if sound is None or sound.stream is None else [stream, sound.stream]
        for packet in container.demux(streams):
            if packet.stream.index != stream.index:
                if sound is not None and packet.size:
                    sound.feed(packet)
                continue
            if packet.pts is not None:
                pts.append(packet.pts)
            if frame is None:
                try:
                    frames = stream.decode(packet)
                except av.error.FFmpegError as exc:
                    errors += 1
                    log.info("decode error in %s: %r", path, exc)
                    frames = []
                if frames:
                    frame = frames[0]
            if (frame is not None and len(pts) >= VFR_PACKETS) or time.monotonic() > deadline:
                break
        if frame is None:
            frame = next(iter(_flush(stream)), None)
    except av.error.FFmpegError as exc:
        log.info("demux error in %s: %r", path, exc)
        if frame is None:
            raise EngineError(
                "the video could not be read past its header; it is damaged",
                file=path.name,
            ) from exc
    if frame is None:
        detail = " (the video data is damaged)" if errors else ""
        raise EngineError(f"not a single video frame could be decoded{detail}", file=path.name)
    stamps = np.unique(np.asarray(pts, dtype=np.int64))
    deltas = np.diff(stamps).astype(np.float64) * float(stream.time_base or Fraction(1, 1000))
    return frame, deltas


def _flush(stream: av.video.stream.VideoStream) -> list[av.VideoFrame]:
    try:
        return stream.decode(None)
    except av.error.FFmpegError:
        return []


def is_variable_frame_rate(deltas: np.ndarray) -> bool:
    """True when frame durations vary materially (not just timestamp rounding or a rare drop).

    A frame counts as off-grid when its duration differs from the median by more than 10%;
    the stream is VFR when more than 5% of frames are off-grid.
    """
    if len(deltas) < 4:
        return False
    median = float(np.median(deltas))
    if median <= 0:
        return False
    off_grid = np.abs(deltas - median) > 0.1 * median
    return bool(np.mean(off_grid) > 0.05)


def nominal_fps(deltas: np.ndarray) -> float:
    """The camera's own rate: the mean spacing of the frames that came at its pace, i.e.
    no slower than 1.5x the quickest spacings (the 10th percentile). A slow stretch (a phone
    at 30 fps in low light) and dropped frames are not its pace: on a 60 fps phone clip with
    one, the plain median said 58.9. The mean, as jitter cancels out in it (the median of the
    same spacings said 59.7). 0 when there is nothing to measure."""
    deltas = deltas[deltas > 0]
    if not len(deltas):
        return 0.0
    paced = deltas[deltas <= 1.5 * np.percentile(deltas, 10)]
    return float(1.0 / np.mean(paced))


def _fps(stream: av.video.stream.VideoStream, deltas: np.ndarray) -> float:
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate and 0 < float(rate) <= 1000:
            return float(rate)
    if len(deltas) and np.median(deltas) > 0:
        return float(1.0 / np.median(deltas))
    return 30.0


# --- normalisation facts -----------------------------------------------------------------------


def _rotation(frame: av.VideoFrame) -> int:
    """Clockwise degrees that show the frame upright, from the display matrix.

    PyAV reports the matrix as a counter-clockwise angle in [-180, 180] (an iPhone portrait clip
    reads -90); we store the clockwise turn (90), snapped to a quarter turn.
    """
    try:
        ccw = float(frame.rotation)
    except (TypeError, ValueError):
        return 0
    if not np.isfinite(ccw):
        return 0
    return round(-ccw / 90.0) % 4 * 90


def _sample_aspect_ratio(stream: av.video.stream.VideoStream) -> float:
    sar = stream.sample_aspect_ratio or stream.codec_context.sample_aspect_ratio
    value = float(sar) if sar else 1.0
    # A hostile or broken header may claim an absurd ratio; treat those as square.
    return value if 0.1 <= value <= 10.0 else 1.0


def display_size(width: int, height: int, sar: float, rotation: int) -> tuple[int, int]:
    """Upright display size: stretch width by the pixel aspect ratio, swap for quarter turns.

    Both sides are rounded to even numbers because encoders need them for 4:2:0 output.
    """
    w = max(2, round(width * sar / 2) * 2)
    h = max(2, round(height / 2) * 2)
    return (h, w) if rotation in (90, 270) else (w, h)


def bit_depth(pixel_format: str) -> int:
    """Bits per sample of the first (luma) component, e.g. 10 for yuv420p10le."""
    try:
        return int(av.VideoFormat(pixel_format).components[0].bits)
    except (ValueError, IndexError):
        return 8
