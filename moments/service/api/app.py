"""``create_app()``: the FastAPI application, assembled here and only here: every router, every
middleware, the error shape, the OpenAPI document and the lifespan that starts the services."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from moments.service import metrics, web
from moments.service.auth import routes as auth_routes
from moments.service.auth import setup as accounts_setup
from moments.service.logging import RequestContext
from moments.service.notify import routes as notify_routes
from moments.service.ratelimit import RateLimitHeaders
from moments.service.settings import Settings, get_settings
from moments.service.web import docs as web_docs

from . import downloads, events, health, jobs, openapi, problems, recut, sources, tus, uploads
from .deps import Services
from .probing import Prober

EXPOSED_HEADERS = ["Accept-Ranges", "Content-Range", "Content-Length", "ETag", "Location",
                   "Content-Disposition", "Last-Modified"]  # fmt: skip


def create_app(settings: Settings | None = None) -> FastAPI:
    """The API on ``settings`` (default: the environment's). Workers start with the app."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services = await anyio.to_thread.run_sync(_start_services, settings)
        app.state.services = services
        start_accounts = accounts_setup.start
        app.state.accounts = await anyio.to_thread.run_sync(start_accounts, settings, services)
        try:
            yield
        finally:
            await anyio.to_thread.run_sync(accounts_setup.stop, app.state.accounts)
            await anyio.to_thread.run_sync(services.dispatcher.stop)

    app = FastAPI(
        title="Moments",
        summary="Turns a raw phone video into a short highlight reel.",
        version="1",
        lifespan=lifespan,
        docs_url=None,  # /docs is served by web.docs, from our own copy of Swagger UI
    )
    problems.install(app)
    # Middleware: the last added runs first, so the request id is outermost (every log line
    # and problem carries it), then HTTP metrics, rate-limit headers, and CORS innermost.
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "HEAD", "POST", "PATCH", "DELETE", "OPTIONS"],
            allow_headers=["*"],
            expose_headers=EXPOSED_HEADERS + tus.TUS_HEADERS,
            max_age=600,
        )
    app.add_middleware(RateLimitHeaders)
    app.add_middleware(
        metrics.HttpMetrics,
        metrics_of=lambda: getattr(getattr(app.state, "accounts", None), "metrics", None),
    )
    app.add_middleware(RequestContext)
    api = (health, uploads, tus, jobs, recut, sources, events, downloads, auth_routes,
           notify_routes, metrics)  # fmt: skip
    # the page after the API routes, so it never shadows them
    for router in [*(module.router for module in api), web.router, web_docs.router]:
        app.include_router(router)
    app.mount("/static", web.static_files(), name="static")
    openapi.install(app, settings)  # the error answers, security and bounds in /openapi.json
    return app


def _start_services(settings: Settings) -> Services:
    from moments.service import db
    from moments.service.jobs.dispatch import make_dispatcher
    from moments.service.sources import SourceStore
    from moments.service.storage import get_storage
    from moments.service.store import JobStore

    db.upgrade(settings)
    storage = get_storage(settings)
    # A server killed mid-upload leaves a temporary file; it never became a job.
    storage.clean_partial_writes()
    dispatcher = make_dispatcher(settings)
    dispatcher.start()
    prober = Prober.from_settings(settings)
    prober.start()
    store = JobStore.from_settings(settings)
    return Services(
        settings=settings,
        store=store,
        sources=SourceStore(store.sessions),
        storage=storage,
        dispatcher=dispatcher,
        prober=prober,
    )
