"""Job endpoints: list, status, details, cancel/delete."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Response
from starlette.concurrency import run_in_threadpool

from moments.service.accounts.store import UserView
from moments.service.auth.deps import AccountsDep, CurrentUser
from moments.service.jobs.analyses import release_input
from moments.service.notify.signing import callback_secret
from moments.service.paths import API_PREFIX
from moments.service.problems import Problem
from moments.service.ratelimit import limited
from moments.service.store import JobView

from .deps import Services, ServicesDep
from .schemas import JobDetail, JobPage, JobStatus, Status
from .schemas import Problem as ProblemDoc
from .views import detail_of, status_of, summary_of

router = APIRouter(prefix=f"{API_PREFIX}/jobs", tags=["jobs"])
MAX_OFFSET = 2**31 - 1
"""Larger offsets overflow the database's integers (and no one has that many jobs)."""
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ProblemDoc, "content": {"application/problem+json": {}}}
}


def find_job(services: Services, job_id: str, owner: UserView) -> JobView:
    """The ``owner``'s job, or a 404 problem (also for another user's job: its existence is
    not revealed). Blocking: call it from a worker thread."""
    job = services.store.get(job_id)
    if job is None or job.owner_id != owner.id:
        raise Problem(
            404, f"There is no job {job_id!r}; it may have expired.", kind="job-not-found"
        )
    return job


@router.get("", response_model=JobPage, dependencies=[limited("poll")])
def list_jobs(
    services: ServicesDep,
    user: CurrentUser,
    status: Annotated[
        Status | None,
        Query(description="Only jobs with this status."),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> JobPage:
    """Your jobs, newest first."""
    jobs, total = services.store.list(status=status, limit=limit, offset=offset, owner_id=user.id)
    next_url = None
    if offset + len(jobs) < total:
        query = {"limit": limit, "offset": offset + limit} | ({"status": status} if status else {})
        next_url = f"{API_PREFIX}/jobs?{urlencode(query)}"
    return JobPage(
        items=[summary_of(j, services.settings.retention_hours) for j in jobs],
        total=total,
        limit=limit,
        offset=offset,
        next=next_url,
    )


@router.get(
    "/{job_id}/status",
    response_model=JobStatus,
    responses=NOT_FOUND,
    dependencies=[limited("poll")],
)
async def job_status(job_id: str, services: ServicesDep, user: CurrentUser) -> JobStatus:
    """Status, progress (0-100, never backwards), stage, a readable message and an ETA."""
    # The endpoint apps poll: one worker-thread round trip (the read), the rest in the loop.
    job = await run_in_threadpool(find_job, services, job_id, user)
    return status_of(job, services.settings.retention_hours)


@router.get(
    "/{job_id}", response_model=JobDetail, responses=NOT_FOUND, dependencies=[limited("poll")]
)
def job_detail(
    job_id: str, services: ServicesDep, user: CurrentUser, accounts: AccountsDep
) -> JobDetail:
    """Input facts, options, timings, the chosen segments with scores and reasons, any error."""
    job = find_job(services, job_id, user)
    secret = callback_secret(accounts.secret, job.id)
    return detail_of(job, services.settings.retention_hours, secret)


@router.delete(
    "/{job_id}",
    responses={200: {"model": JobStatus}, 204: {"description": "Deleted"}, **NOT_FOUND},
)
def delete_job(job_id: str, services: ServicesDep, user: CurrentUser) -> Any:
    """Cancel a pending or running job (200 with its status), or delete a finished one (204).

    Cancelling stops the work within seconds; the cancelled job stays listed until deleted.
    """
    job = find_job(services, job_id, user)
    if not job.finished:
        job = services.store.request_cancel(job_id) or job
        services.dispatcher.cancel(job_id)
        if job.status == "cancelled":
            return status_of(job)
        # It finished in the meantime: fall through and delete it like any finished job.
    services.store.delete(job_id)
    # The upload and its kept analysis go unless a re-cut (or the original) still reads them.
    release_input(services.store, services.storage, job)
    for key in (job.output_key, job.poster_key):
        if key:
            services.storage.delete(key)
    return Response(status_code=204)
