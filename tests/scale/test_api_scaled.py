"""The real API on the scaled-out stack: PostgreSQL, Celery workers on Redis, S3 storage.

moto's server on loopback stands in for S3. The upload streams into S3 (multipart), a Celery
worker makes the reel, and the download is a 307 to a presigned URL that serves ranges.
"""

from __future__ import annotations

import av

from moments.service.jobs.celery_dispatch import CeleryDispatcher
from moments.service.storage.s3 import S3Storage
from tests.helpers import wait_for


def test_upload_process_and_download_by_presigned_redirect(
    celery_settings, start_worker, start_api, media_dir, tmp_path
):
    start_worker(celery_settings, name="api")
    api = start_api(celery_settings)
    assert isinstance(api.services.dispatcher, CeleryDispatcher)
    assert isinstance(api.services.storage, S3Storage)

    ready = api.client.get("/ready")
    assert ready.status_code == 200, ready.text

    source = (media_dir / "man-on-green-screen.mp4").read_bytes()
    response = api.client.post(
        "/api/v1/upload?duration=4",
        content=source,
        headers={"Content-Type": "video/mp4", "X-Filename": "green.mp4"},
    )
    assert response.status_code == 202, response.text
    job_id = response.json()["id"]
    storage: S3Storage = api.services.storage
    uploads = storage.list(f"uploads/{job_id}")
    assert len(uploads) == 1 and storage.size(uploads[0]) == len(source)  # stored in S3

    wait_for(lambda: api.status(job_id)["status"] in ("completed", "failed"), 60, "the reel")
    assert api.status(job_id)["status"] == "completed", api.status(job_id)

    redirect = api.client.get(f"/api/v1/jobs/{job_id}/download")
    assert redirect.status_code == 307
    location = redirect.headers["location"]
    assert location.startswith(celery_settings.s3_endpoint_url) and "X-Amz-Signature" in location
    with api.client.stream("GET", location) as whole:
        reel = whole.read()
    assert whole.status_code == 200 and whole.headers["content-type"] == "video/mp4"
    assert "green highlights.mp4" in whole.headers["content-disposition"]
    part = api.client.get(location, headers={"Range": "bytes=100-1099"})
    assert part.status_code == 206 and part.content == reel[100:1100]

    path = tmp_path / "reel.mp4"
    path.write_bytes(reel)
    with av.open(str(path)) as container:
        assert 3.5 < container.duration / 1e6 < 4.5

    poster = api.client.get(f"/api/v1/jobs/{job_id}/poster", follow_redirects=True)
    assert poster.status_code == 200 and poster.content[:3] == b"\xff\xd8\xff"  # JPEG

    # Readiness checks the broker; the queue is drained, nothing is running.
    workers = api.client.get("/ready").json()["checks"]["workers"]
    assert workers["ok"] and workers["queue"] == "celery"
    assert (workers["broker_messages"], workers["queued"], workers["busy"]) == (0, 0, 0)
