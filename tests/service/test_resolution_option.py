"""Uploads, re-cuts and reels of many clips ask how big the reel may be (``resolution=720p|
1080p|4k``) in the query string, a form field, tus metadata or the JSON body; anything else is a
422 before any bytes are kept.

A real 1080p clip through a real uvicorn, the worker and the engine; the downloaded reel's size
is read back with PyAV and matches what the job's result reports.
"""

from __future__ import annotations

import io

import av
import pytest

from tests.engine.media_factory import make_video
from tests.helpers import tus_create

from .conftest_api import LiveApi
from .test_api_flow import poll_until_finished


@pytest.fixture(scope="module")
def full_hd(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = tmp_path_factory.mktemp("resolution") / "VID_0001.mp4"
    return make_video(path, seconds=2.0, width=1920, height=1080).read_bytes()


def reel_size(api: LiveApi, job_id: str) -> tuple[int, int]:
    """The finished reel's size, read from the download; the result must report the same."""
    seen = poll_until_finished(api, job_id)
    detail = api.client.get(f"/api/v1/jobs/{job_id}").json()
    assert seen[-1]["status"] == "completed", detail.get("error")
    download = api.client.get(f"/api/v1/jobs/{job_id}/download")
    with av.open(io.BytesIO(download.content)) as container:
        stream = container.streams.video[0]
        size = (stream.width, stream.height)
    reel = api.client.get(f"/api/v1/jobs/{job_id}").json()["reel"]
    assert (reel["width"], reel["height"]) == size
    return size


def test_resolution_by_query_tus_and_recut(api: LiveApi, full_hd: bytes) -> None:
    raw = {"Content-Type": "video/mp4", "X-Filename": "VID_0001.mp4"}
    default = api.client.post("/api/v1/upload?duration=1.5", content=full_hd, headers=raw)
    small = tus_create(
        api.client, full_hd, filename="VID_0001.mp4", duration="1.5", resolution="720p"
    )
    assert default.status_code == 202, default.text
    assert small.status_code == 201, small.text
    assert "resolution" not in default.json()["options"]  # absent means the default
    assert reel_size(api, default.json()["id"]) == (1920, 1080)
    small_id = small.headers["Moments-Job-Id"]
    assert reel_size(api, small_id) == (1280, 720)

    # A re-cut keeps the size asked for the first reel unless it asks another.
    same = api.client.post(f"/api/v1/jobs/{small_id}/recut", json={"duration": 1})
    bigger = api.client.post(
        f"/api/v1/jobs/{small_id}/recut", json={"duration": 1, "resolution": "4k"}
    )
    assert same.json()["options"]["resolution"] == "720p"
    assert bigger.json()["options"]["resolution"] == "4k"
    assert reel_size(api, same.json()["id"]) == (1280, 720)
    assert reel_size(api, bigger.json()["id"]) == (1920, 1080)  # never enlarged, and said
    notes = api.client.get(f"/api/v1/jobs/{bigger.json()['id']}").json()["notes"]
    assert any("rather than 4K" in note for note in notes), notes


def test_a_reel_of_sources_takes_the_resolution(api: LiveApi, full_hd: bytes) -> None:
    source = api.client.post(
        "/api/v1/sources", files={"file": ("VID_0001.mp4", full_hd, "video/mp4")}
    )
    assert source.status_code == 201, source.text
    reel = api.client.post(
        "/api/v1/reels",
        json={
            "sources": [source.json()["id"]],
            "options": {"duration": 1.5, "resolution": "720p"},
        },
    )
    assert reel.status_code == 202, reel.text
    assert reel_size(api, reel.json()["id"]) == (1280, 720)
    clip = [source.json()["id"]]
    big = api.client.post(
        "/api/v1/reels", json={"sources": clip, "options": {"duration": 1.5, "resolution": "4k"}}
    )
    assert reel_size(api, big.json()["id"]) == (1920, 1080)  # never enlarged, and said
    notes = api.client.get(f"/api/v1/jobs/{big.json()['id']}").json()["notes"]
    assert any("rather than 4K" in note for note in notes), notes


def test_an_unknown_resolution_for_a_reel_of_sources_is_a_422(api: LiveApi) -> None:
    # (In the query string, a form field or tus metadata: ``test_codec_option``.)
    response = api.client.post(
        "/api/v1/reels", json={"sources": ["x"], "options": {"resolution": "8k"}}
    )
    assert response.status_code == 422, response.text
    assert "resolution" in str(response.json()["errors"][0]["location"])


def test_openapi_lists_the_resolutions(api: LiveApi) -> None:
    assert api.client.get("/api/v1/upload/formats").json()["resolutions"] == ["720p", "1080p", "4k"]
    spec = api.client.get("/openapi.json").json()
    upload = spec["paths"]["/api/v1/upload"]["post"]
    query = {p["name"]: p for p in upload["parameters"]}
    form = upload["requestBody"]["content"]["multipart/form-data"]["schema"]["properties"]
    assert query["resolution"]["schema"]["enum"] == form["resolution"]["enum"]
    assert form["resolution"]["enum"] == ["720p", "1080p", "4k"]


def test_a_server_may_offer_smaller_reels_only(settings, start_api, full_hd: bytes) -> None:
    # 4K reels take ~1.4 GiB a job: a server on small workers offers up to 1080p.
    api = start_api(settings.model_copy(update={"max_resolution": "1080p"}))
    assert api.client.get("/api/v1/upload/formats").json()["resolutions"] == ["720p", "1080p"]
    raw = {"Content-Type": "video/mp4", "X-Filename": "VID_0001.mp4"}
    refused = api.client.post("/api/v1/upload?resolution=4k", content=full_hd, headers=raw)
    assert refused.status_code == 422, refused.text
    error = refused.json()["errors"][0]
    assert error == {
        "location": "resolution",
        "message": "this server makes reels of at most 1080p",
    }
    offered = api.client.post("/api/v1/upload?resolution=1080p", content=full_hd, headers=raw)
    assert offered.status_code == 202, offered.text


def test_the_setting_spells_the_engine_sizes() -> None:
    from typing import get_args

    from moments.engine.models import RESOLUTIONS
    from moments.service.settings import Settings

    assert get_args(Settings.model_fields["max_resolution"].annotation) == RESOLUTIONS
