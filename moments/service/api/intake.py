"""Reading an upload off the wire into storage, with bounded memory and a hard size cap.

Two request shapes carry a video:

* a raw body (``Content-Type: video/*`` or ``application/octet-stream``), which is what iOS's
  ``URLSession.uploadTask(fromFile:)`` sends; and
* ``multipart/form-data`` with a ``file`` part and small option fields, what browsers send.

Both are read chunk by chunk from ``request.stream()`` — never ``request.form()``, which spools
the whole file first — and written in ~1 MiB batches from a worker thread, so memory stays
bounded whatever the file size. Going over the cap stops the read at once.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from email.message import Message
from typing import Protocol
from urllib.parse import unquote

import anyio
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from moments.service.problems import Problem, invalid_request

FLUSH_BYTES = 1024 * 1024
"""Bytes gathered before one write to storage (a thread hop per write, so not too small)."""
MULTIPART_OVERHEAD = 64 * 1024
"""Room for boundaries, part headers and option fields on top of the file itself."""
MAX_FIELD_BYTES = 1024
MAX_FIELDS = 16
FILE_FIELD = "file"


class Sink(Protocol):
    """Where the bytes go: a storage writer (``Storage.open_writer``)."""

    def write(self, data: bytes) -> object: ...


@dataclass
class Received:
    """What an upload turned out to contain."""

    size: int = 0
    filename: str | None = None
    fields: dict[str, str] = field(default_factory=dict)


def too_large(cap: int) -> Problem:
    return Problem(
        413,
        f"The file is larger than the {_human(cap)} we accept.",
        kind="upload-too-large",
        title="Upload too large",
        max_bytes=cap,
    )


def check_declared_length(content_length: str | None, cap: int) -> None:
    """Refuse before reading a byte when the client already says the body is too big."""
    if content_length is None:
        return
    try:
        declared = int(content_length)
    except ValueError:
        raise Problem(400, "Content-Length is not a number.") from None
    if declared > cap:
        raise too_large(cap)


SinkFactory = Callable[[str | None], Sink]
"""Opens the sink for a file name (known only once a multipart part's headers are read)."""


class _Batcher:
    """Collects chunks and hands them to the sink in large writes, off the event loop.

    The sink is opened on the first write, so an empty upload opens nothing.
    """

    def __init__(self, open_sink: SinkFactory, cap: int) -> None:
        self.open_sink = open_sink
        self.cap = cap
        self.size = 0
        self.filename: str | None = None
        self._sink: Sink | None = None
        self._parts: list[bytes] = []
        self._pending = 0

    def add(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.cap:
            raise too_large(self.cap)
        self._parts.append(data)
        self._pending += len(data)

    async def flush(self, force: bool = False) -> None:
        if self._pending and (force or self._pending >= FLUSH_BYTES):
            data = b"".join(self._parts)
            self._parts.clear()
            self._pending = 0
            await anyio.to_thread.run_sync(self._write, data)

    def _write(self, data: bytes) -> None:
        if self._sink is None:
            self._sink = self.open_sink(self.filename)
        self._sink.write(data)


async def receive_raw(
    stream: AsyncIterator[bytes], open_sink: SinkFactory, cap: int, filename: str | None
) -> Received:
    """Copy a raw request body into the sink ``open_sink(filename)`` returns."""
    batch = _Batcher(open_sink, cap)
    batch.filename = filename
    async for chunk in stream:
        batch.add(chunk)
        await batch.flush()
    await batch.flush(force=True)
    return Received(size=batch.size, filename=filename)


def multipart_boundary(content_type: str) -> bytes:
    _, params = parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if not boundary:
        raise Problem(400, "The multipart body has no boundary in its Content-Type.")
    return boundary


async def receive_multipart(
    stream: AsyncIterator[bytes], boundary: bytes, open_sink: SinkFactory, cap: int
) -> Received:
    """Copy the ``file`` part of a multipart body into a sink and collect the small fields."""
    parts = _Parts(_Batcher(open_sink, cap))
    parser = MultipartParser(boundary, parts.callbacks())
    try:
        async for chunk in stream:
            parser.write(chunk)
            await parts.batch.flush()
        parser.finalize()
    except MultipartParseError as exc:
        raise Problem(400, f"The multipart body is malformed ({exc}).") from None
    if not parts.ended:
        raise Problem(400, "The multipart body ended before its closing boundary.")
    await parts.batch.flush(force=True)
    if not parts.saw_file:
        raise invalid_request(
            [{"location": f"body.{FILE_FIELD}", "message": "Field required"}],
            f"The form has no '{FILE_FIELD}' part holding the video.",
        )
    return Received(size=parts.batch.size, filename=parts.batch.filename, fields=parts.fields)


class _Parts:
    """State for python-multipart's callbacks: which part we are in and where its bytes go."""

    def __init__(self, batch: _Batcher) -> None:
        self.batch = batch
        self.fields: dict[str, str] = {}
        self.saw_file = False
        self.ended = False
        self._header_name = bytearray()
        self._header_value = bytearray()
        self._headers: dict[str, str] = {}
        self._name: str | None = None
        self._is_file = False
        self._value = bytearray()

    def callbacks(self) -> dict:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": lambda d, s, e: self._header_name.extend(d[s:e]),
            "on_header_value": lambda d, s, e: self._header_value.extend(d[s:e]),
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
            "on_end": self._end,
        }

    def _part_begin(self) -> None:
        self._headers = {}
        self._name = None
        self._is_file = False
        self._value = bytearray()

    def _header_end(self) -> None:
        name = self._header_name.decode("latin-1").strip().lower()
        # Browsers send non-ASCII file names as raw UTF-8 inside the quoted string.
        self._headers[name] = header_text(bytes(self._header_value)).strip()
        self._header_name.clear()
        self._header_value.clear()

    def _headers_finished(self) -> None:
        disposition = self._headers.get("content-disposition", "")
        name, filename = _disposition(disposition)
        self._name = name
        if name == FILE_FIELD:
            if self.saw_file:
                raise Problem(400, "Send one video per upload.")
            self.saw_file = self._is_file = True
            if filename and not _EXTENDED_FILENAME.search(disposition):
                filename = _html_form_unescape(filename)
            self.batch.filename = clean_filename(filename) if filename else None
        elif filename is not None:  # a file, but not where we look for the video
            raise _file_field_expected(f"the form has a file in the field '{name}'")
        elif len(self.fields) >= MAX_FIELDS:
            raise Problem(400, "The form has too many fields.")

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._is_file:
            self.batch.add(data[start:end])
            return
        self._value.extend(data[start:end])
        if len(self._value) > MAX_FIELD_BYTES:
            raise _file_field_expected(
                f"the field '{self._name}' is longer than the {MAX_FIELD_BYTES} bytes an option "
                "(duration, aspect) may be"
            )

    def _part_end(self) -> None:
        if not self._is_file and self._name:
            self.fields[self._name] = self._value.decode("utf-8", "replace")

    def _end(self) -> None:
        self.ended = True


def _file_field_expected(found: str) -> Problem:
    return invalid_request(
        [{"location": f"body.{FILE_FIELD}", "message": "the video goes in this field"}],
        f"Send the video in a form field named '{FILE_FIELD}'; {found}.",
    )


def header_text(raw: bytes) -> str:
    """Header bytes as the client meant them: UTF-8 (what browsers, URLSession and curl send),
    else Latin-1 (every byte is a character there, so nothing is lost)."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _starlette_header(value: str) -> str:
    """A header value Starlette decoded as Latin-1, decoded again as :func:`header_text` does."""
    try:
        return header_text(value.encode("latin-1"))
    except UnicodeEncodeError:  # not from the wire: already text
        return value


_EXTENDED_FILENAME = re.compile(r"filename\*\s*=", re.IGNORECASE)
_EXT_VALUE = re.compile(r"^(utf-8|iso-8859-1)'[A-Za-z0-9-]*'(.*)$", re.DOTALL | re.IGNORECASE)
"""RFC 5987 ext-value: ``charset'language'percent-encoded``, e.g. ``UTF-8''f%C3%AAte.mp4``
(the two charsets the RFC names; anything else is an ordinary name with apostrophes)."""
_HTML_FORM_ESCAPES = {"%22": '"', "%0D": "\r", "%0A": "\n"}
_HTML_FORM_ESCAPE = re.compile("|".join(_HTML_FORM_ESCAPES), re.IGNORECASE)


def _html_form_unescape(filename: str) -> str:
    """Undo the escapes browsers apply to a multipart file name (the HTML standard's form
    encoding: '"' as %22, CR and LF as %0D and %0A); everything else comes as raw UTF-8."""
    return _HTML_FORM_ESCAPE.sub(lambda m: _HTML_FORM_ESCAPES[m.group(0).upper()], filename)


def _x_filename(value: str) -> str:
    """``X-Filename`` as clients send it: raw UTF-8, percent-encoded UTF-8 or an RFC 5987
    ext-value (``UTF-8''...``)."""
    value = _starlette_header(value)
    match = _EXT_VALUE.match(value)
    if match:
        charset, encoded = match.groups()
        try:
            return unquote(encoded, encoding=charset, errors="strict")
        except UnicodeDecodeError:
            return unquote(encoded)  # mislabelled: read it as UTF-8, marking what is not
    return unquote(value)


def _disposition(value: str) -> tuple[str | None, str | None]:
    """(name, filename) of a Content-Disposition value.

    The email package is used because it understands RFC 2231/6266 ``filename*=UTF-8''...``,
    which python-multipart's option parser drops.
    """
    message = Message()
    message["content-disposition"] = value
    name = message.get_param("name", header="content-disposition")
    return (name if isinstance(name, str) else None), message.get_filename()


def clean_filename(value: str) -> str | None:
    """A display name only (never a path): strip folders, control characters and excess."""
    value = value.replace("\\", "/").rsplit("/", 1)[-1]
    value = "".join(ch for ch in value if ch.isprintable()).strip()
    return value[:200] or None


def filename_from_headers(x_filename: str | None, disposition: str | None) -> str | None:
    """The original name of a raw upload: ``X-Filename`` first, then ``Content-Disposition``."""
    if x_filename:
        return clean_filename(_x_filename(x_filename))
    if disposition:
        # Starlette decodes header bytes as Latin-1; clients send UTF-8.
        _, filename = _disposition(_starlette_header(disposition))
        if filename:
            return clean_filename(filename)
    return None


def _human(size: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:g} {unit}" if unit == "bytes" else f"{size:.3g} {unit}"
        size /= 1024
    return f"{size} bytes"
