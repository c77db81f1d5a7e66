"""Monthly reel quotas, and the one function that creates a user's job (plain and tus uploads).

Rule: a reel counts when its job is created, and is given back when the job ends without a
reel (failed or cancelled; the outbox does that). Deleting a finished reel does not give it
back — otherwise create, download, delete would make quotas meaningless.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..problems import Problem
from .plans import QuotaExceeded, month_period, next_reset, plan_limit

if TYPE_CHECKING:
    from ..api.deps import Services
    from ..auth.deps import AccountServices
    from ..store import JobView
    from .store import UserView


def usage_of(acc: AccountServices, user: UserView) -> dict[str, Any]:
    """What ``GET /me`` shows: plan, reels used this month, the limit and when it resets."""
    now = acc.clock()
    limit = plan_limit(acc.settings, user.plan)
    used = acc.accounts.used(user.id, month_period(now))
    return {
        "plan": user.plan,
        "used": used,
        "limit": limit,
        "remaining": None if limit is None else max(0, limit - used),
        "period": month_period(now),
        "resets_at": next_reset(now),
    }


def quota_problem(exc: QuotaExceeded) -> Problem:
    when = exc.resets_at.strftime("%-d %B %Y")
    return Problem(
        402,
        f"You have made all {exc.limit} reels your plan includes this month. "
        f"Your quota resets on {when} (00:00 UTC); upgrade to Pro for unlimited reels.",
        kind="quota-exceeded",
        title="Monthly reel quota used up",
        used=exc.used,
        limit=exc.limit,
        resets_at=exc.resets_at.isoformat(),
    )


def ensure_quota_left(acc: AccountServices, user: UserView) -> None:
    """Refuse (402) before an upload's bytes arrive if no reel is left this month."""
    now = acc.clock()
    limit = plan_limit(acc.settings, user.plan)
    if limit is None:
        return
    used = acc.accounts.used(user.id, month_period(now))
    if used >= limit:
        raise quota_problem(QuotaExceeded(used=used, limit=limit, resets_at=next_reset(now)))


def create_owned_job(
    services: Services,
    acc: AccountServices,
    user: UserView,
    *,
    job_id: str,
    input_key: str,
    filename: str,
    input_size: int,
    options: dict[str, Any],
    facts: dict[str, Any] | None = None,
) -> JobView:
    """Charge one reel to ``user`` and create their pending job. THE way a job is created.

    Sync (run it in the threadpool). Raises the 402 problem when the month's quota is used up;
    the caller then discards the stored upload.
    """
    now: datetime = acc.clock()
    try:
        acc.accounts.charge(user.id, now, plan_limit(acc.settings, user.plan))
    except QuotaExceeded as exc:
        raise quota_problem(exc) from None
    try:
        job = services.store.create(
            job_id=job_id,
            input_key=input_key,
            filename=filename,
            input_size=input_size,
            options=options,
            owner_id=user.id,
            result={"input": facts} if facts else None,
        )
    except BaseException:
        acc.accounts.refund(user.id, now)
        raise
    if acc.metrics is not None:
        acc.metrics.upload_accepted(input_size)
    return job
