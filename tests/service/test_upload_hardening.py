"""Issue 16, second round of hardening: header values that used to end in a 500, valid files that
were refused, file names that came out as mojibake, and messages that did not say what to do.

Everything runs against the real app under uvicorn (the ``api`` fixture) with real files.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from tests.engine.media_factory import make_video
from tests.helpers import files_under, tus_create, wait_for

from .conftest_api import LiveApi, add_completed_job

PROBLEM = "application/problem+json"
TUS = {"Tus-Resumable": "1.0.0"}
CHUNK = {**TUS, "Content-Type": "application/offset+octet-stream"}
UNICODE_NAME = "Fête à Zürich – 東京 🎉.mp4"
JOB_SECONDS = 60.0


def assert_problem(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert problem["status"] == status
    return problem


def finished(api: LiveApi, job_id: str) -> dict | None:
    status = api.status(job_id)
    return status if status["status"] in ("completed", "failed", "cancelled") else None


def stored_files(api: LiveApi) -> list[Path]:
    return files_under(api.services.settings.storage_dir)


# -- numbers in headers: a 4xx problem, never a 500 -----------------------------------------


@pytest.mark.parametrize(
    ("value", "status"),
    [
        # str.isdigit() accepts a superscript two, int() does not.
        ("²".encode("latin-1"), 400),
        ("1²".encode("latin-1"), 400),
        # Past int()'s 4,300-digit limit; a length that large is too large.
        (b"9" * 5000, 413),
        (b"1" + b"0" * 40, 413),
    ],
)
def test_tus_upload_length_that_is_not_a_plain_number(api: LiveApi, value: bytes, status: int):
    response = api.client.post("/api/v1/uploads", headers={**TUS, "Upload-Length": value})
    assert_problem(response, status)
    assert not any((api.services.settings.data_dir / "tus").glob("*/info.json"))


@pytest.mark.parametrize("value", ["²".encode("latin-1"), b"7" * 5000])
def test_tus_upload_offset_that_is_not_a_plain_number(api: LiveApi, value: bytes):
    url = api.client.post("/api/v1/uploads", headers={**TUS, "Upload-Length": "10"}).headers[
        "location"
    ]
    response = api.client.patch(url, content=b"x" * 10, headers={**CHUNK, "Upload-Offset": value})
    assert 400 <= assert_problem(response, response.status_code)["status"] < 500
    assert api.client.head(url, headers=TUS).headers["upload-offset"] == "0"


def test_chunked_tus_patch_past_the_upload_length_is_413(api: LiveApi):
    url = api.client.post("/api/v1/uploads", headers={**TUS, "Upload-Length": "10"}).headers[
        "location"
    ]

    def body():  # no Content-Length: the server only learns the size as the bytes come
        yield b"x" * 6
        yield b"y" * 6

    response = api.client.patch(url, content=body(), headers={**CHUNK, "Upload-Offset": "0"})
    problem = assert_problem(response, 413)
    assert "Upload-Length" in problem["detail"]
    # Nothing of the refused chunk counts; the upload can go on from where it was.
    assert api.client.head(url, headers=TUS).headers["upload-offset"] == "0"
    response = api.client.patch(url, content=b"z" * 4, headers={**CHUNK, "Upload-Offset": "0"})
    assert response.status_code == 204, response.text
    assert response.headers["upload-offset"] == "4"


@pytest.fixture
def reel_job(api: LiveApi, media_dir: Path) -> str:
    job = add_completed_job(api.services, media_dir / "testsrc.mp4")
    return f"/api/v1/jobs/{job.id}/download"


def test_range_starting_past_int_digit_limit_is_416(api: LiveApi, reel_job: str):
    response = api.client.get(reel_job, headers={"Range": "bytes=" + "9" * 5000 + "-"})
    problem = assert_problem(response, 416)
    assert problem["type"] == "urn:moments:problem:range-not-satisfiable"


@pytest.mark.parametrize(
    "header",
    [
        # Past any file's size by thousands of digits: absurd, so refused (not read as "to the
        # end", which RFC 9110 14.1.1 would allow for a merely large number).
        "bytes=0-" + "9" * 5000,
        "bytes=-" + "9" * 5000,
    ],
)
def test_range_ending_past_int_digit_limit_is_416(
    api: LiveApi, reel_job: str, media_dir: Path, header: str
):
    response = api.client.get(reel_job, headers={"Range": header})
    assert response.status_code == 416, response.text
    assert response.headers["content-type"].startswith("application/problem+json")


# -- valid files that were refused ------------------------------------------------------------


def _zip_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("notes.txt", "appended by a tool that hides an archive in a video\n" * 20)
    return buffer.getvalue()


@pytest.mark.parametrize(
    "tail", [b"\n", b"junk trailing bytes", b"\x00\x00\x01\x00trailer!", "zip"]
)
def test_mp4_with_trailing_bytes_becomes_a_reel(api: LiveApi, small_video: Path, tail):
    data = small_video.read_bytes() + (_zip_bytes() if tail == "zip" else tail)
    response = api.client.post(
        "/api/v1/upload?duration=3",
        content=data,
        headers={"Content-Type": "video/mp4", "X-Filename": "with-tail.mp4"},
    )
    assert response.status_code == 202, response.text
    status = wait_for(lambda: finished(api, response.json()["id"]), JOB_SECONDS, "the job")
    assert status["status"] == "completed", api.client.get(
        f"/api/v1/jobs/{response.json()['id']}"
    ).json()


@pytest.mark.parametrize("tail", [b"", b"junk trailing bytes"])
def test_mp4_cut_inside_its_media_data_is_still_refused(api: LiveApi, tmp_path: Path, tail):
    # Index first (as phones and "fast start" write it): a cut file still opens and decodes its
    # first frame, so only the declared box sizes show that the end is missing.
    clip = make_video(
        tmp_path / "faststart.mp4", seconds=2.0, container_options={"movflags": "faststart"}
    )
    data = clip.read_bytes()
    response = api.client.post(
        "/api/v1/upload",
        content=data[: len(data) * 3 // 4] + tail,
        headers={"Content-Type": "video/mp4", "X-Filename": "cut.mp4"},
    )
    problem = assert_problem(response, 415)
    assert "incomplete" in problem["detail"]
    assert stored_files(api) == []


# -- file names as clients send them -----------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [
        UNICODE_NAME.encode("utf-8"),  # raw UTF-8 bytes: browsers' fetch, URLSession, curl
        quote(UNICODE_NAME).encode(),  # percent-encoded
        b"UTF-8''" + quote(UNICODE_NAME).encode(),  # RFC 5987 ext-value
        b"utf-8'en'" + quote(UNICODE_NAME).encode(),
    ],
    ids=["raw-utf8", "percent", "rfc5987", "rfc5987-language"],
)
def test_x_filename_keeps_the_unicode_name(api: LiveApi, small_video: Path, header: bytes):
    response = api.client.post(
        "/api/v1/upload",
        content=small_video.read_bytes(),
        headers={"Content-Type": "video/mp4", "X-Filename": header},
    )
    assert response.status_code == 202, response.text
    assert response.json()["filename"] == UNICODE_NAME
    job = api.client.get(f"/api/v1/jobs/{response.json()['id']}").json()
    assert job["filename"] == UNICODE_NAME


def test_x_filename_in_latin_1_is_kept(api: LiveApi, small_video: Path):
    # Bytes that are not UTF-8 are taken as Latin-1, as the header arrived.
    response = api.client.post(
        "/api/v1/upload",
        content=small_video.read_bytes(),
        headers={"Content-Type": "video/mp4", "X-Filename": "café.mp4".encode("latin-1")},
    )
    assert response.status_code == 202, response.text
    assert response.json()["filename"] == "café.mp4"


def _multipart(disposition: bytes, data: bytes) -> tuple[bytes, str]:
    body = (
        b"--B0undary\r\nContent-Disposition: " + disposition + b"\r\n"
        b"Content-Type: video/mp4\r\n\r\n" + data + b"\r\n--B0undary--\r\n"
    )
    return body, "multipart/form-data; boundary=B0undary"


@pytest.mark.parametrize(
    ("disposition", "expected"),
    [
        # What browsers send (HTML's form encoding): raw UTF-8, '"' as %22.
        (b'form-data; name="file"; filename="' + UNICODE_NAME.encode() + b'"', UNICODE_NAME),
        (b'form-data; name="file"; filename="say %22cheese%22.mp4"', 'say "cheese".mp4'),
        (
            b"form-data; name=\"file\"; filename*=UTF-8''" + quote(UNICODE_NAME).encode(),
            UNICODE_NAME,
        ),
        (b'form-data; name="file"; filename="caf\xe9.mp4"', "café.mp4"),  # Latin-1 bytes
    ],
    ids=["raw-utf8", "quote-escape", "rfc5987", "latin-1"],
)
def test_multipart_filename_keeps_the_unicode_name(
    api: LiveApi, small_video: Path, disposition: bytes, expected: str
):
    body, content_type = _multipart(disposition, small_video.read_bytes())
    response = api.client.post(
        "/api/v1/upload", content=body, headers={"Content-Type": content_type}
    )
    assert response.status_code == 202, response.text
    assert response.json()["filename"] == expected
    job = api.client.get(f"/api/v1/jobs/{response.json()['id']}").json()
    assert job["filename"] == expected


def test_tus_filename_keeps_the_unicode_name(api: LiveApi, small_video: Path):
    response = tus_create(api.client, small_video.read_bytes(), filename=UNICODE_NAME)
    assert response.status_code == 201, response.text
    job = api.client.get(f"/api/v1/jobs/{response.headers['moments-job-id']}").json()
    assert job["filename"] == UNICODE_NAME


# -- messages that say what to do -------------------------------------------------------------


def test_unnamed_raw_upload_is_called_your_upload(api: LiveApi):
    response = api.client.post(
        "/api/v1/upload", content=b"just some text\n" * 50, headers={"Content-Type": "video/mp4"}
    )
    problem = assert_problem(response, 415)
    assert problem["detail"].startswith("Your upload is a text file, not a video."), problem
    assert "The upload:" not in problem["detail"]


def test_video_in_another_form_field_says_which_field(api: LiveApi, small_video: Path):
    response = api.client.post(
        "/api/v1/upload", files={"video": ("clip.mp4", small_video.read_bytes(), "video/mp4")}
    )
    problem = assert_problem(response, 422)
    assert "form field named 'file'" in problem["detail"], problem
    assert "'video'" in problem["detail"]
    assert "too long" not in problem["detail"]
    assert problem["errors"][0]["location"] == "body.file"
    assert stored_files(api) == []


def test_long_option_field_says_what_is_expected(api: LiveApi):
    body = (
        b'--B0undary\r\nContent-Disposition: form-data; name="video"\r\n\r\n'
        + b"x" * 5000
        + b"\r\n--B0undary--\r\n"
    )
    response = api.client.post(
        "/api/v1/upload",
        content=body,
        headers={"Content-Type": "multipart/form-data; boundary=B0undary"},
    )
    problem = assert_problem(response, 422)
    assert "form field named 'file'" in problem["detail"], problem
