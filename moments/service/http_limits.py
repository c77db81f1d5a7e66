"""Limits on HTTP connections themselves, below the app: slow and greedy clients.

uvicorn's httptools protocol has no limit on the size of a request head, no deadline for it,
no floor on how slowly a body may arrive and no cap on connections. Measured before this: a
64 MiB header was answered 200 (+93 MB of server memory), 300 connections sending their
headers a byte at a time were all open a minute later, a body sent at 1 KiB/s was never cut
off, and 1,100 idle connections used up the file descriptors so that /health failed.

These limits act before the app hears of a request (an ASGI app is called only once the head
is complete) or while it waits on a body (it cannot tell a slow client from its own slow
reading), so they live in a small subclass of uvicorn's protocol rather than in middleware.
uvicorn's own knobs do not cover them: ``limit_concurrency`` answers 503 per *request* once
connections or tasks reach the limit, after accepting the connection and reading the head, so
idle connections still hold descriptors and also lock out /health; h11's
``h11_max_incomplete_event_size`` exists only for the slower pure-Python protocol.

What :class:`LimitedHttpProtocol` adds (values from :class:`HttpLimits`, i.e. settings):

* **head size**: a request head over ``max_header_bytes`` is answered 431 and the connection
  closed; bytes of an unfinished head are counted as they arrive, so memory stays bounded.
* **head deadline**: a connection must deliver a whole request head within
  ``header_timeout`` of connecting, and each later request within it of its first byte
  (slowloris); past it, 408 and close (a connection that sent nothing is just closed).
* **body rate**: while a body arrives, each window of ``body_idle`` seconds must bring
  ``body_min_rate`` bytes a second on average, and some bytes; a body that stalls or trickles
  slower is cut off with 408 within two windows. A window in which the *server* stopped
  reading (uvicorn's flow control: the app, its disk or S3 is behind) or has not yet asked
  for the body (``Expect: 100-continue``) is not held against the client, so an upload at
  any ordinary speed is never cut, however long it takes.
* **keep-alive**: uvicorn's own idle timer, set to ``keepalive``.
* **connection cap**: at most ``max_connections`` open connections, lowered to half the
  file-descriptor limit, which is first raised to its hard limit. At the cap a new
  connection takes the place of the longest-idle one (no request under way), else of the
  one longest in the middle of sending its head; only when every connection is busy with a
  request is the newcomer answered 503 and closed. An idle or slowloris flood therefore
  cannot lock out /health, and descriptors never run out.

``moments serve`` passes :func:`uvicorn_options`; a ``uvicorn`` command line gets
:func:`uvicorn_args` (the class then reads the settings of the server's environment).
"""

from __future__ import annotations

import asyncio
import json
import logging
import resource
import time
from dataclasses import dataclass, replace
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, ClassVar

from uvicorn.protocols.http.flow_control import FlowControl
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

if TYPE_CHECKING:
    from uvicorn.config import Config
    from uvicorn.server import ServerState

    from .settings import Settings

log = logging.getLogger(__name__)

PROTOCOL_PATH = "moments.service.http_limits:LimitedHttpProtocol"
BUSY_LOG_SECONDS = 10.0
"""At most one 'connection cap reached' warning per this many seconds (a flood would spam)."""


