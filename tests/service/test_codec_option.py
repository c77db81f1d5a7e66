"""Uploads through the API ask for the reel's video codec (``codec=auto|h264|hevc``), what an
HDR video gives (``hdr=keep|sdr``) and how big the reel may be (``resolution``: see
``test_resolution_option``) in the query string, a form field or tus metadata; anything else is
a 422 before any bytes are kept.

Real clips through a real uvicorn, the worker and the engine; the downloaded reel's codec is
read back with PyAV and matches what the job's result reports.
"""

from __future__ import annotations

import io
from pathlib import Path

import av
import pytest

from tests.engine.media_factory import make_video
from tests.helpers import tus_create

from .conftest_api import LiveApi
from .test_api_flow import poll_until_finished


@pytest.fixture(scope="module")
def hevc_clip(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = tmp_path_factory.mktemp("codec") / "IMG_0003.MOV"
    return Path(make_video(path, seconds=3.0, codec="libx265")).read_bytes()


def reel_codec(api: LiveApi, job_id: str) -> tuple[str, str]:
    """(codec read from the downloaded reel, codec the job's result reports)."""
    seen = poll_until_finished(api, job_id)
    assert seen[-1]["status"] == "completed", seen[-1]
    reel = api.client.get(f"/api/v1/jobs/{job_id}/download")
    assert reel.status_code == 200
    with av.open(io.BytesIO(reel.content)) as container:
        stream = container.streams.video[0]
        codec = stream.codec_context.name
        profile = stream.codec_context.profile
        assert stream.codec_tag == ("hvc1" if codec == "hevc" else "avc1")
    reported = api.client.get(f"/api/v1/jobs/{job_id}").json()["reel"]
    assert reported["profile"] == profile
    return codec, reported["codec"]


def test_codec_asked_by_query_and_form(api: LiveApi, hevc_clip: bytes) -> None:
    raw = {"Content-Type": "video/quicktime", "X-Filename": "IMG_0003.MOV"}
    query = api.client.post("/api/v1/upload?duration=2&codec=h264", content=hevc_clip, headers=raw)
    form = api.client.post(
        "/api/v1/upload",
        files={"file": ("IMG_0003.MOV", hevc_clip, "video/quicktime")},
        data={"duration": "2", "codec": "hevc"},
    )
    assert query.status_code == 202, query.text
    assert form.status_code == 202, form.text
    assert query.json()["options"]["codec"] == "h264"
    assert form.json()["options"]["codec"] == "hevc"
    assert reel_codec(api, query.json()["id"]) == ("h264", "h264")
    assert reel_codec(api, form.json()["id"]) == ("hevc", "hevc")


@pytest.mark.parametrize("where", ["query", "form", "tus"])
@pytest.mark.parametrize(("name", "bad"), [("codec", "av1"), ("hdr", "dv"), ("resolution", "8k")])
def test_an_unknown_choice_is_a_422(
    api: LiveApi, hevc_clip: bytes, where: str, name: str, bad: str
) -> None:
    if where == "query":
        headers = {"Content-Type": "video/quicktime"}
        url = f"/api/v1/upload?{name}={bad}"
        response = api.client.post(url, content=hevc_clip, headers=headers)
    elif where == "form":
        response = api.client.post(
            "/api/v1/upload",
            files={"file": ("IMG_0003.MOV", hevc_clip, "video/quicktime")},
            data={name: bad},
        )
    else:
        response = tus_create(api.client, hevc_clip, filename="IMG_0003.MOV", **{name: bad})
    assert response.status_code == 422, response.text
    assert name in response.json()["errors"][0]["location"]


def reel_format(api: LiveApi, job_id: str) -> tuple[str, str, str]:
    seen = poll_until_finished(api, job_id)
    assert seen[-1]["status"] == "completed", seen[-1]
    reel = api.client.get(f"/api/v1/jobs/{job_id}/download")
    with av.open(io.BytesIO(reel.content)) as container:
        cc = container.streams.video[0].codec_context
        return (
            cc.name,
            cc.pix_fmt,
            api.client.get(f"/api/v1/jobs/{job_id}").json()["reel"]["profile"],
        )


def test_hdr_kept_by_default_and_sdr_when_asked(api: LiveApi, tmp_path: Path) -> None:
    from tests.engine.test_render_hdr_keep import hdr_clip

    clip = hdr_clip(tmp_path / "IMG_0005.MOV").read_bytes()
    raw = {"Content-Type": "video/quicktime", "X-Filename": "IMG_0005.MOV"}
    kept = api.client.post("/api/v1/upload?duration=2", content=clip, headers=raw)
    sdr = tus_create(api.client, clip, filename="IMG_0005.MOV", duration="2", hdr="sdr")
    assert kept.status_code == 202, kept.text
    assert sdr.status_code == 201, sdr.text
    assert "hdr" not in kept.json()["options"]
    assert reel_format(api, kept.json()["id"]) == ("hevc", "yuv420p10le", "Main 10")
    assert reel_format(api, sdr.headers["Moments-Job-Id"]) == ("h264", "yuv420p", "High")
    job = api.client.get(f"/api/v1/jobs/{sdr.headers['Moments-Job-Id']}").json()
    assert job["options"]["hdr"] == "sdr"


def test_openapi_lists_the_codecs(api: LiveApi) -> None:
    spec = api.client.get("/openapi.json").json()
    upload = spec["paths"]["/api/v1/upload"]["post"]
    query = {p["name"]: p for p in upload["parameters"]}
    assert query["codec"]["schema"]["enum"] == ["auto", "h264", "hevc"]
    form = upload["requestBody"]["content"]["multipart/form-data"]["schema"]["properties"]
    assert form["codec"]["enum"] == ["auto", "h264", "hevc"]
    assert query["hdr"]["schema"]["enum"] == form["hdr"]["enum"] == ["keep", "sdr"]
