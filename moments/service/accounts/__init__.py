"""Users, their credentials, plans and monthly quotas."""

from .plans import Plan, QuotaExceeded, month_period, next_reset, plan_limit
from .store import AccountStore, ApiKeyView, UserView

__all__ = [
    "AccountStore",
    "ApiKeyView",
    "Plan",
    "QuotaExceeded",
    "UserView",
    "month_period",
    "next_reset",
    "plan_limit",
]
