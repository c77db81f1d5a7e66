"""The service objects a request needs, built once by the app's lifespan."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request

if TYPE_CHECKING:
    from moments.service.api.probing import Prober
    from moments.service.jobs.dispatch import Dispatcher
    from moments.service.settings import Settings
    from moments.service.sources import SourceStore
    from moments.service.storage import Storage
    from moments.service.store import JobStore


@dataclass(frozen=True)
class Services:
    settings: Settings
    store: JobStore
    storage: Storage
    dispatcher: Dispatcher
    """Started by the lifespan: ``submit``, ``cancel``, ``healthy``, ``stats``."""
    prober: Prober
    """Probes uploads in limited child processes (``await prober.probe(path, limits)``)."""
    sources: SourceStore
    """Uploads kept on their own for reels of one or many clips."""


async def get_services(request: Request) -> Services:
    # async: a plain def dependency would cost a worker-thread round trip per request
    return request.app.state.services


ServicesDep = Annotated[Services, Depends(get_services)]
