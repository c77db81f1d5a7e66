"""Monthly reel quotas: charged when a job is created, refused with 402 when used up, reset on
the first of the next month (UTC; the clock is injected), given back when a job makes no reel."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest

from moments.service.accounts.plans import QuotaExceeded, month_period, next_reset
from tests.helpers import wait_for

from .auth_helpers import account_store, other_user


def test_period_and_reset_boundaries():
    assert month_period(datetime(2030, 12, 31, 23, 59, tzinfo=UTC)) == "2030-12"
    assert next_reset(datetime(2030, 12, 31, 23, 59, tzinfo=UTC)) == datetime(
        2031, 1, 1, tzinfo=UTC
    )
    assert next_reset(datetime(2031, 1, 1, tzinfo=UTC)) == datetime(2031, 2, 1, tzinfo=UTC)


def test_charge_stops_at_the_limit_and_resets_next_month(store, migrated):
    accounts = account_store(migrated)
    user = accounts.create_user("q@example.com", None, "free")
    june = datetime(2030, 6, 20, tzinfo=UTC)
    assert [accounts.charge(user.id, june, 3) for _ in range(3)] == [1, 2, 3]
    with pytest.raises(QuotaExceeded) as refused:
        accounts.charge(user.id, june, 3)
    assert refused.value.used == 3 and refused.value.resets_at == datetime(2030, 7, 1, tzinfo=UTC)
    assert accounts.charge(user.id, datetime(2030, 7, 1, tzinfo=UTC), 3) == 1
    assert accounts.refund(user.id, june) and accounts.used(user.id, "2030-06") == 2
    assert accounts.charge(user.id, june, None) == 3  # unlimited plan: no ceiling


def test_racing_charges_never_exceed_the_limit(migrated):
    accounts = account_store(migrated)
    user = accounts.create_user("race@example.com", None, "free")
    now = datetime(2030, 6, 1, tzinfo=UTC)
    outcomes: list[bool] = []

    def try_charge() -> None:
        try:
            accounts.charge(user.id, now, 3)
            outcomes.append(True)
        except QuotaExceeded:
            outcomes.append(False)

    threads = [threading.Thread(target=try_charge) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count(True) == 3
    assert accounts.used(user.id, "2030-06") == 3


def _upload(client, video):
    return client.post(
        "/api/v1/upload",
        content=video.read_bytes(),
        headers={"Content-Type": "video/mp4", "X-Filename": "clip.mp4"},
    )


def test_over_quota_is_402_until_the_month_resets(settings, start_api, small_video):
    api = start_api(settings.model_copy(update={"free_reels_per_month": 1}))
    state = api.server.config.app.state.accounts
    state.clock = lambda: datetime(2030, 6, 20, 12, tzinfo=UTC)
    _, free = other_user(api)

    me = free.get("/api/v1/me").json()
    assert (me["plan"], me["used"], me["limit"], me["remaining"]) == ("free", 0, 1, 1)
    assert me["resets_at"].startswith("2030-07-01T00:00:00")

    assert _upload(free, small_video).status_code == 202
    refused = _upload(free, small_video)
    assert refused.status_code == 402
    body = refused.json()
    assert body["type"] == "urn:moments:problem:quota-exceeded"
    assert "1 July 2030" in body["detail"]
    assert body["resets_at"].startswith("2030-07-01T00:00:00")
    assert (body["used"], body["limit"]) == (1, 1)
    assert free.get("/api/v1/jobs").json()["total"] == 1  # nothing kept from the refusal
    assert free.get("/api/v1/me").json()["remaining"] == 0

    state.clock = lambda: datetime(2030, 7, 1, 0, 0, 1, tzinfo=UTC)  # a new month
    me = free.get("/api/v1/me").json()
    assert (me["used"], me["remaining"], me["period"]) == (0, 1, "2030-07")
    assert _upload(free, small_video).status_code == 202

    # The local account is Pro: unlimited by default.
    pro = api.client.get("/api/v1/me").json()
    assert pro["plan"] == "pro" and pro["limit"] is None


def test_cancelled_job_gives_its_reel_back(settings, start_api, small_video):
    api = start_api(
        settings.model_copy(update={"free_reels_per_month": 2, "outbox_interval": 0.05})
    )
    _, free = other_user(api)
    job_id = _upload(free, small_video).json()["id"]
    assert free.get("/api/v1/me").json()["used"] == 1
    assert free.delete(f"/api/v1/jobs/{job_id}").json()["status"] == "cancelled"
    wait_for(lambda: free.get("/api/v1/me").json()["used"] == 0, 10, "the refund")
    # A deleted finished job does NOT give its reel back (or quotas would mean nothing).
    done = _upload(free, small_video).json()["id"]
    wait_for(lambda: free.get(f"/api/v1/jobs/{done}/status").json()["status"] == "completed",
             90, "the reel")  # fmt: skip
    assert free.delete(f"/api/v1/jobs/{done}").status_code == 204
    assert free.get("/api/v1/me").json()["used"] == 1
