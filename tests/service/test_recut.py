"""Re-cuts: a finished job's video made into another reel without uploading or analysing it
again (issue 20, item 2). Its analysis is kept with the upload, keyed by content and engine
version; the re-cut job reads the same upload; deleting and retention cover both."""

from __future__ import annotations

from datetime import timedelta

import pytest

import moments.service.jobs.run as run_module
from moments.engine import ENGINE_VERSION
from moments.service.db.models import utcnow
from moments.service.jobs.analyses import analysis_key, content_digest, input_folder
from moments.service.jobs.maintenance import purge_expired
from moments.service.jobs.run import run_job

from .auth_helpers import other_user
from .conftest_api import add_completed_job, insert_finished_job
from .test_api_flow import poll_until_finished


def _kept(storage, input_key: str) -> list[str]:
    folder = storage.local_path(input_key).parent
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("analysis-"))


def _picks(result: dict) -> list[tuple]:
    return [
        (s["source_start"], s["source_end"], s["score"], s["reason"], tuple(s["focus"]))
        for s in result["segments"]
    ]


def test_a_recut_reads_the_kept_analysis_and_picks_what_a_fresh_run_picks(
    settings, store, storage, add_job, small_video, monkeypatch
):
    first = add_job(small_video, duration=5)
    assert run_job(first.id, settings, store=store, storage=storage) == "completed"
    digest = content_digest(storage.local_path(first.input_key))
    key = analysis_key(first.input_key, digest)
    assert ENGINE_VERSION in key and storage.exists(key)
    assert _kept(storage, first.input_key) == [key.rsplit("/", 1)[1]]

    fresh = add_job(small_video, duration=3, aspect="9:16")  # its own upload: analysed afresh
    assert run_job(fresh.id, settings, store=store, storage=storage) == "completed"

    def no_analysis(*args, **kwargs):
        raise AssertionError("a re-cut analysed the video again")

    monkeypatch.setattr(run_module, "highlight", no_analysis)
    recut = store.create(
        input_key=first.input_key,
        filename=first.filename,
        input_size=first.input_size,
        options={"duration": 3, "aspect": "9:16", "recut_of": first.id},
    )
    assert run_job(recut.id, settings, store=store, storage=storage) == "completed"
    done, expected = store.get(recut.id).result, store.get(fresh.id).result
    assert _picks(done) == _picks(expected)
    assert (done["width"], done["height"]) == (expected["width"], expected["height"])
    assert done["notes"] == expected["notes"]
    assert "analyse" not in done["timings"] and "analyse" in expected["timings"]

    # Retention: the original expires first but its upload stays while the re-cut reads it;
    # the last of them takes the upload and its kept analysis along.
    folder = storage.local_path(first.input_key).parent
    later = utcnow() + timedelta(hours=settings.retention_hours + 1)
    purged = purge_expired(store, storage, settings, now=later)
    assert {first.id, recut.id} <= set(purged)
    assert not folder.exists()
    assert input_folder(first.input_key) == f"uploads/{first.id}"


def test_an_analysis_kept_by_another_engine_version_is_not_read(
    settings, store, storage, add_job, small_video, monkeypatch
):
    first = add_job(small_video, duration=3)
    assert run_job(first.id, settings, store=store, storage=storage) == "completed"
    monkeypatch.setattr("moments.service.jobs.analyses.ENGINE_VERSION", "next")
    calls: list[str] = []
    real = run_module.highlight

    def counted(*args, **kwargs):
        calls.append("analysed")
        return real(*args, **kwargs)

    monkeypatch.setattr(run_module, "highlight", counted)
    recut = store.create(
        input_key=first.input_key,
        filename=first.filename,
        input_size=first.input_size,
        options={"duration": 2},
    )
    assert run_job(recut.id, settings, store=store, storage=storage) == "completed"
    assert calls == ["analysed"]  # measured again by the new version, and kept for it too
    kept = _kept(storage, first.input_key)
    assert len(kept) == 2 and any(name.endswith("-next.pickle") for name in kept)


