"""Structured JSON logs: request id in and out, job id on lines about a job."""

from __future__ import annotations

import io
import json
import logging

from moments.service.logging import ContextFilter, JsonFormatter, job_context


def capture(logger_name: str) -> tuple[io.StringIO, logging.Handler]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(ContextFilter())
    logger = logging.getLogger(logger_name)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    return stream, handler


def lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line]


def test_json_lines_carry_job_id_and_extras():
    stream, handler = capture("moments.test")
    try:
        with job_context("a" * 32):
            logging.getLogger("moments.test").info("rendering %s", "x", extra={"frames": 3})
        logging.getLogger("moments.test").warning("outside")
    finally:
        logging.getLogger("moments.test").removeHandler(handler)
    first, second = lines(stream)
    assert first["message"] == "rendering x" and first["level"] == "info"
    assert first["job_id"] == "a" * 32 and first["frames"] == 3
    assert first["logger"] == "moments.test" and first["time"].endswith("+00:00")
    assert "job_id" not in second


def test_request_id_in_and_out_and_on_access_lines(api):
    stream, handler = capture("moments.access")
    try:
        given = api.client.get("/health", headers={"X-Request-ID": "edge-1234"})
        made = api.client.get(f"/api/v1/jobs/{'b' * 32}/status")
        hostile = api.client.get("/health", headers={"X-Request-ID": "bad id{}<>" * 20})
    finally:
        logging.getLogger("moments.access").removeHandler(handler)
    assert given.headers["x-request-id"] == "edge-1234"
    assert len(made.headers["x-request-id"]) == 32
    assert "bad id" not in hostile.headers["x-request-id"]  # replaced, not echoed
    assert len(hostile.headers["x-request-id"]) == 32
    logged = lines(stream)
    by_id = {line["request_id"]: line for line in logged}
    assert by_id["edge-1234"]["path"] == "/health" and by_id["edge-1234"]["status"] == 200
    job_line = by_id[made.headers["x-request-id"]]
    assert job_line["job_id"] == "b" * 32 and job_line["status"] == 404
    assert job_line["duration_ms"] >= 0
