"""The Dispatcher protocol the API talks to, and the factory that picks one from settings."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from ..settings import Settings


@runtime_checkable
class Dispatcher(Protocol):
    def start(self) -> None: ...

    def stop(self) -> None: ...

    def submit(self, job_id: str) -> None:
        """The job row (pending) exists: run it as soon as a worker is free."""
        ...

    def cancel(self, job_id: str) -> None:
        """Cancel the job; if it is running, its work stops within 2 s."""
        ...

    def healthy(self) -> bool: ...

    def stats(self) -> dict[str, Any]: ...


def make_dispatcher(settings: Settings) -> Dispatcher:
    if settings.queue == "embedded":
        from .embedded import EmbeddedDispatcher

        return EmbeddedDispatcher(settings)
    from .celery_dispatch import CeleryDispatcher  # celery is only imported when in use

    return CeleryDispatcher(settings)
