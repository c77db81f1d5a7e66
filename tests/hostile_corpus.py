"""Builders of hostile media, shared by the engine tests and the service hardening tests.

Reads of other files are detected with a :class:`Canary` whose access time is parked in the
past (ext4/tmpfs relatime update it on the first read), URL fetches with a loopback
:class:`CountingServer` that records every request.
"""

from __future__ import annotations

import functools
import http.server
import os
import random
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from tests.engine.media_factory import arrow_frame, make_video

CANARY_ATIME_NS = 1_000_000_000
CANARY_MTIME_NS = 2_000_000_000_000_000_000


class Canary:
    """A file that must not be read: its access time is parked far before its mtime."""

    def __init__(self, path: Path):
        self.path = path
        path.write_bytes(b"\x47" * 188 * 4)  # looks like MPEG-TS, tempting to a demuxer
        os.utime(path, ns=(CANARY_ATIME_NS, CANARY_MTIME_NS))

    def was_read(self) -> bool:
        return os.stat(self.path).st_atime_ns != CANARY_ATIME_NS

    def prove_detection_works(self) -> None:
        self.path.read_bytes()
        assert self.was_read(), "this filesystem does not record reads; the test would be blind"


class CountingServer:
    """A loopback HTTP server that records every request path."""

    def __init__(self) -> None:
        hits: list[str] = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                hits.append(self.path)
                self.send_response(404)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.hits = hits
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


def hls(target: str) -> str:
    """A one-segment HLS playlist naming ``target`` (a path or a URL)."""
    return (
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:10\n#EXT-X-MEDIA-SEQUENCE:0\n"
        f"#EXTINF:10.0,\n{target}\n#EXT-X-ENDLIST\n"
    )


def _riff(fourcc: bytes, data: bytes) -> bytes:
    return fourcc + struct.pack("<I", len(data)) + data + (b"\0" if len(data) % 2 else b"")


def make_avi(
    path: Path,
    *,
    width: int = 32,
    height: int = 32,
    frames: int = 10,
    claimed: tuple[int, int] | None = None,
    claimed_frames: int | None = None,
    gab2_text: str | None = None,
) -> Path:
    """A hand-built uncompressed AVI (10 fps), optionally with a GAB2 subtitle chunk.

    ``claimed`` / ``claimed_frames`` put other sizes or lengths in the headers than the data.
    """
    cw, ch = claimed or (width, height)
    length = claimed_frames or frames
    size = width * height * 3
    avih = struct.pack("<10I4I", 100_000, 0, 0, 0x10, length, 0, 2, 0, cw, ch, 0, 0, 0, 0)
    strh_v = struct.pack(
        "<4s4sIHHIIIIIIIIhhhh", b"vids", b"DIB ", 0, 0, 0, 0, 1, 10, 0, length, size,
        0xFFFFFFFF, 0, 0, 0, cw, ch,
    )  # fmt: skip
    strf_v = struct.pack("<IiiHHIIiiII", 40, cw, ch, 1, 24, 0, size, 0, 0, 0, 0)
    strls = _riff(b"LIST", b"strl" + _riff(b"strh", strh_v) + _riff(b"strf", strf_v))
    if gab2_text is not None:
        strh_t = struct.pack(
            "<4s4sIHHIIIIIIIIhhhh", b"txts", b"\0\0\0\0", 0, 0, 0, 0, 1, 10, 0, 1, 0,
            0xFFFFFFFF, 0, 0, 0, 0, 0,
        )  # fmt: skip
        strls += _riff(b"LIST", b"strl" + _riff(b"strh", strh_t) + _riff(b"strf", b""))
    hdrl = _riff(b"LIST", b"hdrl" + _riff(b"avih", avih) + strls)
    movi = b""
    for i in range(frames):
        movi += _riff(b"00db", bytes([(i * 23) % 256]) * size)
        if i == 0 and gab2_text is not None:
            desc = "sub".encode("utf-16le")
            text = gab2_text.encode()
            gab2 = b"GAB2\0" + struct.pack("<HI", 2, len(desc)) + desc
            gab2 += struct.pack("<HI", 4, len(text)) + text
            movi += _riff(b"01tx", gab2)
    body = b"AVI " + hdrl + _riff(b"LIST", b"movi" + movi)
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    return path


