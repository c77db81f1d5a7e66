"""The hostile corpus through the real API: plain uploads and tus, then a normal job.

Every case must end as a 4xx problem or a failed job with a clear message within a bounded time
(or, for real videos under misleading names, as a reel); a canary file and a loopback HTTP
server prove nothing named inside a file was read; the worker stays healthy.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.helpers import tus_create, wait_for
from tests.hostile_corpus import Canary, CountingServer, HostileCase, hostile_cases

JARGON = ("returned", "Errno", "Invalid data found", "moov", "AVERROR", "ffmpeg", "Traceback")
RESPONSE_SECONDS = 10.0
"""Longest an upload of a small hostile file may take to be answered."""
JOB_SECONDS = 60.0
"""Longest a job from the corpus may take to finish (one worker, in turn)."""
TUS_SUBSET = (
    "hls-local-as-mp4",
    "mp4-carrying-hls",
    "random-bytes",
    "claims-10-hours",
    "valid-video-named-avi",
    "mp4-400000-edits",
)


@pytest.fixture
def server() -> Iterator[CountingServer]:
    srv = CountingServer()
    yield srv
    srv.close()


def plain_upload(client: httpx.Client, path: Path, filename: str) -> httpx.Response:
    with path.open("rb") as f:
        return client.post(
            "/api/v1/upload",
            files={"file": (filename, f, "video/mp4")},
            data={"duration": "3"},
        )


def tus_upload(client: httpx.Client, path: Path, filename: str) -> httpx.Response:
    """tus creation-with-upload: the whole file in the creating POST (as tus-js-client can)."""
    return tus_create(client, path.read_bytes(), filename=filename, duration="3")


def job_of(response: httpx.Response, via: str) -> str | None:
    """The job id an accepted upload created (None when it was refused)."""
    if via == "plain":
        return response.json()["id"] if response.status_code == 202 else None
    return response.headers.get("Moments-Job-Id") if response.status_code == 201 else None


def assert_clear(text: str, case: HostileCase) -> None:
    assert text.strip(), f"{case.name}: no message"
    assert not any(word.lower() in text.lower() for word in JARGON), f"{case.name}: {text}"
    assert case.says in text, f"{case.name}: {text!r} does not say {case.says!r}"


def test_hostile_corpus_through_the_api(api, tmp_path: Path, server, small_video: Path) -> None:
    canary = Canary(tmp_path / "canary.ts")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    cases = hostile_cases(canary, server.url, small_video)
    jobs: dict[tuple[str, str], tuple[HostileCase, str]] = {}
    refused: list[str] = []

    for case in cases:
        path = case.build(corpus)
        for via in ("plain", "tus") if case.name in TUS_SUBSET else ("plain",):
            start = time.monotonic()
            send = plain_upload if via == "plain" else tus_upload
            response = send(api.client, path, case.filename)
            took = time.monotonic() - start
            assert took < RESPONSE_SECONDS, f"{case.name} via {via}: answered after {took:.1f}s"
            job_id = job_of(response, via)
            if job_id is None:
                assert 400 <= response.status_code < 500, (case.name, via, response.text)
                assert response.headers["content-type"] == "application/problem+json"
                problem = response.json()
                assert problem["status"] == response.status_code
                assert_clear(problem["detail"], case)
                if response.status_code == 415:
                    assert case.filename in problem["detail"], problem["detail"]
                assert not case.accept, f"{case.name} via {via} refused: {problem['detail']}"
                refused.append(f"{case.name}/{via}")
            else:
                jobs[(case.name, via)] = (case, job_id)

    def finished(job_id: str) -> dict | None:
        status = api.status(job_id)
        return status if status["status"] in ("completed", "failed", "cancelled") else None

    for (name, via), (case, job_id) in jobs.items():
        status = wait_for(lambda j=job_id: finished(j), JOB_SECONDS, f"{name} via {via}")
        detail = api.client.get(f"/api/v1/jobs/{job_id}").json()
        if case.accept:
            assert status["status"] == "completed", (name, via, detail)
            reel = api.client.get(f"/api/v1/jobs/{job_id}/download")
            assert reel.status_code == 200 and reel.content[4:8] == b"ftyp"
            assert case.says in " ".join(detail["notes"]), (name, via, detail["notes"])
        else:
            assert status["status"] == "failed", (name, via, detail)
            assert_clear(detail["error"] or "", case)

    # Every refusal and failure is accounted for; nothing named inside a file was read.
    assert len(refused) + len(jobs) == sum(2 if c.name in TUS_SUBSET else 1 for c in cases)
    assert server.hits == [], server.hits
    assert not canary.was_read()
    canary.prove_detection_works()

    # The worker is healthy: no leftover uploads of refused files, and a normal job completes.
    assert api.client.get("/health").status_code == 200
    response = plain_upload(api.client, small_video, "after.mp4")
    assert response.status_code == 202, response.text
    final = wait_for(lambda: finished(response.json()["id"]), JOB_SECONDS, "the normal job")
    assert final["status"] == "completed", final
    kept = {p.parent.name for p in (api.services.settings.storage_dir / "uploads").rglob("*")}
    job_ids = {job_id for _, job_id in jobs.values()} | {response.json()["id"]}
    assert kept <= job_ids | {"uploads"}, "a refused upload left its file behind"
