"""Issue 16: an upload is probed in a child process under memory, processor and time limits.

A 4.8 MB MP4 whose edit list replays its 4 seconds 400,000 times makes FFmpeg build a 1.2 GB
index. Probed inside the API process, four of them at once took it past 4 GB; now the API
process must stay within 100 MB of where it was, and each upload gets a clear 4xx problem.
The server is the real one in a child process, its memory read from /proc.
"""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest

from moments.engine import EngineError, Limits
from moments.service.api.probing import ProbeLimitExceeded, ProbeLimits, Prober
from tests.hardening.fuzz import GENEROUS_ENV
from tests.hardening.probe_memory import (
    CONCURRENT,
    build_files,
    upload_at_once,
    warm_up,
)
from tests.hardening.server_process import ServerProcess
from tests.helpers import wait_for

RSS_GROWTH_MB = 100


def test_hostile_edit_lists_at_once_leave_the_api_small(tmp_path: Path) -> None:
    files = build_files(tmp_path / "files")
    server = ServerProcess(tmp_path / "data", {**GENEROUS_ENV, "MOMENTS_WORKERS": "1"}).start()
    try:
        warm_job = warm_up(server, tmp_path / "files")
        result = upload_at_once(server, files)
        # The warm-up job's analysis is kept beside its input (checked below) once it is done.
        # Not waited for, the server was stopped before it got there on 2 cores at load 10
        # (2026-12-07, two pytest-xdist workers beside other work).
        with server.client() as client:
            wait_for(
                lambda: (
                    client.get(f"/api/v1/jobs/{warm_job}/status").json()["status"]
                    in ("completed", "failed")
                ),
                120,
                "the warm-up job to finish",
            )
    finally:
        server.stop()
    for response in result.responses:
        assert response.status_code == 422, response.text
        problem = response.json()
        assert problem["type"] == "urn:moments:problem:unreadable-upload"
        assert problem["limit"] == "memory"
        assert "could not be read within our limits" in problem["detail"]
        assert "1 GB of memory" in problem["detail"]
    assert result.handled == result.tried == CONCURRENT
    assert result.growth_mb < RSS_GROWTH_MB, (
        f"the API grew by {result.growth_mb:.0f} MB while probing {CONCURRENT} files"
    )
    # The refused uploads left nothing in storage: only the warm-up job's input (and the
    # analysis kept with it for re-cuts) is there.
    kept = [p for p in (tmp_path / "data" / "files" / "uploads").rglob("*") if p.is_file()]
    assert {p.parent.name for p in kept} == {warm_job}
    assert sorted(p.name.split("-")[0] for p in kept) == ["analysis", "source.mp4"]


@pytest.fixture(scope="module")
def edit_lists(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_files(tmp_path_factory.mktemp("edit-lists"), count=1)[0]


def test_probe_over_its_time_limit_is_ended(edit_lists: Path) -> None:
    prober = Prober(ProbeLimits(memory_bytes=None, cpu_seconds=None, timeout_seconds=0.3))
    before = set(multiprocessing.active_children())
    with pytest.raises(ProbeLimitExceeded) as raised:
        prober.probe_blocking(edit_lists, Limits())
    assert raised.value.limit == "time"
    assert str(raised.value) == "opening it took longer than 0.3 seconds"
    assert set(multiprocessing.active_children()) <= before  # the probe's child is reaped


def test_probe_over_its_processor_limit_is_ended(tmp_path: Path) -> None:
    # Twice the entries: about 1.9 s of processor time to open, the limit stops it at 1 s
    # (the memory budget only keeps the machine safe should the limit not work).
    heavy = build_files(tmp_path, count=1, entries=2 * 400_000)[0]
    prober = Prober(ProbeLimits(memory_bytes=4_000_000_000, cpu_seconds=1, timeout_seconds=60))
    before = set(multiprocessing.active_children())
    with pytest.raises(ProbeLimitExceeded) as raised:
        prober.probe_blocking(heavy, Limits())
    assert raised.value.limit == "cpu"
    assert str(raised.value) == "opening it needed more than 1 second of processor time"
    assert set(multiprocessing.active_children()) <= before


def test_probe_within_limits_reads_videos_and_refuses_the_rest(
    small_video: Path, tmp_path: Path
) -> None:
    prober = Prober()
    media = prober.probe_blocking(small_video, Limits())
    assert (media.width, media.height, media.video_codec) == (320, 180, "h264")
    text = tmp_path / "notes.mp4"
    text.write_text("not a video\n" * 100)
    with pytest.raises(EngineError, match="is a text file, not a video"):
        prober.probe_blocking(text, Limits())
