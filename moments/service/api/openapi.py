"""The OpenAPI document, made to say what the API really answers.

FastAPI's generated schema knows the success responses; the error answers come from our own
code paths (problems.py, auth, rate limits, tus), so they are added here, from the routes'
dependencies and paths rather than by hand per route:

- every error response is ``application/problem+json`` with the Problem schema (also FastAPI's
  422, which it documents as its own JSON shape);
- routes that need a signed-in user declare the bearer security scheme and a 401;
- rate-limited routes a 429, routes with a path parameter a 404;
- the tus routes their required ``Tus-Resumable`` header and protocol answers;
- upload options carry the bounds the server checks (reel length within ``max_duration``).

Schemathesis (tests/hardening/test_fuzz_api.py) checks every answer against this document.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from moments.service.paths import API_PREFIX

from .problems import PROBLEM_MEDIA_TYPE

if TYPE_CHECKING:
    from fastapi import FastAPI
    from fastapi.dependencies.models import Dependant

    from moments.service.settings import Settings

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
SECURITY_SCHEME = "bearer"
TUS_UPLOAD = f"{API_PREFIX}/uploads/{{upload_id}}"
EXTRA_ERRORS: dict[tuple[str, str], tuple[int, ...]] = {
    ("POST", f"{API_PREFIX}/upload"): (400, 402, 413, 415, 422, 507),
    ("POST", f"{API_PREFIX}/uploads"): (400, 402, 412, 413, 415, 507),
    ("HEAD", TUS_UPLOAD): (410, 412),
    ("PATCH", TUS_UPLOAD): (400, 402, 409, 410, 412, 413, 415, 423, 460, 507),
    ("DELETE", TUS_UPLOAD): (412, 423),
    ("POST", f"{API_PREFIX}/auth/signup"): (403, 409),
    ("POST", f"{API_PREFIX}/auth/login"): (401,),
    ("POST", f"{API_PREFIX}/auth/refresh"): (401,),
    ("POST", f"{API_PREFIX}/auth/password"): (403, 409),
    ("POST", f"{API_PREFIX}/webhooks"): (400,),
}
"""Answers particular routes give besides the generic ones (see the route's own code)."""
TUS_PATHS = (f"{API_PREFIX}/uploads", TUS_UPLOAD)


def install(app: FastAPI, settings: Settings) -> None:
    """Replace ``app.openapi`` with the completed document (built once, then cached)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                summary=app.summary,
                description=app.description,
                routes=app.routes,
            )
            complete(schema, app, settings)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def complete(schema: dict[str, Any], app: FastAPI, settings: Settings) -> None:
    components = schema.setdefault("components", {})
    components.setdefault("securitySchemes", {})[SECURITY_SCHEME] = {
        "type": "http",
        "scheme": "bearer",
        "description": f"An API key (mk_...) or an access token from {API_PREFIX}/auth/login.",
    }
    components.get("schemas", {}).pop("HTTPValidationError", None)
    components.get("schemas", {}).pop("ValidationError", None)
    routes = {
        (method, route.path_format): route for route in _api_routes(app) for method in route.methods
    }
    for path, item in schema.get("paths", {}).items():
        for method, operation in item.items():
            route = routes.get((method.upper(), path))
            if route is None or not isinstance(operation, dict):
                continue
            calls = _dependency_names(route.dependant)
            codes = set(EXTRA_ERRORS.get((method.upper(), path), ()))
            if "current_user" in calls:
                operation["security"] = [{SECURITY_SCHEME: []}]
                codes.add(401)
            if calls & {"limited", "limited_by_address"}:
                codes.add(429)
            if "{" in path:
                codes.add(404)
            if "requestBody" in operation or path in TUS_PATHS:
                codes.add(400)  # a body that cannot be parsed
            if path in TUS_PATHS:
                _tus_request(method.upper(), operation, settings.max_upload_bytes)
            responses = operation.setdefault("responses", {})
            for code in codes:
                responses.setdefault(str(code), {"description": _describe(code)})
            for code, response in responses.items():
                if code[0] in "45":
                    response["content"] = {PROBLEM_MEDIA_TYPE: {"schema": PROBLEM_REF}}
    _upload_bounds(schema, settings)


def _api_routes(app: FastAPI) -> list[Any]:
    """The API routes as the schema generator sees them (included routers flattened)."""
    try:  # FastAPI >= 0.160 keeps included routers as lazy contexts
        from fastapi import routing
        from fastapi.openapi.utils import _get_api_route_for_openapi

        contexts = routing.iter_route_contexts(app.routes)
        found = [_get_api_route_for_openapi(c) for c in contexts]
    except ImportError:
        found = [r for r in app.routes if isinstance(r, APIRoute)]
    return [r for r in found if r is not None and getattr(r, "include_in_schema", True)]


def _dependency_names(dependant: Dependant) -> set[str]:
    """Names of every function the route depends on (``limited`` shows as its closure)."""
    names: set[str] = set()
    stack = [dependant]
    while stack:
        current = stack.pop()
        call = current.call
        if call is not None:
            names.add(getattr(call, "__name__", ""))
            qualname = getattr(call, "__qualname__", "")
            names.update(part for part in qualname.split(".") if part != "<locals>")
        stack.extend(current.dependencies)
    return names


TUS_HEADERS: dict[str, list[tuple[str, bool, dict[str, Any]]]] = {
    "POST": [
        ("Upload-Length", True, {"type": "integer", "minimum": 1}),
        ("Upload-Metadata", False, {"type": "string"}),
        ("Upload-Checksum", False, {"type": "string"}),
    ],
    "PATCH": [
        ("Upload-Offset", True, {"type": "integer", "minimum": 0}),
        ("Upload-Checksum", False, {"type": "string"}),
    ],
}
CHUNK_BODY = {"schema": {"type": "string", "format": "binary"}}


def _tus_request(method: str, operation: dict[str, Any], max_bytes: int) -> None:
    """The tus protocol's headers and body (the handlers read them from the raw request)."""
    parameters = operation.setdefault("parameters", [])
    parameters.append(
        {
            "name": "Tus-Resumable",
            "in": "header",
            "required": True,
            "schema": {"type": "string", "enum": ["1.0.0"]},
            "description": "The tus protocol version (412 otherwise, as tus requires).",
        }
    )
    for name, required, schema in TUS_HEADERS.get(method, []):
        if name == "Upload-Length":
            schema = {**schema, "maximum": max_bytes}  # 413 past it
        parameters.append({"name": name, "in": "header", "required": required, "schema": schema})
    for code, response in operation.get("responses", {}).items():
        if code.startswith("2"):  # tus answers in headers only
            response.pop("content", None)
    if method in ("POST", "PATCH"):
        operation["requestBody"] = {
            "required": method == "PATCH",
            "content": {"application/offset+octet-stream": CHUNK_BODY},
        }


def _upload_bounds(schema: dict[str, Any], settings: Settings) -> None:
    """The reel length the upload accepts: 1 s to ``max_duration`` (checked by the server)."""
    bounds = {"minimum": 1, "maximum": settings.max_duration}
    upload = schema.get("paths", {}).get(f"{API_PREFIX}/upload", {}).get("post", {})
    for parameter in upload.get("parameters", []):
        if parameter.get("name") == "duration":
            inner = parameter["schema"]
            for option in inner.get("anyOf", [inner]):
                if option.get("type") == "number":
                    option.pop("exclusiveMinimum", None)
                    option.update(bounds)
    form = upload.get("requestBody", {}).get("content", {}).get("multipart/form-data", {})
    duration = form.get("schema", {}).get("properties", {}).get("duration")
    if duration is not None:
        duration.update(bounds)


def allowed_methods(app: FastAPI, path: str) -> list[str]:
    """Methods the schema lists for the concrete request ``path`` (for a 405's Allow)."""
    import re

    methods: set[str] = set()
    for template, item in app.openapi().get("paths", {}).items():
        pattern = "^" + re.sub(r"\\{[^/]+?\\}", "[^/]+", re.escape(template)) + "$"
        if re.match(pattern, path):
            methods.update(m.upper() for m in item if m != "parameters")
    return sorted(methods)


def _describe(code: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(code).phrase
    except ValueError:
        return "Checksum mismatch" if code == 460 else "Error"
