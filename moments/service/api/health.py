"""Liveness and readiness probes (for load balancers and orchestrators)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from moments.service.problems import Problem

from .deps import Services, ServicesDep
from .schemas import Health, Readiness

router = APIRouter(tags=["health"])
READY_KEY = "health/ready-check"


@router.get("/health", response_model=Health)
def health() -> Health:
    """The process is up and answering."""
    return Health(status="ok")


@router.get("/ready", response_model=Readiness, responses={503: {"description": "Not ready"}})
def ready(request: Request, services: ServicesDep) -> Readiness:
    """Database, storage and workers all usable; otherwise 503 naming what is not."""
    checks = {
        "database": _check(_database, services),
        "storage": _check(_storage, services),
        "workers": _check(_workers, services),
    }
    if all(c["ok"] for c in checks.values()):
        return Readiness(status="ready", checks=checks)
    failing = ", ".join(name for name, c in checks.items() if not c["ok"])
    raise Problem(
        503,
        f"Not ready: {failing} not available.",
        kind="not-ready",
        title="Service not ready",
        checks=checks,
    )


def _check(fn: Any, services: Services) -> dict[str, Any]:
    try:
        return {"ok": True, **fn(services)}
    except Exception as exc:  # a readiness probe reports failures, it does not raise them
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}


def _database(services: Services) -> dict[str, Any]:
    return {"pending": services.store.count("pending")}


def _storage(services: Services) -> dict[str, Any]:
    # A real round trip: a read-only or full disk shows up here, not at the next upload.
    services.storage.write(READY_KEY, [b"ok"])
    services.storage.delete(READY_KEY)
    return {}


def _workers(services: Services) -> dict[str, Any]:
    stats = dict(services.dispatcher.stats())
    if not services.dispatcher.healthy():
        raise RuntimeError(f"worker pool unhealthy: {stats}")
    return stats
