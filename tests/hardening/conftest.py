"""Hardening tests reuse the service fixtures (real settings, DB, storage, live API)."""

from __future__ import annotations

from pathlib import Path

import pytest

from moments.service.settings import Settings
from tests.helpers import fast_settings
from tests.service.conftest import add_job, dispatcher, migrated, storage, store  # noqa: F401
from tests.service.conftest_api import api, heavy_video, small_video, start_api  # noqa: F401

GENEROUS_RATES = {
    "rate_limit_upload": "100000/hour",
    "rate_limit_poll": "1000000/minute",
    "rate_limit_auth": "100000/minute",
    "free_reels_per_month": None,
}
"""Rate limits and quota raised far above what these tests send: they probe robustness, and a
429/402 would hide the answer under test (tests/service/test_ratelimit.py covers the limits)."""


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """One worker, short lease, generous rate limits (see GENEROUS_RATES)."""
    return fast_settings(tmp_path, **GENEROUS_RATES)
