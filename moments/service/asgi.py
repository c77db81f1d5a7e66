"""What the service's ASGI middlewares share: HTTP-only handling and watching the response start."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send


class HttpMiddleware:
    """Acts on HTTP requests in :meth:`handle`; lifespan and websocket traffic pass straight by."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await self.handle(scope, receive, send)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        raise NotImplementedError


class WatchedSend:
    """``send`` that remembers the response status (500 until the app starts a response, as
    an exception then becomes one) and may rewrite the response start (headers) on its way out."""

    def __init__(self, send: Send, edit_start: Callable[[Message], Message] | None = None):
        self._send = send
        self._edit_start = edit_start
        self.status = 500

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            if self._edit_start is not None:
                message = self._edit_start(message)
        await self._send(message)
