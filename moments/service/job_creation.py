"""Creating a user's job: THE way a stored upload becomes a job (plain and tus uploads alike).

A reel counts against the owner's monthly quota when its job is created (``accounts.quota``
has the rule); the job is then pending, for a worker to claim once it is submitted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .accounts.plans import QuotaExceeded
from .accounts.quota import quota_problem

if TYPE_CHECKING:
    from .accounts.store import AccountStore, UserView
    from .metrics import Metrics
    from .store import JobStore, JobView


@dataclass(frozen=True)
class NewJob:
    """A fully stored upload the probe accepted, about to become a job."""

    job_id: str
    input_key: str
    """Where the upload is stored (``storage.upload_key``)."""
    filename: str
    input_size: int
    options: dict[str, Any]
    """The checked upload options, as the job keeps them (JSON)."""
    facts: dict[str, Any] = field(default_factory=dict)
    """What the probe found (duration, width, height): the job's ETA is planned from it."""


def create_job(
    jobs: JobStore,
    accounts: AccountStore,
    owner: UserView,
    new: NewJob,
    *,
    monthly_limit: int | None,
    clock: Callable[[], datetime],
    metrics: Metrics | None = None,
) -> JobView:
    """Charge one reel to ``owner`` (within ``monthly_limit``, None: unlimited) and create their
    pending job.

    Sync (run it in a worker thread). Raises the 402 problem when the month's quota is used up;
    the caller then discards the stored upload. The reel is given back if the job cannot be
    created.
    """
    now = clock()
    try:
        accounts.charge(owner.id, now, monthly_limit)
    except QuotaExceeded as exc:
        raise quota_problem(exc) from None
    try:
        job = jobs.create(
            job_id=new.job_id,
            input_key=new.input_key,
            filename=new.filename,
            input_size=new.input_size,
            options=new.options,
            owner_id=owner.id,
            result={"input": new.facts} if new.facts else None,
        )
    except BaseException:
        accounts.refund(owner.id, now)
        raise
    if metrics is not None:
        metrics.upload_accepted(new.input_size)
    return job
