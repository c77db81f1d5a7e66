"""Slow and greedy clients against the real server (a uvicorn child, as ``moments serve`` sets
it up): huge heads, slowloris heads, trickled bodies, idle keep-alive, connection floods.

Raw sockets on 127.0.0.1 throughout: an HTTP client library would never send what these
clients send. The limits are set small in the child's environment so each deadline passes in
about a second; the only waiting is for those server-side deadlines, in loops bounded by them.
"""

from __future__ import annotations

import asyncio
import contextlib
import resource
import select
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from moments.service.http_limits import uvicorn_options as limit_options
from moments.service.settings import Settings
from tests.hardening.fuzz import GENEROUS_ENV
from tests.hardening.server_process import ServerProcess
from tests.helpers import wait_for

HEAD_SECONDS = 1.0
BODY_WINDOW = 1.0
BODY_MIN_RATE = 16 * 1024
KEEPALIVE = 1.0
CAP = 20
SLACK = 2.0
"""Allowance past a deadline for the server's timer and a busy 2-core machine."""

QUICK_LIMITS = {
    "MOMENTS_HEADER_TIMEOUT_SECONDS": str(HEAD_SECONDS),
    "MOMENTS_BODY_IDLE_SECONDS": str(BODY_WINDOW),
    "MOMENTS_BODY_MIN_RATE": str(BODY_MIN_RATE),
    "MOMENTS_KEEPALIVE_SECONDS": str(KEEPALIVE),
}
CAPPED = {
    # Deadlines far away, so whatever closes a connection here is the cap.
    "MOMENTS_MAX_CONNECTIONS": str(CAP),
    "MOMENTS_HEADER_TIMEOUT_SECONDS": "120",
    "MOMENTS_BODY_IDLE_SECONDS": "120",
    "MOMENTS_KEEPALIVE_SECONDS": "120",
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    folder = tmp_path_factory.mktemp("slow-clients")
    process = ServerProcess(folder / "data", {**GENEROUS_ENV, **QUICK_LIMITS}).start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="module")
