"""Byte-range and conditional responses for stored files (RFC 9110 §13-14).

AVPlayer (and Safari's <video>) will not stream a file unless the server answers range
requests properly: ``Accept-Ranges``, 206 with ``Content-Range``, 416 for ranges past the end,
a strong ``ETag`` with ``If-Range``, and 304 for ``If-None-Match``. This works on top of the
storage interface (``stat`` + ``open``), not on local paths, so it serves S3-backed files too.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import BinaryIO
from urllib.parse import quote
from uuid import uuid4

import anyio
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from .problems import problem_response

CHUNK = 256 * 1024
MAX_RANGES = 16
"""More ranges than this in one request is abuse, not a player: we answer with the whole file."""

_RANGE_SPEC = re.compile(r"^\s*([0-9]*)\s*-\s*([0-9]*)\s*$")
HUGE = 10**18
"""What a byte position of more digits than this reads as: past the end of any file we serve
(``int`` itself refuses more than 4,300 digits)."""


@dataclass(frozen=True)
class FileFacts:
    """What conditional requests are judged against."""

    size: int
    mtime: float
    etag: str

    @property
    def quoted_etag(self) -> str:
        tag = self.etag
        return tag if tag.startswith(('"', 'W/"')) else f'"{tag}"'

    @property
    def last_modified(self) -> str:
        return format_datetime(datetime.fromtimestamp(int(self.mtime), UTC), usegmt=True)


class Unsatisfiable(Exception):
    """No requested range overlaps the file."""


def parse_range(header: str | None, size: int) -> list[tuple[int, int]] | None:
    """Inclusive (first, last) byte ranges asked for, or None to send the whole file.

    Per RFC 9110 a header we cannot parse (or another unit) is ignored, not an error; only a
    well-formed request that lies wholly outside the file raises :class:`Unsatisfiable`.
    """
    if not header:
        return None
    unit, _, specs = header.partition("=")
    if unit.strip().lower() != "bytes" or not specs.strip():
        return None
    ranges: list[tuple[int, int]] = []
    parts = specs.split(",")
    if len(parts) > MAX_RANGES:
        return None
    for part in parts:
        match = _RANGE_SPEC.match(part)
        if not match or match.group(1) == match.group(2) == "":
            return None
        first_s, last_s = match.groups()
        if first_s == "":  # suffix: the last N bytes
            length = _number(last_s)
            if length == 0 or size == 0:
                continue
            ranges.append((max(0, size - length), size - 1))
            continue
        first = _number(first_s)
        if last_s and _number(last_s) < first:
            return None  # syntactically invalid: ignore the whole header
        if first >= size:
            continue
        last = min(_number(last_s), size - 1) if last_s else size - 1
        ranges.append((first, last))
    if not ranges:
        raise Unsatisfiable
    return _coalesce(ranges)


def _number(digits: str) -> int:
    """A byte position or length. One of more digits than ``HUGE`` (no file is that large;
    ``int`` itself refuses more than 4,300) makes the request unsatisfiable: a 416 problem, as
    the hardening round asked, rather than reading it as 'to the end'."""
    digits = digits.lstrip("0")
    if len(digits) > len(str(HUGE)):
        raise Unsatisfiable
    return int(digits or "0")


def _coalesce(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Merge overlapping or touching ranges (RFC 9110 §14.2 allows it; it stops overlap abuse)."""
    merged: list[tuple[int, int]] = []
    for first, last in sorted(ranges):
        if merged and first <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], last))
        else:
            merged.append((first, last))
    return merged


def _etag_list(header: str) -> list[str]:
    return [tag.strip() for tag in header.split(",") if tag.strip()]


def _weak_match(header: str, etag: str) -> bool:
    """If-None-Match uses weak comparison: W/"x" matches "x"."""
    bare = etag.removeprefix("W/")
    return any(tag == "*" or tag.removeprefix("W/") == bare for tag in _etag_list(header))


def _strong_match(header: str, etag: str) -> bool:
    if etag.startswith("W/"):
        return False
    return any(tag == "*" or tag == etag for tag in _etag_list(header))


def _parse_date(value: str) -> datetime | None:
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _not_modified_since(header: str, mtime: float) -> bool:
    since = _parse_date(header)
    return since is not None and int(mtime) <= since.timestamp()


def _if_range_holds(header: str, facts: FileFacts) -> bool:
    """If-Range: honour Range only while the client's copy is still the current one."""
    header = header.strip()
    if header.startswith(('"', 'W/"')):
        return _strong_match(header, facts.quoted_etag)
    date = _parse_date(header)
    return date is not None and int(facts.mtime) == int(date.timestamp())


