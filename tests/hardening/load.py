"""Load on a live server: pollers asking for job status at an interval, uploaders sending videos.

Shared by tests/hardening/test_load.py and benchmarks/hardening.py. Pollers behave like apps
showing progress (one request every ``interval`` seconds each, spread over the interval);
uploaders send a small real video, pausing ``upload_pause`` between two. Every answer other
than the expected 2xx, and every transport error, counts as an error.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np


@dataclass
class LoadResult:
    requests: int = 0
    errors: int = 0
    uploads: int = 0
    status_latencies: list[float] = field(default_factory=list)
    upload_latencies: list[float] = field(default_factory=list)
    error_samples: list[str] = field(default_factory=list)

    def percentile(self, q: float, which: str = "status") -> float:
        values = self.status_latencies if which == "status" else self.upload_latencies
        return float(np.percentile(values, q)) if values else float("nan")

    def record_error(self, what: str) -> None:
        self.errors += 1
        if len(self.error_samples) < 10:
            self.error_samples.append(what)


async def run_load(
    base_url: str,
    headers: dict[str, str],
    video: Path,
    *,
    pollers: int = 100,
    uploaders: int = 10,
    seconds: float = 10.0,
    interval: float = 0.5,
    upload_pause: float = 1.0,
) -> LoadResult:
    """Run pollers and uploaders against ``base_url`` for ``seconds``; return the counts."""
    result = LoadResult()
    data = video.read_bytes()
    limits = httpx.Limits(max_connections=pollers + uploaders, max_keepalive_connections=None)
    timeout = httpx.Timeout(60.0)
    async with httpx.AsyncClient(
        base_url=base_url, headers=headers, limits=limits, timeout=timeout
    ) as client:
        seed = await client.post("/api/v1/upload", files={"file": ("seed.mp4", data, "video/mp4")})
        seed.raise_for_status()
        job_ids = [seed.json()["id"]]
        deadline = time.monotonic() + seconds

        async def poller(n: int) -> None:
            # A timer every ``interval`` (as an app's progress view has), started at a random
            # phase: phones do not all start at once. A late answer delays only the next tick.
            next_tick = time.monotonic() + interval * n / pollers
            while True:
                await asyncio.sleep(max(0.0, next_tick - time.monotonic()))
                if time.monotonic() >= deadline:
                    return
                next_tick = max(next_tick + interval, time.monotonic())
                job_id = job_ids[n % len(job_ids)]
                started = time.perf_counter()
                try:
                    response = await client.get(f"/api/v1/jobs/{job_id}/status")
                except httpx.HTTPError as exc:
                    result.record_error(f"status: {exc!r}")
                else:
                    result.status_latencies.append(time.perf_counter() - started)
                    if response.status_code != 200:
                        result.record_error(f"status {response.status_code}: {response.text}")
                result.requests += 1

        async def uploader(n: int) -> None:
            await asyncio.sleep(upload_pause * n / uploaders)
            while time.monotonic() < deadline:
                started = time.perf_counter()
                try:
                    response = await client.post(
                        "/api/v1/upload",
                        files={"file": (f"load-{n}.mp4", data, "video/mp4")},
                        data={"duration": "3"},
                    )
                except httpx.HTTPError as exc:
                    result.record_error(f"upload: {exc!r}")
                else:
                    result.upload_latencies.append(time.perf_counter() - started)
                    if response.status_code == 202:
                        result.uploads += 1
                        job_ids.append(response.json()["id"])
                    else:
                        result.record_error(f"upload {response.status_code}: {response.text}")
                result.requests += 1
                await asyncio.sleep(upload_pause)  # a person picking the next video

        await asyncio.gather(
            *(poller(n) for n in range(pollers)), *(uploader(n) for n in range(uploaders))
        )
    return result
