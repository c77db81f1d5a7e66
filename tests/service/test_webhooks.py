"""Webhooks: a real receiver on loopback checks the signature; failures are retried with
growing waits; the delivery log tells what happened."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from moments.service.notify.signing import sign, verify
from tests.helpers import wait_for

from .auth_helpers import other_user


class Receiver:
    """An HTTP server on loopback that fails the first ``failures`` requests with 500."""

    def __init__(self, failures: int = 0):
        self.failures = failures
        self.requests: list[tuple[float, dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((time.monotonic(), dict(self.headers), body))
                failing = len(receiver.requests) <= receiver.failures
                self.send_response(500 if failing else 204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    created: list[Receiver] = []

    def make(failures: int = 0) -> Receiver:
        created.append(Receiver(failures))
        return created[-1]

    yield make
    for r in created:
        r.close()


@pytest.fixture
def hook_api(settings, start_api):
    return start_api(
        settings.model_copy(
            update={
                "outbox_interval": 0.05,
                "webhook_backoff_seconds": 0.3,
                "webhook_max_attempts": 4,
            }
        )
    )


def test_signature_round_trip_and_tampering():
    body = b'{"type":"job.completed"}'
    header = sign("whsec_x", body, timestamp=1_700_000_000)
    assert header.startswith("t=1700000000,v1=")
    assert verify("whsec_x", body, header, now=1_700_000_010)
    assert not verify("whsec_x", body + b" ", header, now=1_700_000_010)
    assert not verify("whsec_y", body, header, now=1_700_000_010)
    assert not verify("whsec_x", body, header, now=1_700_000_000 + 3600)  # replayed late
    assert not verify("whsec_x", body, "v1=abc", now=1_700_000_010)


def test_completed_job_is_delivered_signed(hook_api, receiver, small_video):
    target = receiver()
    created = hook_api.client.post("/api/v1/webhooks", json={"url": target.url})
    assert created.status_code == 201, created.text
    hook = created.json()
    assert hook["secret"].startswith("whsec_")
    assert hook["events"] == ["job.completed", "job.failed"]
    assert hook_api.client.get("/api/v1/webhooks").json()[0]["secret"] is None

    upload = hook_api.client.post(
        "/api/v1/upload",
        content=small_video.read_bytes(),
        headers={"Content-Type": "video/mp4", "X-Filename": "beach.mp4"},
    )
    job_id = upload.json()["id"]
    wait_for(lambda: target.requests, 90, "the webhook call")
    _, headers, body = target.requests[0]
    assert verify(hook["secret"], body, headers["Moments-Signature"])
    event = json.loads(body)
    assert event["type"] == "job.completed" and headers["Moments-Event"] == "job.completed"
    assert event["data"]["job"]["id"] == job_id
    assert event["data"]["job"]["filename"] == "beach.mp4"
    assert event["data"]["job"]["links"]["download"] == f"/api/v1/jobs/{job_id}/download"
    assert "input_key" not in body.decode() and "/files/" not in body.decode()

    log = hook_api.client.get(f"/api/v1/webhooks/{hook['id']}/deliveries").json()
    assert len(log) == 1
    assert log[0]["status"] == "succeeded" and log[0]["attempts"] == 1
    assert log[0]["last_error"] is None and log[0]["id"] == headers["Moments-Delivery"]
    assert "last_status_code" not in log[0]  # the receiver's answer is never reported


def test_failures_are_retried_with_backoff_then_succeed(hook_api, receiver):
    target = receiver(failures=2)
    hook = hook_api.client.post(
        "/api/v1/webhooks", json={"url": target.url, "events": ["job.failed"]}
    ).json()
    store = hook_api.services.store
    job = store.create(
        input_key="uploads/none/source.mp4", filename="broken.mov", input_size=1, options={},
        owner_id=hook_api.user_id,
    )  # fmt: skip
    assert store.fail(job.id, "could not decode the video")
    wait_for(lambda: len(target.requests) >= 3, 20, "three attempts")
    times = [t for t, _, _ in target.requests]
    first_wait, second_wait = times[1] - times[0], times[2] - times[1]
    assert first_wait >= 0.3 * 0.9 and second_wait >= 0.6 * 0.9  # doubling waits
    assert second_wait > first_wait
    bodies = {body for _, _, body in target.requests}
    for _, headers, body in target.requests:  # each attempt signed afresh
        assert verify(hook["secret"], body, headers["Moments-Signature"])
    assert json.loads(next(iter(bodies)))["data"]["job"]["error"] == "could not decode the video"

    def succeeded():
        log = hook_api.client.get(f"/api/v1/webhooks/{hook['id']}/deliveries").json()
        return log if log and log[0]["status"] == "succeeded" else None

    log = wait_for(succeeded, 10, "the delivery to be logged")
    assert log[0]["attempts"] == 3 and log[0]["event"] == "job.failed"


def test_gives_up_after_max_attempts(hook_api, receiver):
    target = receiver(failures=100)
    hook = hook_api.client.post("/api/v1/webhooks", json={"url": target.url}).json()
    store = hook_api.services.store
    job = store.create(input_key="k", filename="x.mp4", input_size=1, options={},
                       owner_id=hook_api.user_id)  # fmt: skip
    store.fail(job.id, "bad")

    def failed():
        log = hook_api.client.get(f"/api/v1/webhooks/{hook['id']}/deliveries").json()
        return log if log and log[0]["status"] == "failed" else None

    log = wait_for(failed, 30, "the delivery to give up")
    assert log[0]["attempts"] == 4
    # Success or failure, in a sentence: never the receiver's status code or body.
    assert log[0]["last_error"] == "The receiver did not accept the notification."
    assert "last_status_code" not in log[0] and "500" not in json.dumps(log[0])
    assert len(target.requests) == 4


def test_other_users_jobs_do_not_reach_my_webhook_and_hooks_are_private(hook_api, receiver):
    target = receiver()
    hook = hook_api.client.post("/api/v1/webhooks", json={"url": target.url}).json()
    mallory_user, mallory = other_user(hook_api)
    assert mallory.get(f"/api/v1/webhooks/{hook['id']}/deliveries").status_code == 404
    assert mallory.delete(f"/api/v1/webhooks/{hook['id']}").status_code == 404
    assert mallory.get("/api/v1/webhooks").json() == []
    store = hook_api.services.store
    theirs = store.create(input_key="k", filename="t.mp4", input_size=1, options={},
                          owner_id=mallory_user.id)  # fmt: skip
    store.fail(theirs.id, "bad")
    mine = store.create(input_key="k", filename="m.mp4", input_size=1, options={},
                        owner_id=hook_api.user_id)  # fmt: skip
    store.fail(mine.id, "bad")
    wait_for(lambda: target.requests, 10, "my delivery")
    ids = {json.loads(b)["data"]["job"]["id"] for _, _, b in target.requests}
    assert ids == {mine.id}
    assert hook_api.client.delete(f"/api/v1/webhooks/{hook['id']}").status_code == 204
    assert hook_api.client.get("/api/v1/webhooks").json() == []


def test_webhook_urls_are_checked(settings, start_api):
    api = start_api(settings.model_copy(update={"auth_mode": "accounts"}))
    from .auth_helpers import client_for, sign_up

    client = client_for(api, sign_up(api, "w@example.com")["access_token"])
    for url in ("ftp://example.com/x", "http://user:pw@example.com/", "http://127.0.0.1:9/",
                "http://10.0.0.1/hook", "http://localhost/hook"):  # fmt: skip
        response = client.post("/api/v1/webhooks", json={"url": url})
        assert response.status_code == 422, url
        assert response.json()["type"] == "urn:moments:problem:bad-webhook-url"
