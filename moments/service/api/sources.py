"""Sources and reels of many clips (issue 20): ``POST /sources`` keeps an upload on its own
(it lives ``retention_hours``); ``POST /reels`` makes one reel of one or more of your sources.

A source is not a reel: uploading one does not count against the monthly quota; a reel does,
once, however many clips it is made of. Each source's analysis is kept with it
(``jobs.analyses``), so a second reel of the same sources only selects and renders.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from pathlib import Path, PurePosixPath
from typing import Any, Literal

import anyio
from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import ClientDisconnect

from moments.engine import EngineError, Limits
from moments.engine.models import Codec, HdrMode, MusicMode, Resolution
from moments.service.accounts.store import UserView
from moments.service.auth.deps import AccountsDep, CurrentUser
from moments.service.job_creation import NewJob
from moments.service.jobs.analyses import MUSIC, SOURCES
from moments.service.jobs.estimate import plan_of_job
from moments.service.paths import API_PREFIX
from moments.service.problems import Problem, invalid_request
from moments.service.ratelimit import charge_upload, limited, upload_room
from moments.service.sources import SourceView, new_source_id, source_key
from moments.service.store import new_job_id

from . import intake
from .deps import Services, ServicesDep
from .options import CODEC, HDR, RESOLUTION, check_options
from .pending import PendingFile
from .probing import ProbeLimitExceeded
from .schemas import KEEP_LOCATION, Aspect, JobSummary, UploadAccepted
from .schemas import Problem as ProblemDoc
from .submission import _probe, create_owned_job, stored_suffix
from .uploads import _BODY, _is_multipart
from .views import links, summary_of

log = logging.getLogger(__name__)
SourceKind = Literal["video", "music"]
router = APIRouter(prefix=API_PREFIX, tags=["sources"])


def _problems(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {
        code: {"model": ProblemDoc, "content": {"application/problem+json": {}}} for code in codes
    }


class SourceOut(BaseModel):
    """A kept upload: what the probe found, and when it is deleted."""

    id: str
    kind: SourceKind = Field(
        description="video: a clip to make reels of; music: a song (an audio-only upload) to set "
        "a reel to."
    )
    filename: str
    size_bytes: int
    duration: float
    width: int | None = Field(None, description="Display width (videos).")
    height: int | None = Field(None, description="Display height (videos).")
    has_audio: bool
    created_at: datetime
    expires_at: datetime = Field(description="When the source is deleted (retention_hours).")


class ReelOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    duration: float | None = Field(None, description="Reel length in seconds.", examples=[30])
    aspect: Aspect = "source"
    keep_location: bool = Field(False, description=KEEP_LOCATION)
    codec: Codec = Field("auto", description=CODEC)
    hdr: HdrMode = Field("keep", description=HDR)
    resolution: Resolution = Field("1080p", description=RESOLUTION)


class ReelRequest(BaseModel):
    """One reel of one or more of your sources (clips in the order they were shot)."""

    model_config = ConfigDict(extra="forbid")

    sources: list[str] = Field(min_length=1, max_length=1000, description="Video source ids.")
    options: ReelOptions = Field(default_factory=ReelOptions)
    music: str | None = Field(
        None, description="A music source's id: the reel is set to it, cuts on its beats."
    )
    music_mode: MusicMode = Field(
        "replace", description="replace: the music alone; mix: the music under the clips' own "
        "sound, ducked while someone talks.",
    )  # fmt: skip


def _source_out(source: SourceView, retention_hours: float) -> SourceOut:
    facts = source.facts
    return SourceOut(
        id=source.id,
        kind=facts.get("kind", "video"),
        filename=source.filename,
        size_bytes=source.size_bytes,
        duration=facts["duration"],
        width=facts.get("width"),
        height=facts.get("height"),
        has_audio=bool(facts.get("has_audio")),
        created_at=source.created_at,
        expires_at=source.created_at + timedelta(hours=retention_hours),
    )


def find_source(services: Services, source_id: str, owner: UserView) -> SourceView:
    """The ``owner``'s source or a 404 (also for another user's: its existence is not told)."""
    source = services.sources.get(source_id)
    if source is None or source.owner_id != owner.id:
        raise Problem(
            404,
            f"There is no source {source_id!r}; it may have expired.",
            kind="source-not-found",
        )
    return source


@router.post(
    "/sources",
    status_code=201,
    response_model=SourceOut,
    responses=_problems(400, 413, 415, 422),
    openapi_extra=_BODY,
    dependencies=[upload_room("content-length")],
)
async def create_source(
    request: Request, services: ServicesDep, user: CurrentUser, accounts: AccountsDep
) -> SourceOut:
    """Upload a clip and keep it (not a reel yet): a multipart form with a ``file`` field, or
    the raw file as the body (``Content-Type: video/*``, name in ``X-Filename``). Resumable:
    a tus upload (``/uploads/``) with ``purpose`` ``source`` in its Upload-Metadata; its last
    response names the source in ``Moments-Source-Id``."""
    content_type = request.headers.get("content-type", "")
    multipart = _is_multipart(content_type)
    cap = services.settings.max_upload_bytes
    intake.check_declared_length(
        request.headers.get("content-length"), cap + intake.MULTIPART_OVERHEAD if multipart else cap
    )
    source_id = new_source_id()
    sink = PendingFile(
        services.storage,
        lambda name: source_key(source_id, stored_suffix(name)),
        clean=lambda: services.storage.delete_prefix(f"sources/{source_id}"),
    )
    try:
        if multipart:
            boundary = intake.multipart_boundary(content_type)
            received = await intake.receive_multipart(request.stream(), boundary, sink.open, cap)
        else:
            name = intake.filename_from_headers(
                request.headers.get("x-filename"), request.headers.get("content-disposition")
            )
            received = await intake.receive_raw(request.stream(), sink.open, cap, name)
        if received.size == 0:
            raise Problem(400, "The upload is empty.", kind="empty-upload")
        key = await anyio.to_thread.run_sync(sink.commit)
        facts = await _facts(services, key, received.filename)
        filename = received.filename or f"clip{PurePosixPath(key).suffix}"
        source = await run_in_threadpool(
            lambda: services.sources.create(
                source_id=source_id,
                owner_id=user.id,
                filename=filename,
                input_key=key,
                size_bytes=received.size,
                facts=facts,
            )
        )
    except ClientDisconnect:
        await anyio.to_thread.run_sync(sink.discard)
        raise Problem(400, "The upload was interrupted.", kind="upload-interrupted") from None
    except BaseException:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(sink.discard)
        raise
    await run_in_threadpool(charge_upload, request, user.id, received.size)
    return _source_out(source, services.settings.retention_hours)


async def keep_source(
    services: Services, owner: UserView, filename: str | None, size: int, data: Path
) -> SourceView:
    """Store the complete upload at ``data`` (a tus upload's file) as the owner's source:
    judged as ``POST /sources`` judges one (415 when neither a video nor a song)."""
    source_id = new_source_id()
    key = source_key(source_id, stored_suffix(filename))

    def store() -> None:
        with data.open("rb") as f:
            services.storage.write(key, f)

    await anyio.to_thread.run_sync(store)
    try:
        facts = await _facts(services, key, filename)
        return await run_in_threadpool(
            lambda: services.sources.create(
                source_id=source_id,
                owner_id=owner.id,
                filename=filename or f"clip.{PurePosixPath(key).suffix.lstrip('.')}",
                input_key=key,
                size_bytes=size,
                facts=facts,
            )
        )
    except BaseException:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(services.storage.delete_prefix, f"sources/{source_id}")
        raise


async def _facts(services: Services, key: str, filename: str | None) -> dict[str, Any]:
    """What a source is: a video we read, else a song (an audio-only upload), else refused
    as a video would be (415)."""
    try:
        media = await _probe(services, key, filename)
    except Problem as refused:
        if refused.status != 415:
            raise
        path = await anyio.to_thread.run_sync(services.storage.local_path, key)
        try:
            seconds = await services.prober.probe_music(path, Limits())
        except (EngineError, ProbeLimitExceeded):
            raise refused from None
        finally:
            services.storage.release_local_path(path)
        return {"kind": "music", "duration": round(seconds, 3), "has_audio": True}
    return {
        "kind": "video",
        "duration": media.duration,
        "width": media.width,
        "height": media.height,
        "has_audio": media.has_audio,
    }


@router.get("/sources/{source_id}", response_model=SourceOut, responses=_problems(404))
def get_source(source_id: str, services: ServicesDep, user: CurrentUser) -> SourceOut:
    """One of your sources: what the probe found, and when it expires."""
    source = find_source(services, source_id, user)
    return _source_out(source, services.settings.retention_hours)


@router.get("/sources/{source_id}/reels", response_model=list[JobSummary], responses=_problems(404))
def source_reels(source_id: str, services: ServicesDep, user: CurrentUser) -> list[JobSummary]:
    """The reels (jobs) made of one of your sources, newest first."""
    source = find_source(services, source_id, user)
    jobs = services.store.with_source(user.id, source.id)
    return [summary_of(job, services.settings.retention_hours) for job in jobs]


@router.delete("/sources/{source_id}", status_code=204, responses=_problems(404))
def delete_source(source_id: str, services: ServicesDep, user: CurrentUser) -> Response:
    """Delete a source, its file and its kept analyses (reels made of it stay)."""
    source = find_source(services, source_id, user)
    services.sources.delete(source.id)
    services.storage.delete_prefix(f"sources/{source.id}")
    return Response(status_code=204)


@router.post(
    "/reels",
    status_code=202,
    response_model=UploadAccepted,
    responses=_problems(402, 404, 422),
    dependencies=[limited("upload")],  # a reel is a new job, as an upload is
)
async def create_reel(
    body: ReelRequest, services: ServicesDep, user: CurrentUser, accounts: AccountsDep
) -> UploadAccepted:
    """One reel of one or more of your sources: clips in the order they were shot (then as
    listed), the length shared so every clip with something worth keeping is in it. Counts as
    one reel against the monthly quota, however many clips."""
    settings = services.settings
    if len(body.sources) > settings.max_clips:
        raise invalid_request(
            [{"location": "sources", "message": f"at most {settings.max_clips} clips a reel"}]
        )
    sources = [
        await run_in_threadpool(find_source, services, source_id, user)
        for source_id in body.sources
    ]
    for source in sources:
        if source.facts.get("kind", "video") != "video":
            raise invalid_request(
                [{"location": "sources", "message": f"{source.filename} is music, not a clip"}]
            )
    music = None
    if body.music is not None:
        music = await run_in_threadpool(find_source, services, body.music, user)
        if music.facts.get("kind") != "music":
            raise invalid_request(
                [{"location": "music", "message": f"{music.filename} is a video, not music"}]
            )
    footage = sum(float(s.facts.get("duration", 0.0)) for s in sources)
    if footage > settings.max_footage_minutes * 60:
        raise invalid_request(
            [
                {
                    "location": "sources",
                    "message": f"the clips last {footage / 60:.1f} minutes together; a reel is "
                    f"made of at most {settings.max_footage_minutes:g} minutes of footage",
                }
            ]
        )
    given = body.options
    options = check_options(
        settings,
        given.duration,
        given.aspect,
        {},
        keep_location=given.keep_location,
        codec=given.codec,
        hdr=given.hdr,
        resolution=given.resolution,
    )
    options[SOURCES] = [s.id for s in sources]
    if music is not None:
        options[MUSIC] = music.id
        options["music_mode"] = body.music_mode
    first = sources[0]
    name = first.filename if len(sources) == 1 else f"{len(sources)} clips"
    new = NewJob(
        job_id=new_job_id(),
        input_key=first.input_key,
        filename=name,
        input_size=sum(s.size_bytes for s in sources),
        options=options,
        facts={"duration": footage, "width": first.facts["width"], "height": first.facts["height"]},
    )
    # The bytes were counted when each source was uploaded.
    job = await create_owned_job(services, accounts, user, new, uploaded=False)
    await run_in_threadpool(services.dispatcher.submit, job.id)
    return UploadAccepted(
        id=job.id,
        status=job.status,
        filename=name,
        size_bytes=job.input_size,
        options=options,
        estimated_seconds=round(sum((plan_of_job(job.result, options) or {}).values()), 1),
        links=links(job),
    )
