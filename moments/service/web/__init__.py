"""The web page: static files served by the API at ``/`` (no build step at run time).

``static/`` holds index.html, app.js, styles.css and ``vendor/`` (tus-js-client, committed so
the quick start needs only Python; refreshed by ``scripts/vendor-js``). ``docs`` serves
``/docs`` (Swagger UI) from the server itself.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).parent / "static"


router = APIRouter(include_in_schema=False)
"""The page at ``/`` and what it asks the server (``/web/...``); ``docs.router`` is /docs."""


def static_files() -> StaticFiles:
    """The page's assets, mounted at ``/static`` by ``create_app``."""
    return StaticFiles(directory=STATIC_DIR)


@router.get("/")
def index() -> FileResponse:
    # Revalidate every time so a new release's page is picked up at once.
    return FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})


@router.get("/web/sign-in")
def sign_in(request: Request) -> JSONResponse:
    """How the page's sign-in dialog should speak: in local mode, where this server keeps
    the local API key (never the key itself), since ``MOMENTS_DATA_DIR`` may move it."""
    from moments.service.auth.setup import local_key_path

    settings = request.app.state.services.settings
    body: dict[str, str] = {"mode": settings.auth_mode}
    if settings.auth_mode == "local":
        body["key_file"] = str(local_key_path(settings).resolve())
    return JSONResponse(body, headers={"Cache-Control": "no-store"})
