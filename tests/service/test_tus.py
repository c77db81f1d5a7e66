"""Resumable uploads (tus 1.0) against the real app under uvicorn.

The real ``tuspy`` client does the uploads that must resume; httpx and a raw socket do the
protocol edges (412, 409, 460, 423, expiry, termination, cut-off PATCHes).
"""

from __future__ import annotations

import base64
import hashlib
import socket
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from tusclient import client as tus_client

from moments.service.api.tus_store import TusUploads, UploadBusy
from tests.helpers import files_under, wait_for

from .conftest_api import LiveApi

ENDPOINT = "/api/v1/uploads/"
TUS = {"Tus-Resumable": "1.0.0"}
CHUNK = {**TUS, "Content-Type": "application/offset+octet-stream"}


def metadata(**fields: str) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in fields.items())


def create(api: LiveApi, length: int, **fields: str) -> str:
    """A new upload's path (its Location)."""
    fields = {"filename": "clip.mp4", "duration": "4", **fields}
    response = api.client.post(
        ENDPOINT,
        headers={**TUS, "Upload-Length": str(length), "Upload-Metadata": metadata(**fields)},
    )
    assert response.status_code == 201, response.text
    return response.headers["location"]


def uploads_of(api: LiveApi) -> TusUploads:
    return api.server.config.app.state.tus_uploads


def offset(api: LiveApi, url: str) -> int:
    response = api.client.head(url, headers=TUS)
    assert response.status_code == 200
    return int(response.headers["upload-offset"])


def sha1_header(data: bytes) -> str:
    return "sha1 " + base64.b64encode(hashlib.sha1(data).digest()).decode()


def job_input(api: LiveApi, job_id: str) -> bytes:
    job = api.services.store.get(job_id)
    assert job is not None
    return api.services.storage.local_path(job.input_key).read_bytes()


def storage_files(api: LiveApi) -> list[Path]:
    return files_under(api.services.settings.storage_dir)


# -- discovery and version --------------------------------------------------------------------


def test_options_advertise_the_server(api):
    response = api.client.options(ENDPOINT)
    assert response.status_code == 204
    h = response.headers
    assert h["tus-version"] == "1.0.0"
    assert h["tus-resumable"] == "1.0.0"
    assert set(h["tus-extension"].split(",")) == {
        "creation",
        "creation-with-upload",
        "termination",
        "checksum",
        "expiration",
    }
    assert int(h["tus-max-size"]) == api.services.settings.max_upload_bytes
    assert h["tus-checksum-algorithm"] == "sha1"


@pytest.mark.parametrize("version", [None, "0.2.2", "2.0.0"])
def test_other_protocol_versions_get_412(api, version):
    url = create(api, 10)
    headers = {"Tus-Resumable": version} if version else {}
    for response in (
        api.client.post(ENDPOINT, headers={**headers, "Upload-Length": "10"}),
        api.client.head(url, headers=headers),
        api.client.patch(
            url,
            content=b"x",
            headers={**headers, "Upload-Offset": "0", "Content-Type": CHUNK["Content-Type"]},
        ),
        api.client.delete(url, headers=headers),
    ):
        assert response.status_code == 412
        assert response.headers["tus-version"] == "1.0.0"
    assert offset(api, url) == 0  # the refused PATCH wrote nothing


# -- creation --------------------------------------------------------------------------------


def test_creation_checks_options_and_size(api):
    def post(length: int, meta: str) -> httpx.Response:
        return api.client.post(
            ENDPOINT, headers={**TUS, "Upload-Length": str(length), "Upload-Metadata": meta}
        )

    bad_aspect = post(100, metadata(filename="a.mp4", aspect="4:3"))
    assert bad_aspect.status_code == 422
    assert bad_aspect.json()["errors"][0]["location"] == "aspect"
    assert post(100, metadata(duration="9999")).status_code == 422
    assert post(100, "filename !!notbase64").status_code == 400
    too_big = post(api.services.settings.max_upload_bytes + 1, "")
    assert too_big.status_code == 413
    assert post(0, "").status_code == 400
    assert api.client.post(ENDPOINT, headers=TUS).status_code == 400  # no Upload-Length
    assert list((api.services.settings.data_dir / "tus").iterdir()) == []

    url = create(api, 1234, aspect="9:16")
    head = api.client.head(url, headers=TUS)
    assert head.status_code == 200
    assert head.headers["cache-control"] == "no-store"
    assert head.headers["upload-offset"] == "0"
    assert head.headers["upload-length"] == "1234"
    assert "GMT" in head.headers["upload-expires"]
    info = uploads_of(api).get(url.rsplit("/", 1)[-1])
    assert info.options == {"duration": 4.0, "aspect": "9:16"}


