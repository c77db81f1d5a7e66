"""Helpers for every test folder: poll real state with a deadline (never bare sleeps), and
the settings a test server runs on."""

from __future__ import annotations

import base64
import fcntl
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from moments.service.settings import Settings

T = TypeVar("T")


def wait_for(check: Callable[[], T], timeout: float, what: str, every: float = 0.05) -> T:
    """Call ``check`` until it returns something truthy; fail the test after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(every)  # polling interval of a deadline-bounded wait, not synchronisation


def files_under(root: Path) -> list[Path]:
    """Every file under ``root``, sorted, while a server may be deleting some: a folder removed
    mid-walk is skipped (``Path.rglob`` raised FileNotFoundError when the server removed an
    aborted upload's folder as a test watched it go)."""
    return sorted(Path(top) / name for top, _, names in os.walk(root) for name in names)


def stop_process(process: subprocess.Popen, timeout: float = 20) -> None:
    """Ask a child process to stop (SIGTERM); kill it if it has not within ``timeout``."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def tus_create(client: Any, data: bytes, **metadata: str) -> Any:
    """A tus creation-with-upload POST (the whole file in the creating request, as
    tus-js-client can send it), with ``metadata`` as its Upload-Metadata."""
    meta = ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in metadata.items())
    return client.post(
        "/api/v1/uploads",
        content=data,
        headers={
            "Tus-Resumable": "1.0.0",
            "Upload-Length": str(len(data)),
            "Upload-Metadata": meta,
            "Content-Type": "application/offset+octet-stream",
        },
    )


def pid_alive(pid: int) -> bool:
    """Whether a process ``pid`` exists (one owned by another user counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def child_pids(pid: int) -> list[int]:
    """Live child processes of ``pid``, zombies left out (Linux /proc; psutil is not installed)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone meanwhile
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


def fast_settings(tmp_path: Path, **changes: Any) -> Settings:
    """Settings on a fresh data dir under ``tmp_path`` for a test: one worker, a short lease and
    frequent progress writes so tests stay fast; ``changes`` override any of them.

    The lease is claimed before the job's process is spawned, so it must outlast that start
    (imports: seconds on a loaded machine). At 3 s, on 2 cores at load 11-15 (2026-12-07, two
    pytest-xdist workers beside other work), it ran out before the first renewal: a 6 s clip's
    job was re-queued twice and failed ("recovered stale jobs" x3), and a clean stop handed
    back a second claim (attempts 1, not 0)."""
    defaults: dict[str, Any] = {
        "data_dir": tmp_path / "data",
        "workers": 1,
        "job_lease_seconds": 20.0,
        "progress_interval": 0.1,
    }
    return Settings(**{**defaults, **changes}, _env_file=None)


def made_once(
    tmp_path_factory: pytest.TempPathFactory, name: str, make: Callable[[Path], Any]
) -> Path:
    """The file ``name``, made by ``make(path)`` once for the whole run: in the session's base
    temp folder, or under pytest-xdist in the run's folder that all workers share (the first
    worker to get there makes it while the others wait on a lock, then they all read it)."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # .../pytest-N/popen-gwK -> .../pytest-N
    path = root / name
    with (root / f".{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not path.exists():
            partial = path.with_name(f".{name}.part{path.suffix}")
            make(partial)
            partial.replace(path)
    return path