def test_recut_endpoint_makes_a_new_reel_of_the_same_upload(api, small_video):
    response = api.client.post(
        "/api/v1/upload",
        files={"file": ("clip.mp4", small_video.read_bytes(), "video/mp4")},
        data={"duration": "5"},
    )
    assert response.status_code == 202, response.text
    first = response.json()["id"]
    assert poll_until_finished(api, first)[-1]["status"] == "completed"

    _, mallory = other_user(api)
    stolen = mallory.post(f"/api/v1/jobs/{first}/recut", json={"duration": 3})
    assert stolen.status_code == 404
    assert stolen.json()["type"] == "urn:moments:problem:job-not-found"
    bad = api.client.post(f"/api/v1/jobs/{first}/recut", json={"aspect": "2:1"})
    assert bad.status_code == 422

    used = api.client.get("/api/v1/me").json()
    answer = api.client.post(f"/api/v1/jobs/{first}/recut", json={"aspect": "9:16"})
    assert answer.status_code == 202, answer.text
    recut = answer.json()
    assert recut["options"] == {"duration": 5, "aspect": "9:16", "recut_of": first}
    assert poll_until_finished(api, recut["id"])[-1]["status"] == "completed"
    detail = api.client.get(f"/api/v1/jobs/{recut['id']}").json()
    assert detail["reel"]["height"] > detail["reel"]["width"]  # 9:16
    assert "analyse" not in detail["timings"]["stages"]  # analysis was not run again
    assert detail["filename"] == "clip.mp4"
    download = api.client.get(detail["links"]["download"])
    assert download.status_code == 200 and len(download.content) > 1000
    # A re-cut is a reel: it counts once against the month's quota.
    now = api.client.get("/api/v1/me").json()
    assert now["used"] == used["used"] + 1

    # Deleting the original keeps the upload the re-cut reads; deleting the re-cut too
    # removes the upload and its kept analysis.
    storage = api.services.storage
    input_key = api.services.store.get(first).input_key
    folder = storage.local_path(input_key).parent
    assert any(p.name.startswith("analysis-") for p in folder.iterdir())
    assert api.client.delete(f"/api/v1/jobs/{first}").status_code == 204
    assert storage.exists(input_key)
    again = api.client.post(f"/api/v1/jobs/{recut['id']}/recut", json={"duration": 3})
    assert again.status_code == 202, again.text
    assert poll_until_finished(api, again.json()["id"])[-1]["status"] == "completed"
    for job_id in (recut["id"], again.json()["id"]):
        assert api.client.delete(f"/api/v1/jobs/{job_id}").status_code == 204
    assert not folder.exists()


@pytest.mark.parametrize("status", ["failed", "cancelled"])
def test_only_a_completed_job_can_be_recut(api, status):
    job = insert_finished_job(api.services, status)
    answer = api.client.post(f"/api/v1/jobs/{job.id}/recut", json={"duration": 10})
    assert answer.status_code == 409, answer.text
    assert answer.json()["type"] == "urn:moments:problem:job-not-ready"


def test_a_longer_recut_of_a_long_video_picks_what_a_fresh_run_picks(
    settings, store, storage, add_job, tmp_path, monkeypatch
):
    """A 24 s video (48 GOPs) made 3 s long is analysed coarse to fine (it is over 6 times the
    reel): every GOP measured only where a 3 s reel would look. Its 12 s re-cut would pick
    partly from the coarse measures, so it analyses again (and keeps that analysis), picking
    what a fresh 12 s run picks; a re-cut no longer than that reads the kept analysis."""
    from tests.engine.media_factory import make_video
    from tests.engine.test_coarse_to_fine import FPS, GOP, SECONDS, H, W, _frame

    source = tmp_path / "long.mp4"
    gops = {"x264-params": f"keyint={GOP}:min-keyint={GOP}:scenecut=0"}
    make_video(
        source, seconds=SECONDS, width=W, height=H, fps=FPS, frame_fn=_frame, video_options=gops
    )
    first = add_job(source, duration=3)
    fresh = add_job(source, duration=12)
    for job in (first, fresh):
        assert run_job(job.id, settings, store=store, storage=storage) == "completed"
    key = analysis_key(first.input_key, content_digest(storage.local_path(first.input_key)))

    def recut(duration: float):
        job = store.create(
            input_key=first.input_key,
            filename=first.filename,
            input_size=first.input_size,
            options={"duration": duration, "recut_of": first.id},
        )
        assert run_job(job.id, settings, store=store, storage=storage) == "completed"
        return store.get(job.id).result

    analysed: list[float] = []
    highlight = run_module.highlight

    def counted(source, output, options, **kwargs):
        analysed.append(options.duration)
        return highlight(source, output, options, **kwargs)

    monkeypatch.setattr(run_module, "highlight", counted)
    done, expected = recut(12), store.get(fresh.id).result
    assert analysed == [12]  # measured for 3 s reels: analysed again
    assert len(expected["segments"]) >= 1
    assert _picks(done) == _picks(expected)
    assert done["duration"] == pytest.approx(expected["duration"], abs=0.05)
    assert _kept(storage, first.input_key) == [key.rsplit("/", 1)[1]]  # the 12 s one now
    recut(6)
    recut(12)
    assert analysed == [12]  # no longer than what the kept analysis was measured for


def test_recuts_count_against_the_upload_rate_limit(start_api, settings, media_dir):
    api = start_api(settings.model_copy(update={"rate_limit_upload": "2/hour"}))
    job = add_completed_job(api.services, media_dir / "testsrc.mp4")
    for _ in range(2):
        answer = api.client.post(f"/api/v1/jobs/{job.id}/recut", json={"duration": 2})
        assert answer.status_code == 202, answer.text
    refused = api.client.post(f"/api/v1/jobs/{job.id}/recut", json={"duration": 2})
    assert refused.status_code == 429
    assert api.client.post("/api/v1/reels", json={"sources": ["x"]}).status_code == 429
