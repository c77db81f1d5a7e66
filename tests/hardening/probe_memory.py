"""Hostile MP4 edit lists uploaded at once, and how much the API process grew meanwhile.

Shared by tests/hardening/test_probe_limits.py and benchmarks/hardening.py. The server is a
real one in a child process (:class:`ServerProcess`); its growth is read from the kernel: the
peak resident size (``VmHWM``) is reset to the current one through ``/proc/<pid>/clear_refs``
just before the uploads, and read again once every upload has been answered.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.engine.media_factory import make_video
from tests.hardening.server_process import ServerProcess
from tests.hardening.test_hostile_uploads import JARGON
from tests.hostile_corpus import mp4_with_long_edit_list

CONCURRENT = 4
ENTRIES = 400_000
"""Edit list entries per file: 4.8 MB on disk, about 1.2 GB to open without a limit."""


def status_kib(pid: int, name: str) -> int:
    """One figure of ``/proc/<pid>/status`` (VmRSS, VmHWM...) in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{name}:"):
            return int(line.split()[1])
    raise AssertionError(f"/proc/{pid}/status has no {name}")


def reset_peak(pid: int) -> None:
    """Set the process's peak resident size (VmHWM) to its current one (Linux 4.0+)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def build_files(folder: Path, count: int = CONCURRENT, entries: int = ENTRIES) -> list[Path]:
    """``count`` copies of a 4-second 64x64 clip whose edit list replays it ``entries`` times."""
    folder.mkdir(parents=True, exist_ok=True)
    clip = make_video(folder / "edits-src.mp4", seconds=4.0, width=64, height=64, audio=False)
    first = mp4_with_long_edit_list(clip, folder / "edits-0.mp4", entries)
    files = [first]
    for i in range(1, count):
        copy = folder / f"edits-{i}.mp4"
        copy.write_bytes(first.read_bytes())
        files.append(copy)
    return files


def upload(server: ServerProcess, path: Path) -> httpx.Response:
    """A raw upload from a client of its own (so uploads in threads really run side by side)."""
    with server.client() as client:
        return client.post(
            "/api/v1/upload?duration=3",
            content=path.read_bytes(),
            headers={"Content-Type": "video/mp4", "X-Filename": path.name},
        )


def handled(response: httpx.Response, filename: str) -> bool:
    """A 4xx problem that names the file and says, without jargon, that it could not be read."""
    if not 400 <= response.status_code < 500:
        return False
    if response.headers.get("content-type") != "application/problem+json":
        return False
    detail = response.json().get("detail", "")
    return (
        filename in detail
        and "within our limits" in detail
        and not any(word.lower() in detail.lower() for word in JARGON)
    )


@dataclass
class ProbeMemoryResult:
    tried: int
    handled: int
    rss_before_kib: int
    peak_kib: int
    responses: list[httpx.Response] = field(default_factory=list)

    @property
    def growth_mb(self) -> float:
        return (self.peak_kib - self.rss_before_kib) * 1024 / 1e6


def warm_up(server: ServerProcess, folder: Path) -> str:
    """One ordinary upload first, so the figures leave out what any first request costs.

    Returns the id of the job it made."""
    clip = make_video(folder / "warm-up.mp4", seconds=2.0, width=160, height=90)
    response = upload(server, clip)
    assert response.status_code == 202, response.text
    return response.json()["id"]


def upload_at_once(server: ServerProcess, files: list[Path]) -> ProbeMemoryResult:
    """Upload ``files`` all at once; the API process's RSS before and its peak during."""
    assert server.process is not None
    pid = server.process.pid
    before = status_kib(pid, "VmRSS")
    reset_peak(pid)
    with ThreadPoolExecutor(len(files)) as pool:
        responses = list(pool.map(lambda path: upload(server, path), files))
    peak = status_kib(pid, "VmHWM")
    done = sum(handled(r, path.name) for r, path in zip(responses, files, strict=True))
    return ProbeMemoryResult(len(files), done, before, peak, responses)
