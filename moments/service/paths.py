"""Where the API lives: its path prefix, spelled once for the routes, links and notifications."""

from __future__ import annotations

API_PREFIX = "/api/v1"


def job_path(job_id: str) -> str:
    """A job's document (``/status``, ``/events``, ``/download``... hang below it)."""
    return f"{API_PREFIX}/jobs/{job_id}"
