"""``POST /api/v1/jobs/{id}/recut``: another reel of a finished job's video, without uploading
it again. The new job reads the same upload and its kept analysis (``jobs.analyses``), so it
only selects and renders. It is a reel like any other: it counts against the monthly quota,
and the upload stays until the last job reading it is deleted or expires."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from moments.engine.models import Codec, HdrMode, Resolution
from moments.service.auth.deps import AccountsDep, CurrentUser
from moments.service.job_creation import NewJob
from moments.service.jobs.analyses import MUSIC, RECUT_OF, SOURCES
from moments.service.jobs.estimate import plan_of_job
from moments.service.paths import API_PREFIX
from moments.service.problems import Problem
from moments.service.ratelimit import limited
from moments.service.store import new_job_id

from .deps import ServicesDep
from .jobs import NOT_FOUND, find_job
from .options import CODEC, HDR, RESOLUTION, check_options
from .schemas import KEEP_LOCATION, Aspect, UploadAccepted
from .schemas import Problem as ProblemDoc
from .submission import create_owned_job
from .views import links

router = APIRouter(prefix=f"{API_PREFIX}/jobs", tags=["jobs"])
INHERITED = ("duration", "aspect", "keep_location", "codec", "hdr", "resolution")
"""Options a re-cut takes from its original unless the request gives them."""


class RecutRequest(BaseModel):
    """The new reel's options; any left out are the original job's."""

    model_config = ConfigDict(extra="forbid")

    duration: float | None = Field(None, description="Reel length in seconds.", examples=[15])
    aspect: Aspect | None = Field(None, examples=["9:16"])
    keep_location: bool | None = Field(None, description=KEEP_LOCATION)
    codec: Codec | None = Field(None, description=CODEC)
    hdr: HdrMode | None = Field(None, description=HDR)
    resolution: Resolution | None = Field(None, description=RESOLUTION)


def _problem_doc(description: str) -> dict[str, Any]:
    return {
        "model": ProblemDoc,
        "description": description,
        "content": {"application/problem+json": {}},
    }


@router.post(
    "/{job_id}/recut",
    status_code=202,
    response_model=UploadAccepted,
    responses={
        **NOT_FOUND,
        402: _problem_doc("This month's reels are used up."),
        409: _problem_doc("The job has not made its reel (yet)."),
        410: _problem_doc("The job's video has been deleted."),
    },
    dependencies=[limited("upload")],  # a re-cut is a new job, as an upload is
)
async def recut_job(
    job_id: str,
    body: RecutRequest,
    services: ServicesDep,
    user: CurrentUser,
    accounts: AccountsDep,
) -> UploadAccepted:
    """Make another reel of a finished job's video (another length, shape, codec) without
    uploading it again: the video's analysis is kept, so only selection and rendering run."""
    original = await run_in_threadpool(find_job, services, job_id, user)
    if original.status != "completed":
        raise Problem(
            409,
            f"The job is {original.status}; a reel can be re-cut once it is completed.",
            kind="job-not-ready",
        )
    if not await run_in_threadpool(services.storage.exists, original.input_key):
        raise Problem(
            410, "This job's video has been deleted; upload it again.", kind="upload-gone"
        )
    given = body.model_dump(exclude_none=True)
    before = {k: v for k, v in (original.options or {}).items() if k in INHERITED}
    merged = {**before, **given}
    options = check_options(
        services.settings,
        merged.get("duration"),
        merged.get("aspect", "source"),
        {},
        keep_location=merged.get("keep_location", False),
        codec=merged.get("codec", "auto"),
        hdr=merged.get("hdr", "keep"),
        resolution=merged.get("resolution", "1080p"),
    )
    options[RECUT_OF] = original.id
    if (original.options or {}).get(SOURCES):  # a reel of many clips: the same clips again
        for name in (SOURCES, MUSIC, "music_mode"):
            if name in original.options:
                options[name] = original.options[name]
    facts = {k: v for k, v in ((original.result or {}).get("input") or {}).items()
             if k in ("duration", "width", "height")}  # fmt: skip
    new = NewJob(
        job_id=new_job_id(),
        input_key=original.input_key,
        filename=original.filename,
        input_size=original.input_size,
        options=options,
        facts=facts,
    )
    job = await create_owned_job(services, accounts, user, new, uploaded=False)  # no new bytes
    await run_in_threadpool(services.dispatcher.submit, job.id)
    plan = plan_of_job(job.result, options) or {}
    estimate = sum(v for stage, v in plan.items() if stage not in ("probe", "analyse"))
    return UploadAccepted(
        id=job.id,
        status=job.status,
        filename=job.filename or None,
        size_bytes=job.input_size,
        options=options,
        estimated_seconds=round(estimate, 1),
        links=links(job),
    )
