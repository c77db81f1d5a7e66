"""The Storage protocol: where uploads and reels live, addressed by keys we build ourselves."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import BinaryIO, NamedTuple, Protocol, TypeVar, runtime_checkable

CHUNK = 1024 * 1024

_KEY = re.compile(r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$")


class StorageError(Exception):
    """A key that is not allowed, or a storage operation that failed."""


class Stat(NamedTuple):
    size: int
    mtime: float
    etag: str


class Writer(Protocol):
    """A streaming write in progress: bytes go to a temporary object until ``commit``."""

    key: str
    size: int

    def write(self, data: bytes) -> int: ...

    def commit(self) -> int: ...

    def abort(self) -> None: ...


W = TypeVar("W", bound=Writer)


@contextlib.contextmanager
def committing(writer: W) -> Iterator[W]:
    """Hand out ``writer``; commit it on a clean exit, abort it on any error (or interrupt)."""
    try:
        yield writer
    except BaseException:
        writer.abort()
        raise
    writer.commit()


def write_all(storage: Storage, key: str, chunks: Iterable[bytes] | BinaryIO) -> int:
    """``storage.write`` by streaming: every chunk through one writer; returns the size."""
    with storage.open_writer(key) as writer:
        for chunk in iter_chunks(chunks):
            writer.write(chunk)
    return writer.size


@runtime_checkable
class Storage(Protocol):
    def write(self, key: str, chunks: Iterable[bytes] | BinaryIO) -> int:
        """Store ``chunks`` under ``key`` atomically (readers never see half a file)."""
        ...

    def open_writer(self, key: str) -> AbstractContextManager[Writer]:
        """Stream bytes in; committed on clean exit, discarded on error or ``abort()``."""
        ...

    def local_path(self, key: str) -> Path:
        """A local file with the object's bytes (LocalStorage: the file itself)."""
        ...

    def open(self, key: str) -> BinaryIO: ...

    def size(self, key: str) -> int: ...

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> None:
        """Remove ``key`` if it exists (no error if it does not)."""
        ...

    def delete_prefix(self, prefix: str) -> int:
        """Remove every object under ``prefix/``; returns how many went."""
        ...

    def stat(self, key: str) -> Stat: ...

    def release_local_path(self, path: Path) -> None:
        """Done with a file from ``local_path`` in this process: a scratch copy goes (S3: the
        job may run on another machine); the stored file itself stays (local storage)."""
        ...

    def presigned_url(
        self, key: str, *, disposition: str | None = None, media_type: str | None = None
    ) -> str | None:
        """A short-lived URL where the object store serves ``key`` itself (with ranges), or
        None when the API serves the bytes (local storage)."""
        ...

    def clean_partial_writes(self) -> list[Path]:
        """At start-up: remove what writes cut short by a crash left behind."""
        ...


def check_key(key: str) -> str:
    """Reject keys that are not plain relative paths: no "..", no absolute paths, no oddities."""
    if not _KEY.match(key) or any(part in (".", "..") for part in key.split("/")):
        raise StorageError(f"invalid storage key: {key!r}")
    return key


def iter_chunks(source: Iterable[bytes] | BinaryIO) -> Iterable[bytes]:
    """Bounded-memory chunks from a file object or an iterable of bytes."""
    read = getattr(source, "read", None)
    if read is None:
        yield from source  # type: ignore[misc]
        return
    while chunk := read(CHUNK):
        yield chunk


def upload_key(job_id: str, extension: str) -> str:
    ext = re.sub(r"[^a-z0-9]", "", extension.lower().lstrip("."))[:10] or "bin"
    return check_key(f"uploads/{job_id}/source.{ext}")


def reel_key(job_id: str) -> str:
    return check_key(f"reels/{job_id}/reel.mp4")


def poster_key(job_id: str) -> str:
    return check_key(f"reels/{job_id}/poster.jpg")