def capped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server with a small connection cap, started under a lowered open-file soft limit
    (inherited from this process) to see that it raises its own."""
    folder = tmp_path_factory.mktemp("capped")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    lowered = min(soft, 1024)
    resource.setrlimit(resource.RLIMIT_NOFILE, (lowered, hard))
    try:
        process = ServerProcess(folder / "data", {**GENEROUS_ENV, **CAPPED}).start()
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    try:
        yield process
    finally:
        process.stop()


# -- raw connections ------------------------------------------------------------------------


def connect(server: ServerProcess) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def readable(sock: socket.socket, timeout: float) -> bool:
    """Whether ``sock`` has data or an end to read within ``timeout`` (poll: any fd number)."""
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(max(0, int(timeout * 1000))))


def closed_by_server(sock: socket.socket, timeout: float) -> bytes | None:
    """What the server sent before closing, once it closes within ``timeout``; else None."""
    received = b""
    deadline = time.monotonic() + timeout
    while True:
        if not readable(sock, deadline - time.monotonic()):
            return None
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return received
        if not chunk:
            return received
        received += chunk


def read_response(sock: socket.socket, timeout: float = 5) -> bytes:
    """One whole response (it has a Content-Length), or what came before the server closed."""
    received = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        head, _, body = received.partition(b"\r\n\r\n")
        if _ and b"content-length: " in head.lower():
            length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
            if len(body) >= length:
                return received
        ready = readable(sock, deadline - time.monotonic())
        try:
            chunk = sock.recv(65536) if ready else b""
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            return received
        received += chunk
    raise AssertionError(f"no whole response in {timeout} s: {received[:200]!r}")


def is_closed(sock: socket.socket) -> bool:
    """Whether the server has closed ``sock`` (without waiting)."""
    return closed_by_server(sock, 0.0) is not None


def status_of(response: bytes) -> int | None:
    if not response.startswith(b"HTTP/1.1 "):
        return None
    return int(response[9:12])


def health(server: ServerProcess) -> int | None:
    """GET /health on a fresh connection: its status, or None if refused or reset."""
    try:
        return httpx.get(server.base_url + "/health", timeout=3).status_code
    except httpx.TransportError:
        return None


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def open_fds(pid: int) -> int:
    return len(list(Path(f"/proc/{pid}/fd").iterdir()))


def upload_head(server: ServerProcess, length: int) -> bytes:
    auth = server.headers["Authorization"]
    return (
        f"POST /api/v1/upload HTTP/1.1\r\nHost: test\r\nAuthorization: {auth}\r\n"
        f"Content-Type: video/mp4\r\nX-Filename: slow.mp4\r\nContent-Length: {length}\r\n\r\n"
    ).encode()


# -- head size --------------------------------------------------------------------------------


def test_huge_header_is_refused_and_memory_stays_bounded(server: ServerProcess) -> None:
    pid = server.process.pid
    before = rss_bytes(pid)
    sock = connect(server)
    sent = 0
    piece = b"a" * (1024 * 1024)
    with sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: test\r\nX-Big: ")
        try:
            for _ in range(64):  # a 64 MiB header, as measured before the limit
                sock.sendall(piece)
                sent += len(piece)
        except (BrokenPipeError, ConnectionResetError):
            pass
        response = closed_by_server(sock, 5)
    grown = rss_bytes(pid) - before
    assert response is not None, "the server kept the connection open"
    assert status_of(response) in (431, None), response[:200]  # None: reset before it was read
    assert sent < 16 * 1024 * 1024, f"the server read {sent} bytes of header"
    assert grown < 16 * 1024 * 1024, f"the server grew by {grown / 1e6:.0f} MB"
    assert health(server) == 200


def test_head_over_the_limit_gets_431_and_under_it_passes(server: ServerProcess) -> None:
    limit = 64 * 1024
    for size, expected in ((limit - 1024, 200), (limit + 1024, 431)):
        with connect(server) as sock:
            head = b"GET /health HTTP/1.1\r\nHost: test\r\nX-Pad: "
            head += b"p" * (size - len(head) - 4) + b"\r\n\r\n"
            sock.sendall(head)
            response = read_response(sock)
        assert status_of(response) == expected, response[:300]
    assert b"application/problem+json" in response and b'"status": 431' in response


# -- head deadline ----------------------------------------------------------------------------


def test_slowloris_heads_are_cut_at_the_deadline(server: ServerProcess) -> None:
    """Ten connections sending their head a byte every 0.1 s, and one sending nothing: all
    are closed once the head deadline (1 s from connecting) passes, bytes or not."""
    trickling = [connect(server) for _ in range(10)]
    silent = connect(server)
    started = time.monotonic()
    answers: dict[int, bytes] = {}
    try:
        for sock in trickling:
            sock.sendall(b"GET /health HTTP/1.1\r\n")
        header = b"X-Slow: " + b"z" * 1000
        position = 0
        while len(answers) < len(trickling) and time.monotonic() - started < HEAD_SECONDS + SLACK:
            for index, sock in enumerate(trickling):
                if index in answers:
                    continue
                response = closed_by_server(sock, 0.01)
                if response is not None:
                    answers[index] = response
                    continue
                with contextlib.suppress(OSError):
                    sock.send(header[position : position + 1])
            position += 1
            time.sleep(0.1)  # the slowloris client's pace: one byte per connection per 0.1 s
        assert len(answers) == len(trickling), (
            f"{len(trickling) - len(answers)} slow heads still open after "
            f"{time.monotonic() - started:.1f} s"
        )
        assert all(status_of(a) in (408, None) for a in answers.values()), answers
        assert any(status_of(a) == 408 for a in answers.values())
        left = HEAD_SECONDS + SLACK - (time.monotonic() - started)
        assert closed_by_server(silent, max(left, 0.1)) == b"", "an idle connection stayed"
    finally:
        for sock in [*trickling, silent]:
            sock.close()
    assert health(server) == 200


# -- body rate --------------------------------------------------------------------------------


def test_trickled_body_is_cut_off_with_408(server: ServerProcess) -> None:
    with connect(server) as sock:
        sock.sendall(upload_head(server, 10 * 1024 * 1024))
        started = time.monotonic()
        response = None
        while time.monotonic() - started < 2 * BODY_WINDOW + SLACK:
            with contextlib.suppress(OSError):
                sock.send(b"\0" * 100)  # 2 KB/s, under the 16 KiB/s minimum
            response = closed_by_server(sock, 0.05)
            if response is not None:
                break
        assert response is not None, "a body trickling at 2 KB/s was not cut off"
        assert status_of(response) == 408, response[:300]
        assert b"too slowly" in response


def test_stalled_body_is_cut_off_with_408(server: ServerProcess) -> None:
    with connect(server) as sock:
        sock.sendall(upload_head(server, 10 * 1024 * 1024) + b"\0" * 64 * 1024)
        response = closed_by_server(sock, 2 * BODY_WINDOW + SLACK)
    assert response is not None, "a stalled body was not cut off"
    assert status_of(response) == 408, response[:300]


def test_uploads_at_normal_speed_are_not_cut(server: ServerProcess) -> None:
    """With a 1 s window and a 16 KiB/s minimum, a 48 MiB raw upload and a 32 MiB tus PATCH
    at loopback speed go through (the raw one is refused only for not being a video)."""
    size = 48 * 1024 * 1024
    with server.client() as client:
        raw = client.post(
            "/api/v1/upload",
            content=(b"\0" * (1024 * 1024) for _ in range(size // (1024 * 1024))),
            headers={"Content-Type": "video/mp4", "X-Filename": "big.mp4",
                     "Content-Length": str(size)},
        )  # fmt: skip
        assert raw.status_code == 415, raw.text

        tus = {"Tus-Resumable": "1.0.0"}
        created = client.post("/api/v1/uploads", headers=tus | {"Upload-Length": str(size)})
        assert created.status_code == 201, created.text
        chunk = 32 * 1024 * 1024
        patched = client.patch(
            created.headers["Location"],
            content=b"\0" * chunk,
            headers=tus | {"Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"},
        )
        assert patched.status_code == 204, patched.text
        assert patched.headers["Upload-Offset"] == str(chunk)


# -- keep-alive -------------------------------------------------------------------------------


def test_idle_keepalive_connection_is_closed(server: ServerProcess) -> None:
    with connect(server) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: test\r\n\r\n")
        assert status_of(read_response(sock)) == 200
        answered = time.monotonic()
        assert closed_by_server(sock, KEEPALIVE + SLACK) is not None, "idle keep-alive stayed"
        assert time.monotonic() - answered >= KEEPALIVE * 0.8


# -- connection cap ---------------------------------------------------------------------------


def test_server_raises_its_open_file_limit(capped: ServerProcess) -> None:
    limits = Path(f"/proc/{capped.process.pid}/limits").read_text()
    (line,) = [row for row in limits.splitlines() if row.startswith("Max open files")]
    soft, hard = line.split()[3:5]
    assert soft == hard, line


def test_idle_flood_cannot_lock_out_health(capped: ServerProcess) -> None:
    """Three times the cap in idle connections: each new one takes the place of the longest
    idle, so the server never holds more than the cap and a fresh /health is answered."""
    pid = capped.process.pid
    baseline = open_fds(pid)
    flood = []
    try:
        for _ in range(3 * CAP):
            flood.append(connect(capped))
        assert health(capped) == 200
        gone = wait_for(
            lambda: (n := sum(map(is_closed, flood))) >= 2 * CAP and n, 5, "idle ones to go"
        )
        assert gone >= 2 * CAP
        assert open_fds(pid) <= baseline + CAP + 2
    finally:
        for sock in flood:
            sock.close()


def test_connections_beyond_the_cap_are_refused_while_all_are_busy(capped) -> None:
    """The cap's worth of uploads under way: a new connection is answered 503 (or closed) at
    once; when the uploads go, /health is answered again."""
    busy = []
    try:
        for _ in range(CAP):
            sock = connect(capped)
            sock.sendall(upload_head(capped, 100 * 1024 * 1024) + b"\0" * 1024)
            busy.append(sock)
        with connect(capped) as extra:
            with contextlib.suppress(OSError):
                extra.sendall(b"GET /health HTTP/1.1\r\nHost: test\r\n\r\n")
            response = closed_by_server(extra, 2)
        assert response is not None, "a connection over the cap was served or left open"
        assert status_of(response) in (503, None), response[:300]
        assert health(capped) in (None, 503), "/health was served over the cap"
    finally:
        for sock in busy:
            sock.close()
    assert wait_for(lambda: health(capped) == 200, 10, "/health after the uploads left")


# -- the server behind, not the client ------------------------------------------------------


def test_a_body_the_server_is_slow_to_read_is_not_cut(tmp_path: Path) -> None:
    """When the app falls behind (a slow disk, S3), uvicorn stops reading and the client cannot
    send: those windows are not held against it. An app that waits 0.3 s before each read
    takes several 0.5 s windows to read 1 MiB sent at full speed, under a 1 MB/s minimum."""
    settings = Settings(
        data_dir=tmp_path, body_idle_seconds=0.5, body_min_rate=1_000_000, _env_file=None
    )

    async def slow_reader(scope, receive, send) -> None:
        assert scope["type"] == "http"
        total, reads, more = 0, 0, True
        while more:
            await asyncio.sleep(0.3)  # the app's own slowness, as a slow disk would be
            message = await receive()
            if message["type"] != "http.request":
                return
            total, reads = total + len(message["body"]), reads + 1
            more = message["more_body"]
        body = f"{total} {reads}".encode()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", str(len(body)).encode())]})  # fmt: skip
        await send({"type": "http.response.body", "body": body})

    config = uvicorn.Config(
        slow_reader, host="127.0.0.1", port=0, lifespan="off", log_level="warning",
        **limit_options(settings),
    )  # fmt: skip
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn-slow-reader", daemon=True)
    thread.start()
    try:
        wait_for(lambda: server.started or not thread.is_alive(), 10, "uvicorn")
        port = server.servers[0].sockets[0].getsockname()[1]
        size = 1024 * 1024
        response = httpx.post(f"http://127.0.0.1:{port}/", content=b"\0" * size, timeout=30)
        assert response.status_code == 200, response.text
        total, reads = map(int, response.text.split())
        assert total == size
        assert reads * 0.3 > 2 * 0.5, "the app was not slow enough to span two windows"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
