"""100 clients polling status and 10 uploading while jobs process, on loopback: no errors.

The server runs in its own process with two worker slots, rate limits raised far above this
load (GENEROUS_ENV: with the default 240 polls a minute per user, 100 pollers of one account
would rightly get 429s), exactly as a deployment expecting this load would configure it.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from .fuzz import GENEROUS_ENV
from .load import run_load
from .server_process import ServerProcess

SECONDS = 8.0
INTERVAL = 0.5
P95_BOUND = 2.0
"""Seconds. Loose on purpose: on 2 shared cores the jobs, the uploads' probes, this load
generator and the server all compete; benchmarks/hardening.py reports the measured latencies.
The 95th percentile, not the 99th: on this shared machine the p99 swung from 40 ms (2026-11-26)
to 0.6-2.3 s from one run to the next (2026-12-07, the code of two sessions back alike: a few
dozen of ~1,600 polls caught behind the uploads' probes and the jobs), p95 0.26-0.72 s. A
server that blocks on requests (a probe or a database call on the event loop) holds every poll
up, and p95 with it."""


def test_pollers_and_uploaders_get_no_errors(tmp_path: Path, small_video: Path) -> None:
    server = ServerProcess(tmp_path / "data", {**GENEROUS_ENV, "MOMENTS_WORKERS": "2"}).start()
    try:
        result = asyncio.run(
            run_load(
                server.base_url,
                server.headers,
                small_video,
                pollers=100,
                uploaders=10,
                seconds=SECONDS,
                interval=INTERVAL,
            )
        )
        with server.client() as client:
            jobs = client.get("/api/v1/jobs", params={"limit": 1}).json()
            processed = client.get("/api/v1/jobs", params={"status": "completed"}).json()
    finally:
        server.stop()
    assert result.errors == 0, result.error_samples
    # 100 pollers at 0.5 s for 8 s is up to 1600 polls (a late answer delays the next tick;
    # on a machine busy with other work far fewer happen): each poller polled several times.
    assert len(result.status_latencies) > 3 * 100
    assert result.uploads >= 10
    assert jobs["total"] == result.uploads + 1
    assert processed["total"] >= 1, "no job finished while the load ran"
    p95, p99 = result.percentile(95), result.percentile(99)
    print(f"load: {result.requests} requests, {result.errors} errors, "
          f"p95 {p95 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms")  # fmt: skip
    assert p95 < P95_BOUND
