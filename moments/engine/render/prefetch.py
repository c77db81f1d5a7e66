"""Running an iterator on a worker thread, a few items ahead of its consumer."""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class _Stopped(Exception):
    """The consumer is gone (the render failed or was cancelled): the worker stops."""


class Prefetch(Generic[T]):
    """Runs ``make(check)`` (an iterator) on a worker thread, up to ``depth`` items ahead.

    ``check`` raises once the consumer has left, so the worker stops at its next call. While
    the consumer waits, it calls ``waiting`` every 0.1 s (a cancellation check). Errors in the
    worker are raised in the consumer, in order, after the items made before them.
    """

    def __init__(
        self,
        make: Callable[[Callable[[], None]], Iterator[T]],
        depth: int,
        waiting: Callable[[], None],
        name: str = "prefetch",
    ) -> None:
        self._items: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
        self._stop = False
        self._waiting = waiting
        self._worker = threading.Thread(target=self._run, args=(make,), name=name, daemon=True)
        self._worker.start()

    def _check(self) -> None:
        if self._stop:
            raise _Stopped

    def _put(self, item: tuple[str, Any]) -> None:
        while not self._stop:
            try:
                self._items.put(item, timeout=0.1)
                return
            except queue.Full:
                continue
        raise _Stopped

    def _run(self, make: Callable[[Callable[[], None]], Iterator[T]]) -> None:
        try:
            for item in make(self._check):
                self._put(("item", item))
            self._put(("end", None))
        except _Stopped:
            return
        except BaseException as exc:  # raised again in the consumer
            with contextlib.suppress(_Stopped):
                self._put(("error", exc))

    def __iter__(self) -> Iterator[T]:
        while True:
            try:
                kind, value = self._items.get(timeout=0.1)
            except queue.Empty:
                self._waiting()
                continue
            if kind == "end":
                return
            if kind == "error":
                raise value
            yield value

    def __enter__(self) -> Prefetch[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop = True
        self._worker.join()
