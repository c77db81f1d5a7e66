"""End to end through a real uvicorn, the embedded worker pool and the real engine:
upload (both styles) -> progress -> reel download, and cancelling work in flight."""

from __future__ import annotations

import io
import itertools
import json
import time
from pathlib import Path

import av

from tests.helpers import wait_for

from .conftest_api import LiveApi

FINISHED = {"completed", "failed", "cancelled"}
JOB_TIMEOUT = 120.0


def read_events(api: LiveApi, job_id: str) -> list[tuple[str, dict]]:
    """All SSE events of a job until the server ends the stream."""
    events: list[tuple[str, dict]] = []
    name = "message"
    deadline = time.monotonic() + JOB_TIMEOUT
    with api.client.stream("GET", f"/api/v1/jobs/{job_id}/events") as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            assert time.monotonic() < deadline, "event stream did not end"
            if line.startswith("event: "):
                name = line[len("event: ") :]
            elif line.startswith("data: "):
                events.append((name, json.loads(line[len("data: ") :])))
                name = "message"
    return events


def poll_until_finished(api: LiveApi, job_id: str) -> list[dict]:
    seen: list[dict] = []

    def finished() -> bool:
        seen.append(api.status(job_id))
        return seen[-1]["status"] in FINISHED

    wait_for(finished, JOB_TIMEOUT, f"job {job_id} to finish", every=0.2)
    return seen


def assert_is_reel(data: bytes, max_seconds: float) -> float:
    with av.open(io.BytesIO(data)) as container:
        video = container.streams.video[0]
        assert video.codec_context.name == "h264"
        frames = sum(1 for _ in container.decode(video))
        seconds = float(container.duration / av.time_base)
    assert frames > 10
    assert 0.5 < seconds <= max_seconds * 1.05 + 0.1
    return seconds


def test_multipart_upload_streams_progress_then_serves_the_reel(api, small_video):
    response = api.client.post(
        "/api/v1/upload",
        files={"file": ("clip.mp4", small_video.read_bytes(), "video/mp4")},
        data={"duration": "3"},
    )
    assert response.status_code == 202, response.text
    job_id = response.json()["id"]

    events = read_events(api, job_id)
    statuses = [data for name, data in events if name == "status"]
    progress = [s["progress"] for s in statuses]
    assert progress == sorted(progress), f"progress went backwards: {progress}"
    assert events[-1][0] == "end"
    final = events[-1][1]
    assert final["status"] == "completed", final
    assert final["progress"] == 100
    assert len(statuses) >= 2  # at least one intermediate state, then completion
    assert all(a != b for a, b in itertools.pairwise(statuses)), "an event repeated a state"

    detail = api.client.get(f"/api/v1/jobs/{job_id}").json()
    assert detail["segments"] and all(s["reason"] for s in detail["segments"])
    assert detail["input"]["width"] == 320 and detail["input"]["duration"] > 5.5
    assert detail["reel"]["duration"] <= 3 * 1.05

    reel = api.client.get(detail["links"]["download"])
    assert reel.status_code == 200
    assert reel.headers["content-type"] == "video/mp4"
    assert_is_reel(reel.content, 3)
    part = api.client.get(detail["links"]["download"], headers={"Range": "bytes=1000-4999"})
    assert part.status_code == 206
    assert part.content == reel.content[1000:5000]


def test_raw_upload_as_ios_sends_it_to_a_reel_and_poster(api, small_video):
    response = api.client.post(
        "/api/v1/upload?duration=4&aspect=9:16",
        content=small_video.read_bytes(),
        headers={"Content-Type": "video/mp4", "X-Filename": "IMG_0001.MP4"},
    )
    assert response.status_code == 202, response.text
    job_id = response.json()["id"]

    seen = poll_until_finished(api, job_id)
    progress = [s["progress"] for s in seen]
    assert progress == sorted(progress), f"progress went backwards: {progress}"
    assert seen[-1]["status"] == "completed", seen[-1]

    head = api.client.head(f"/api/v1/jobs/{job_id}/download")
    assert head.headers["accept-ranges"] == "bytes"
    assert 'filename="IMG_0001 highlights.mp4"' in head.headers["content-disposition"]
    reel = api.client.get(f"/api/v1/jobs/{job_id}/download").content
    assert len(reel) == int(head.headers["content-length"])
    assert_is_reel(reel, 4)
    with av.open(io.BytesIO(reel)) as container:
        cc = container.streams.video[0].codec_context
        assert cc.width < cc.height  # 9:16 as asked
    poster = api.client.get(f"/api/v1/jobs/{job_id}/poster")
    assert poster.status_code == 200 and poster.content[:2] == b"\xff\xd8"


def test_cancel_stops_running_work_and_pending_jobs(api, media_dir, heavy_video):
    def upload(source: Path) -> str:
        response = api.client.post(
            "/api/v1/upload?duration=20",
            content=source.read_bytes(),
            headers={"Content-Type": "video/mp4"},
        )
        assert response.status_code == 202, response.text
        return response.json()["id"]

    running = upload(heavy_video)  # a full-length reel of it: busy whatever the engine's speed
    queued = upload(media_dir / "man-on-green-screen.mp4")  # one worker: this one waits
    wait_for(
        lambda: api.status(running)["progress"] > 2,
        JOB_TIMEOUT,
        "the first job to be well into processing",
    )

    # Requests are answered at once while a video is being processed.
    latencies = []
    for _ in range(10):
        t0 = time.perf_counter()
        assert api.client.get(f"/api/v1/jobs/{running}/status").status_code == 200
        latencies.append(time.perf_counter() - t0)
    assert max(latencies) < 0.5, latencies

    assert api.status(queued)["status"] == "pending"
    cancelled = api.client.delete(f"/api/v1/jobs/{queued}")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"

    t0 = time.monotonic()
    response = api.client.delete(f"/api/v1/jobs/{running}")
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    wait_for(lambda: api.services.dispatcher.stats()["busy"] == 0, 5, "the worker slot to free")
    stopped_after = time.monotonic() - t0
    assert stopped_after < 2.0, f"work stopped {stopped_after:.2f}s after cancel"

    for job_id in (running, queued):
        body = api.status(job_id)
        assert body["status"] == "cancelled"
        problem = api.client.get(f"/api/v1/jobs/{job_id}/download")
        assert problem.status_code == 409
        assert problem.json()["job_status"] == "cancelled"
    assert api.services.store.get(queued).attempts == 0  # never started
    events = read_events(api, running)  # a finished job's stream ends at once
    assert events[-1] == ("end", events[-2][1])
    assert events[-1][1]["status"] == "cancelled"


def test_a_reel_shorter_than_asked_says_why_in_the_end_event_and_details(api, media_dir):
    # example.mp4: 18 s of talk, then silence over a plain card. 30 s asked: the talk alone.
    response = api.client.post(
        "/api/v1/upload?duration=30",
        content=(media_dir / "example.mp4").read_bytes(),
        headers={"Content-Type": "video/mp4", "X-Filename": "talk.mp4"},
    )
    assert response.status_code == 202, response.text
    job_id = response.json()["id"]
    name, final = read_events(api, job_id)[-1]
    assert (name, final["status"]) == ("end", "completed"), final
    (note,) = final["notes"]
    assert note.startswith("Only ") and "rather than 30 s" in note
    detail = api.client.get(f"/api/v1/jobs/{job_id}").json()
    assert detail["notes"] == [note]
    assert detail["reel"]["duration"] < 25
    assert all("talk" in s["reason"] for s in detail["segments"]), detail["segments"]
