"""LocalStorage: objects are files under one root folder."""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import shutil
import tempfile
from collections.abc import Iterable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import BinaryIO

from .base import Stat, StorageError, check_key, committing, write_all

log = logging.getLogger(__name__)
PART_GLOB = ".*.part"
"""Temporary names of files being written (see LocalWriter)."""


class LocalWriter:
    """A streaming write into a temporary file beside the target; ``commit`` renames it in."""

    def __init__(self, target: Path, key: str):
        self.key = key
        self.size = 0
        self._target = target
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
        self._tmp = Path(tmp)
        # Held while writing and released by the kernel if this process dies: a temporary file
        # nobody holds is the remains of a writer that was killed (see clean_partial_writes).
        fcntl.flock(fd, fcntl.LOCK_EX)
        self._file = os.fdopen(fd, "wb")
        self._done = False

    def write(self, data: bytes) -> int:
        self._file.write(data)
        self.size += len(data)
        return len(data)

    def commit(self) -> int:
        if self._done:
            return self.size
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        os.replace(self._tmp, self._target)
        self._done = True
        return self.size

    def abort(self) -> None:
        if self._done:
            return
        self._file.close()
        self._tmp.unlink(missing_ok=True)
        self._done = True


class LocalStorage:
    """Files under ``root``; keys are relative paths that may not escape it."""

    def __init__(self, root: Path | str):
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        path = (self.root / check_key(key)).resolve()
        if not path.is_relative_to(self.root) or path == self.root:
            raise StorageError(f"invalid storage key: {key!r}")
        return path

    def open_writer(self, key: str) -> AbstractContextManager[LocalWriter]:
        return committing(LocalWriter(self._path(key), key))

    def write(self, key: str, chunks: Iterable[bytes] | BinaryIO) -> int:
        return write_all(self, key, chunks)

    def local_path(self, key: str) -> Path:
        path = self._path(key)
        if not path.is_file():
            raise FileNotFoundError(key)
        return path

    def open(self, key: str) -> BinaryIO:
        return self._path(key).open("rb")

    def size(self, key: str) -> int:
        return self._path(key).stat().st_size

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, key: str) -> None:
        path = self._path(key)
        path.unlink(missing_ok=True)
        self._prune(path.parent)

    def delete_prefix(self, prefix: str) -> int:
        folder = self._path(prefix.rstrip("/"))
        if not folder.is_dir():
            return 0
        count = sum(1 for p in folder.rglob("*") if p.is_file())
        shutil.rmtree(folder, ignore_errors=True)
        self._prune(folder.parent)
        return count

    def release_local_path(self, path: Path) -> None:
        """``local_path`` is the stored file itself: nothing to release."""

    def presigned_url(
        self, key: str, *, disposition: str | None = None, media_type: str | None = None
    ) -> str | None:
        """None: the API serves local files itself (with ranges and validators)."""
        return None

    def clean_partial_writes(self) -> list[Path]:
        """Delete temporary files left by writers that died (a server killed mid-upload).

        Files still locked by a live writer (another process on this data folder) are kept.
        Returns the removed paths.
        """
        removed = []
        for path in list(self.root.rglob(PART_GLOB)):  # listed first: pruning changes the tree
            try:
                fd = os.open(path, os.O_RDONLY)
            except OSError:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                continue  # a live writer holds it
            else:
                path.unlink(missing_ok=True)
                removed.append(path)
            finally:
                os.close(fd)
            self._prune(path.parent)
        if removed:
            log.warning("removed %d partial files left by an interrupted write", len(removed))
        return removed

    def stat(self, key: str) -> Stat:
        st = self._path(key).stat()
        # Size + mtime identify a version well enough for HTTP validators; no need to hash.
        tag = hashlib.sha1(f"{key}:{st.st_size}:{st.st_mtime_ns}".encode()).hexdigest()[:16]
        return Stat(st.st_size, st.st_mtime, f'"{tag}"')

    def _prune(self, folder: Path) -> None:
        """Drop empty folders left behind, up to (not including) the root."""
        while folder != self.root and folder.is_relative_to(self.root):
            try:
                folder.rmdir()
            except OSError:
                return
            folder = folder.parent
