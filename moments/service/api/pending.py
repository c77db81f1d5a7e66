"""A file being received into storage: its writer opened on the first byte, once the file's
name (and so its key) is known; put in place whole, or left without a trace."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from moments.service.storage import Storage


class PendingFile:
    """``key_for`` gives the storage key from the file's name; ``clean`` removes what else a
    discarded file may have left (by default, just its key)."""

    def __init__(
        self,
        storage: Storage,
        key_for: Callable[[str | None], str],
        clean: Callable[[], None] | None = None,
    ) -> None:
        self._storage = storage
        self._key_for = key_for
        self._clean = clean
        self._stack = contextlib.ExitStack()
        self._writer: Any = None
        self.key: str | None = None

    def open(self, filename: str | None) -> Any:
        self.key = self._key_for(filename)
        self._writer = self._stack.enter_context(self._storage.open_writer(self.key))
        return self._writer

    def commit(self) -> str:
        assert self._writer is not None and self.key is not None
        self._stack.close()  # clean exit of open_writer: atomic rename into place
        self._writer = None
        return self.key

    def discard(self) -> None:
        if self._writer is not None:
            self._writer.abort()
            self._stack.close()
            self._writer = None
        if self._clean is not None:
            self._clean()
        elif self.key is not None:
            self._storage.delete(self.key)
