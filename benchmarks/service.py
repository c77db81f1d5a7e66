"""Service benchmark: upload throughput and memory, status latency under polling load.

Starts the real service (``moments serve``, embedded defaults) in a child process on a free
loopback port with a temporary data folder, then measures, in the same run:

1. upload throughput of a large raw body (default 2 GB) streamed over loopback, and the
   server's extra resident memory while it streams in (peak RSS during the upload minus RSS
   before it);
2. status-endpoint latency p50/p99 with 100 concurrent pollers while two real jobs process.
   Each poller asks every ``--interval`` seconds, as an app showing progress does; a closed
   loop with no pause would measure queueing in the client, not the server's answer time.

    python benchmarks/service.py [--upload-gb 2] [--pollers 100] [--seconds 10]

Targets (issue 3): >= 200 MB/s, < 150 MB extra memory, status p99 < 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.hardening.load import KeepAliveGet  # noqa: E402

MEDIA = ROOT.parent / "shared" / "media"
CHUNK = b"\0" * (1024 * 1024)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


class Server:
    """``moments serve`` in a child process, with its own data folder."""

    def __init__(self, data_dir: Path) -> None:
        self.port = free_port()
        self.data_dir = data_dir
        env = dict(
            os.environ,
            MOMENTS_DATA_DIR=str(data_dir),
            MOMENTS_WORKERS="2",
            # 100 pollers from one account and one address: lift the per-user polling limit,
            # which would otherwise (rightly) answer 429 to this load.
            MOMENTS_RATE_LIMIT_POLL="1000000/minute",
        )
        # A file, not a pipe: nobody reads the server's log while it runs, and a full pipe
        # would block the server.
        self.log_path = data_dir / "server.log"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "moments.cli", "serve", "--port", str(self.port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=self.log_path.open("wb"),
        )
        self.base_url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.base_url + "/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                if self.process.poll() is not None:
                    raise SystemExit(self.log_path.read_text()) from None
                time.sleep(0.1)
        else:
            raise SystemExit("the service did not start within 60 s")
        self.headers = auth_headers(data_dir)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def auth_headers(data_dir: Path) -> dict[str, str]:
    """The local account's API key, when the service created one at first start."""
    key_file = data_dir / "local-api-key"
    if key_file.is_file():
        return {"Authorization": f"Bearer {key_file.read_text().strip()}"}
    return {}


def server_latencies(server: Server, path_suffix: str) -> list[float]:
    """Seconds the server itself spent on each matching request, from its JSON access log.

    The client's figure also holds its own event-loop delays (100 pollers in one Python
    process); this one is the service's answer time alone.
    """
    found = []
    for line in server.log_path.read_text().splitlines():
        if '"duration_ms"' not in line:
            continue
        entry = json.loads(line)
        if entry.get("path", "").endswith(path_suffix) and "duration_ms" in entry:
            found.append(entry["duration_ms"] / 1000)
    return found


def measure_upload(server: Server, total_bytes: int) -> dict[str, float]:
    peak = [rss_bytes(server.process.pid)]
    baseline = peak[0]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.05):
            peak[0] = max(peak[0], rss_bytes(server.process.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()

    def body():
        sent = 0
        while sent < total_bytes:
            piece = CHUNK[: min(len(CHUNK), total_bytes - sent)]
            sent += len(piece)
            yield piece

    headers = {**server.headers, "Content-Type": "video/mp4", "X-Filename": "big.mp4"}
    headers["Content-Length"] = str(total_bytes)
    started = time.perf_counter()
    response = httpx.post(
        server.base_url + "/api/v1/upload", content=body(), headers=headers, timeout=600
    )
    elapsed = time.perf_counter() - started
    done.set()
    sampler.join()
    return {
        "status": response.status_code,
        "seconds": elapsed,
        "mb_per_s": total_bytes / elapsed / 1e6,
        "extra_mb": (peak[0] - baseline) / 1e6,
    }


def start_jobs(server: Server, count: int) -> list[str]:
    """Jobs for the polling window: a 9:16 reel of the full 42 s clip needs every frame
    decoded, cropped and encoded; more jobs than the two worker slots keep both busy."""
    ids = []
    for _ in range(count):
        with (MEDIA / "example.mp4").open("rb") as f:
            response = httpx.post(
                server.base_url + "/api/v1/upload",
                params={"duration": 40, "aspect": "9:16"},
                content=f.read(),
                headers={**server.headers, "Content-Type": "video/mp4"},
                timeout=60,
            )
        response.raise_for_status()
        ids.append(response.json()["id"])
    return ids


async def poll_status(
    server: Server, job_ids: list[str], pollers: int, seconds: float, interval: float
):
    """Each poller is one keep-alive connection asking every ``interval`` seconds (a bare
    asyncio client: see tests/hardening/load.py for why not httpx)."""
    latencies: list[float] = []
    errors = 0
    stop_at = time.perf_counter() + seconds

    async def poller(n: int) -> None:
        nonlocal errors
        path = f"/api/v1/jobs/{job_ids[n % len(job_ids)]}/status"
        connection = KeepAliveGet(server.base_url, server.headers)
        # Spread the pollers over the interval, as independent phones would be.
        await asyncio.sleep(interval * n / pollers)
        while time.perf_counter() < stop_at:
            started = time.perf_counter()
            status, _ = await connection.get(path)
            latency = time.perf_counter() - started
            latencies.append(latency)
            errors += status != 200
            await asyncio.sleep(max(0.0, interval - latency))
        connection.close()

    await asyncio.gather(*(poller(n) for n in range(pollers)))
    return latencies, errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--upload-gb", type=float, default=2.0)
    parser.add_argument("--pollers", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument(
        "--interval", type=float, default=0.5, help="seconds between one poller's requests"
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="moments-bench-") as tmp:
        server = Server(Path(tmp))
        try:
            upload = measure_upload(server, int(args.upload_gb * 1e9))
            print(
                f"upload {args.upload_gb:g} GB raw body -> HTTP {upload['status']}: "
                f"{upload['mb_per_s']:.0f} MB/s ({upload['seconds']:.1f} s), "
                f"server extra memory {upload['extra_mb']:.0f} MB "
                "(targets: >= 200 MB/s, < 150 MB)"
            )
            job_ids = start_jobs(server, 6)
            latencies, errors = asyncio.run(
                poll_status(server, job_ids, args.pollers, args.seconds, args.interval)
            )
            running = httpx.get(
                f"{server.base_url}/api/v1/jobs",
                params={"status": "processing"},
                headers=server.headers,
            )
            running.raise_for_status()
            still_running = running.json()["total"]
            client = statistics.quantiles(latencies, n=100)
            served = statistics.quantiles(server_latencies(server, "/status"), n=100)
            print(
                f"status, {args.pollers} pollers every {args.interval:g} s for {args.seconds:g} s, "
                f"2 jobs running: {len(latencies)} requests, {errors} errors; "
                f"client p50 {client[49] * 1000:.1f} ms, p99 {client[98] * 1000:.1f} ms; "
                f"server p50 {served[49] * 1000:.1f} ms, p99 {served[98] * 1000:.1f} ms "
                f"(target p99 < 50 ms); jobs processing at the end: {still_running}"
            )
        finally:
            server.stop()


if __name__ == "__main__":
    main()
