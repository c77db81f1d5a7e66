"""Structured JSON logs carrying the request id and the job id.

``X-Request-ID`` is taken from the request when it looks sane (so a proxy's id follows the
request through) or made up, echoed in the response, and put on every log line written while
the request is handled; ``job_id`` likewise for lines about one job (API paths naming a job,
and run_job in worker processes via :func:`job_context`).
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import re
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from .asgi import HttpMiddleware, WatchedSend

if TYPE_CHECKING:
    from starlette.types import Message, Receive, Scope, Send

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "request_id", default=None
)
job_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("job_id", default=None)

_SANE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_JOB_PATH = re.compile(r"/jobs/([0-9a-f]{32})(?:/|$)")
_RESERVED = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}
_CONTEXT_KEYS = ("request_id", "job_id")
access_log = logging.getLogger("moments.access")


class ContextFilter(logging.Filter):
    """Puts the current request id and job id on each record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", None):
            record.request_id = request_id_var.get()
        if not getattr(record, "job_id", None):
            record.job_id = job_id_var.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, ids and any ``extra`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ("request_id", "job_id"):
            value = getattr(record, key, None)
            if value:
                doc[key] = value
        for key, value in vars(record).items():
            if key in _CONTEXT_KEYS or key in _RESERVED or key in doc or key.startswith("_"):
                continue
            doc[key] = value if isinstance(value, str | int | float | bool) else str(value)
        if record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
        return json.dumps(doc, ensure_ascii=False)


def configure_logging(log_format: str = "json", level: int = logging.INFO) -> None:
    """Root handler on stderr in the chosen format, with the context filter."""
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter("%(levelname)s %(name)s [%(request_id)s %(job_id)s] %(message)s")
        )
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


@contextlib.contextmanager
def job_context(job_id: str) -> Iterator[None]:
    """Log lines inside carry ``job_id``."""
    token = job_id_var.set(job_id)
    try:
        yield
    finally:
        job_id_var.reset(token)


class RequestContext(HttpMiddleware):
    """ASGI middleware: request id in and out, context for log lines, one access line."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        given = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode("latin-1")
        request_id = given if _SANE_ID.match(given) else uuid.uuid4().hex
        match = _JOB_PATH.search(scope.get("path", ""))
        rid_token = request_id_var.set(request_id)
        job_token = job_id_var.set(match.group(1) if match else None)
        start = time.perf_counter()

        def with_id(message: Message) -> Message:
            headers = [(k, v) for k, v in message.get("headers", []) if k != b"x-request-id"]
            headers.append((b"x-request-id", request_id.encode()))
            return {**message, "headers": headers}

        sent = WatchedSend(send, with_id)
        try:
            await self.app(scope, receive, sent)
        finally:
            status = sent.status
            access_log.info(
                "%s %s %s",
                scope["method"],
                scope.get("path", ""),
                status,
                extra={
                    "method": scope["method"],
                    "path": scope.get("path", ""),
                    "status": status,
                    "duration_ms": round((time.perf_counter() - start) * 1000, 1),
                },
            )
            request_id_var.reset(rid_token)
            job_id_var.reset(job_token)
