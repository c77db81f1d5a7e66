"""Health, readiness, formats, CORS, and the one error shape (RFC 9457) on every error path."""

from __future__ import annotations

import httpx
import pytest

from moments.service.api.app import create_app
from moments.service.settings import Settings

PROBLEM = "application/problem+json"


def assert_problem(response: httpx.Response, status: int, path: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert {"type", "title", "status", "detail", "instance"} <= body.keys()
    assert body["status"] == status
    assert body["instance"] == path
    assert body["detail"] and isinstance(body["detail"], str)
    return body


def test_health_answers_ok(api):
    response = api.client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_ready_checks_database_storage_and_workers(api):
    response = api.client.get("/ready")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ready"
    assert {name: c["ok"] for name, c in body["checks"].items()} == {
        "database": True,
        "storage": True,
        "workers": True,
    }
    assert body["checks"]["workers"]["workers"] == 1


def test_ready_is_503_problem_when_workers_are_down(api):
    api.services.dispatcher.stop()  # the real pool, really stopped
    body = assert_problem(api.client.get("/ready"), 503, "/ready")
    assert body["checks"]["workers"]["ok"] is False
    assert body["checks"]["database"]["ok"] is True
    assert "workers" in body["detail"]


def test_formats_lists_containers_codecs_and_limits(settings, start_api):
    api = start_api(settings.model_copy(update={"max_upload_bytes": 12345}))
    body = api.client.get("/api/v1/upload/formats").json()
    assert "mp4" in body["containers"][0]["extensions"]
    assert "h264" in body["video_codecs"] and "hevc" in body["video_codecs"]
    assert "aac" in body["audio_codecs"]
    assert body["max_upload_bytes"] == 12345
    assert body["aspects"] == ["source", "16:9", "9:16", "1:1"]
    assert body["max_duration"] == settings.max_duration


def test_unknown_route_is_404_problem(api):
    body = assert_problem(api.client.get("/api/v1/nothing-here"), 404, "/api/v1/nothing-here")
    assert body["type"] == "about:blank"


@pytest.mark.parametrize("suffix", ["/status", "", "/download", "/poster", "/events"])
def test_unknown_job_is_404_problem(api, suffix):
    path = f"/api/v1/jobs/{'0' * 32}{suffix}"
    body = assert_problem(api.client.get(path), 404, path)
    assert body["type"] == "urn:moments:problem:job-not-found"


def test_deleting_unknown_job_is_404_problem(api):
    path = f"/api/v1/jobs/{'f' * 32}"
    assert_problem(api.client.delete(path), 404, path)


def test_wrong_method_is_405_problem_with_allow(api):
    response = api.client.put("/api/v1/upload/formats")
    body = assert_problem(response, 405, "/api/v1/upload/formats")
    assert response.headers["allow"] == "GET"
    assert "PUT" in body["detail"]


@pytest.mark.parametrize(
    "query",
    ["limit=0", "limit=101", "offset=-1", "status=finished", "limit=many"],
)
def test_invalid_query_is_422_problem_naming_the_field(api, query):
    body = assert_problem(api.client.get(f"/api/v1/jobs?{query}"), 422, "/api/v1/jobs")
    assert body["type"] == "urn:moments:problem:validation-error"
    field = query.split("=")[0]
    assert body["errors"][0]["location"] == f"query.{field}"
    assert field in body["detail"]


def test_unhandled_error_is_500_problem_without_internals(settings, start_api):
    api = start_api(settings)
    # A route that fails the way a bug would: the client must not learn what went wrong inside.
    app = api.server.config.app

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("secret database password is hunter2")

    response = api.client.get("/boom")
    body = assert_problem(response, 500, "/boom")
    assert "hunter2" not in response.text
    assert "RuntimeError" not in response.text
    assert body["title"] == "Internal Server Error"


def test_cors_allows_configured_origin_and_exposes_range_headers(settings, start_api):
    api = start_api(settings.model_copy(update={"cors_origins": ["https://app.example"]}))
    preflight = api.client.options(
        "/api/v1/upload",
        headers={"Origin": "https://app.example", "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "https://app.example"
    response = api.client.get("/health", headers={"Origin": "https://app.example"})
    exposed = response.headers["access-control-expose-headers"].lower()
    assert "content-range" in exposed and "etag" in exposed
    other = api.client.get("/health", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers


def test_openapi_documents_both_upload_styles(settings):
    schema = create_app(Settings(data_dir=settings.data_dir, _env_file=None)).openapi()
    content = schema["paths"]["/api/v1/upload"]["post"]["requestBody"]["content"]
    assert {"multipart/form-data", "video/*", "application/octet-stream"} <= content.keys()


def test_docs_page_is_served(api):
    response = api.client.get("/docs")
    assert response.status_code == 200
    assert "swagger" in response.text.lower()
    assert api.client.get("/openapi.json").json()["info"]["title"] == "Moments"
