"""Partial resumable (tus) uploads on local disk, outside the job inputs.

Each upload is a folder ``<data_dir>/tus/<id>/`` holding ``data`` (the bytes so far),
``info.json`` (length, offset, options, expiry, the job once created) and ``lock``.

The offset in ``info.json`` is the truth: it moves only once bytes are on disk (and, with a
checksum, verified), so a writer that dies half-way leaves extra bytes past the offset that the
next writer truncates away. ``info.json`` is replaced atomically, so readers (HEAD) never see it
half-written and need no lock.

PATCHes to one upload are serialised with an OS file lock (``flock``) on ``lock``: it holds
across threads and across API processes on the same machine (and on a shared data_dir over
NFSv4). Scaling the API over machines without a shared data_dir needs sticky routing of an
upload to one machine, or a database lock instead.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, BinaryIO

log = logging.getLogger(__name__)

_ID = re.compile(r"^[0-9a-f]{32}$")


class UploadBusy(Exception):
    """Another request holds the upload's lock for longer than we wait."""


@dataclass(frozen=True)
class UploadInfo:
    id: str
    length: int
    offset: int = 0
    options: dict[str, Any] = field(default_factory=dict)
    filename: str | None = None
    metadata: str = ""
    """The client's Upload-Metadata header, echoed back by HEAD."""
    created: float = 0.0
    expires: float = 0.0
    job_id: str | None = None
    """Set once the complete upload became a job (the data file is gone by then)."""
    owner_id: str | None = None
    """The user who started the upload; only they can see, continue or end it."""

    @property
    def complete(self) -> bool:
        return self.offset >= self.length


class TusUploads:
    """Create, find, lock, record and remove partial uploads under ``root``."""

    def __init__(self, root: Path, expiry_seconds: float, lock_wait: float = 10.0) -> None:
        self.root = Path(root)
        self.expiry_seconds = expiry_seconds
        self.lock_wait = lock_wait
        """Seconds a request waits for a busy upload before answering 423 (the client retries)."""
        self.last_purge = float("-inf")
        """When (monotonic) abandoned uploads were last removed."""
        self.root.mkdir(parents=True, exist_ok=True)

    # -- paths ---------------------------------------------------------------------------
    def folder(self, upload_id: str) -> Path:
        if not _ID.match(upload_id):  # ids are ours: anything else cannot exist (no traversal)
            raise KeyError(upload_id)
        return self.root / upload_id

    def data_path(self, upload_id: str) -> Path:
        return self.folder(upload_id) / "data"

    # -- records -------------------------------------------------------------------------
    def create(
        self,
        length: int,
        options: dict[str, Any],
        filename: str | None,
        metadata: str,
        owner_id: str | None = None,
    ) -> UploadInfo:
        now = time.time()
        info = UploadInfo(
            id=uuid.uuid4().hex,
            length=length,
            options=options,
            filename=filename,
            metadata=metadata,
            created=now,
            expires=now + self.expiry_seconds,
            owner_id=owner_id,
        )
        folder = self.folder(info.id)
        folder.mkdir()
        (folder / "data").touch()
        (folder / "lock").touch()
        self.save(info)
        return info

    def get(self, upload_id: str) -> UploadInfo | None:
        try:
            text = (self.folder(upload_id) / "info.json").read_text()
        except (KeyError, FileNotFoundError, NotADirectoryError):
            return None
        return UploadInfo(**json.loads(text))

    def save(self, info: UploadInfo) -> None:
        folder = self.folder(info.id)
        tmp = folder / f".info.{os.getpid()}.{uuid.uuid4().hex[:8]}.json"
        tmp.write_text(json.dumps(asdict(info)))
        os.replace(tmp, folder / "info.json")

    def touch(self, info: UploadInfo, **changes: Any) -> UploadInfo:
        """Record ``changes`` and push the expiry out: an upload in use is not abandoned."""
        info = replace(info, expires=time.time() + self.expiry_seconds, **changes)
        self.save(info)
        return info

    def delete(self, upload_id: str) -> None:
        with contextlib.suppress(KeyError):
            shutil.rmtree(self.folder(upload_id), ignore_errors=True)

    def expired(self, info: UploadInfo, now: float | None = None) -> bool:
        return info.expires <= (now if now is not None else time.time())

    def purge_expired(self, now: float | None = None) -> list[str]:
        """Remove uploads past their expiry that no request is writing to right now."""
        now = time.time() if now is None else now
        purged = []
        for folder in self.root.iterdir():
            info = self.get(folder.name) if _ID.match(folder.name) else None
            if info is None or not self.expired(info, now):
                continue
            try:
                with self.lock(info.id, wait=0):
                    self.delete(info.id)
                purged.append(info.id)
            except UploadBusy:
                continue
        if purged:
            log.info("removed %d abandoned resumable uploads", len(purged))
        return purged

    # -- locking -------------------------------------------------------------------------
    @contextlib.contextmanager
    def lock(self, upload_id: str, wait: float | None = None) -> Iterator[None]:
        """Hold the upload's exclusive lock (blocking the calling thread up to ``wait`` s).

        flock locks belong to the open file, so two requests in one process exclude each
        other just as two processes do.
        """
        wait = self.lock_wait if wait is None else wait
        try:
            fd = os.open(self.folder(upload_id) / "lock", os.O_RDWR)
        except (KeyError, FileNotFoundError) as exc:
            raise KeyError(upload_id) from exc
        try:
            deadline = time.monotonic() + wait
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise UploadBusy(upload_id) from None
                    time.sleep(0.02)  # flock has no timed wait; poll briefly
            yield
        finally:
            os.close(fd)  # closing releases the lock


class ChunkWriter:
    """Appends one PATCH body at ``start``; the recorded offset follows as batches land.

    With a checksum the offset moves only after the whole chunk is verified, and a bad or cut
    chunk is truncated away; without one every landed batch counts (an interrupted PATCH
    keeps what arrived).
    """

    def __init__(
        self, uploads: TusUploads, info: UploadInfo, checksum: tuple[str, bytes] | None
    ) -> None:
        self.uploads = uploads
        self.info = info
        self.start = info.offset
        self._checksum = checksum
        self._hash = hashlib.new(checksum[0]) if checksum else None
        self._file: BinaryIO = uploads.data_path(info.id).open("r+b")
        # Bytes past the recorded offset are from a writer that died before recording them.
        self._file.truncate(self.start)
        self._file.seek(self.start)
        self.written = 0

    def write(self, data: bytes) -> None:
        self._file.write(data)
        self.written += len(data)
        if self._hash is not None:
            self._hash.update(data)
            return
        self._file.flush()
        self.info = self.uploads.touch(self.info, offset=self.start + self.written)

    def finish(self) -> bool:
        """Make the chunk durable and record it; False (chunk dropped) on a checksum mismatch."""
        if self._hash is not None:
            assert self._checksum is not None
            if self._hash.digest() != self._checksum[1]:
                self.rollback()
                return False
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        self.info = self.uploads.touch(self.info, offset=self.start + self.written)
        return True

    def keep_partial(self) -> None:
        """The client went away: keep what arrived, unless a checksum can no longer be checked."""
        if self._hash is not None:
            self.rollback()
            return
        self._file.flush()
        self._file.close()
        self.info = self.uploads.touch(self.info, offset=self.start + self.written)

    def rollback(self) -> None:
        self._file.truncate(self.start)
        self._file.close()
        self.info = self.uploads.touch(self.info, offset=self.start)