# -- resuming with the real tuspy client ------------------------------------------------------


def test_tuspy_upload_stopped_after_two_chunks_resumes_to_an_identical_file(api, small_video):
    data = small_video.read_bytes()
    chunk = 8 * 1024
    assert len(data) > 4 * chunk
    client = tus_client.TusClient(api.base_url + ENDPOINT, headers=api.auth)
    meta = {"filename": "beach day.mp4", "duration": "4", "aspect": "1:1"}

    first = client.uploader(str(small_video), chunk_size=chunk, metadata=meta, upload_checksum=True)
    first.upload(stop_at=2 * chunk)  # the client gives up after two chunks
    url = first.url
    assert offset(api, url) == 2 * chunk
    assert api.services.store.list()[1] == 0  # no job until every byte is there
    # Partial bytes stay outside the job inputs.
    assert storage_files(api) == []
    assert (
        api.services.settings.data_dir / "tus" / url.rsplit("/", 1)[-1] / "data"
    ).stat().st_size == 2 * chunk

    second = client.uploader(str(small_video), url=url, chunk_size=chunk, upload_checksum=True)
    assert second.offset == 2 * chunk  # asked the server where to go on
    second.upload()
    job_id = second.request.response_headers["moments-job-id"]
    assert second.request.response_headers["location"] == f"/api/v1/jobs/{job_id}/status"

    assert job_input(api, job_id) == data
    job = api.services.store.get(job_id)
    assert job.filename == "beach day.mp4"
    assert job.options == {"duration": 4.0, "aspect": "1:1"}
    assert job.input_key.endswith(".mp4")
    # HEAD keeps naming the job for a client whose last response was lost.
    head = api.client.head(url, headers=TUS)
    assert head.headers["moments-job-id"] == job_id
    assert int(head.headers["upload-offset"]) == len(data)
    # The job really runs, like a plain upload's.
    done = wait_for(
        lambda: api.status(job_id)["status"] in {"completed", "failed"} and api.status(job_id),
        120,
        "the job to finish",
    )
    assert done["status"] == "completed", done


def test_patch_cut_off_by_disconnect_keeps_what_arrived(api, media_dir):
    """The network drops mid-PATCH: what reached the server stays, and tuspy resumes from it."""
    source = media_dir / "example.mp4"
    data = source.read_bytes()
    url = create(api, len(data))
    upload_id = url.rsplit("/", 1)[-1]
    uploads = uploads_of(api)
    sent = 1536 * 1024 + 123
    host, port = api.base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as sock:
        head = (
            f"PATCH {url} HTTP/1.1\r\nHost: {host}\r\nTus-Resumable: 1.0.0\r\n"
            f"Authorization: Bearer {api.api_key}\r\n"
            f"Content-Type: application/offset+octet-stream\r\nUpload-Offset: 0\r\n"
            f"Content-Length: {len(data)}\r\n\r\n"
        )
        sock.sendall(head.encode() + data[:sent])
        wait_for(lambda: offset(api, url) >= 1024 * 1024, 10, "the first megabyte to land")
        # Closing mid-body is the network dropping.

    def writer_gone() -> bool:
        try:
            with uploads.lock(upload_id, wait=0):
                return True
        except UploadBusy:
            return False

    wait_for(writer_gone, 10, "the interrupted PATCH to finish")
    kept = offset(api, url)
    assert 1024 * 1024 <= kept <= sent
    assert uploads.data_path(upload_id).read_bytes() == data[:kept]

    client = tus_client.TusClient(api.base_url + ENDPOINT, headers=api.auth)
    resumed = client.uploader(str(source), url=api.base_url + url, chunk_size=512 * 1024)
    assert resumed.offset == kept
    resumed.upload()
    job_id = resumed.request.response_headers["moments-job-id"]
    assert job_input(api, job_id) == data


