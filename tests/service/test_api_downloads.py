"""Serving the reel and poster: byte ranges, validators and conditional requests (what AVPlayer
needs), 409 before completion. The reel is a real MP4; the job row is written as finished so
these tests do not wait for the engine (the flow tests cover that path end to end).
"""

from __future__ import annotations

import pytest

from moments.service.api.ranges import Unsatisfiable, parse_range

from .conftest_api import add_completed_job


@pytest.fixture
def reel(media_dir):
    return media_dir / "testsrc.mp4"


@pytest.fixture
def done(api, reel):
    job = add_completed_job(api.services, reel)
    return job, f"/api/v1/jobs/{job.id}"


# -- the Range header itself ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=0-0", [(0, 0)]),
        ("bytes=10-19", [(10, 19)]),
        ("bytes=90-", [(90, 99)]),
        ("bytes=-10", [(90, 99)]),
        ("bytes=-500", [(0, 99)]),
        ("bytes=95-200", [(95, 99)]),
        ("bytes=0-9, 20-29", [(0, 9), (20, 29)]),
        ("bytes=0-9,5-14,15-19", [(0, 19)]),  # overlapping and touching ranges coalesce
        ("bytes=50-60, 200-300", [(50, 60)]),  # the unsatisfiable one is dropped
        (None, None),
        ("items=0-5", None),  # another unit: ignored, the whole file is sent
        ("bytes=5-1", None),  # invalid syntax: ignored
        ("bytes=abc", None),
        ("bytes=", None),
    ],
)
def test_parse_range(header, expected):
    assert parse_range(header, 100) == expected


@pytest.mark.parametrize("header", ["bytes=100-", "bytes=100-200", "bytes=-0", "bytes=500-,600-"])
def test_parse_range_unsatisfiable(header):
    with pytest.raises(Unsatisfiable):
        parse_range(header, 100)


# -- the download endpoint ------------------------------------------------------------------


def test_full_download_has_streaming_headers(api, done, reel):
    _, base = done
    response = api.client.get(f"{base}/download")
    assert response.status_code == 200
    assert response.content == reel.read_bytes()
    h = response.headers
    assert h["content-type"] == "video/mp4"
    assert h["accept-ranges"] == "bytes"
    assert int(h["content-length"]) == reel.stat().st_size
    assert h["etag"].startswith('"') and h["etag"].endswith('"')
    assert h["last-modified"].endswith("GMT")
    assert h["content-disposition"] == 'inline; filename="Holiday at the beach highlights.mp4"'


def test_range_request_returns_exactly_the_slice(api, done, reel):
    _, base = done
    data = reel.read_bytes()
    response = api.client.get(f"{base}/download", headers={"Range": "bytes=100-1099"})
    assert response.status_code == 206
    assert response.content == data[100:1100]
    assert response.headers["content-range"] == f"bytes 100-1099/{len(data)}"
    assert response.headers["content-length"] == "1000"
    assert response.headers["content-type"] == "video/mp4"


def test_avplayer_probe_range_and_suffix_range(api, done, reel):
    _, base = done
    data = reel.read_bytes()
    first = api.client.get(f"{base}/download", headers={"Range": "bytes=0-1"})
    assert (first.status_code, first.content) == (206, data[:2])
    tail = api.client.get(f"{base}/download", headers={"Range": "bytes=-300"})
    assert (tail.status_code, tail.content) == (206, data[-300:])
    rest = api.client.get(f"{base}/download", headers={"Range": f"bytes={len(data) - 5}-"})
    assert rest.content == data[-5:]


def test_unsatisfiable_range_is_416_with_size(api, done, reel):
    _, base = done
    size = reel.stat().st_size
    response = api.client.get(f"{base}/download", headers={"Range": f"bytes={size}-"})
    assert response.status_code == 416
    assert response.headers["content-range"] == f"bytes */{size}"
    assert response.headers["content-type"] == "application/problem+json"
    assert str(size) in response.json()["detail"]


def test_if_range_with_stale_etag_sends_the_whole_file(api, done, reel):
    _, base = done
    response = api.client.get(
        f"{base}/download", headers={"Range": "bytes=0-99", "If-Range": '"not-the-etag"'}
    )
    assert response.status_code == 200
    assert response.content == reel.read_bytes()


def test_if_range_with_current_etag_or_date_honours_the_range(api, done, reel):
    _, base = done
    first = api.client.head(f"{base}/download")
    for validator in (first.headers["etag"], first.headers["last-modified"]):
        response = api.client.get(
            f"{base}/download", headers={"Range": "bytes=0-99", "If-Range": validator}
        )
        assert response.status_code == 206, validator
        assert response.content == reel.read_bytes()[:100]


