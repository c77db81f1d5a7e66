"""The reel and its poster, with range and conditional requests (see ``ranges``)."""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse

from moments.service.accounts.store import UserView
from moments.service.auth.deps import CurrentUser
from moments.service.paths import API_PREFIX, job_path
from moments.service.problems import Problem

from .deps import Services, ServicesDep
from .jobs import find_job
from .ranges import FileFacts, content_disposition, file_response
from .schemas import Problem as ProblemDoc

router = APIRouter(prefix=f"{API_PREFIX}/jobs", tags=["downloads"])
_PROBLEMS: dict[int | str, dict[str, Any]] = {
    code: {"model": ProblemDoc, "content": {"application/problem+json": {}}}
    for code in (404, 409, 410, 416)
}


@router.head("/{job_id}/download", include_in_schema=False)
@router.get(
    "/{job_id}/download",
    responses={200: {"content": {"video/mp4": {}}}, 206: {"description": "Part"}, **_PROBLEMS},
    response_class=Response,
)
async def download(
    job_id: str, request: Request, services: ServicesDep, user: CurrentUser
) -> Response:
    """The reel as MP4. Supports byte ranges, ETag/If-Range and If-None-Match (for AVPlayer)."""
    return await _serve(request, services, job_id, "reel", user)


@router.head("/{job_id}/poster", include_in_schema=False)
@router.get(
    "/{job_id}/poster",
    responses={200: {"content": {"image/jpeg": {}}}, **_PROBLEMS},
    response_class=Response,
)
async def poster(
    job_id: str, request: Request, services: ServicesDep, user: CurrentUser
) -> Response:
    """A still from the best moment, as JPEG."""
    return await _serve(request, services, job_id, "poster", user)


async def _serve(
    request: Request, services: Services, job_id: str, what: str, user: UserView
) -> Response:
    job = await run_in_threadpool(find_job, services, job_id, user)
    if job.status != "completed":
        state = {
            "pending": "is still waiting to be processed",
            "processing": f"is still being processed ({job.progress:.0f}% done)",
            "failed": "failed, so there is no reel",
            "cancelled": "was cancelled, so there is no reel",
        }.get(job.status, f"is {job.status}")
        raise Problem(
            409,
            f"The job {state}. Check {job_path(job_id)}/status and try again once it is "
            "completed.",
            kind="job-not-ready",
            title="Reel not ready",
            job_status=job.status,
        )
    key = job.output_key if what == "reel" else job.poster_key
    if not key:
        raise Problem(404, f"This job has no {what}.", kind="no-" + what)
    try:
        stat = await run_in_threadpool(services.storage.stat, key)
    except FileNotFoundError:
        raise Problem(410, f"The {what} is no longer stored.", kind="gone") from None
    stem = PurePosixPath(job.filename or "video").stem or "video"
    if what == "reel":
        filename, media_type = f"{stem} highlights.mp4", "video/mp4"
    else:
        filename, media_type = f"{stem} poster.jpg", "image/jpeg"
    url = await run_in_threadpool(
        lambda: services.storage.presigned_url(
            key, disposition=content_disposition(filename), media_type=media_type
        )
    )
    if url is not None:  # S3: the object store serves the bytes (and ranges) itself
        return RedirectResponse(url, status_code=307, headers={"Cache-Control": "no-store"})
    return file_response(
        request,
        FileFacts(size=stat.size, mtime=stat.mtime, etag=stat.etag),
        lambda: services.storage.open(key),
        media_type=media_type,
        filename=filename,
    )