def content_disposition(filename: str, disposition: str = "inline") -> str:
    """A header every client understands: an ASCII fallback plus the RFC 6266 UTF-8 name."""
    ascii_name = unicodedata.normalize("NFKD", filename).encode("ascii", "ignore").decode()
    ascii_name = re.sub(r"[^A-Za-z0-9._ -]+", "_", ascii_name).strip() or "download"
    value = f'{disposition}; filename="{ascii_name}"'
    if ascii_name != filename:
        value += f"; filename*=UTF-8''{quote(filename, safe='')}"
    return value


def file_response(
    request: Request,
    facts: FileFacts,
    opener: Callable[[], BinaryIO],
    *,
    media_type: str,
    filename: str,
    disposition: str = "inline",
    cache_control: str = "private, max-age=3600",
) -> Response:
    """Answer GET/HEAD for one stored file, honouring conditional and range headers."""
    headers = {
        "Accept-Ranges": "bytes",
        "ETag": facts.quoted_etag,
        "Last-Modified": facts.last_modified,
        "Cache-Control": cache_control,
        "Content-Disposition": content_disposition(filename, disposition),
    }
    h = request.headers
    if_match = h.get("if-match")
    if if_match is not None and not _strong_match(if_match, facts.quoted_etag):
        return problem_response(
            request, 412, "The file has changed since you last fetched it.", headers=headers
        )
    if_none_match = h.get("if-none-match")
    if if_none_match is not None:
        if _weak_match(if_none_match, facts.quoted_etag):
            return Response(status_code=304, headers=headers)
    elif (ims := h.get("if-modified-since")) and _not_modified_since(ims, facts.mtime):
        return Response(status_code=304, headers=headers)

    range_header = h.get("range")
    if_range = h.get("if-range")
    if range_header and if_range is not None and not _if_range_holds(if_range, facts):
        range_header = None  # the client's partial copy is stale: send it all again
    try:
        ranges = parse_range(range_header, facts.size)
    except Unsatisfiable:
        headers["Content-Range"] = f"bytes */{facts.size}"
        return problem_response(
            request,
            416,
            f"The requested range is outside the file, which is {facts.size} bytes long.",
            kind="range-not-satisfiable",
            headers=headers,
        )

    head = request.method == "HEAD"
    if ranges is None:
        headers["Content-Length"] = str(facts.size)
        return _send(head, 200, headers, media_type, _read(opener, [(0, facts.size - 1)]))
    if len(ranges) == 1:
        first, last = ranges[0]
        headers["Content-Range"] = f"bytes {first}-{last}/{facts.size}"
        headers["Content-Length"] = str(last - first + 1)
        return _send(head, 206, headers, media_type, _read(opener, ranges))
    return _multipart(head, headers, media_type, facts.size, opener, ranges)


def _multipart(
    head: bool,
    headers: dict[str, str],
    media_type: str,
    size: int,
    opener: Callable[[], BinaryIO],
    ranges: list[tuple[int, int]],
) -> Response:
    """206 multipart/byteranges for several disjoint ranges (RFC 9110 §14.6)."""
    boundary = uuid4().hex
    preambles = [
        (
            f"\r\n--{boundary}\r\nContent-Type: {media_type}\r\n"
            f"Content-Range: bytes {first}-{last}/{size}\r\n\r\n"
        ).encode()
        for first, last in ranges
    ]
    closing = f"\r\n--{boundary}--\r\n".encode()
    length = sum(len(p) for p in preambles) + sum(b - a + 1 for a, b in ranges) + len(closing)
    headers["Content-Length"] = str(length)

    async def body() -> AsyncIterator[bytes]:
        for preamble, rng in zip(preambles, ranges, strict=True):
            yield preamble
            async for chunk in _read(opener, [rng]):
                yield chunk
        yield closing

    return _send(head, 206, headers, f"multipart/byteranges; boundary={boundary}", body())


def _send(
    head: bool,
    status: int,
    headers: dict[str, str],
    media_type: str,
    body: AsyncIterator[bytes],
) -> Response:
    if head:
        # Same headers as GET (Content-Length included), no body; the generator never runs.
        return Response(status_code=status, headers=headers, media_type=media_type)
    return StreamingResponse(body, status_code=status, headers=headers, media_type=media_type)


async def _read(
    opener: Callable[[], BinaryIO], ranges: list[tuple[int, int]]
) -> AsyncIterator[bytes]:
    """Stream the ranges in bounded chunks; file I/O runs in worker threads."""
    handle = await anyio.to_thread.run_sync(opener)
    try:
        for first, last in ranges:
            await anyio.to_thread.run_sync(handle.seek, first)
            remaining = last - first + 1
            while remaining > 0:
                chunk = await anyio.to_thread.run_sync(handle.read, min(CHUNK, remaining))
                if not chunk:
                    break  # the file shrank under us; the client sees a short body
                remaining -= len(chunk)
                yield chunk
    finally:
        await anyio.to_thread.run_sync(handle.close)
