"""Sources and reels of many clips through the API (issue 20, items 1 and 3): uploads kept on
their own, one reel from several of them (counted once), owners only, limits from settings,
deletion and retention."""

from __future__ import annotations

from datetime import timedelta

import pytest

from moments.service.db.models import utcnow
from moments.service.jobs.inputs import named_link
from moments.service.jobs.maintenance import purge_expired
from tests.helpers import fast_settings

from .auth_helpers import other_user
from .test_api_flow import poll_until_finished
from .test_tus import CHUNK, TUS, create, metadata


def _source(api, path, name, raw=False):
    if raw:
        response = api.client.post(
            "/api/v1/sources",
            content=path.read_bytes(),
            headers={"Content-Type": "video/mp4", "X-Filename": name},
        )
    else:
        response = api.client.post(
            "/api/v1/sources", files={"file": (name, path.read_bytes(), "video/mp4")}
        )
    assert response.status_code == 201, response.text
    return response.json()


def test_one_reel_from_two_sources_counts_once(api, small_video, media_dir):
    before = api.client.get("/api/v1/me").json()["used"]
    first = _source(api, small_video, "beach.mp4")
    second = _source(api, media_dir / "testsrc.mp4", "party.mp4", raw=True)
    assert first["filename"] == "beach.mp4" and first["width"] == 320 and first["has_audio"]
    assert api.client.get(f"/api/v1/sources/{second['id']}").json() == second
    assert api.client.get("/api/v1/me").json()["used"] == before  # a source is not a reel

    _, mallory = other_user(api)
    assert mallory.get(f"/api/v1/sources/{first['id']}").status_code == 404
    stolen = mallory.post("/api/v1/reels", json={"sources": [first["id"]]})
    assert stolen.status_code == 404
    assert stolen.json()["type"] == "urn:moments:problem:source-not-found"

    answer = api.client.post(
        "/api/v1/reels",
        json={"sources": [first["id"], second["id"]], "options": {"duration": 6}},
    )
    assert answer.status_code == 202, answer.text
    job_id = answer.json()["id"]
    assert poll_until_finished(api, job_id)[-1]["status"] == "completed"
    assert api.client.get("/api/v1/me").json()["used"] == before + 1
    detail = api.client.get(f"/api/v1/jobs/{job_id}").json()
    assert detail["filename"] == "2 clips"
    result = api.services.store.get(job_id).result
    names = [c["filename"] for c in result["clips"]]
    assert sorted(names) == ["beach.mp4", "party.mp4"]  # both clips in the reel, by their names
    assert {s["clip"] for s in detail["segments"]} == {0, 1}
    assert [c["filename"] for c in detail["clips"]] == names  # what each segment's clip is
    assert all("path" not in c for c in result["clips"])
    # Each source's analysis is kept with it, for the next reel of it.
    storage = api.services.storage
    folder = storage.local_path(f"sources/{first['id']}/source.mp4").parent
    assert any(p.name.startswith("analysis-") for p in folder.iterdir())
    download = api.client.get(detail["links"]["download"])
    assert download.status_code == 200 and len(download.content) > 1000

    # Each source lists the reels made of it; another user sees neither.
    for source in (first, second):
        reels = api.client.get(f"/api/v1/sources/{source['id']}/reels").json()
        assert [r["id"] for r in reels] == [job_id]
    assert mallory.get(f"/api/v1/sources/{first['id']}/reels").status_code == 404

    # Deleting the reel leaves its sources; deleting a source removes its file and analyses.
    assert api.client.delete(f"/api/v1/jobs/{job_id}").status_code == 204
    assert folder.exists()
    assert api.client.delete(f"/api/v1/sources/{first['id']}").status_code == 204
    assert not folder.exists()
    assert api.client.get(f"/api/v1/sources/{first['id']}").status_code == 404

    # Retention: a source goes retention_hours after its upload.
    later = utcnow() + timedelta(hours=api.services.settings.retention_hours + 1)
    purged = purge_expired(api.services.store, storage, api.services.settings, now=later)
    assert second["id"] in purged
    assert api.client.get(f"/api/v1/sources/{second['id']}").status_code == 404


