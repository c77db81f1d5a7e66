"""Every job and upload belongs to its owner: another user's ids answer 404 everywhere.
Also the one-machine start: the local account, its key file, and the bind refusal."""

from __future__ import annotations

import pytest

from moments.service.auth.setup import BindRefused, check_bind, ensure_local_account

from .auth_helpers import account_store, other_user
from .conftest_api import add_completed_job, insert_finished_job

JOB_GETS = ["/status", "", "/download", "/poster", "/events"]


def test_another_users_job_is_404_on_every_endpoint(api, media_dir):
    mine = add_completed_job(api.services, media_dir / "testsrc.mp4")
    _, mallory = other_user(api)
    base = f"/api/v1/jobs/{mine.id}"
    for suffix in JOB_GETS:
        for method in ("GET", "HEAD") if suffix in ("/download", "/poster") else ("GET",):
            stolen = mallory.request(method, base + suffix)
            assert stolen.status_code == 404, (method, suffix)
            own = api.client.request(method, base + suffix, headers={"Range": "bytes=0-1"})
            assert own.status_code in (200, 206), (method, suffix, own.text)
            if method == "GET":
                assert stolen.json()["type"] == "urn:moments:problem:job-not-found"
                # Same answer as a job that does not exist: nothing is revealed.
                missing = mallory.get(f"/api/v1/jobs/{'0' * 32}{suffix}").json()
                assert stolen.json()["detail"].replace(mine.id, "") == missing["detail"].replace(
                    "0" * 32, ""
                )
    assert mallory.delete(base).status_code == 404
    assert api.services.store.get(mine.id) is not None  # still there
    assert mallory.get("/api/v1/jobs").json()["total"] == 0
    assert api.client.get("/api/v1/jobs").json()["total"] == 1


def test_job_list_shows_only_your_jobs(api):
    mallory_user, mallory = other_user(api)
    insert_finished_job(api.services, "completed")
    theirs = insert_finished_job(api.services, "failed", owner_id=mallory_user.id)
    assert [j["id"] for j in mallory.get("/api/v1/jobs").json()["items"]] == [theirs.id]
    assert theirs.id not in {j["id"] for j in api.client.get("/api/v1/jobs").json()["items"]}


def test_another_users_tus_upload_is_404(api):
    _, mallory = other_user(api)
    tus = {"Tus-Resumable": "1.0.0"}
    created = api.client.post("/api/v1/uploads/", headers={**tus, "Upload-Length": "1000"})
    assert created.status_code == 201, created.text
    url = created.headers["location"]
    assert mallory.head(url, headers=tus).status_code == 404
    chunk = {**tus, "Content-Type": "application/offset+octet-stream", "Upload-Offset": "0"}
    assert mallory.patch(url, content=b"\0" * 10, headers=chunk).status_code == 404
    assert mallory.delete(url, headers=tus).status_code == 404
    head = api.client.head(url, headers=tus)
    assert head.status_code == 200 and head.headers["upload-offset"] == "0"
    assert (
        api.anonymous().post("/api/v1/uploads/", headers={**tus, "Upload-Length": "9"}).status_code
        == 401
    )


def test_uploaded_job_belongs_to_the_uploader(api, small_video):
    user, mallory = other_user(api)
    response = mallory.post(
        "/api/v1/upload",
        content=small_video.read_bytes(),
        headers={"Content-Type": "video/mp4", "X-Filename": "mine.mp4"},
    )
    assert response.status_code == 202, response.text
    job_id = response.json()["id"]
    assert api.services.store.get(job_id).owner_id == user.id
    assert api.client.get(f"/api/v1/jobs/{job_id}/status").status_code == 404
    assert mallory.delete(f"/api/v1/jobs/{job_id}").status_code in (200, 204)


def test_local_account_key_file_is_private_and_stable(api):
    path = api.services.settings.data_dir / "local-api-key"
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.read_text().strip() == api.api_key
    assert api.client.get("/api/v1/me").json()["user"]["email"] == "local@localhost"
    accounts = account_store(api.services.settings)
    assert ensure_local_account(api.services.settings, accounts) is None  # second start: same
    assert path.read_text().strip() == api.api_key
    path.unlink()  # lost key file: a new key is made and written
    new_key = ensure_local_account(api.services.settings, accounts)
    assert new_key and path.read_text().strip() == new_key
    assert (
        api.anonymous().get("/api/v1/me", headers={"Authorization": f"Bearer {new_key}"}).is_success
    )


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.5", "::", "example.com"])
def test_public_bind_with_local_auth_refuses_to_start(settings, host):
    with pytest.raises(BindRefused, match="MOMENTS_AUTH_MODE=accounts"):
        check_bind(settings, host)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.2"])
def test_loopback_bind_with_local_auth_is_fine(settings, host):
    check_bind(settings, host)
    check_bind(settings.model_copy(update={"auth_mode": "accounts"}), "0.0.0.0")


def test_cli_serve_refuses_public_bind(tmp_path):
    import subprocess
    import sys

    env = {"MOMENTS_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    run = subprocess.run(
        [sys.executable, "-m", "moments.cli", "serve", "--host", "0.0.0.0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode != 0
    assert "Refusing to listen on 0.0.0.0" in run.stderr
    assert not (tmp_path / "moments.db").exists()  # refused before touching anything
