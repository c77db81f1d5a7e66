"""RFC 9457 problem details: the one error shape every endpoint answers with.

The error type itself, :class:`~moments.service.problems.Problem`, lives below every layer;
this module renders it (and every other error) for the client.

Everything that goes wrong — our own refusals, Starlette's 404/405, FastAPI's 422 validation
errors and unexpected exceptions — leaves as ``application/problem+json`` with ``type``,
``title``, ``status``, ``detail`` and ``instance``, so clients need exactly one error parser.
"""

from __future__ import annotations

import errno
import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse

from moments.service.problems import Problem, invalid_request

log = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"
TYPE_BASE = "urn:moments:problem:"
"""Problem types are URNs: absolute and stable, but never something a client should fetch."""


def problem_response(
    request: Request,
    status: int,
    detail: str,
    *,
    kind: str | None = None,
    title: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """Build the problem document for ``request`` (``instance`` is the request path)."""
    body: dict[str, Any] = {
        "type": f"{TYPE_BASE}{kind}" if kind else "about:blank",
        "title": title or _reason(status),
        "status": status,
        "detail": detail,
        "instance": request.url.path,
    }
    body.update(extra)
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_MEDIA_TYPE)


def install(app: FastAPI) -> None:
    """Route every error path of ``app`` through :func:`problem_response`."""
    app.add_exception_handler(Problem, _on_problem)
    app.add_exception_handler(StarletteHTTPException, _on_http_exception)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(OSError, _on_os_error)
    # Registered for Exception, Starlette runs this in its outermost middleware, so even
    # errors raised by other middleware get the same shape.
    app.add_exception_handler(Exception, _on_unhandled)


async def _on_problem(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Problem)
    return problem_response(
        request,
        exc.status,
        exc.detail,
        kind=exc.kind,
        title=exc.title,
        headers=exc.headers,
        **exc.extra,
    )


async def _on_http_exception(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else _reason(exc.status_code)
    if exc.status_code == 404 and detail == _reason(404):
        detail = f"There is nothing at {request.url.path}."
    headers = exc.headers
    if exc.status_code == 405:
        allowed = _allowed_methods(request) or (exc.headers or {}).get("Allow", "")
        headers = {**(exc.headers or {}), "Allow": allowed} if allowed else exc.headers
        detail = f"{request.method} is not allowed here; use {allowed}." if allowed else detail
    return problem_response(request, exc.status_code, detail, headers=headers)


def _allowed_methods(request: Request) -> str:
    """Every method served at this path, as the OpenAPI document lists them.

    Starlette names only the methods of the first route whose path matched.
    """
    from .openapi import allowed_methods

    try:
        return ", ".join(allowed_methods(request.app, request.url.path))
    except Exception:  # the schema is a courtesy here; never fail a 405 over it
        log.warning("could not list the methods of %s", request.url.path, exc_info=True)
        return ""


async def _on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {
            "location": ".".join(str(part) for part in err.get("loc", ())),
            "message": err.get("msg", "invalid"),
        }
        for err in exc.errors()
    ]
    return await _on_problem(request, invalid_request(errors))


NO_SPACE = (errno.ENOSPC, errno.EDQUOT)


async def _on_os_error(request: Request, exc: Exception) -> JSONResponse:
    """A full disk (or quota) is the one OS error a client should hear about: 507, retry later.

    Whatever was being written is removed by its writer on the way out, so nothing half-written
    stays; everything else is still an unexpected error.
    """
    assert isinstance(exc, OSError)
    if exc.errno in NO_SPACE:
        log.error("no space left while serving %s %s", request.method, request.url.path)
        return problem_response(
            request,
            507,
            "We have no room to store this right now. Nothing was kept; please try again later.",
            kind="insufficient-storage",
            title="Insufficient storage",
            headers={"Retry-After": "600"},
        )
    return await _on_unhandled(request, exc)


async def _on_unhandled(request: Request, exc: Exception) -> JSONResponse:
    # The client only learns that it was our fault. Starlette re-raises the exception after
    # this response is sent, so the server logs the traceback; one line here ties it to a path.
    log.error("unhandled %s on %s %s", type(exc).__name__, request.method, request.url.path)
    return problem_response(
        request,
        500,
        "Something went wrong on our side. Please try again; if it keeps happening, tell us.",
    )


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