def test_a_reel_holds_at_most_the_clips_settings_allow(start_api, tmp_path, small_video):
    api = start_api(fast_settings(tmp_path, max_clips=2, max_footage_minutes=0.15))
    one = _source(api, small_video, "a.mp4")["id"]
    too_many = api.client.post("/api/v1/reels", json={"sources": [one, one, one]})
    assert too_many.status_code == 422 and "at most 2 clips" in too_many.text
    too_long = api.client.post("/api/v1/reels", json={"sources": [one, one]})  # 12 s > 9 s
    assert too_long.status_code == 422 and "minutes of footage" in too_long.text
    refused = api.client.post(
        "/api/v1/sources",
        content=b"not a video at all" * 100,
        headers={"Content-Type": "video/mp4", "X-Filename": "notes.mp4"},
    )
    assert refused.status_code == 415
    kept = api.services.storage.local_path(f"sources/{one}/source.mp4").parents[1]
    assert [p.name for p in kept.iterdir()] == [one]  # the refused upload left nothing


def test_an_audio_only_upload_becomes_music_a_reel_is_set_to(api, small_video, media_dir):
    song = _source(api, media_dir / "aac.m4a", "song.m4a")
    assert song["kind"] == "music" and song["width"] is None and song["duration"] > 3
    clip = _source(api, small_video, "beach.mp4")
    assert clip["kind"] == "video"
    # A song is not a clip, and a clip is not a song.
    swapped = api.client.post("/api/v1/reels", json={"sources": [song["id"]]})
    assert swapped.status_code == 422 and "is music" in swapped.text
    wrong = api.client.post("/api/v1/reels", json={"sources": [clip["id"]], "music": clip["id"]})
    assert wrong.status_code == 422 and "not music" in wrong.text
    # Uploads for a reel of one video still refuse what is not a video, as before.
    plain = api.client.post(
        "/api/v1/upload",
        content=(media_dir / "aac.m4a").read_bytes(),
        headers={"Content-Type": "video/mp4", "X-Filename": "song.m4a"},
    )
    assert plain.status_code == 415

    answer = api.client.post(
        "/api/v1/reels",
        json={
            "sources": [clip["id"]],
            "music": song["id"],
            "music_mode": "mix",
            "options": {"duration": 4},
        },
    )
    assert answer.status_code == 202, answer.text
    job_id = answer.json()["id"]
    assert poll_until_finished(api, job_id)[-1]["status"] == "completed"
    result = api.services.store.get(job_id).result
    assert result["options"]["music"] == "song.m4a"  # its name, never a server path
    assert result["options"]["music_mode"] == "mix"


def test_a_resumable_upload_can_be_kept_as_a_source(api, small_video):
    data = small_video.read_bytes()
    url = create(api, len(data), filename="hike.mp4", purpose="source")
    half = len(data) // 2
    first = api.client.patch(url, content=data[:half], headers={**CHUNK, "Upload-Offset": "0"})
    assert first.status_code == 204, first.text
    assert "moments-source-id" not in first.headers
    last = api.client.patch(url, content=data[half:], headers={**CHUNK, "Upload-Offset": str(half)})
    assert last.status_code == 204, last.text
    source_id = last.headers["moments-source-id"]
    assert "moments-job-id" not in last.headers  # a source, not a reel
    assert last.headers["location"] == f"/api/v1/sources/{source_id}"
    assert api.client.head(url, headers=TUS).headers["moments-source-id"] == source_id
    source = api.client.get(f"/api/v1/sources/{source_id}").json()
    assert source["filename"] == "hike.mp4" and source["kind"] == "video"
    kept = api.services.storage.local_path(api.services.sources.get(source_id).input_key)
    assert kept.read_bytes() == data
    assert api.client.get("/api/v1/jobs").json()["total"] == 0
    bad = api.client.post(
        "/api/v1/uploads/",
        headers={**TUS, "Upload-Length": "10", "Upload-Metadata": metadata(purpose="song")},
    )
    assert bad.status_code == 400


@pytest.mark.parametrize("name", ["..", "", "x" * 190 + "🎬" * 100 + ".mp4", "a/b.mp4"])
def test_a_clip_is_linked_under_a_name_people_know_whatever_its_name(tmp_path, name):
    stored = tmp_path / "source.mp4"
    stored.write_bytes(b"clip")
    link = named_link(tmp_path / "clips" / "0", stored, name)
    assert link.parent == tmp_path / "clips" / "0"
    assert link.read_bytes() == b"clip"
    assert len(link.name.encode()) <= 200