# -- protocol errors --------------------------------------------------------------------------


def test_wrong_offset_is_409_and_changes_nothing(api):
    url = create(api, 100)
    first = api.client.patch(url, content=b"a" * 40, headers={**CHUNK, "Upload-Offset": "0"})
    assert first.status_code == 204 and first.headers["upload-offset"] == "40"
    data_file = uploads_of(api).data_path(url.rsplit("/", 1)[-1])
    for wrong in ("0", "39", "41", "100"):
        response = api.client.patch(
            url, content=b"b" * 10, headers={**CHUNK, "Upload-Offset": wrong}
        )
        assert response.status_code == 409
        assert response.headers["upload-offset"] == "40"
    assert offset(api, url) == 40
    assert data_file.read_bytes() == b"a" * 40
    over = api.client.patch(url, content=b"c" * 61, headers={**CHUNK, "Upload-Offset": "40"})
    assert over.status_code == 413
    assert data_file.read_bytes() == b"a" * 40
    wrong_type = api.client.patch(
        url, content=b"c", headers={**TUS, "Upload-Offset": "40", "Content-Type": "video/mp4"}
    )
    assert wrong_type.status_code == 415


def test_bad_checksum_is_460_and_the_chunk_is_discarded(api):
    url = create(api, 100)
    good = b"g" * 30
    ok = api.client.patch(
        url,
        content=good,
        headers={**CHUNK, "Upload-Offset": "0", "Upload-Checksum": sha1_header(good)},
    )
    assert ok.status_code == 204
    bad = api.client.patch(
        url,
        content=b"x" * 30,
        headers={**CHUNK, "Upload-Offset": "30", "Upload-Checksum": sha1_header(b"y" * 30)},
    )
    assert bad.status_code == 460
    assert offset(api, url) == 30
    assert uploads_of(api).data_path(url.rsplit("/", 1)[-1]).read_bytes() == good
    md5 = api.client.patch(
        url, content=b"x", headers={**CHUNK, "Upload-Offset": "30", "Upload-Checksum": "md5 AAAA"}
    )
    assert md5.status_code == 400


def test_concurrent_patches_are_serialised(api):
    """A PATCH holding the upload's lock mid-body shuts out others (423, which clients retry)."""
    url = create(api, 4 * 1024 * 1024)
    uploads = uploads_of(api)
    uploads.lock_wait = 0.3
    upload_id = url.rsplit("/", 1)[-1]
    release = threading.Event()
    body = b"A" * (3 * 1024 * 1024)

    def slow_body():
        yield body[: 1024 * 1024 + 1]
        release.wait(30)  # hold the request open, mid-body, until the test has checked
        yield body[1024 * 1024 + 1 :]

    results: dict[str, httpx.Response] = {}

    def send_slow():
        with httpx.Client(base_url=api.base_url, timeout=60, headers=api.auth) as c:
            results["slow"] = c.patch(
                url, content=slow_body(), headers={**CHUNK, "Upload-Offset": "0"}
            )

    thread = threading.Thread(target=send_slow)
    thread.start()
    try:
        # The first megabyte landed: the slow request is inside, holding the lock.
        wait_for(lambda: offset(api, url) > 0, 10, "the slow PATCH to start writing")
        rival = api.client.patch(url, content=b"B" * 10, headers={**CHUNK, "Upload-Offset": "0"})
        assert rival.status_code == 423
        at = str(offset(api, url))
        stale = api.client.patch(url, content=b"B" * 10, headers={**CHUNK, "Upload-Offset": at})
        assert stale.status_code == 423
        assert api.client.delete(url, headers=TUS).status_code == 423
    finally:
        release.set()
        thread.join(60)
    assert results["slow"].status_code == 204, results["slow"].text
    assert results["slow"].headers["upload-offset"] == str(len(body))
    assert uploads.data_path(upload_id).read_bytes() == body  # no byte of the rivals


