"""``POST /upload`` and ``GET /upload/formats``.

An upload becomes a job only once all of it is stored and the probe says it is a video we can
read; anything less (too big, interrupted, malformed, not a video) leaves nothing behind.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from starlette.requests import ClientDisconnect

from moments.engine.models import (
    ASPECTS,
    CODECS,
    HDR_MODES,
    RESOLUTIONS,
    Codec,
    HdrMode,
    Resolution,
)
from moments.service.accounts.quota import ensure_quota_left
from moments.service.auth.deps import AccountsDep, CurrentUser
from moments.service.paths import API_PREFIX
from moments.service.problems import Problem
from moments.service.ratelimit import charge_upload, upload_room
from moments.service.store import new_job_id

from . import formats, intake
from .deps import ServicesDep
from .options import (
    CODEC,
    HDR,
    MAX_CALLBACK_URL,
    RESOLUTION,
    check_callback,
    check_options,
    offered_resolutions,
)
from .pending import PendingFile
from .schemas import CALLBACK_URL, KEEP_LOCATION, Aspect, Formats, UploadAccepted
from .schemas import Problem as ProblemDoc
from .submission import input_key, queue_stored_upload

log = logging.getLogger(__name__)
router = APIRouter(prefix=f"{API_PREFIX}/upload", tags=["upload"])

RAW_TYPES = ("application/octet-stream",)
_PROBLEMS: dict[int | str, dict[str, Any]] = {
    code: {"model": ProblemDoc, "content": {"application/problem+json": {}}}
    for code in (400, 413, 415, 422)
}
_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "duration": {"type": "number"},
                        "aspect": {"type": "string", "enum": list(ASPECTS)},
                        "callback_url": {"type": "string", "description": CALLBACK_URL},
                        "keep_location": {"type": "boolean", "description": KEEP_LOCATION},
                        "codec": {"type": "string", "enum": list(CODECS), "description": CODEC},
                        "hdr": {"type": "string", "enum": list(HDR_MODES), "description": HDR},
                        "resolution": {
                            "type": "string",
                            "enum": list(RESOLUTIONS),
                            "description": RESOLUTION,
                        },
                    },
                }
            },
            "video/*": {"schema": {"type": "string", "format": "binary"}},
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
        },
    }
}


@router.get("/formats", response_model=Formats)
def upload_formats(services: ServicesDep) -> dict[str, Any]:
    """The containers, codecs and limits uploads must fit."""
    s = services.settings
    return formats.formats_document(
        max_upload_bytes=s.max_upload_bytes,
        default_duration=s.default_duration,
        max_duration=s.max_duration,
        resolutions=offered_resolutions(s),
    )


@router.post(
    "",
    status_code=202,
    response_model=UploadAccepted,
    responses=_PROBLEMS,
    openapi_extra=_BODY,
    dependencies=[upload_room("content-length")],
)
async def upload(
    request: Request,
    services: ServicesDep,
    user: CurrentUser,
    accounts: AccountsDep,
    duration: Annotated[
        float | None, Query(gt=0, description="Reel length in seconds (default from settings).")
    ] = None,
    aspect: Annotated[Aspect, Query(description="Shape of the reel.")] = "source",
    callback_url: Annotated[
        str | None, Query(max_length=MAX_CALLBACK_URL, description=CALLBACK_URL)
    ] = None,
    keep_location: Annotated[bool, Query(description=KEEP_LOCATION)] = False,
    codec: Annotated[Codec, Query(description=CODEC)] = "auto",
    hdr: Annotated[HdrMode, Query(description=HDR)] = "keep",
    resolution: Annotated[Resolution, Query(description=RESOLUTION)] = "1080p",
) -> JSONResponse:
    """Upload a video; it is queued for processing at once.

    Send either a multipart form (``file`` plus optional ``duration``/``aspect``/``codec``/
    ``hdr``/``resolution`` fields) or the raw file as the body (``Content-Type: video/*``),
    options then in the query string and the name in ``X-Filename`` or
    ``Content-Disposition``.
    """
    settings = services.settings
    content_type = request.headers.get("content-type", "")
    multipart = _is_multipart(content_type)
    await run_in_threadpool(ensure_quota_left, accounts, user)  # 402 before the bytes come
    cap = settings.max_upload_bytes
    intake.check_declared_length(
        request.headers.get("content-length"), cap + intake.MULTIPART_OVERHEAD if multipart else cap
    )
    raw_name = None
    if not multipart:
        raw_name = intake.filename_from_headers(
            request.headers.get("x-filename"), request.headers.get("content-disposition")
        )
        # refuse bad options before gigabytes arrive
        await check_callback(
            accounts,
            check_options(
                settings, duration, aspect, {}, callback_url, keep_location, codec, hdr, resolution
            ),
        )

    job_id = new_job_id()
    stored = PendingFile(services.storage, lambda name: input_key(job_id, name))
    try:
        if multipart:
            boundary = intake.multipart_boundary(content_type)
            received = await intake.receive_multipart(request.stream(), boundary, stored.open, cap)
        else:
            received = await intake.receive_raw(request.stream(), stored.open, cap, raw_name)
        options = check_options(
            settings,
            duration,
            aspect,
            received.fields,
            callback_url,
            keep_location,
            codec,
            hdr,
            resolution,
        )
        await check_callback(accounts, options)
        if received.size == 0:
            raise Problem(400, "The upload is empty.", kind="empty-upload")
        key = await anyio.to_thread.run_sync(stored.commit)
    except ClientDisconnect:
        await anyio.to_thread.run_sync(stored.discard)
        log.info("upload %s interrupted by the client; nothing kept", job_id)
        raise Problem(400, "The upload was interrupted.", kind="upload-interrupted") from None
    except BaseException:
        # Anything short of a stored, readable video leaves nothing behind (also on cancel).
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(stored.discard)
        raise

    body = await queue_stored_upload(
        services,
        owner=user,
        accounts=accounts,
        job_id=job_id,
        key=key,
        filename=received.filename,
        size=received.size,
        options=options,
    )
    await run_in_threadpool(charge_upload, request, user.id, received.size)
    return JSONResponse(
        body.model_dump(mode="json"), status_code=202, headers={"Location": body.links.status}
    )


def _is_multipart(content_type: str) -> bool:
    """Which of the two upload styles this is; anything else is refused (415)."""
    mime = content_type.split(";", 1)[0].strip().lower()
    if mime == "multipart/form-data":
        return True
    if mime.startswith("video/") or mime in RAW_TYPES:
        return False
    raise Problem(
        415,
        "Send the video as multipart/form-data (a 'file' field) or as the raw request body "
        "with Content-Type video/* or application/octet-stream.",
        kind="unsupported-upload",
        title="Unsupported upload",
    )