def _box(data: bytes | bytearray, name: bytes) -> tuple[int, int]:
    """(start, size) of the first box called ``name`` (searched by name, small files only)."""
    start = data.index(name) - 4
    return start, int.from_bytes(data[start : start + 4], "big")


def mp4_without_moov(clip: Path, out: Path) -> Path:
    """``clip`` with its whole index box cut out (as a recorder killed mid-file leaves it)."""
    data = clip.read_bytes()
    start, size = _box(data, b"moov")
    out.write_bytes(data[:start] + data[start + size :])
    return out


def mp4_with_playlist_data(clip: Path, out: Path, playlist: str) -> Path:
    """``clip`` (moov at the end) whose media data is overwritten by an HLS playlist."""
    data = bytearray(clip.read_bytes())
    start = data.index(b"mdat") + 4
    end = data.index(b"moov") - 4
    text = (playlist * 400).encode()
    data[start:end] = (text * (1 + (end - start) // len(text)))[: end - start]
    out.write_bytes(bytes(data))
    return out


def mp4_with_many_tracks(clip: Path, out: Path, copies: int = 3000) -> Path:
    """``clip`` whose index claims ``copies`` more tracks (its track box repeated).

    Headers that declare thousands of streams must be refused before any is set up.
    """
    data = clip.read_bytes()
    moov_start, moov_size = _box(data, b"moov")
    moov = data[moov_start : moov_start + moov_size]
    trak_start, trak_size = _box(moov, b"trak")
    trak = moov[trak_start : trak_start + trak_size]
    body = moov[8:] + trak * copies
    new_moov = struct.pack(">I", 8 + len(body)) + b"moov" + body
    out.write_bytes(data[:moov_start] + new_moov + data[moov_start + moov_size :])
    return out


def mp4_with_long_edit_list(clip: Path, out: Path, entries: int = 400_000) -> Path:
    """``clip`` (one track, index at the end) whose edit list plays all of it ``entries`` times.

    12 bytes an entry on disk (4.8 MB for 400,000), but FFmpeg builds an index entry for every
    frame of every edit when it opens the file: a 4-second 30 fps clip takes about 1.2 GB.
    """
    data = clip.read_bytes()
    moov_start, moov_size = _box(data, b"moov")
    moov = data[moov_start : moov_start + moov_size]
    mvhd_start, _ = _box(moov, b"mvhd")
    if moov[mvhd_start + 8] == 1:  # version 1: 64-bit times
        duration = int.from_bytes(moov[mvhd_start + 36 : mvhd_start + 44], "big")
    else:
        duration = int.from_bytes(moov[mvhd_start + 24 : mvhd_start + 28], "big")
    trak_start, trak_size = _box(moov, b"trak")
    trak = moov[trak_start : trak_start + trak_size]
    tkhd_end = 8 + int.from_bytes(trak[8:12], "big")
    rest = trak[tkhd_end:]
    if rest[4:8] == b"edts":  # the muxer's own one-entry edit list: ours replaces it
        rest = rest[int.from_bytes(rest[:4], "big") :]
    # version 0 entries: segment duration (movie time scale), media time 0, rate 1.0
    elst_body = struct.pack(">B3xI", 0, entries) + struct.pack(">IiHH", duration, 0, 1, 0) * entries
    elst = struct.pack(">I", 8 + len(elst_body)) + b"elst" + elst_body
    edts = struct.pack(">I", 8 + len(elst)) + b"edts" + elst
    trak_body = trak[8:tkhd_end] + edts + rest
    new_trak = struct.pack(">I", 8 + len(trak_body)) + b"trak" + trak_body
    moov_body = moov[8:trak_start] + new_trak + moov[trak_start + trak_size :]
    new_moov = struct.pack(">I", 8 + len(moov_body)) + b"moov" + moov_body
    if data.index(b"mdat") > moov_start:  # a longer index would move the media data
        raise ValueError("the clip must have its index after its media data")
    out.write_bytes(data[:moov_start] + new_moov + data[moov_start + moov_size :])
    return out


NUMBER_BITS = 10


@functools.lru_cache(maxsize=4)
def _texture(width: int, height: int) -> np.ndarray:
    """A still, textured scene (a flat one reads as a title card to analysis)."""
    rng = np.random.default_rng(width * height)
    small = rng.integers(60, 200, size=(height // 8 + 1, width // 8 + 1, 3), dtype=np.uint8)
    return np.repeat(np.repeat(small, 8, axis=0), 8, axis=1)[:height, :width]


def claps(seconds: float, every: float = 0.7) -> np.ndarray:
    """Mono 48 kHz sound: quiet room tone with a sharp clap every ``every`` seconds."""
    rng = np.random.default_rng(3)
    rate = 48_000
    sound = 0.003 * rng.standard_normal(int(seconds * rate))
    burst = int(0.08 * rate)
    for start in np.arange(0.3, seconds - 0.1, every):
        at = int(start * rate)
        piece = sound[at : at + burst]
        piece += 0.6 * rng.standard_normal(len(piece)) * np.exp(-np.arange(len(piece)) / 900)
    return sound


def numbered_frame(index: int, width: int, height: int) -> np.ndarray:
    """A textured scene with a busy object moving across it, and ``index`` written along its
    top edge as black and white stripes (a Gray code, most significant bit left: one stripe
    changes from frame to frame, which analysis does not take for a cut), so any decoded
    picture says which frame it is."""
    img = _texture(width, height).copy()
    side = max(8, height // 5)
    x = int((0.5 + 0.42 * np.sin(index / 9)) * (width - side))
    y = int((0.55 + 0.3 * np.sin(index / 13 + 1)) * (height - side))
    img[y : y + side, x : x + side] = arrow_frame(index, side, side)  # a busy object moving
    band = img[: height // 8]
    band[:] = 16
    code = index ^ (index >> 1)
    for bit in range(NUMBER_BITS):
        if code >> (NUMBER_BITS - 1 - bit) & 1:
            band[:, bit * width // NUMBER_BITS : (bit + 1) * width // NUMBER_BITS] = 235
    return img


def frame_number(rgb: np.ndarray) -> int:
    """The index :func:`numbered_frame` wrote into a picture (of any size: scaled or not)."""
    height, width = rgb.shape[:2]
    row = rgb[height // 16, :, 1].astype(int)
    code = 0
    for bit in range(NUMBER_BITS):
        code = code << 1 | int(row[(2 * bit + 1) * width // (2 * NUMBER_BITS)] > 128)
    number = 0
    while code:
        number ^= code
        code >>= 1
    return number


TS_WRAP = 2**33 / 90_000
"""Seconds after which an MPEG-TS clock (33 bits at 90 kHz, about 26.5 hours) wraps to 0."""


def ts_with_b_frames(path: Path, seconds: float = 10.0, size: tuple[int, int] = (960, 540)) -> Path:
    """H.264 with B-frames and x264's default keyframe spacing (250 frames) in MPEG-TS, as a
    camera writes it: a TS has no index, and its keyframes' decode times come before their
    presentation times."""
    return make_video(
        path, seconds=seconds, width=size[0], height=size[1], container_format="mpegts",
        frame_fn=numbered_frame, audio_samples=claps(seconds), video_options={"preset": "medium"},
    )  # fmt: skip


def ts_wrapping(path: Path, seconds: float = 10.0, before: float = 9.5) -> Path:
    """MPEG-TS with B-frames whose clock starts ``before`` seconds short of the 33-bit wrap
    and wraps to 0 inside the file (FFmpeg reads the times before the wrap as negative)."""
    return make_video(
        path, seconds=seconds, width=320, height=180, container_format="mpegts",
        frame_fn=numbered_frame, video_options={"preset": "medium", "x264-params": "keyint=60"},
        audio_samples=claps(seconds),
        container_options={"output_ts_offset": f"{TS_WRAP - before:.6f}"},
    )  # fmt: skip


def _u32(data: bytes | bytearray, at: int) -> int:
    return int.from_bytes(data[at : at + 4], "big")


def mp4_with_time_scale_one(clip: Path, out: Path) -> Path:
    """``clip`` (an MP4 whose first track is its video) with that track's ``mdhd`` time scale
    set to 1: every frame then lasts as many seconds as it lasted ticks (3000 s at 90 kHz)."""
    data = bytearray(clip.read_bytes())
    at = data.index(b"mdhd")
    assert data[at + 4] == 0, "version 0 mdhd expected"
    data[at + 16 : at + 20] = (1).to_bytes(4, "big")
    out.write_bytes(bytes(data))
    return out


def mp4_claiming(clip: Path, out: Path, seconds: float) -> Path:
    """``clip`` whose headers (``mvhd``, every ``tkhd`` and ``mdhd``) say it lasts ``seconds``
    whatever its samples hold; its edit list is blanked out (renamed ``free``), so every sample
    is still played."""
    data = bytearray(clip.read_bytes())
    movie = data.index(b"mvhd")
    movie_scale = _u32(data, movie + 16)
    data[movie + 20 : movie + 24] = round(seconds * movie_scale).to_bytes(4, "big")
    for name, field in ((b"tkhd", 24), (b"mdhd", 20)):
        at = data.find(name)
        while at >= 0:
            scale = movie_scale if name == b"tkhd" else _u32(data, at + 16)
            data[at + field : at + field + 4] = round(seconds * scale).to_bytes(4, "big")
            at = data.find(name, at + 1)
    at = data.find(b"edts")
    while at >= 0:
        data[at : at + 4] = b"free"
        at = data.find(b"edts", at + 1)
    out.write_bytes(bytes(data))
    return out


def mkv_claiming(clip: Path, out: Path, seconds: float) -> Path:
    """``clip`` (Matroska, as FFmpeg writes it: a millisecond time scale) whose segment's
    Duration element says ``seconds``."""
    data = bytearray(clip.read_bytes())
    at = data.index(b"\x44\x89\x88")  # Duration, an 8-byte float
    data[at + 3 : at + 11] = struct.pack(">d", seconds * 1000.0)
    out.write_bytes(bytes(data))
    return out


def long_small_video(path: Path, seconds: float, fps: int = 5, side: int = 64) -> Path:
    """``seconds`` of a tiny moving picture, made fast however long: two seconds of intra-only
    H.264 are encoded once and their packets muxed over and over (MP4 or Matroska by suffix)."""
    encoder = av.CodecContext.create("libx264", "w")
    encoder.width = encoder.height = side
    encoder.pix_fmt = "yuv420p"
    encoder.time_base = Fraction(1, fps)
    encoder.options = {"preset": "ultrafast", "x264-params": "keyint=1"}
    loop: list[bytes] = []
    for i in range(2 * fps):
        rgb = arrow_frame(i * 3, side, side)
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
        frame.pts = i
        loop += [bytes(p) for p in encoder.encode(frame)]
    loop += [bytes(p) for p in encoder.encode(None)]
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width = stream.height = side
        stream.pix_fmt = "yuv420p"
        stream.codec_context.extradata = encoder.extradata
        stream.time_base = Fraction(1, fps)
        for i in range(round(seconds * fps)):
            packet = av.Packet(loop[i % len(loop)])
            packet.pts = packet.dts = i
            packet.duration = 1
            packet.time_base = Fraction(1, fps)
            packet.is_keyframe = True
            packet.stream = stream
            out.mux(packet)
    return path


def video_with_many_channels(
    path: Path, channels: int = 64, seconds: float = 4.0, container_format: str | None = None
) -> Path:
    """A moving picture with ``channels`` channels of 16-bit PCM noise at 8 kHz (a multitrack
    recorder's sound: no channel layout, just a count), in MOV or Matroska by suffix."""
    layout = av.AudioLayout(f"{channels} channels")
    rate, chunk = 8000, 1024
    rng = np.random.default_rng(channels)
    with av.open(str(path), "w", format=container_format) as out:
        video = out.add_stream("libx264", rate=30)
        video.width, video.height, video.pix_fmt = 320, 180, "yuv420p"
        video.options = {"preset": "ultrafast"}
        sound = out.add_stream("pcm_s16le", rate=rate, layout=layout)
        for i in range(round(seconds * 30)):
            frame = av.VideoFrame.from_ndarray(numbered_frame(i, 320, 180), format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, 30)
            out.mux(video.encode(frame))
        out.mux(video.encode())
        for k in range(round(seconds * rate) // chunk):
            noise = rng.normal(0, 3000, (1, chunk * channels)).astype(np.int16)
            frame = av.AudioFrame.from_ndarray(noise, format="s16", layout=layout)
            frame.sample_rate, frame.pts, frame.time_base = rate, k * chunk, Fraction(1, rate)
            out.mux(sound.encode(frame))
        out.mux(sound.encode())
    return path


def damage_sound(clip: Path, first: int = 0) -> int:
    """Overwrite the sound packets of ``clip`` from the ``first`` on with random bytes, in
    place; how many were damaged."""
    with av.open(str(clip)) as source:
        packets = [(p.pos, p.size) for p in source.demux(audio=0) if p.size]
    data = bytearray(clip.read_bytes())
    rng = random.Random(1)
    for pos, size in packets[first:]:
        data[pos : pos + size] = rng.randbytes(size)
    clip.write_bytes(bytes(data))
    return len(packets) - first


@dataclass(frozen=True)
class HostileCase:
    """One upload of the corpus: a name the client sends, the bytes, and what must happen.

    ``accept``: the file is a real video (perhaps under a misleading name) and must become a
    reel; otherwise it must be refused (4xx) or end as a failed job with a clear message, which
    holds ``says`` when given (the reason, where any failure would not show the guard works).
    An accepted file's job notes hold ``says`` (e.g. why its reel is silent).
    """

    name: str
    filename: str
    build: Callable[[Path], Path]
    accept: bool = False
    says: str = ""


def hostile_cases(canary: Canary, server_url: str, valid: Path) -> list[HostileCase]:
    """The service's hostile corpus. ``valid`` is a small real video (H.264/AAC MP4)."""

    def text(body: str | bytes, name: str) -> Callable[[Path], Path]:
        def build(folder: Path) -> Path:
            path = folder / name
            path.write_bytes(body.encode() if isinstance(body, str) else body)
            return path

        return build

    def truncated(fraction: float) -> Callable[[Path], Path]:
        def build(folder: Path) -> Path:
            data = valid.read_bytes()
            path = folder / f"cut-{fraction}.mp4"
            path.write_bytes(data[: int(len(data) * fraction)])
            return path

        return build

    local_and_url = hls(str(canary.path)) + hls(f"{server_url}/avi.ts")
    noise = random.Random(11).randbytes(300_000)
    return [
        HostileCase(
            "avi-carrying-hls",
            "sub.avi",
            lambda d: make_avi(d / "sub.avi", frames=20, gab2_text=local_and_url),
            # A real video: its subtitle track holding a playlist is inert and makes a reel;
            # what matters is that nothing the playlist names is ever opened.
            accept=True,
        ),
        HostileCase(
            "mp4-carrying-hls",
            "carry.mp4",
            lambda d: mp4_with_playlist_data(
                make_video(d / "carry-src.mp4", seconds=1.0, audio=False),
                d / "carry.mp4",
                hls(f"{server_url}/mp4.ts") + hls(str(canary.path)),
            ),
        ),
        HostileCase("hls-local-as-mp4", "local.mp4", text(hls(str(canary.path)), "local.mp4")),
        HostileCase(
            "hls-url-as-mp4", "remote.mp4", text(hls(f"{server_url}/remote.ts"), "remote.mp4")
        ),
        HostileCase(
            "hls-with-bom-as-mp4",
            "bom.mp4",
            text(b"\xef\xbb\xbf" + hls(f"{server_url}/bom.ts").encode(), "bom.mp4"),
        ),
        HostileCase(
            "ffconcat-as-mp4",
            "list.mp4",
            text(f"ffconcat version 1.0\nfile '{canary.path}'\n", "list.mp4"),
        ),
        HostileCase("zero-bytes", "empty.mp4", text(b"", "empty.mp4")),
        HostileCase("random-bytes", "noise.mp4", text(noise, "noise.mp4")),
        HostileCase(
            "mp4-without-moov",
            "no-index.mp4",
            lambda d: mp4_without_moov(valid, d / "no-index.mp4"),
        ),
        *(HostileCase(f"truncated-{f}", f"cut-{f}.mp4", truncated(f)) for f in (0.05, 0.5, 0.95)),
        HostileCase(
            "claims-30000x30000",
            "huge.avi",
            lambda d: make_avi(d / "huge.avi", claimed=(30000, 30000)),
        ),
        HostileCase(
            "claims-10-hours",
            "long.avi",
            lambda d: make_avi(d / "long.avi", claimed_frames=10 * 3600 * 10),
        ),
        # Headers that lie about time (issue 16): a file that says 1 s but holds 3 h 10 min of
        # pictures, past the 3-hour cap, must be refused; so must frames lasting 3000 s.
        *(
            HostileCase(
                f"says-1s-holds-3h10-{kind}",
                f"liar.{kind}",
                lambda d, kind=kind, claim=claim: claim(
                    long_small_video(d / f"long.{kind}", seconds=3 * 3600 + 600, fps=1, side=32),
                    d / f"liar.{kind}",
                    1.0,
                ),
                says="the longest we accept is 3:00:00",
            )
            for kind, claim in (("mp4", mp4_claiming), ("mkv", mkv_claiming))
        ),
        HostileCase(
            "mdhd-time-scale-1",
            "scale1.mp4",
            lambda d: mp4_with_time_scale_one(valid, d / "scale1.mp4"),
            says="timing is broken",
        ),
        HostileCase(
            # Sound we cannot use never fails the picture: a silent reel that says why.
            "64-channel-sound",
            "multitrack.mov",
            lambda d: video_with_many_channels(d / "multitrack.mov", seconds=3.0),
            accept=True,
            says="The sound could not be used (64 channels); the reel is silent.",
        ),
        HostileCase(
            "3000-streams",
            "tracks.mp4",
            lambda d: mp4_with_many_tracks(valid, d / "tracks.mp4"),
        ),
        HostileCase(
            "ts-with-b-frames",
            "camera.ts",
            lambda d: ts_with_b_frames(d / "camera.ts", seconds=6.0, size=(640, 360)),
            accept=True,
        ),
        HostileCase(
            "ts-clock-wraps",
            "wrap.ts",
            lambda d: ts_wrapping(d / "wrap.ts", seconds=6.0, before=5.0),
            accept=True,
        ),
        HostileCase(
            "valid-video-named-avi",
            "holiday.avi",
            lambda d: Path(d / "holiday.avi").write_bytes(valid.read_bytes()) and d / "holiday.avi",
            accept=True,
        ),
        HostileCase(
            # 4.8 MB that take 1.2 GB to open: refused by the probe's memory limit.
            "mp4-400000-edits",
            "edits.mp4",
            lambda d: mp4_with_long_edit_list(
                make_video(d / "edits-src.mp4", seconds=4.0, width=64, height=64, audio=False),
                d / "edits.mp4",
            ),
        ),
    ]
