"""Uploads through the API: the reel drops where it was shot unless ``keep_location`` is asked
for (query string, form field or tus metadata), and always keeps when it was shot.

A real iPhone-tagged MOV (``com.apple.quicktime.location.ISO6709``, ``©xyz``, model) goes
through a real uvicorn, the worker and the engine; the downloaded reel's tags are read back
with PyAV and its bytes searched for the coordinates.
"""

from __future__ import annotations

import io
from pathlib import Path

import av
import pytest

from tests.engine.test_reel_tags import COORDINATES, IPHONE_TAGS, tagged_source
from tests.helpers import tus_create

from .conftest_api import LiveApi
from .test_api_flow import poll_until_finished


@pytest.fixture(scope="module")
def iphone_clip(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = tagged_source(tmp_path_factory.mktemp("tags") / "IMG_0002.MOV", IPHONE_TAGS, True)
    return Path(path).read_bytes()


def reel_tags(api: LiveApi, job_id: str) -> tuple[dict[str, str], bytes]:
    seen = poll_until_finished(api, job_id)
    assert seen[-1]["status"] == "completed", seen[-1]
    reel = api.client.get(f"/api/v1/jobs/{job_id}/download")
    assert reel.status_code == 200
    with av.open(io.BytesIO(reel.content)) as container:
        return dict(container.metadata), reel.content


def assert_location(meta: dict[str, str], data: bytes, kept: bool) -> None:
    assert meta.get("creation_time", "").startswith("2026-07-04T18:30:00"), meta
    assert ("com.apple.quicktime.location.ISO6709" in meta) is kept, meta
    assert ("location" in meta) is kept, meta
    assert (COORDINATES in data) is kept
    assert "com.apple.quicktime.model" not in meta and b"iPhone 15 Pro" not in data


def test_location_is_stripped_by_default_and_kept_when_asked(api: LiveApi, iphone_clip: bytes):
    raw = {"Content-Type": "video/quicktime", "X-Filename": "IMG_0002.MOV"}
    plain = api.client.post("/api/v1/upload?duration=2", content=iphone_clip, headers=raw)
    asked = api.client.post(
        "/api/v1/upload",
        files={"file": ("IMG_0002.MOV", iphone_clip, "video/quicktime")},
        data={"duration": "2", "keep_location": "true"},
    )
    assert plain.status_code == 202, plain.text
    assert asked.status_code == 202, asked.text
    assert "keep_location" not in plain.json()["options"]
    assert asked.json()["options"]["keep_location"] is True

    assert_location(*reel_tags(api, plain.json()["id"]), kept=False)
    assert_location(*reel_tags(api, asked.json()["id"]), kept=True)


def test_keep_location_by_query_and_tus_metadata(api: LiveApi, iphone_clip: bytes):
    raw = {"Content-Type": "video/quicktime"}
    query = api.client.post(
        "/api/v1/upload?duration=2&keep_location=true", content=iphone_clip, headers=raw
    )
    assert query.status_code == 202, query.text
    tus = tus_create(api.client, iphone_clip, filename="IMG_0002.MOV", duration="2",
                     keep_location="yes")  # fmt: skip
    assert tus.status_code == 201, tus.text
    tus_job = tus.headers["Moments-Job-Id"]
    assert_location(*reel_tags(api, query.json()["id"]), kept=True)
    assert_location(*reel_tags(api, tus_job), kept=True)


def test_keep_location_must_be_yes_or_no(api: LiveApi, iphone_clip: bytes):
    response = api.client.post(
        "/api/v1/upload",
        files={"file": ("IMG_0002.MOV", iphone_clip, "video/quicktime")},
        data={"keep_location": "perhaps"},
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["location"] == "keep_location"
