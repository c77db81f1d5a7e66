"""``moments serve`` as a person starts it: a child process on a free port, read from stderr."""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from tests.hardening.server_process import free_port
from tests.helpers import stop_process

START_SECONDS = 60.0


def serve_until_ready(data_dir: Path, port: int) -> list[str]:
    """Start ``moments serve``, collect its stderr lines up to the 'ready' line, stop it."""
    env = {
        **os.environ,
        "MOMENTS_DATA_DIR": str(data_dir),
        "MOMENTS_WORKERS": "1",
        "MOMENTS_LOG_FORMAT": "json",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "moments.cli", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    seen: list[str] = []
    deadline = time.monotonic() + START_SECONDS
    try:
        while True:
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            assert line is not None, "serve ended before it was ready:\n" + "\n".join(seen)
            seen.append(line)
            if line.startswith("Your API key is in"):
                # Listening already: the page answers at the URL printed.
                assert httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200
                return seen
    finally:
        stop_process(process, timeout=30)


def test_serve_says_where_the_page_and_the_key_are_at_every_start(tmp_path):
    data_dir = tmp_path / "data"
    key_file = (data_dir / "local-api-key").resolve()
    for start in range(2):
        port = free_port()
        lines = serve_until_ready(data_dir, port)
        ready = next(i for i, line in enumerate(lines) if line.startswith("Moments is ready"))
        assert f"open http://127.0.0.1:{port}/ in a browser" in lines[ready]
        assert lines[ready + 1].startswith(f"Your API key is in {key_file};")
        assert key_file.is_file()
        if start == 1:  # the key itself is shown once only, the first time
            assert not any(key_file.read_text().strip() in line for line in lines)
