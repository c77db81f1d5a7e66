"""A full disk under the storage path: a clear 507 problem, and nothing lost.

The full disk is real: a 20 MiB tmpfs mounted over the storage folder (these tests run as root,
as CI does here; ``mount`` failing fails the test, it is not skipped).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from moments.service.settings import Settings
from tests.helpers import tus_create, wait_for

TMPFS_BYTES = 20 * 1024 * 1024


@pytest.fixture
def small_disk(settings: Settings) -> Iterator[Path]:
    """The storage folder on its own 20 MiB filesystem."""
    root = settings.storage_dir
    root.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={TMPFS_BYTES}", "tmpfs", str(root)], check=True
    )
    try:
        yield root
    finally:
        subprocess.run(["umount", "-l", str(root)], check=True)


def used_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def finished(api, job_id: str) -> dict | None:
    status = api.status(job_id)
    return status if status["status"] in ("completed", "failed", "cancelled") else None


def test_full_disk_answers_507_and_loses_nothing(small_disk: Path, api, small_video) -> None:
    # A finished job whose files must survive the disk filling up.
    with small_video.open("rb") as f:
        first = api.client.post("/api/v1/upload", files={"file": ("first.mp4", f, "video/mp4")})
    assert first.status_code == 202, first.text
    job_id = first.json()["id"]
    assert wait_for(lambda: finished(api, job_id), 60, "the first job")["status"] == "completed"
    reel_before = api.client.get(f"/api/v1/jobs/{job_id}/download").content
    stored_before = used_bytes(small_disk)

    # 24 MiB into a 20 MiB disk: the write fails part-way.
    too_big = os.urandom(24 * 1024 * 1024)
    response = api.client.post(
        "/api/v1/upload",
        content=too_big,
        headers={"Content-Type": "video/mp4", "X-Filename": "big.mp4"},
    )
    assert response.status_code == 507, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"] == "urn:moments:problem:insufficient-storage"
    assert "try again" in problem["detail"]
    assert response.headers["Retry-After"]

    # Nothing half-written is left, and what was stored before is intact.
    assert not [p for p in small_disk.rglob("*.part")], "a partial file was left behind"
    assert used_bytes(small_disk) == stored_before
    assert api.client.get(f"/api/v1/jobs/{job_id}/download").content == reel_before
    jobs = api.client.get("/api/v1/jobs").json()
    assert jobs["total"] == 1, "the failed upload became a job"

    # The service still works: a small upload fits and makes a reel.
    with small_video.open("rb") as f:
        again = api.client.post("/api/v1/upload", files={"file": ("again.mp4", f, "video/mp4")})
    assert again.status_code == 202, again.text
    done = wait_for(lambda: finished(api, again.json()["id"]), 60, "the job after")
    assert done["status"] == "completed"


def test_full_disk_keeps_a_finished_tus_upload_for_a_retry(
    small_disk: Path, api, small_video
) -> None:
    """The resumable upload's bytes live outside the storage path; when storing them fails
    for lack of room, they are kept and the same upload becomes a job once there is room."""
    filler = small_disk / "filler"
    filler.write_bytes(b"\0" * (TMPFS_BYTES - 64 * 1024))  # leave less than the video
    data = small_video.read_bytes()
    headers = {"Tus-Resumable": "1.0.0"}
    created = tus_create(api.client, data, filename="tus.mp4")
    assert created.status_code == 507, created.text
    assert created.json()["type"] == "urn:moments:problem:insufficient-storage"
    assert not [p for p in small_disk.rglob("*.part")]
    tus_root = api.services.settings.data_dir / "tus"
    (upload_dir,) = [p for p in tus_root.iterdir() if p.is_dir()]
    assert (upload_dir / "data").read_bytes() == data, "the received bytes were lost"

    filler.unlink()  # room again: finishing the same upload now makes the job
    url = f"/api/v1/uploads/{upload_dir.name}"
    head = api.client.head(url, headers=headers)
    assert head.headers["Upload-Offset"] == str(len(data))
    assert api.client.get("/api/v1/jobs").json()["total"] == 0
    done = api.client.patch(
        url,
        content=b"",
        headers=headers
        | {"Upload-Offset": str(len(data)), "Content-Type": "application/offset+octet-stream"},
    )
    assert done.status_code == 204, done.text
    job_id = done.headers["Moments-Job-Id"]
    assert wait_for(lambda: finished(api, job_id), 60, "the tus job")["status"] == "completed"
