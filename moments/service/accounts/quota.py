"""Monthly reel quotas: what ``GET /me`` shows, and the refusal when none is left.

Rule: a reel counts when its job is created (``job_creation.create_job`` charges it), and is
given back when the job ends without a reel (failed or cancelled; the outbox does that).
Deleting a finished reel does not give it back — otherwise create, download, delete would make
quotas meaningless.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..problems import Problem
from .plans import QuotaExceeded, month_period, next_reset, plan_limit

if TYPE_CHECKING:
    from ..auth.deps import AccountServices
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
