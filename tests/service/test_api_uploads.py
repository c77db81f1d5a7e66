"""Uploads: both request styles, size cap (413), content-based refusal (415), option validation,
bounded memory, and that nothing short of a complete, readable video becomes a job."""

from __future__ import annotations

import socket
import tracemalloc
from pathlib import Path

import pytest

from moments.service.api import intake
from tests.helpers import files_under, wait_for

from .conftest_api import LiveApi

PROBLEM = "application/problem+json"


def stored_files(api: LiveApi) -> list[Path]:
    """Every file under the storage root, temporary ``.part`` files included."""
    return files_under(api.services.settings.storage_dir)


def job_count(api: LiveApi) -> int:
    return api.client.get("/api/v1/jobs").json()["total"]


def assert_nothing_kept(api: LiveApi) -> None:
    assert job_count(api) == 0
    assert stored_files(api) == []


# -- accepted uploads -------------------------------------------------------------------------


def test_raw_upload_is_stored_and_queued(api, small_video):
    data = small_video.read_bytes()
    response = api.client.post(
        "/api/v1/upload?duration=4&aspect=9:16",
        content=data,
        headers={"Content-Type": "video/quicktime", "X-Filename": "IMG_0042.MOV"},
    )
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["options"] == {"duration": 4.0, "aspect": "9:16"}
    assert body["filename"] == "IMG_0042.MOV"
    assert body["size_bytes"] == len(data)
    assert body["estimated_seconds"] > 0
    assert response.headers["location"] == body["links"]["status"]
    job = api.services.store.get(body["id"])
    assert job is not None and job.input_key == f"uploads/{job.id}/source.mov"
    assert api.services.storage.local_path(job.input_key).read_bytes() == data
    assert api.client.get(body["links"]["status"]).json()["status"] in {
        "pending",
        "processing",
        "completed",
    }


def test_multipart_upload_with_fields_after_the_file(api, small_video):
    data = small_video.read_bytes()
    response = api.client.post(
        "/api/v1/upload",
        files={"file": ("beach day.mp4", data, "video/mp4")},
        data={"duration": "5", "aspect": "1:1"},
    )
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["options"] == {"duration": 5.0, "aspect": "1:1"}
    assert body["filename"] == "beach day.mp4"
    job = api.services.store.get(body["id"])
    assert api.services.storage.local_path(job.input_key).read_bytes() == data


def test_defaults_come_from_settings(settings, start_api, small_video):
    api = start_api(settings.model_copy(update={"default_duration": 7.5}))
    response = api.client.post(
        "/api/v1/upload", content=small_video.read_bytes(), headers={"Content-Type": "video/mp4"}
    )
    assert response.json()["options"] == {"duration": 7.5, "aspect": "source"}
    assert response.json()["filename"] == "video.bin"  # no name given: a neutral one


def test_raw_filename_from_content_disposition_utf8(api, small_video):
    response = api.client.post(
        "/api/v1/upload",
        content=small_video.read_bytes(),
        headers={
            "Content-Type": "application/octet-stream",
            "Content-Disposition": "attachment; filename*=UTF-8''f%C3%AAte%20%C3%A0%20Paris.mp4",
        },
    )
    assert response.status_code == 202
    assert response.json()["filename"] == "fête à Paris.mp4"


def test_multipart_filename_path_is_reduced_to_a_name(api, small_video):
    response = api.client.post(
        "/api/v1/upload",
        files={"file": ("../../etc/C:\\Users\\me\\clip.mp4", small_video.read_bytes())},
    )
    assert response.status_code == 202
    assert response.json()["filename"] == "clip.mp4"


# -- size cap -----------------------------------------------------------------------------------


@pytest.fixture
def tiny(settings, start_api) -> LiveApi:
    return start_api(settings.model_copy(update={"max_upload_bytes": 64 * 1024}))


