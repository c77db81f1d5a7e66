"""Uploads cut short: the client goes away (plain and tus), or the server is SIGKILLed.

In no case may a half file become a job; a plain upload's partial file is removed (at once on
a disconnect, at the next start-up after a crash); a tus upload keeps what arrived, to resume.
"""

from __future__ import annotations

import fcntl
import os
import socket
from pathlib import Path

import pytest

from tests.helpers import files_under, wait_for

from .server_process import ServerProcess

MiB = 1024 * 1024


def send_partial(base_url: str, request_head: str, body: bytes) -> socket.socket:
    """Open a connection, send the request head and part of the body; return the socket."""
    host, port = base_url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    sock.sendall(request_head.encode("latin-1") + body)
    return sock


def plain_head(auth: dict[str, str], length: int, multipart: bool) -> str:
    kind = "multipart/form-data; boundary=XyZ" if multipart else "video/mp4"
    return (
        "POST /api/v1/upload HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: {auth['Authorization']}\r\nContent-Type: {kind}\r\n"
        f"X-Filename: half.mp4\r\nContent-Length: {length}\r\n\r\n"
    )


def multipart_prefix() -> bytes:
    return (
        b'--XyZ\r\nContent-Disposition: form-data; name="file"; filename="half.mp4"\r\n'
        b"Content-Type: video/mp4\r\n\r\n"
    )


def locked(path: Path) -> bool:
    """Whether another open file holds an flock on ``path`` (the server's upload lock)."""
    with path.open("rb") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(f, fcntl.LOCK_UN)
        return False


def partial_files(storage_dir: Path) -> list[Path]:
    return files_under(storage_dir)


@pytest.mark.parametrize("multipart", [False, True], ids=["raw", "multipart"])
def test_client_disconnect_mid_plain_upload_leaves_nothing(api, multipart: bool) -> None:
    storage_dir = api.services.settings.storage_dir
    prefix = multipart_prefix() if multipart else b""
    sock = send_partial(
        api.base_url, plain_head(api.auth, 8 * MiB, multipart), prefix + os.urandom(3 * MiB)
    )
    # The server has started writing the file (the proof the test interrupts a real write).
    wait_for(lambda: partial_files(storage_dir), 10, "the upload's temporary file")
    sock.close()
    wait_for(lambda: not partial_files(storage_dir), 10, "the partial file to be removed")
    assert api.client.get("/api/v1/jobs").json()["total"] == 0


def test_client_disconnect_mid_tus_chunk_resumes(api, small_video: Path) -> None:
    data = small_video.read_bytes()
    tus = {"Tus-Resumable": "1.0.0"}
    created = api.client.post("/api/v1/uploads", headers=tus | {"Upload-Length": str(len(data))})
    assert created.status_code == 201, created.text
    url = created.headers["Location"]
    half = len(data) // 2
    head = (
        f"PATCH {url} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {api.auth['Authorization']}"
        f"\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\n"
        f"Content-Type: application/offset+octet-stream\r\nContent-Length: {len(data)}\r\n\r\n"
    )
    lock = api.services.settings.data_dir / "tus" / url.rsplit("/", 1)[1] / "lock"
    sock = send_partial(api.base_url, head, data[:half])
    # The server holds the upload's lock while it reads the chunk: close only once it does.
    wait_for(lambda: locked(lock), 10, "the server to be reading the chunk")
    sock.close()
    wait_for(lambda: not locked(lock), 10, "the server to notice the disconnect")

    # What the server read is kept (tus: resume from HEAD's offset), and it did not become a
    # job. Uvicorn drops body bytes it has buffered but not yet handed to the app when the
    # disconnect arrives with them (it reports the disconnect first), so on a loaded machine
    # the offset can stop short of all that was sent: the client then resumes from there.
    response = api.client.head(url, headers=tus)
    kept = int(response.headers["Upload-Offset"])
    assert 0 <= kept <= half
    assert api.client.get("/api/v1/jobs").json()["total"] == 0
    resumed = api.client.patch(
        url,
        content=data[kept:],
        headers=tus
        | {"Upload-Offset": str(kept), "Content-Type": "application/offset+octet-stream"},
    )
    assert resumed.status_code == 204, resumed.text
    job_id = resumed.headers["Moments-Job-Id"]
    stored = api.services.store.get(job_id)
    assert stored is not None and stored.input_size == len(data)
    assert api.services.storage.local_path(stored.input_key).read_bytes() == data


def test_server_killed_mid_upload_never_makes_a_job(tmp_path: Path, small_video: Path) -> None:
    data_dir = tmp_path / "data"
    server = ServerProcess(data_dir, {"MOMENTS_WORKERS": "1"}).start()
    try:
        storage_dir = data_dir / "files"
        sock = send_partial(
            server.base_url, plain_head(server.headers, 8 * MiB, False), os.urandom(3 * MiB)
        )
        (half,) = wait_for(lambda: partial_files(storage_dir), 10, "the half-written file")
        assert half.name.endswith(".part")
        server.kill()
        sock.close()
        assert half.exists(), "the crash should leave the half file (what start-up must clean)"

        server.start()  # same data folder
        assert not half.exists(), "the half file survived the restart"
        assert not partial_files(storage_dir)
        with server.client() as client:
            assert client.get("/api/v1/jobs").json()["total"] == 0
            with small_video.open("rb") as f:
                ok = client.post("/api/v1/upload", files={"file": ("ok.mp4", f, "video/mp4")})
            assert ok.status_code == 202, ok.text

            def done() -> str | None:
                status = client.get(f"/api/v1/jobs/{ok.json()['id']}/status").json()["status"]
                return status if status in ("completed", "failed") else None

            assert wait_for(done, 60, "the job after the restart") == "completed"
    finally:
        server.stop()
