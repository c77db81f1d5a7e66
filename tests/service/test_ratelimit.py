"""Rate limits per user and per address: RateLimit-* headers, 429 problem with Retry-After."""

from __future__ import annotations

from moments.service.ratelimit import RateLimiter

from .auth_helpers import accounts_settings, other_user


def test_limiter_counts_each_key_and_refuses_without_counting():
    limiter = RateLimiter("memory://", {"poll": "3/minute"})
    decisions = [limiter.hit("poll", ["ip:a", "user:1"]) for _ in range(3)]
    assert [d.remaining for d in decisions] == [2, 1, 0]
    refused = limiter.hit("poll", ["ip:a", "user:1"])
    assert not refused.allowed and refused.remaining == 0
    assert 1 <= int(refused.headers()["Retry-After"]) <= 60
    # Same user from another address is still limited (per user); another user at "a" too.
    assert not limiter.hit("poll", ["ip:b", "user:1"]).allowed
    assert not limiter.hit("poll", ["ip:a", "user:2"]).allowed
    assert limiter.hit("poll", ["ip:b", "user:2"]).allowed


def test_polling_limit_headers_and_429(settings, start_api):
    api = start_api(settings.model_copy(update={"rate_limit_poll": "4/minute"}))
    job = f"/api/v1/jobs/{'0' * 32}/status"
    seen = []
    for _ in range(4):
        response = api.client.get("/api/v1/jobs")
        assert response.status_code == 200
        seen.append(int(response.headers["ratelimit-remaining"]))
        assert response.headers["ratelimit-limit"] == "4"
        assert response.headers["ratelimit-policy"] == "4;w=60"
        assert 0 <= int(response.headers["ratelimit-reset"]) <= 60
    assert seen == [3, 2, 1, 0]
    limited = api.client.get(job)
    assert limited.status_code == 429
    assert limited.headers["content-type"] == "application/problem+json"
    assert limited.json()["type"] == "urn:moments:problem:rate-limited"
    retry = int(limited.headers["retry-after"])
    assert 1 <= retry <= 60 and f"{retry} seconds" in limited.json()["detail"]
    assert limited.headers["ratelimit-remaining"] == "0"
    # Uploads have their own budget, and /health is never limited.
    assert api.client.get("/health").status_code == 200
    assert "ratelimit-limit" not in api.client.get("/health").headers


def test_per_address_limit_covers_every_user_from_it(settings, start_api):
    api = start_api(settings.model_copy(update={"rate_limit_poll": "3/minute"}))
    _, other = other_user(api)
    for _ in range(3):
        assert api.client.get("/api/v1/jobs").status_code == 200
    # A different account from the same address: the address budget is spent.
    assert other.get("/api/v1/jobs").status_code == 429


VIDEO = {"Content-Type": "video/mp4"}


def test_refused_uploads_do_not_count_against_the_upload_limit(settings, start_api, small_video):
    api = start_api(settings.model_copy(update={"rate_limit_upload": "2/hour"}))
    for _ in range(40):  # empty, and not a video: refused, and nothing counted
        assert api.client.post("/api/v1/upload", content=b"", headers=VIDEO).status_code == 400
        assert (
            api.client.post("/api/v1/upload", content=b"not a video", headers=VIDEO).status_code
            == 415
        )
    tus = {"Tus-Resumable": "1.0.0", "Upload-Length": "10"}
    for _ in range(5):  # tus creations count nothing until the upload becomes a job
        assert api.client.post("/api/v1/uploads", headers=tus).status_code == 201
    accepted = api.client.post("/api/v1/upload", content=small_video.read_bytes(), headers=VIDEO)
    assert accepted.status_code == 202, accepted.text
    assert accepted.headers["ratelimit-remaining"] == "1"
    assert accepted.headers["ratelimit-policy"] == "2;w=3600"


def test_accounts_mode_limits_uploads_that_became_jobs(settings, start_api, small_video):
    api = start_api(accounts_settings(settings, rate_limit_upload="2/hour"))
    _, client = other_user(api)
    data = small_video.read_bytes()
    for remaining in ("1", "0"):
        accepted = client.post("/api/v1/upload", content=data, headers=VIDEO)
        assert accepted.status_code == 202, accepted.text
        assert accepted.headers["ratelimit-remaining"] == remaining
    refused = client.post("/api/v1/upload", content=data, headers=VIDEO)
    assert refused.status_code == 429
    assert refused.json()["type"] == "urn:moments:problem:rate-limited"
    assert 1 <= int(refused.headers["retry-after"]) <= 3600
    # tus: refused at creation, before any bytes are sent
    tus = {"Tus-Resumable": "1.0.0", "Upload-Length": str(len(data))}
    assert client.post("/api/v1/uploads", headers=tus).status_code == 429


def test_accounts_mode_limits_upload_bytes(settings, start_api, small_video):
    data = small_video.read_bytes()
    budget = f"{len(data) + 10}/hour"  # room for one such upload, not two
    api = start_api(accounts_settings(settings, rate_limit_upload_bytes=budget))
    _, client = other_user(api)
    assert client.post("/api/v1/upload", content=data, headers=VIDEO).status_code == 202
    refused = client.post("/api/v1/upload", content=data, headers=VIDEO)
    assert refused.status_code == 429, refused.text
    assert "bytes" in refused.json()["detail"]


def test_local_mode_allows_many_more_uploads_than_accounts(settings, start_api, small_video):
    local = start_api(settings)  # auth_mode=local, rate_limit_upload unset
    accepted = local.client.post("/api/v1/upload", content=small_video.read_bytes(), headers=VIDEO)
    assert accepted.status_code == 202
    assert int(accepted.headers["ratelimit-limit"]) >= 1000
    assert int(accepted.headers["ratelimit-remaining"]) >= 999
    assert RateLimiter.from_settings(accounts_settings(settings)).room("upload", ["a"]).limit == 30


def test_login_attempts_are_limited_per_address(settings, start_api):
    api = start_api(
        settings.model_copy(update={"auth_mode": "accounts", "rate_limit_auth": "3/minute"})
    )
    anon = api.anonymous()
    guess = {"email": "victim@example.com", "password": "guess guess guess"}
    assert [anon.post("/api/v1/auth/login", json=guess).status_code for _ in range(3)] == [401] * 3
    assert anon.post("/api/v1/auth/login", json=guess).status_code == 429
