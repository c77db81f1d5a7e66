"""Prometheus /metrics: jobs by state, queue depth, stage timings from worker processes,
upload bytes and HTTP latency by route template."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from tests.helpers import wait_for

SCRAPE = {"Authorization": "Bearer scrape-me"}
"""What Prometheus sends, configured with the server's MOMENTS_METRICS_TOKEN."""


def samples(api) -> dict[tuple[str, tuple], float]:
    response = api.anonymous().get("/metrics", headers=SCRAPE)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    found = {}
    for family in text_string_to_metric_families(response.text):
        for s in family.samples:
            found[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return found


def test_metrics_after_a_real_job(settings, start_api, small_video):
    api = start_api(settings.model_copy(update={"metrics_token": "scrape-me"}))
    data = small_video.read_bytes()
    job_id = api.client.post(
        "/api/v1/upload", content=data, headers={"Content-Type": "video/mp4"}
    ).json()["id"]
    wait_for(lambda: api.status(job_id)["status"] == "completed", 90, "the reel")

    def observed():
        found = samples(api)
        key = ("moments_job_stage_seconds_count", (("stage", "analyse"),))
        return found if found.get(key) == 1 else None

    found = wait_for(observed, 10, "stage timings reported through the outbox")
    assert found[("moments_jobs", (("state", "completed"),))] == 1
    assert found[("moments_jobs", (("state", "pending"),))] == 0
    assert found[("moments_queue_depth", ())] == 0
    assert found[("moments_upload_bytes_total", ())] == len(data)
    assert found[("moments_uploads_total", ())] == 1
    assert found[("moments_jobs_finished_total", (("status", "completed"),))] == 1
    assert found[("moments_job_stage_seconds_count", (("stage", "render"),))] == 1
    assert found[("moments_job_stage_seconds_sum", (("stage", "render"),))] > 0
    assert found[("moments_job_processing_seconds_count", (("status", "completed"),))] == 1
    status_route = (
        "moments_http_request_duration_seconds_count",
        (("method", "GET"), ("route", "/api/v1/jobs/{job_id}/status"), ("status", "200")),
    )
    assert found[status_route] >= 1  # the template, never the raw id
    assert not any(job_id in str(labels) for _, labels in found)


def test_metrics_token(settings, start_api):
    api = start_api(settings.model_copy(update={"metrics_token": "scrape-me"}))
    assert api.anonymous().get("/metrics").status_code == 401
    wrong = api.anonymous().get("/metrics", headers={"Authorization": "Bearer scrape-you"})
    assert wrong.status_code == 401
    ok = api.anonymous().get("/metrics", headers=SCRAPE)
    assert ok.status_code == 200 and "moments_queue_depth" in ok.text


def test_metrics_are_protected_by_default(api):
    """No setting at all: nobody reads /metrics, not even a signed-in user (their API key is
    not a metrics credential); the answer tells the operator what to set."""
    for client in (api.anonymous(), api.client):
        refused = client.get("/metrics")
        assert refused.status_code == 401
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.headers["www-authenticate"].startswith("Bearer")
        assert "MOMENTS_METRICS_TOKEN" in refused.json()["detail"]
        assert "moments_" not in refused.text


def test_metrics_can_be_made_public(settings, start_api):
    public = start_api(settings.model_copy(update={"metrics_public": True}))
    ok = public.anonymous().get("/metrics")
    assert ok.status_code == 200 and "moments_queue_depth" in ok.text
    # A token, once set, is needed even so.
    both = start_api(settings.model_copy(update={"metrics_public": True,
                                                 "metrics_token": "scrape-me"}))  # fmt: skip
    assert both.anonymous().get("/metrics").status_code == 401
    assert both.anonymous().get("/metrics", headers=SCRAPE).status_code == 200
