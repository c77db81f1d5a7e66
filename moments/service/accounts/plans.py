"""Plans and the calendar month (UTC) a quota counts over."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from ..settings import Settings

Plan = Literal["free", "pro"]
PLANS: tuple[str, ...] = ("free", "pro")


def plan_limit(settings: Settings, plan: str) -> int | None:
    """Reels per month on ``plan`` in this deployment (None: unlimited)."""
    return settings.pro_reels_per_month if plan == "pro" else settings.free_reels_per_month


def month_period(when: datetime) -> str:
    """The quota period holding ``when``: "YYYY-MM" in UTC."""
    return when.astimezone(UTC).strftime("%Y-%m")


def next_reset(when: datetime) -> datetime:
    """When the quota of ``when``'s month resets: 00:00 UTC on the first of the next month."""
    when = when.astimezone(UTC)
    year, month = (when.year + 1, 1) if when.month == 12 else (when.year, when.month + 1)
    return datetime(year, month, 1, tzinfo=UTC)


@dataclass(frozen=True)
class QuotaExceeded(Exception):
    """No reels left this month."""

    used: int
    limit: int
    resets_at: datetime