@dataclass(frozen=True)
class HttpLimits:
    max_header_bytes: int
    header_timeout: float
    body_min_rate: float
    body_idle: float
    keepalive: float
    max_connections: int

    @classmethod
    def from_settings(cls, settings: Settings) -> HttpLimits:
        return cls(
            max_header_bytes=settings.max_header_bytes,
            header_timeout=settings.header_timeout_seconds,
            body_min_rate=settings.body_min_rate,
            body_idle=settings.body_idle_seconds,
            keepalive=settings.keepalive_seconds,
            max_connections=settings.max_connections,
        )


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for ``uvicorn.run`` / ``uvicorn.Config``."""
    return {"http": protocol_for(settings)}


def uvicorn_args() -> list[str]:
    """The same for a ``uvicorn`` command line (limits from that process's settings)."""
    return ["--http", PROTOCOL_PATH]


def protocol_for(settings: Settings) -> type[LimitedHttpProtocol]:
    """The protocol class with the limits of ``settings``."""
    limits = HttpLimits.from_settings(settings)
    return type("LimitedHttpProtocol", (LimitedHttpProtocol,), {"limits": limits})


def raise_fd_limit() -> int:
    """Raise this process's soft limit on open files to its hard limit; return the soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard and hard != resource.RLIM_INFINITY:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            log.warning("could not raise the open-file limit from %d to %d", soft, hard)
    return soft


_resolved: dict[type, HttpLimits] = {}


def _resolve(cls: type[LimitedHttpProtocol]) -> HttpLimits:
    """The limits in force, worked out once per process (and class): raises the fd limit."""
    found = _resolved.get(cls)
    if found is None:
        limits = cls.limits
        if limits is None:
            from .settings import get_settings

            limits = HttpLimits.from_settings(get_settings())
        soft = raise_fd_limit()
        cap = limits.max_connections
        if soft != resource.RLIM_INFINITY and cap > soft // 2:
            # Room for the burst accepted before the cap can act, the database, files, jobs.
            cap = max(1, soft // 2)
            log.warning("at most %d connections: half the open-file limit (%d)", cap, soft)
        found = _resolved[cls] = replace(limits, max_connections=cap)
    return found


def _answer(status: int, detail: str) -> bytes:
    """A complete problem+json response that closes the connection."""
    phrase = HTTPStatus(status).phrase
    body = json.dumps(
        {"type": "about:blank", "title": phrase, "status": status, "detail": detail}
    ).encode()
    head = (
        f"HTTP/1.1 {status} {phrase}\r\ncontent-type: application/problem+json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n"
    )
    if status == 503:
        head += "retry-after: 1\r\n"
    return (head + "\r\n").encode() + body


HEAD_TOO_LARGE = _answer(431, "The request's headers are too large.")
HEAD_TOO_SLOW = _answer(408, "The request's headers took too long to arrive.")
BODY_TOO_SLOW = _answer(408, "The request's body arrived too slowly; please try again.")
BUSY = _answer(503, "The server has too many open connections; please try again.")


class _Waiting:
    """Per server: connections with no request under way, oldest first (dicts keep order)."""

    def __init__(self) -> None:
        self.idle: dict[LimitedHttpProtocol, None] = {}
        self.heads: dict[LimitedHttpProtocol, None] = {}
        self.leaving: set[LimitedHttpProtocol] = set()  # closed by us, not yet gone
        self.last_busy_log = -BUSY_LOG_SECONDS

    def make_room(self) -> bool:
        """Close the longest-idle connection, else the one longest sending a head."""
        for group in (self.idle, self.heads):
            if group:
                next(iter(group))._close()
                return True
        return False


class _Flow(FlowControl):
    """uvicorn's flow control, remembering that the server stopped reading (the app is behind)."""

    paused_once = False

    def pause_reading(self) -> None:
        self.paused_once = True
        super().pause_reading()


class LimitedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the limits of the module doc."""

    limits: ClassVar[HttpLimits | None] = None
    """Set on the classes :func:`protocol_for` makes; None: from the process's settings."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._limits = _resolve(type(self))
        self.timeout_keep_alive = self._limits.keepalive  # type: ignore[assignment]
        if not hasattr(server_state, "moments_waiting"):
            server_state.moments_waiting = _Waiting()  # type: ignore[attr-defined]
        self._waiting: _Waiting = server_state.moments_waiting  # type: ignore[attr-defined]
        self._group: dict[LimitedHttpProtocol, None] | None = None
        self._closed = False  # refused, rejected or evicted: ignore whatever still arrives
        self._between = True  # no request begun since the last one ended
        self._in_head = False
        self._head_bytes = 0
        self._ended_in_chunk = False
        self._head_timer: asyncio.TimerHandle | None = None
        self._in_body = False
        self._body_bytes = 0
        self._window_start = 0.0
        self._body_timer: asyncio.TimerHandle | None = None

    # -- connections -----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        waiting = self._waiting
        live = len(self.connections) - len(waiting.leaving)
        if live >= self._limits.max_connections and not waiting.make_room():
            now = time.monotonic()
            if now - waiting.last_busy_log >= BUSY_LOG_SECONDS:
                waiting.last_busy_log = now
                log.warning("connection cap (%d) reached; refusing", self._limits.max_connections)
            self.transport = transport
            self._closed = True
            transport.write(BUSY)
            transport.close()
            return
        super().connection_made(transport)
        self.flow = _Flow(transport)
        self._arm_head_timer()  # a fresh connection owes its first head from now
        self._settle()

    def connection_lost(self, exc: Exception | None) -> None:
        self._forget()
        self._waiting.leaving.discard(self)
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._closed:
            return
        if self._between and self._head_timer is None:
            self._arm_head_timer()  # bytes after an idle spell (even stray CRLFs): a head is due
        self._ended_in_chunk = False
        super().data_received(data)
        if self._closed or self.transport.is_closing():
            return
        # Count an unfinished head as it arrives (httptools would buffer it whole). The chunk
        # is all head unless a previous request ended inside it; then it is left out, and the
        # check on the parsed head below still applies.
        if self._in_head and not self._ended_in_chunk:
            self._head_bytes += len(data)
            if self._head_bytes > self._limits.max_header_bytes:
                self._reject_head(HEAD_TOO_LARGE)
                return
        if self._in_body and self._body_timer is None:
            self._body_timer = self.loop.call_later(self._limits.body_idle, self._check_body)

    def handle_websocket_upgrade(self) -> None:
        self._forget()
        super().handle_websocket_upgrade()

    # -- parser callbacks ------------------------------------------------------------------

    def on_message_begin(self) -> None:
        if self._closed:
            return
        super().on_message_begin()
        self._between = False
        self._in_head = True
        self._head_bytes = 0
        self._arm_head_timer()  # no-op on a fresh connection: its deadline runs from connecting
        self._settle()

    def on_headers_complete(self) -> None:
        if self._closed:
            return
        self._in_head = False
        self._cancel_head_timer()
        size = len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)
        if size > self._limits.max_header_bytes:
            self._reject_head(HEAD_TOO_LARGE)
            return
        super().on_headers_complete()
        self._in_body = True  # until on_message_complete, at once if there is no body
        self._body_bytes = 0
        self._window_start = self.loop.time()
        self._settle()

    def on_body(self, body: bytes) -> None:
        if self._closed:
            return
        self._body_bytes += len(body)
        super().on_body(body)

    def on_message_complete(self) -> None:
        if self._closed:
            return
        self._in_body = False
        self._between = True
        self._ended_in_chunk = True
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None
        super().on_message_complete()
        self._settle()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self._closed:
            self._settle()

    # -- deadlines -------------------------------------------------------------------------

    def _arm_head_timer(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(
                self._limits.header_timeout, self._head_deadline
            )

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_deadline(self) -> None:
        self._head_timer = None
        if self._closed or self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            # A pipelined head waits behind a response still being sent: not the client's delay.
            self._arm_head_timer()
            return
        if self._in_head:
            self._reject_head(HEAD_TOO_SLOW)
        else:
            self._close()  # connected (or came back from idle) and never sent a request

    def _check_body(self) -> None:
        self._body_timer = None
        if self._closed or not self._in_body or self.transport.is_closing():
            return
        now = self.loop.time()
        flow = self.flow
        assert isinstance(flow, _Flow)
        ours = flow.paused_once or flow.read_paused  # we stopped reading: the app is behind
        ours = ours or (self.cycle is not None and self.cycle.waiting_for_100_continue)
        wanted = self._limits.body_min_rate * (now - self._window_start)
        if not ours and (self._body_bytes == 0 or self._body_bytes < wanted):
            self._reject_body()
            return
        self._window_start, self._body_bytes = now, 0
        flow.paused_once = flow.read_paused
        self._body_timer = self.loop.call_later(self._limits.body_idle, self._check_body)

    # -- ending connections ----------------------------------------------------------------

    def _reject_head(self, answer: bytes) -> None:
        """Answer a head we will not take, unless a response to an earlier request is under
        way on this connection (a pipelined head: it would interleave); then just close."""
        if self.cycle is None or self.cycle.response_complete:
            self.transport.write(answer)
        self._close()

    def _reject_body(self) -> None:
        """408 for a body too slow, if no response has begun; the app's next ``receive()``
        says the client left, and anything it sends is dropped."""
        if self.cycle is not None and not self.cycle.response_started:
            self.transport.write(BODY_TOO_SLOW)
        self._close()

    def _close(self) -> None:
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            cycle.disconnected = True
            cycle.message_event.set()
        self._closed = True
        self._forget()
        self._waiting.leaving.add(self)
        self.transport.close()

    def _forget(self) -> None:
        """No more timers, and out of the groups the cap takes room from."""
        self._cancel_head_timer()
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None
        if self._group is not None:
            self._group.pop(self, None)
            self._group = None

    def _settle(self) -> None:
        """Put this connection in the group its state calls for (idle, sending a head, busy)."""
        group: dict[LimitedHttpProtocol, None] | None
        responding = self.cycle is not None and not self.cycle.response_complete
        if self._in_body or self.pipeline or responding:
            group = None  # a request under way (a pipelined head behind a response included)
        elif self._in_head:
            group = self._waiting.heads
        else:
            group = self._waiting.idle
        if group is not self._group:
            if self._group is not None:
                self._group.pop(self, None)
            if group is not None:
                group[self] = None
            self._group = group
