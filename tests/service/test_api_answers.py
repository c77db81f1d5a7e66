"""What an app needs in answers (issue 19): a finished job's reel (length, size, URLs) and
when it expires, in the list and the end event; an ETA from the start of processing; and a
per-job callback_url called with a signed job.completed."""

from __future__ import annotations

import io
import json
import threading
import time
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import av
import pytest

from moments.service.jobs.estimate import stage_plan
from moments.service.jobs.progress import ProgressWriter
from moments.service.notify.signing import verify
from tests.helpers import tus_create, wait_for

from .auth_helpers import other_user
from .test_api_flow import read_events

VIDEO = {"Content-Type": "video/mp4"}


class Receiver:
    """An HTTP server on 127.0.0.1 that keeps every POST it gets."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((dict(self.headers), body))
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/done"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    made = Receiver()
    yield made
    made.close()


def when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_finished_job_carries_its_reel_and_expiry_in_list_and_end_event(api, small_video):
    accepted = api.client.post(
        "/api/v1/upload?duration=3", content=small_video.read_bytes(), headers=VIDEO
    )
    assert accepted.status_code == 202, accepted.text
    job_id = accepted.json()["id"]
    name, end = read_events(api, job_id)[-1]
    assert name == "end" and end["status"] == "completed", end
    download = api.client.get(f"/api/v1/jobs/{job_id}/download")
    assert download.status_code == 200
    reel = end["reel"]
    assert reel["size_bytes"] == len(download.content)
    assert 1.0 <= reel["duration"] <= 6.0
    assert reel["download"] == f"/api/v1/jobs/{job_id}/download"
    assert reel["poster"] == f"/api/v1/jobs/{job_id}/poster"
    assert api.client.get(reel["poster"]).status_code == 200
    finished = when(api.client.get(f"/api/v1/jobs/{job_id}").json()["timings"]["finished_at"])
    retention = timedelta(hours=api.services.settings.retention_hours)
    assert when(end["expires_at"]) == finished + retention

    # How the reel is encoded, as an app deciding whether to download it on cellular needs:
    # the video's bits per second (what its bytes in the file say), codec and profile.
    with av.open(io.BytesIO(download.content)) as container:
        stream = container.streams.video[0]
        video_bytes = sum(p.size for p in container.demux(stream) if p.size)
        codec, profile = stream.codec_context.name, stream.codec_context.profile
    assert reel["bitrate"] == pytest.approx(video_bytes * 8 / reel["duration"], rel=0.1)
    assert (reel["codec"], reel["profile"]) == (codec, profile)
    assert api.client.get(f"/api/v1/jobs/{job_id}").json()["reel"] == reel

    listed = api.client.get("/api/v1/jobs").json()["items"]
    item = next(i for i in listed if i["id"] == job_id)
    assert item["reel"] == reel
    assert when(item["expires_at"]) == finished + retention


def test_unfinished_jobs_have_no_reel_or_expiry(api, heavy_video):
    accepted = api.client.post("/api/v1/upload", content=heavy_video.read_bytes(), headers=VIDEO)
    job_id = accepted.json()["id"]
    try:
        item = api.client.get("/api/v1/jobs").json()["items"][0]
        assert item["id"] == job_id and item["reel"] is None and item["expires_at"] is None
    finally:
        api.client.delete(f"/api/v1/jobs/{job_id}")


def test_eta_is_given_while_probing_and_analysing(api, heavy_video):
    accepted = api.client.post("/api/v1/upload", content=heavy_video.read_bytes(), headers=VIDEO)
    assert accepted.status_code == 202, accepted.text
    job_id = accepted.json()["id"]
    early: list[dict] = []
    deadline = time.monotonic() + 120
    try:
        with api.client.stream("GET", f"/api/v1/jobs/{job_id}/events") as response:
            for line in response.iter_lines():
                assert time.monotonic() < deadline, "no analysis seen"
                if not line.startswith("data: "):
                    continue
                status = json.loads(line[len("data: ") :])
                assert status["status"] in ("pending", "processing"), status
                if status["status"] == "processing" and status["stage"] in ("probe", "analyse"):
                    early.append(status)
                if status["stage"] not in ("queued", "probe", "analyse") or (
                    status["stage"] == "analyse" and status["progress"] >= 10
                ):
                    break
    finally:
        api.client.delete(f"/api/v1/jobs/{job_id}")  # cancel: the rest is not needed
    assert any(s["stage"] == "analyse" for s in early), early
    assert all(s["eta_seconds"] is not None and s["eta_seconds"] > 0 for s in early), early


def test_progress_writer_gives_an_eta_at_its_first_write(store, add_job, small_video):
    job = add_job(small_video)
    assert store.claim(job.id, "worker-1") is not None
    plan = stage_plan(20.0, 1280, 720, 10.0)
    writer = ProgressWriter(store, job.id, 0.1, plan)
    writer("probe", 0.0)
    assert store.get(job.id).eta_seconds == pytest.approx(sum(plan.values()), abs=0.1)
    writer("render", 0.5)
    left = plan["render"] / 2 + plan["saving"]
    assert 0 < store.get(job.id).eta_seconds <= 4 * left + 0.1


def _upload(client, style: str, data: bytes, callback_url: str):
    if style == "raw":
        return client.post(
            "/api/v1/upload", params={"callback_url": callback_url}, content=data, headers=VIDEO
        )
    if style == "multipart":
        return client.post(
            "/api/v1/upload",
            files={"file": ("clip.mp4", data, "video/mp4")},
            data={"callback_url": callback_url, "duration": "3"},
        )
    return tus_create(client, data, filename="clip.mp4", callback_url=callback_url)


@pytest.mark.parametrize("style", ["raw", "multipart", "tus"])
def test_callback_url_gets_a_signed_job_completed(
    settings, start_api, small_video, receiver, style
):
    # local mode: loopback receivers are allowed (webhook_allow_private unset)
    api = start_api(settings.model_copy(update={"outbox_interval": 0.05}))
    response = _upload(api.client, style, small_video.read_bytes(), receiver.url)
    assert response.status_code in (201, 202), response.text
    job_id = response.headers.get("Moments-Job-Id") or response.json()["id"]
    details = api.client.get(f"/api/v1/jobs/{job_id}").json()
    assert details["options"]["callback_url"] == receiver.url
    secret = details["callback_secret"]
    assert secret.startswith("cbsec_")
    if style == "raw":
        assert response.json()["callback_secret"] == secret

    wait_for(lambda: receiver.requests, 120, "the callback")
    headers, body = receiver.requests[0]
    assert verify(secret, body, headers["Moments-Signature"])
    assert headers["Moments-Event"] == "job.completed"
    payload = json.loads(body)
    assert payload["type"] == "job.completed"
    job = payload["data"]["job"]
    assert job["id"] == job_id and job["status"] == "completed"
    assert job["links"]["download"] == f"/api/v1/jobs/{job_id}/download"
    assert job["reel"]["size_bytes"] > 0
    reel = api.client.get(f"/api/v1/jobs/{job_id}").json()["reel"]
    assert {k: job["reel"][k] for k in ("bitrate", "codec", "profile")} == {
        k: reel[k] for k in ("bitrate", "codec", "profile")
    }
    # a job without a callback_url has no secret
    other = api.client.post("/api/v1/upload", content=small_video.read_bytes(), headers=VIDEO)
    assert other.json()["callback_secret"] is None
    api.client.delete(f"/api/v1/jobs/{other.json()['id']}")


@pytest.mark.parametrize("style", ["raw", "multipart", "tus"])
def test_private_callback_url_is_refused_in_accounts_mode(settings, start_api, small_video, style):
    api = start_api(settings.model_copy(update={"auth_mode": "accounts"}))
    _, client = other_user(api)
    response = _upload(client, style, small_video.read_bytes(), "http://127.0.0.1:9/done")
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"] == "urn:moments:problem:bad-callback-url"
    assert "not public" in problem["detail"]
    assert client.get("/api/v1/jobs").json()["total"] == 0
    not_http = _upload(client, style, b"", "ftp://example.com/x")
    assert not_http.status_code in (400, 422)


def test_openapi_documents_the_new_fields(api):
    schema = api.client.get("/openapi.json").json()
    components = schema["components"]["schemas"]
    assert "expires_at" in components["JobSummary"]["properties"]
    assert components["ReelOut"]["properties"]["size_bytes"]["description"]
    upload = schema["paths"]["/api/v1/upload"]["post"]
    names = {p["name"] for p in upload["parameters"]}
    assert "callback_url" in names
    assert components["UploadAccepted"]["properties"]["callback_secret"]["description"]
