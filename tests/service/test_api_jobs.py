"""Listing, status, details and deletion of jobs (rows written straight to the real database)."""

from __future__ import annotations

import time
from datetime import timedelta

from moments.service.db.models import utcnow
from tests.helpers import wait_for

from .conftest_api import add_completed_job, insert_finished_job


def test_list_is_newest_first_paginated_and_filtered(api):
    start = utcnow() - timedelta(hours=1)
    statuses = ["completed", "failed", "completed", "cancelled", "completed"]
    ids = [
        insert_finished_job(api.services, status, created_at=start + timedelta(minutes=i)).id
        for i, status in enumerate(statuses)
    ]
    newest_first = ids[::-1]

    page1 = api.client.get("/api/v1/jobs?limit=2").json()
    assert page1["total"] == 5
    assert [j["id"] for j in page1["items"]] == newest_first[:2]
    assert page1["next"] == "/api/v1/jobs?limit=2&offset=2"
    page2 = api.client.get(page1["next"]).json()
    assert [j["id"] for j in page2["items"]] == newest_first[2:4]
    page3 = api.client.get(page2["next"]).json()
    assert [j["id"] for j in page3["items"]] == newest_first[4:]
    assert page3["next"] is None

    completed = api.client.get("/api/v1/jobs?status=completed&limit=2").json()
    assert completed["total"] == 3
    assert all(j["status"] == "completed" for j in completed["items"])
    assert completed["next"] == "/api/v1/jobs?limit=2&offset=2&status=completed"
    failed = api.client.get("/api/v1/jobs?status=failed").json()
    assert [j["id"] for j in failed["items"]] == [ids[1]]
    assert api.client.get("/api/v1/jobs?status=pending").json() == {
        "items": [],
        "total": 0,
        "limit": 20,
        "offset": 0,
        "next": None,
    }


def test_status_of_a_failed_job_carries_the_error(api):
    job = insert_finished_job(api.services, "failed")
    body = api.status(job.id)
    assert body["status"] == "failed"
    assert body["error"] == "could not decode the video"
    assert body["eta_seconds"] is None


def test_details_show_options_timings_segments_and_links(api, media_dir):
    segments = [
        {
            "source_start": 3.0,
            "source_end": 6.5,
            "output_start": 0.0,
            "score": 0.91,
            "signals": {"motion": 0.8, "audio": 0.95},
            "reason": "loud crowd + fast motion",
            "duration": 3.5,
            "focus": [0.4, 0.5],
        }
    ]
    job = insert_finished_job(
        api.services,
        result={
            "duration": 3.5,
            "width": 1280,
            "height": 720,
            "input": {"path": "/secret/scratch/source.mp4", "duration": 42.0, "width": 1280},
            "segments": segments,
            "timings": {"analyse": 3.2, "render": 1.1},
        },
        output_key="reels/x/reel.mp4",
        poster_key="reels/x/poster.jpg",
        started_at=utcnow() - timedelta(seconds=20),
    )
    body = api.client.get(f"/api/v1/jobs/{job.id}").json()
    assert body["status"] == "completed"
    assert body["reel"] == {
        "duration": 3.5,
        "width": 1280,
        "height": 720,
        "size_bytes": None,  # not recorded for this row
        "bitrate": None,  # nor its encoding (reels made before it was reported)
        "codec": None,
        "profile": None,
        "download": f"/api/v1/jobs/{job.id}/download",
        "poster": f"/api/v1/jobs/{job.id}/poster",
    }
    assert body["input"] == {"duration": 42.0, "width": 1280}  # no server paths
    assert body["segments"][0]["reason"] == "loud crowd + fast motion"
    assert body["segments"][0]["score"] == 0.91
    assert body["timings"]["stages"] == {"analyse": 3.2, "render": 1.1}
    assert 19 <= body["timings"]["processing_seconds"] <= 21
    assert body["links"]["download"] == f"/api/v1/jobs/{job.id}/download"
    assert body["links"]["poster"] == f"/api/v1/jobs/{job.id}/poster"
    assert "/secret" not in api.client.get(f"/api/v1/jobs/{job.id}").text


def test_deleting_a_finished_job_removes_it_and_its_files(api, media_dir):
    job = add_completed_job(api.services, media_dir / "testsrc.mp4")
    storage = api.services.storage
    assert storage.exists(job.output_key) and storage.exists(job.input_key)
    response = api.client.delete(f"/api/v1/jobs/{job.id}")
    assert response.status_code == 204
    assert api.client.get(f"/api/v1/jobs/{job.id}/status").status_code == 404
    for key in (job.input_key, job.output_key, job.poster_key):
        assert not storage.exists(key)
    assert api.client.delete(f"/api/v1/jobs/{job.id}").status_code == 404


def test_event_stream_stops_polling_when_the_client_leaves(api):
    # A job another worker holds (live lease): it stays "processing" for the whole test.
    job = insert_finished_job(
        api.services,
        "processing",
        progress=40.0,
        stage="analyse",
        message="Looking for the best moments",
        worker_id="elsewhere",
        lease_until=utcnow() + timedelta(hours=1),
        finished_at=None,
    )
    store = api.services.store
    polls: list[float] = []
    real_get = store.get

    def counting_get(job_id):  # the real read, counted
        polls.append(time.monotonic())
        return real_get(job_id)

    store.get = counting_get
    try:
        with api.client.stream("GET", f"/api/v1/jobs/{job.id}/events") as response:
            lines = response.iter_lines()
            first = next(line for line in lines if line.startswith("data: "))
            assert '"progress":40.0' in first and '"stage":"analyse"' in first
            wait_for(lambda: len(polls) >= 3, 5, "the stream to keep polling")
        # The client has gone: within a couple of poll intervals the server stops reading.
        left = time.monotonic()
        wait_for(lambda: time.monotonic() - polls[-1] > 1.5, 10, "polling to stop")
        assert polls[-1] - left < 1.5
    finally:
        store.get = real_get
