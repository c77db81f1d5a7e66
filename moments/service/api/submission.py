"""A fully stored upload becomes a queued job: probe it, create the job, submit it.

Both upload routes end here: the plain upload (``uploads``) and the resumable one (``tus``).
When the probe refuses the file or the job cannot be created, the stored upload is deleted:
nothing is left behind.
"""

from __future__ import annotations

import logging
from pathlib import PurePosixPath
from typing import Any

import anyio
from fastapi.concurrency import run_in_threadpool

from moments.engine import EngineError, Limits, MediaInfo
from moments.service.accounts.plans import plan_limit
from moments.service.accounts.store import UserView
from moments.service.auth.deps import AccountServices
from moments.service.job_creation import NewJob, create_job
from moments.service.jobs.estimate import stage_plan
from moments.service.notify.signing import callback_secret
from moments.service.problems import Problem
from moments.service.storage import upload_key
from moments.service.store import JobView

from . import formats
from .deps import Services
from .probing import ProbeLimitExceeded
from .schemas import UploadAccepted
from .views import links

log = logging.getLogger(__name__)


def stored_suffix(filename: str | None) -> str:
    """The extension a stored upload gets: its name's only when it is one we list (a hint for
    the demuxer, never trusted), else ``bin``."""
    suffix = PurePosixPath(filename or "").suffix.lower().lstrip(".")
    return suffix if suffix in formats.EXTENSIONS else "bin"


def input_key(job_id: str, filename: str | None) -> str:
    """Where a job's upload is stored."""
    return upload_key(job_id, stored_suffix(filename))


async def create_owned_job(
    services: Services, accounts: AccountServices, owner: UserView, new: NewJob, *, uploaded: bool
) -> JobView:
    """Create ``new`` for ``owner`` in the job store, against their monthly quota (402 when
    used up); ``uploaded``: its bytes arrived with it and count in the upload metrics (a
    re-cut or a reel of kept sources brings none)."""
    return await run_in_threadpool(
        lambda: create_job(
            services.store,
            accounts.accounts,
            owner,
            new,
            monthly_limit=plan_limit(accounts.settings, owner.plan),
            clock=accounts.clock,
            metrics=accounts.metrics if uploaded else None,
        )
    )


async def queue_stored_upload(
    services: Services,
    *,
    owner: UserView,
    accounts: AccountServices,
    job_id: str,
    key: str,
    filename: str | None,
    size: int,
    options: dict[str, Any],
) -> UploadAccepted:
    """Turn a fully stored upload into a queued job: probe it, create the job, submit it.

    When the probe refuses the file (415) or the job cannot be created, the stored upload is
    deleted. The job belongs to ``owner`` and counts against their monthly quota (402 when
    used up).
    """
    try:
        media = await _probe(services, key, filename)
        filename = filename or f"video.{PurePosixPath(key).suffix.lstrip('.')}"
        new = NewJob(
            job_id=job_id,
            input_key=key,
            filename=filename,
            input_size=size,
            options=options,
            facts=input_facts(media),
        )
        job = await create_owned_job(services, accounts, owner, new, uploaded=True)
    except BaseException:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(services.storage.delete, key)
        raise

    await run_in_threadpool(services.dispatcher.submit, job.id)
    estimate = await run_in_threadpool(_estimate, services, media, options)
    return UploadAccepted(
        id=job.id,
        status=job.status,
        filename=filename,
        size_bytes=size,
        options=options,
        estimated_seconds=estimate,
        callback_secret=callback_secret(accounts.secret, job.id)
        if options.get("callback_url")
        else None,
        links=links(job),
    )


async def _probe(services: Services, key: str, filename: str | None) -> MediaInfo:
    """Judge the content itself (never the name or declared type): is this a video we read?

    The probe runs in a child process under memory, processor and time limits (``probing``):
    untrusted bytes never make the API itself allocate without bound.
    """
    limits = Limits(max_file_bytes=max(services.settings.max_upload_bytes, Limits.max_file_bytes))
    path = await anyio.to_thread.run_sync(services.storage.local_path, key)
    try:
        return await services.prober.probe(path, limits)
    except EngineError as exc:
        # The engine names the stored file; speak of the user's own file instead.
        reason = exc.reason.rstrip(".")
        accepted = "" if "accept" in reason else f" We accept {formats.SUMMARY}."
        raise Problem(
            415,
            f"{about(filename, reason)}.{accepted}",
            kind="unsupported-media",
            title="Not a video we accept",
            accepted=[c["name"] for c in formats.CONTAINERS],
            extensions=sorted(formats.EXTENSIONS),
        ) from None
    except ProbeLimitExceeded as exc:
        log.info("upload %s is over the probe's %s limit: %s", key, exc.limit, exc.reason)
        raise Problem(
            422,
            f"{about(filename, 'could not be read within our limits')}: {exc.reason}. It may be "
            "damaged or built in an unusual way; if it plays on your device, save or export it "
            "again and upload that copy.",
            kind="unreadable-upload",
            title="Could not be read within our limits",
            limit=exc.limit,
        ) from None
    finally:
        services.storage.release_local_path(path)


def about(filename: str | None, reason: str) -> str:
    """A sentence on the user's file, named as they know it ('Your upload' when it came without
    a name): 'clip.mp4 is a text file, not a video'; a reason that is not said of the file
    follows a colon ('clip.mp4: the file is empty')."""
    subject = filename or "Your upload"
    if reason.startswith(("is ", "has ", "needs ", "could ")):
        return f"{subject} {reason}"
    return f"{subject}: {reason}"


def _estimate(services: Services, media: MediaInfo, options: dict[str, Any]) -> float:
    """Seconds until the reel is likely ready: this job's work plus a share of the queue's."""
    own = estimate_processing_seconds(media, options)
    try:
        # One count: with two, a job starting between them would be counted twice.
        waiting = services.store.count("pending", "processing") - 1
    except Exception:  # the estimate is a courtesy; never fail an upload over it
        waiting = 0
    workers = max(1, services.settings.workers)
    return round(own * (1 + max(0, waiting) / workers), 1)


def estimate_processing_seconds(media: MediaInfo, options: dict[str, Any]) -> float:
    """Seconds one worker needs for this video (see ``jobs.estimate``)."""
    plan = stage_plan(media.duration, media.width, media.height, options.get("duration", 30))
    return round(sum(plan.values()), 1)


def input_facts(media: MediaInfo) -> dict[str, Any]:
    """What the job keeps of the upload's probe until the engine's own result replaces it: the
    facts its ETA is planned from."""
    return {"duration": media.duration, "width": media.width, "height": media.height}