def test_too_large_by_content_length_is_refused_before_the_body(tiny):
    # Declare 1 GB but send none of it: the answer must come without waiting for the body.
    port = int(tiny.base_url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(
            b"POST /api/v1/upload HTTP/1.1\r\nHost: x\r\nContent-Type: video/mp4\r\n"
            + f"Authorization: Bearer {tiny.api_key}\r\n".encode()
            + b"Content-Length: 1000000000\r\n\r\n"
        )
        reply = sock.recv(65536).decode()
    assert reply.startswith("HTTP/1.1 413")
    assert PROBLEM in reply
    assert_nothing_kept(tiny)


def test_too_large_streamed_body_stops_at_the_cap_and_keeps_nothing(tiny):
    sent = 0

    def body():
        nonlocal sent
        for _ in range(16):  # 1 MiB, chunked: no Content-Length to refuse it by
            sent += 65536
            yield b"\0" * 65536

    response = tiny.client.post(
        "/api/v1/upload", content=body(), headers={"Content-Type": "video/mp4"}
    )
    assert response.status_code == 413
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["max_bytes"] == 64 * 1024
    assert_nothing_kept(tiny)


def test_too_large_multipart_is_413(tiny, small_video):
    assert small_video.stat().st_size > 64 * 1024
    response = tiny.client.post(
        "/api/v1/upload", files={"file": ("a.mp4", small_video.read_bytes())}
    )
    assert response.status_code == 413
    assert "64 KiB" in response.json()["detail"]
    assert_nothing_kept(tiny)


# -- not a video we accept --------------------------------------------------------------------


@pytest.mark.parametrize("style", ["raw", "multipart"])
def test_text_file_named_mp4_is_415(api, style):
    text = b"Just some notes, not a video at all.\n" * 100
    if style == "raw":
        response = api.client.post(
            "/api/v1/upload",
            content=text,
            headers={"Content-Type": "video/mp4", "X-Filename": "notes.mp4"},
        )
    else:
        response = api.client.post(
            "/api/v1/upload", files={"file": ("notes.mp4", text, "video/mp4")}
        )
    assert response.status_code == 415
    body = response.json()
    assert body["type"] == "urn:moments:problem:unsupported-media"
    assert "notes.mp4" in body["detail"] and "MP4/MOV" in body["detail"]
    assert "mp4" in body["extensions"]
    assert_nothing_kept(api)


@pytest.mark.parametrize("name", ["aac.m4a", "mono.mp3"])
def test_audio_only_file_is_415(api, media_dir, name):
    response = api.client.post(
        "/api/v1/upload", files={"file": (name, (media_dir / name).read_bytes(), "video/mp4")}
    )
    assert response.status_code == 415
    assert "no video" in response.json()["detail"]
    assert_nothing_kept(api)


def test_unsupported_request_type_is_415(api):
    response = api.client.post(
        "/api/v1/upload", content=b"hello", headers={"Content-Type": "text/plain"}
    )
    assert response.status_code == 415
    assert "multipart/form-data" in response.json()["detail"]
    assert_nothing_kept(api)


# -- invalid requests ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "location"),
    [("duration=0.5", "duration"), ("duration=999", "duration"), ("aspect=4:3", "query.aspect")],
)
def test_bad_query_options_are_422_before_the_body(api, small_video, query, location):
    response = api.client.post(
        f"/api/v1/upload?{query}",
        content=small_video.read_bytes(),
        headers={"Content-Type": "video/mp4"},
    )
    assert response.status_code == 422
    body = response.json()
    assert body["type"] == "urn:moments:problem:validation-error"
    assert body["errors"][0]["location"] == location
    assert_nothing_kept(api)


