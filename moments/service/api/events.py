"""``GET /jobs/{id}/events``: the job's status as a Server-Sent Events stream.

The server polls the store (a cheap primary-key read) and sends an ``status`` event only when
something a client shows has changed, then an ``end`` event once the job is finished, and
closes. Comments keep idle proxies from cutting the connection.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator

import anyio
from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from starlette.responses import StreamingResponse

from moments.service.auth.deps import CurrentUser
from moments.service.paths import API_PREFIX
from moments.service.ratelimit import limited

from .deps import Services, ServicesDep
from .jobs import NOT_FOUND, find_job
from .views import status_of

router = APIRouter(prefix=f"{API_PREFIX}/jobs", tags=["jobs"])
POLL_SECONDS = 0.5
KEEPALIVE_SECONDS = 15.0
RETRY_MS = 2000


@router.get(
    "/{job_id}/events",
    responses={200: {"content": {"text/event-stream": {}}}, **NOT_FOUND},
    response_class=StreamingResponse,
    dependencies=[limited("poll")],
)
def job_events(job_id: str, services: ServicesDep, user: CurrentUser) -> StreamingResponse:
    """Status events (``event: status``) until the job ends (``event: end``)."""
    find_job(services, job_id, user)  # 404 as a problem before the stream starts
    return StreamingResponse(
        stream_status(services, job_id),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def stream_status(
    services: Services, job_id: str, poll: float = POLL_SECONDS
) -> AsyncIterator[str]:
    yield f"retry: {RETRY_MS}\n\n"
    last = None
    sent = 0
    quiet_since = time.monotonic()
    while True:
        job = await run_in_threadpool(services.store.get, job_id)
        if job is None:  # deleted while watched
            gone = json.dumps({"id": job_id, "status": "deleted"})
            yield f"event: end\ndata: {gone}\n\n"
            return
        status = status_of(job, services.settings.retention_hours)
        # updated_at moves with every lease renewal: not a change worth an event.
        data = status.model_dump_json(exclude={"updated_at"})
        if data != last:
            sent += 1
            last = data
            quiet_since = time.monotonic()
            yield f"id: {sent}\nevent: status\ndata: {data}\n\n"
        if job.finished:
            yield f"event: end\ndata: {data}\n\n"
            return
        if time.monotonic() - quiet_since >= KEEPALIVE_SECONDS:
            quiet_since = time.monotonic()
            yield ": keep-alive\n\n"
        await anyio.sleep(poll)
