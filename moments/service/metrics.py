"""Prometheus metrics: ``GET /metrics``.

Each app has its own registry (several apps live in one test process). Jobs by state and the
queue depth are read from the database at scrape time, so they are right whichever process
changed them. Stage timings happen in worker processes (embedded children or Celery); the
engine records them in the job's result, and the API observes them when the outbox reports
the job completed — no multiprocess mode needed, and it works the same with Celery.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest

from .asgi import HttpMiddleware, WatchedSend
from .db.models import STATUSES

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Receive, Scope, Send

    from .store import JobStore

STAGE_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 1800)
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class _JobCollector:
    """Jobs by state and queue depth, counted when Prometheus scrapes."""

    def __init__(self, store: JobStore, dispatcher: Any):
        self._store, self._dispatcher = store, dispatcher

    def collect(self) -> Iterable[Metric]:
        jobs = GaugeMetricFamily("moments_jobs", "Jobs by state.", labels=["state"])
        counts = {status: self._store.count(status) for status in STATUSES}
        for status, count in counts.items():
            jobs.add_metric([status], count)
        yield jobs
        yield GaugeMetricFamily(
            "moments_queue_depth", "Jobs waiting for a worker.", value=counts["pending"]
        )
        stats = _safe_stats(self._dispatcher)
        if "busy" in stats:
            yield GaugeMetricFamily(
                "moments_workers_busy", "Worker slots processing a job.", value=stats["busy"]
            )


def _safe_stats(dispatcher: Any) -> dict[str, Any]:
    try:
        return dict(dispatcher.stats()) if dispatcher is not None else {}
    except Exception:
        return {}


class Metrics:
    def __init__(self, store: JobStore | None = None, dispatcher: Any = None):
        self.registry = CollectorRegistry()
        self.http_seconds = Histogram(
            "moments_http_request_duration_seconds",
            "HTTP request latency, by route template.",
            ["method", "route", "status"],
            buckets=HTTP_BUCKETS,
            registry=self.registry,
        )
        self.upload_bytes = Counter(
            "moments_upload_bytes", "Bytes of accepted uploads.", registry=self.registry
        )
        self.uploads = Counter("moments_uploads", "Accepted uploads.", registry=self.registry)
        self.stage_seconds = Histogram(
            "moments_job_stage_seconds",
            "Processing seconds per engine stage of completed jobs.",
            ["stage"],
            buckets=STAGE_BUCKETS,
            registry=self.registry,
        )
        self.job_seconds = Histogram(
            "moments_job_processing_seconds",
            "Seconds from a job's start to its end.",
            ["status"],
            buckets=STAGE_BUCKETS,
            registry=self.registry,
        )
        self.jobs_finished = Counter(
            "moments_jobs_finished", "Jobs that reached an end state.", ["status"],
            registry=self.registry,
        )  # fmt: skip
        self.notifications = Counter(
            "moments_notifications", "Notification attempts.", ["channel", "outcome"],
            registry=self.registry,
        )  # fmt: skip
        if store is not None:
            self.registry.register(_JobCollector(store, dispatcher))

    def upload_accepted(self, size: int) -> None:
        self.uploads.inc()
        self.upload_bytes.inc(size)

    def job_finished(self, status: str, result: dict[str, Any] | None, seconds: float | None):
        self.jobs_finished.labels(status).inc()
        if seconds is not None:
            self.job_seconds.labels(status).observe(seconds)
        timings = (result or {}).get("timings") or {}
        if status == "completed":
            for stage, value in timings.items():
                if isinstance(value, int | float):
                    self.stage_seconds.labels(stage).observe(float(value))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


router = APIRouter(tags=["health"])


@router.get("/metrics", response_class=Response, include_in_schema=False)
def metrics(request: Request) -> Response:
    """Prometheus text exposition: with MOMENTS_METRICS_TOKEN as a bearer token, or to anyone
    when MOMENTS_METRICS_PUBLIC is set; otherwise 401."""
    from .problems import Problem

    acc = request.app.state.accounts
    token = acc.settings.metrics_token
    value = token.get_secret_value() if hasattr(token, "get_secret_value") else token
    if value:
        given = request.headers.get("authorization", "").encode()
        if not hmac.compare_digest(given, f"Bearer {value}".encode()):
            raise Problem(401, "Metrics need the configured bearer token.", kind="unauthorized",
                          headers={"WWW-Authenticate": 'Bearer realm="metrics"'})  # fmt: skip
    elif not acc.settings.metrics_public:
        # Protected by default: job counts, traffic and timings are not for anyone who asks.
        raise Problem(
            401,
            "Metrics are not public: set MOMENTS_METRICS_TOKEN and send it as a bearer token "
            "(or set MOMENTS_METRICS_PUBLIC=true).",
            kind="unauthorized",
            headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
        )
    return Response(acc.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)


class HttpMetrics(HttpMiddleware):
    """ASGI middleware timing every request, labelled by route template (not raw path)."""

    def __init__(self, app: ASGIApp, metrics_of: Any) -> None:
        super().__init__(app)
        self._metrics_of = metrics_of

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        start = time.perf_counter()
        sent = WatchedSend(send)
        try:
            await self.app(scope, receive, sent)
        finally:
            status = sent.status
            metrics = self._metrics_of()
            if metrics is not None:
                route = scope.get("route")
                template = getattr(route, "path", None) or "unmatched"
                metrics.http_seconds.labels(scope["method"], template, str(status)).observe(
                    time.perf_counter() - start
                )
