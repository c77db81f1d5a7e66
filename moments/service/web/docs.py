"""``/docs``: Swagger UI from our own server, so the API docs work without internet.

FastAPI's default page loads Swagger UI from a CDN and is blank offline. The assets come from
the ``fastapi-swagger`` package (Swagger UI 5, which reads the OpenAPI 3.1 document FastAPI
writes; ``swagger-ui-bundle`` on PyPI still ships Swagger UI 4, which cannot).
"""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, Response

from moments.service.problems import Problem

ASSETS = "fastapi_swagger.resources"
PREFIX = "/docs/assets"
FILES = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "favicon-32x32.png": "image/png",
}


router = APIRouter(include_in_schema=False)
"""``/docs`` and its assets under ``/docs/assets`` (create the app with ``docs_url=None``)."""


@router.get("/docs")
def docs(request: Request) -> HTMLResponse:
    app = request.app
    root = request.scope.get("root_path", "").rstrip("/")
    return get_swagger_ui_html(
        openapi_url=f"{root}{app.openapi_url}",
        title=f"{app.title} — API docs",
        swagger_js_url=f"{root}{PREFIX}/swagger-ui-bundle.js",
        swagger_css_url=f"{root}{PREFIX}/swagger-ui.css",
        swagger_favicon_url=f"{root}{PREFIX}/favicon-32x32.png",
        # No badge fetched from validator.swagger.io: nothing leaves this server.
        swagger_ui_parameters={"validatorUrl": None},
    )


@router.get(f"{PREFIX}/{{name}}")
def asset(name: str) -> Response:
    if name not in FILES:
        raise Problem(404, f"There is no docs asset {name!r}.", kind="not-found")
    body = resources.files(ASSETS).joinpath(name).read_bytes()
    # The assets change only with the package: cache them for a day.
    headers = {"Cache-Control": "public, max-age=86400"}
    return Response(body, media_type=FILES[name], headers=headers)