def test_lock_holds_across_processes(api):
    url = create(api, 10)
    upload_id = url.rsplit("/", 1)[-1]
    uploads = uploads_of(api)
    uploads.lock_wait = 0.3
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys\n"
            "from moments.service.api.tus_store import TusUploads, UploadBusy\n"
            f"u = TusUploads({str(uploads.root)!r}, 60)\n"
            f"with u.lock({upload_id!r}):\n"
            "    print('locked', flush=True)\n"
            "    sys.stdin.readline()\n",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        blocked = api.client.patch(url, content=b"12345", headers={**CHUNK, "Upload-Offset": "0"})
        assert blocked.status_code == 423
        assert offset(api, url) == 0
    finally:
        holder.stdin.write("\n")
        holder.stdin.flush()
        holder.wait(10)
    assert holder.returncode == 0
    after = api.client.patch(url, content=b"12345", headers={**CHUNK, "Upload-Offset": "0"})
    assert after.status_code == 204 and after.headers["upload-offset"] == "5"


# -- lifecycle --------------------------------------------------------------------------------


def test_termination_removes_the_upload(api):
    url = create(api, 100)
    api.client.patch(url, content=b"z" * 10, headers={**CHUNK, "Upload-Offset": "0"})
    folder = uploads_of(api).folder(url.rsplit("/", 1)[-1])
    assert folder.is_dir()
    assert api.client.delete(url, headers=TUS).status_code == 204
    assert not folder.exists()
    assert api.client.head(url, headers=TUS).status_code == 404
    assert (
        api.client.patch(url, content=b"z", headers={**CHUNK, "Upload-Offset": "10"}).status_code
        == 404
    )
    assert api.client.delete(url, headers=TUS).status_code == 404


def test_abandoned_uploads_expire(api):
    stale_url = create(api, 100)
    api.client.patch(stale_url, content=b"s" * 10, headers={**CHUNK, "Upload-Offset": "0"})
    uploads = uploads_of(api)
    stale = uploads.get(stale_url.rsplit("/", 1)[-1])
    fresh_url = create(api, 100)
    expires_before = uploads.get(fresh_url.rsplit("/", 1)[-1]).expires
    patched = api.client.patch(fresh_url, content=b"f", headers={**CHUNK, "Upload-Offset": "0"})
    assert "GMT" in patched.headers["upload-expires"]
    assert uploads.get(fresh_url.rsplit("/", 1)[-1]).expires >= expires_before  # activity renews

    uploads.save(replace(stale, expires=time.time() - 1))  # as if a day had passed
    assert api.client.head(stale_url, headers=TUS).status_code == 410
    assert not uploads.folder(stale.id).exists()

    # Uploads nobody asks about again are swept when new uploads are created.
    other = uploads.get(fresh_url.rsplit("/", 1)[-1])
    uploads.save(replace(other, expires=time.time() - 1))
    uploads.last_purge = float("-inf")
    create(api, 5)
    assert not uploads.folder(other.id).exists()
    assert len(list(uploads.root.iterdir())) == 1


# -- becoming a job ---------------------------------------------------------------------------


def test_creation_with_upload_makes_the_job_at_once(api, small_video):
    data = small_video.read_bytes()
    response = api.client.post(
        ENDPOINT,
        content=data,
        headers={
            **CHUNK,
            "Upload-Length": str(len(data)),
            "Upload-Metadata": metadata(filename="whole.mp4"),
            "Upload-Checksum": sha1_header(data),
        },
    )
    assert response.status_code == 201, response.text
    assert response.headers["location"].startswith(ENDPOINT)
    assert response.headers["upload-offset"] == str(len(data))
    job_id = response.headers["moments-job-id"]
    assert response.headers["moments-job-status"] == f"/api/v1/jobs/{job_id}/status"
    assert job_input(api, job_id) == data
    assert (
        api.services.store.get(job_id).options["duration"] == api.services.settings.default_duration
    )
    # The partial file is gone once the job holds its own copy.
    assert not uploads_of(api).data_path(response.headers["location"].rsplit("/", 1)[-1]).exists()


def test_a_complete_upload_that_is_not_a_video_is_415_and_leaves_nothing(api):
    junk = b"this is a text file, not a video\n" * 100
    url = create(api, len(junk), filename="notes.mp4")
    response = api.client.patch(url, content=junk, headers={**CHUNK, "Upload-Offset": "0"})
    assert response.status_code == 415
    assert response.headers["content-type"] == "application/problem+json"
    assert "notes.mp4 is a text file, not a video" in response.json()["detail"]
    assert api.services.store.list()[1] == 0
    assert storage_files(api) == []
    assert api.client.head(url, headers=TUS).status_code == 404