def test_if_none_match_gives_304_without_body(api, done):
    _, base = done
    etag = api.client.get(f"{base}/download").headers["etag"]
    response = api.client.get(f"{base}/download", headers={"If-None-Match": etag})
    assert response.status_code == 304
    assert response.content == b""
    assert response.headers["etag"] == etag
    changed = api.client.get(f"{base}/download", headers={"If-None-Match": '"other"'})
    assert changed.status_code == 200


def test_if_modified_since_gives_304(api, done):
    _, base = done
    last_modified = api.client.head(f"{base}/download").headers["last-modified"]
    response = api.client.get(f"{base}/download", headers={"If-Modified-Since": last_modified})
    assert response.status_code == 304


def test_head_has_get_headers_and_no_body(api, done, reel):
    _, base = done
    response = api.client.head(f"{base}/download")
    assert response.status_code == 200
    assert response.content == b""
    assert int(response.headers["content-length"]) == reel.stat().st_size
    assert response.headers["accept-ranges"] == "bytes"
    ranged = api.client.head(f"{base}/download", headers={"Range": "bytes=10-19"})
    assert ranged.status_code == 206
    assert ranged.headers["content-length"] == "10"


def test_multiple_ranges_come_back_as_multipart_byteranges(api, done, reel):
    _, base = done
    data = reel.read_bytes()
    response = api.client.get(f"{base}/download", headers={"Range": "bytes=0-9,100-109"})
    assert response.status_code == 206
    ctype = response.headers["content-type"]
    assert ctype.startswith("multipart/byteranges; boundary=")
    boundary = ctype.split("boundary=")[1].encode()
    assert int(response.headers["content-length"]) == len(response.content)
    parts = [p for p in response.content.split(b"--" + boundary) if p.strip(b"\r\n-")]
    assert len(parts) == 2
    for part, (first, last) in zip(parts, [(0, 9), (100, 109)], strict=True):
        head, _, body = part.partition(b"\r\n\r\n")
        assert f"Content-Range: bytes {first}-{last}/{len(data)}".encode() in head
        assert body.rstrip(b"\r\n") == data[first : last + 1].rstrip(b"\r\n")


def test_poster_is_jpeg_with_the_same_caching_headers(api, done):
    _, base = done
    response = api.client.get(f"{base}/poster")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/jpeg"
    assert response.content == b"\xff\xd8poster\xff\xd9"
    assert "poster.jpg" in response.headers["content-disposition"]
    etag = response.headers["etag"]
    assert api.client.get(f"{base}/poster", headers={"If-None-Match": etag}).status_code == 304
    assert api.client.get(f"{base}/poster", headers={"Range": "bytes=2-7"}).content == b"poster"


def test_non_ascii_filename_gets_rfc6266_header(api, reel):
    job = add_completed_job(api.services, reel)
    from moments.service.db import Job, make_engine, make_session_factory

    sessions = make_session_factory(make_engine(api.services.settings.database_url))
    with sessions() as session, session.begin():
        session.get(Job, job.id).filename = "Fête 🎉.mov"
    value = api.client.get(f"/api/v1/jobs/{job.id}/download").headers["content-disposition"]
    assert value.startswith('inline; filename="Fete  highlights.mp4"; ')
    assert "filename*=UTF-8''F%C3%AAte%20%F0%9F%8E%89%20highlights.mp4" in value


def test_download_before_completion_is_409_problem(api, small_video):
    with small_video.open("rb") as f:
        accepted = api.client.post(
            "/api/v1/upload", content=f.read(), headers={"Content-Type": "video/mp4"}
        )
    assert accepted.status_code == 202, accepted.text
    job_id = accepted.json()["id"]
    response = api.client.get(f"/api/v1/jobs/{job_id}/download")
    # Immediately after upload the job is queued or just started: never completed yet.
    assert response.status_code == 409
    body = response.json()
    assert body["type"] == "urn:moments:problem:job-not-ready"
    assert body["job_status"] in ("pending", "processing")
    assert "/status" in body["detail"]
    assert api.client.get(f"/api/v1/jobs/{job_id}/poster").status_code == 409


def test_reel_gone_from_storage_is_410(api, done):
    job, base = done
    api.services.storage.delete(job.output_key)
    response = api.client.get(f"{base}/download")
    assert response.status_code == 410
    assert response.headers["content-type"] == "application/problem+json"
