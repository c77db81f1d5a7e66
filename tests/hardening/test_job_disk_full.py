"""A job that runs out of disk space tells its user so plainly, without the server's paths.

The full disk is real: a tiny tmpfs mounted over the folder the job writes to (these tests run
as root, as CI does here; ``mount`` failing fails the test, it is not skipped). Two places:
the scratch folder, where the engine (FFmpeg) writes the reel, and the storage folder the
finished reel is copied into.
"""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from moments.service.jobs.failures import NO_SPACE_MESSAGE
from moments.service.jobs.run import run_job
from moments.service.settings import Settings

TINY_DISK = "size=8k"  # two pages: smaller than any reel, so the first write that matters fails


@pytest.fixture(params=["scratch", "reels"])
def full_folder(request: pytest.FixtureRequest, migrated: Settings) -> Iterator[Path]:
    folder = migrated.scratch_dir if request.param == "scratch" else migrated.storage_dir / "reels"
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", TINY_DISK, "tmpfs", str(folder)], check=True)
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=True)


def test_out_of_space_job_error_is_plain(
    migrated: Settings, full_folder: Path, store, add_job, small_video: Path, caplog
) -> None:
    job = add_job(small_video)
    with caplog.at_level(logging.ERROR, logger="moments.service.jobs.failures"):
        assert run_job(job.id, migrated, worker_id="disk-full") == "failed"

    view = store.get(job.id)
    assert view.status == "failed"
    assert view.error == NO_SPACE_MESSAGE
    assert view.error == "The server ran out of disk space while making your reel; try again later."
    assert view.attempts == 1  # not retried at once into the same full disk
    # The detail (errno, the file FFmpeg could not write, the traceback) is for the operator.
    (record,) = [r for r in caplog.records if "ran out of disk space" in r.getMessage()]
    assert job.id in record.getMessage() and "No space left on device" in record.getMessage()
    assert record.exc_info is not None
    if full_folder.name == "scratch":
        assert str(full_folder) in record.getMessage()
