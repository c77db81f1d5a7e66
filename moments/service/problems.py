"""The service's error type: a refusal meant for the client, raised from any layer.

Auth, accounts, rate limits, metrics and the routes raise :class:`Problem`; ``api.problems``
renders it as an RFC 9457 problem document. It lives here, below everything, so that no
lower layer has to import the API to refuse something.
"""

from __future__ import annotations

from typing import Any


class Problem(Exception):
    """Raise from any handler to answer with a problem document.

    ``kind`` names the problem type (``urn:moments:problem:<kind>``); leave it out for plain
    HTTP semantics (``about:blank``). ``extra`` members are added to the document (RFC 9457
    extension members), ``headers`` to the response.
    """

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        kind: str | None = None,
        title: str | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.kind = kind
        self.title = title
        self.headers = headers or {}
        self.extra = extra


def invalid_request(errors: list[dict[str, str]], detail: str | None = None) -> Problem:
    """422 with the list of what is wrong (``location``, ``message``), the shape FastAPI's own
    request validation answers with; ``detail`` defaults to the list in one sentence."""
    summary = "; ".join(f"{e['location']}: {e['message']}" for e in errors)
    if detail is None:
        detail = f"The request is not valid: {summary}" if summary else "The request is not valid."
    return Problem(422, detail, kind="validation-error", title="Invalid request", errors=errors)
