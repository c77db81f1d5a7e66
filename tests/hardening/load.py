"""Load on a live server: pollers asking for job status at an interval, uploaders sending videos.

Shared by tests/hardening/test_load.py and benchmarks/hardening.py. Pollers behave like apps
showing progress (one request every ``interval`` seconds each, spread over the interval);
uploaders send a small real video, pausing ``upload_pause`` between two. Every answer other
than the expected 2xx, and every transport error, counts as an error.

Pollers are bare keep-alive HTTP/1.1 connections (:class:`KeepAliveGet`), not httpx clients:
100 httpx pollers cost their process more CPU than the server spends answering them, and on
2 shared cores that cost would be measured as the server's latency.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

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


class KeepAliveGet:
    """One HTTP/1.1 keep-alive connection for GET requests, one at a time."""

    def __init__(self, base_url: str, headers: dict[str, str]) -> None:
        url = urlsplit(base_url)
        self._address = (url.hostname or "127.0.0.1", url.port or 80)
        lines = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        self._head = f"HTTP/1.1\r\nHost: {url.netloc}\r\n{lines}\r\n".encode()
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def get(self, path: str) -> tuple[int, bytes]:
        """Status code and body of one answer (reconnecting if the server had closed)."""
        if self._streams is None:
            self._streams = await asyncio.open_connection(*self._address)
        reader, writer = self._streams
        writer.write(b"GET " + path.encode() + b" " + self._head)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            self.close()
            raise
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        body = await reader.readexactly(length)
        if b"\r\nconnection: close" in head.lower():
            self.close()
        return int(head.split(b" ", 2)[1]), body

    def close(self) -> None:
        if self._streams is not None:
            self._streams[1].close()
            self._streams = None


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
            connection = KeepAliveGet(base_url, headers)
            while True:
                await asyncio.sleep(max(0.0, next_tick - time.monotonic()))
                if time.monotonic() >= deadline:
                    connection.close()
                    return
                next_tick = max(next_tick + interval, time.monotonic())
                job_id = job_ids[n % len(job_ids)]
                started = time.perf_counter()
                try:
                    status, body = await connection.get(f"/api/v1/jobs/{job_id}/status")
                except (OSError, asyncio.IncompleteReadError) as exc:
                    result.record_error(f"status: {exc!r}")
                else:
                    result.status_latencies.append(time.perf_counter() - started)
                    if status != 200:
                        result.record_error(f"status {status}: {body[:200]!r}")
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