@pytest.mark.parametrize(
    ("fields", "location"),
    [({"duration": "long"}, "body.duration"), ({"aspect": "square"}, "aspect")],
)
def test_bad_form_options_are_422(api, small_video, fields, location):
    response = api.client.post(
        "/api/v1/upload", files={"file": ("a.mp4", small_video.read_bytes())}, data=fields
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["location"] == location
    assert_nothing_kept(api)


def test_form_without_file_is_422(api):
    response = api.client.post(
        "/api/v1/upload", files={"video": ("a.mp4", b"data")}, data={"duration": "5"}
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["location"] == "body.file"
    assert_nothing_kept(api)


def test_empty_upload_is_400(api):
    response = api.client.post("/api/v1/upload", content=b"", headers={"Content-Type": "video/mp4"})
    assert response.status_code == 400
    assert response.json()["type"] == "urn:moments:problem:empty-upload"
    assert_nothing_kept(api)


def test_truncated_multipart_is_400(api):
    body = b'--XYZ\r\nContent-Disposition: form-data; name="file"; filename="a.mp4"\r\n\r\n' + (
        b"x" * 1000
    )
    response = api.client.post(
        "/api/v1/upload",
        content=body,
        headers={"Content-Type": "multipart/form-data; boundary=XYZ"},
    )
    assert response.status_code == 400
    assert response.headers["content-type"] == PROBLEM
    assert_nothing_kept(api)


# -- interrupted uploads and memory -----------------------------------------------------------


def test_aborted_upload_never_becomes_a_job(api):
    port = int(api.base_url.rsplit(":", 1)[1])
    part_files = lambda: [p for p in stored_files(api) if p.name.endswith(".part")]  # noqa: E731
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        sock.sendall(
            b"POST /api/v1/upload HTTP/1.1\r\nHost: x\r\nContent-Type: video/mp4\r\n"
            + f"Authorization: Bearer {api.api_key}\r\n".encode()
            + b"X-Filename: big.mp4\r\nContent-Length: 8388608\r\n\r\n"
        )
        sock.sendall(b"\0" * (3 * intake.FLUSH_BYTES))  # enough to be written to storage
        wait_for(part_files, 10, "the partial upload to reach storage")
    finally:
        sock.close()  # the client goes away mid-upload
    wait_for(lambda: not part_files(), 10, "the partial upload to be removed")
    assert_nothing_kept(api)


@pytest.mark.parametrize("style", ["raw", "multipart"])
def test_memory_stays_bounded_while_streaming_a_large_upload(api, style):
    total = 48 * 1024 * 1024

    def body():
        chunk = b"\0" * (256 * 1024)
        for _ in range(total // len(chunk)):
            yield chunk

    if style == "raw":
        kwargs = {"content": body(), "headers": {"Content-Type": "video/mp4"}}
    else:  # hand-made multipart so the client side streams too
        head = b'--B\r\nContent-Disposition: form-data; name="file"; filename="z.mp4"\r\n\r\n'

        def multipart():
            yield head
            yield from body()
            yield b"\r\n--B--\r\n"

        kwargs = {
            "content": multipart(),
            "headers": {"Content-Type": "multipart/form-data; boundary=B"},
        }
    tracemalloc.start()
    try:
        response = api.client.post("/api/v1/upload", **kwargs)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # Zeros are not a video: 415 after all 48 MiB were received and stored.
    assert response.status_code == 415
    assert peak < 12 * 1024 * 1024, f"peak {peak / 2**20:.1f} MiB for a 48 MiB upload"
    assert_nothing_kept(api)


def test_estimate_follows_the_video_and_the_queue(api, media_dir, small_video):
    def estimate(path: Path, duration: int) -> float:
        response = api.client.post(
            f"/api/v1/upload?duration={duration}",
            content=path.read_bytes(),
            headers={"Content-Type": "video/mp4"},
        )
        assert response.status_code == 202
        return response.json()["estimated_seconds"]

    first = estimate(media_dir / "example.mp4", 20)  # 42 s of 720p: ~7 s measured on 2 cores
    assert 3 <= first <= 20
    second = estimate(media_dir / "example.mp4", 20)  # one worker, one job ahead of it
    assert second >= 1.9 * first
    small = estimate(small_video, 3)
    assert small < first
