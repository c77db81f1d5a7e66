"""Resumable uploads: the tus 1.0 protocol under ``/api/v1/uploads/``.

Extensions: creation, creation-with-upload, termination, checksum (sha1) and expiration.
Partial uploads live in ``<data_dir>/tus`` (see ``tus_store``), never among job inputs; once
the last byte arrives the file is stored and becomes a job exactly as a plain upload does
(``submission.queue_stored_upload``: probe, 415 if not a video, create, submit). The response
to that last PATCH names the job in ``Moments-Job-Id`` and ``Location`` (its status URL); HEAD
keeps naming it, for a client whose last response was lost.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import time
from collections.abc import Iterator
from email.utils import formatdate
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Depends, Request, Response
from starlette.requests import ClientDisconnect

from moments.service.accounts.quota import ensure_quota_left
from moments.service.accounts.store import UserView
from moments.service.auth.deps import AccountsDep, AccountServices, CurrentUser
from moments.service.paths import API_PREFIX, job_path
from moments.service.problems import Problem
from moments.service.ratelimit import charge_upload, upload_room
from moments.service.store import new_job_id

from . import intake
from .deps import Services, ServicesDep
from .options import check_callback, check_options
from .sources import keep_source
from .submission import input_key, queue_stored_upload
from .tus_store import ChunkWriter, TusUploads, UploadBusy, UploadInfo

TUS_VERSION = "1.0.0"
EXTENSIONS = "creation,creation-with-upload,termination,checksum,expiration"
CHECKSUMS = {"sha1": 20}
"""Supported Upload-Checksum algorithms and their digest sizes."""
CHUNK_TYPE = "application/offset+octet-stream"
HUGE = 10**18
"""What a header number of more digits than this reads as: more than any upload could be."""
PURGE_EVERY = 60.0
PURPOSES = ("reel", "source")
"""Upload-Metadata ``purpose``: a reel (the upload becomes a job, the default) or a source
(kept for reels of many clips: ``api.sources``)."""
TUS_HEADERS = [
    "Tus-Resumable", "Tus-Version", "Tus-Extension", "Tus-Max-Size", "Tus-Checksum-Algorithm",
    "Upload-Offset", "Upload-Length", "Upload-Metadata", "Upload-Expires", "Moments-Job-Id",
    "Moments-Job-Status", "Moments-Source-Id", "Location",
]  # fmt: skip
"""Response headers a browser on another origin must be allowed to read (CORS)."""

router = APIRouter(prefix=f"{API_PREFIX}/uploads", tags=["resumable upload (tus)"])


def get_uploads(request: Request, services: ServicesDep) -> TusUploads:
    """The app's partial-upload store, made on first use from the settings."""
    uploads = getattr(request.app.state, "tus_uploads", None)
    if uploads is None:
        settings = services.settings
        uploads = TusUploads(
            settings.data_dir / "tus", expiry_seconds=settings.upload_expiry_hours * 3600
        )
        request.app.state.tus_uploads = uploads
    return uploads


UploadsDep = Annotated[TusUploads, Depends(get_uploads)]


def tus_problem(status: int, detail: str, kind: str, **extra: Any) -> Problem:
    headers = {"Tus-Resumable": TUS_VERSION} | extra.pop("headers", {})
    return Problem(status, detail, kind=kind, headers=headers, **extra)


def require_tus(request: Request) -> None:
    """Every request but OPTIONS names the protocol version it speaks; we speak 1.0.0."""
    version = request.headers.get("tus-resumable")
    if version != TUS_VERSION:
        raise tus_problem(
            412,
            f"This server speaks tus {TUS_VERSION}; send 'Tus-Resumable: {TUS_VERSION}'"
            + (f" (got {version!r})." if version else "."),
            "tus-version",
            headers={"Tus-Version": TUS_VERSION},
        )


@router.options("", include_in_schema=False)
@router.options("/", include_in_schema=False)
@router.options("/{upload_id}", include_in_schema=False)
def discover(services: ServicesDep) -> Response:
    """What this tus server supports (no Tus-Resumable needed)."""
    return Response(
        status_code=204,
        headers={
            "Tus-Resumable": TUS_VERSION,
            "Tus-Version": TUS_VERSION,
            "Tus-Extension": EXTENSIONS,
            "Tus-Max-Size": str(services.settings.max_upload_bytes),
            "Tus-Checksum-Algorithm": ",".join(CHECKSUMS),
        },
    )


@router.post("", status_code=201, dependencies=[Depends(require_tus), upload_room("upload-length")])
@router.post(
    "/",
    status_code=201,
    dependencies=[Depends(require_tus), upload_room("upload-length")],
    include_in_schema=False,
)
async def create_upload(
    request: Request,
    services: ServicesDep,
    uploads: UploadsDep,
    user: CurrentUser,
    accounts: AccountsDep,
) -> Response:
    """Start a resumable upload (tus creation, optionally with its first bytes).

    ``Upload-Metadata`` carries ``filename``, ``duration``, ``aspect``, ``codec``, ``hdr``,
    ``resolution`` and ``callback_url`` (the plain upload's options), checked here, before any
    bytes are sent.
    """
    settings = services.settings
    if request.headers.get("upload-defer-length"):
        raise tus_problem(400, "Send Upload-Length: deferred lengths are not supported.", "tus")
    length = _int_header(request, "upload-length")
    if length is None:
        raise tus_problem(400, "Upload-Length is required.", "tus")
    if length > settings.max_upload_bytes:
        raise intake.too_large(settings.max_upload_bytes)
    if length == 0:
        raise tus_problem(400, "The upload is empty.", "empty-upload")
    metadata = request.headers.get("upload-metadata", "")
    fields = parse_metadata(metadata)
    purpose = fields.get("purpose", "reel")
    if purpose not in PURPOSES:
        raise tus_problem(
            400, f"Upload-Metadata purpose must be one of {', '.join(PURPOSES)}.", "tus"
        )
    options = check_options(settings, None, "source", fields)
    await check_callback(accounts, options)
    if purpose == "source":  # kept as a source (POST /sources), not made into a reel
        options = {"purpose": "source"}
    filename = intake.clean_filename(fields["filename"]) if fields.get("filename") else None
    has_body = _has_body(request)
    checksum = parse_checksum(request.headers.get("upload-checksum")) if has_body else None

    if purpose == "reel":  # a source is not a reel: no quota until a reel is made of it
        await anyio.to_thread.run_sync(ensure_quota_left, accounts, user)
    await _maybe_purge(uploads)
    info = await anyio.to_thread.run_sync(
        uploads.create, length, options, filename, metadata, user.id
    )
    headers = {"Location": f"{router.prefix}/{info.id}"}
    if has_body:
        info, job_headers = await _receive(
            request, services, uploads, info.id, 0, checksum, user, accounts
        )
        headers |= job_headers  # Location stays the upload's (201); the job has its headers
    return Response(status_code=201, headers=_upload_headers(info) | headers)


@router.head("/{upload_id}", dependencies=[Depends(require_tus)])
def upload_offset(upload_id: str, uploads: UploadsDep, user: CurrentUser) -> Response:
    """How much of the upload the server has (resume from ``Upload-Offset``)."""
    info = _find(uploads, upload_id, user)
    headers = _upload_headers(info) | {"Cache-Control": "no-store"}
    if info.metadata:
        headers["Upload-Metadata"] = info.metadata
    if info.job_id:
        headers |= _made_headers(info)
    return Response(status_code=200, headers=headers)


@router.patch("/{upload_id}", status_code=204, dependencies=[Depends(require_tus)])
async def append(
    upload_id: str,
    request: Request,
    services: ServicesDep,
    uploads: UploadsDep,
    user: CurrentUser,
    accounts: AccountsDep,
) -> Response:
    """Append bytes at ``Upload-Offset``; the last chunk turns the upload into a job."""
    mime = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if mime != CHUNK_TYPE:
        raise tus_problem(415, f"Send the bytes as Content-Type: {CHUNK_TYPE}.", "tus")
    offset = _int_header(request, "upload-offset")
    if offset is None:
        raise tus_problem(400, "Upload-Offset is required.", "tus")
    checksum = parse_checksum(request.headers.get("upload-checksum"))
    _find(uploads, upload_id, user)  # 404/410 before reading anything
    info, headers = await _receive(
        request, services, uploads, upload_id, offset, checksum, user, accounts
    )
    if "Moments-Job-Status" in headers:
        headers["Location"] = headers["Moments-Job-Status"]
    elif "Moments-Source-Id" in headers:
        headers["Location"] = f"{API_PREFIX}/sources/{headers['Moments-Source-Id']}"
    return Response(status_code=204, headers=_upload_headers(info) | headers)


@router.delete("/{upload_id}", status_code=204, dependencies=[Depends(require_tus)])
async def terminate(upload_id: str, uploads: UploadsDep, user: CurrentUser) -> Response:
    """Abandon the upload and free its space (tus termination). A created job stays."""
    _find(uploads, upload_id, user)
    await _locked(uploads, upload_id, lambda: uploads.delete(upload_id))
    return Response(status_code=204, headers={"Tus-Resumable": TUS_VERSION})


# -- receiving bytes ------------------------------------------------------------------------


async def _receive(
    request: Request,
    services: Services,
    uploads: TusUploads,
    upload_id: str,
    offset: int,
    checksum: tuple[str, bytes] | None,
    owner: UserView,
    accounts: AccountServices,
) -> tuple[UploadInfo, dict[str, str]]:
    """Under the upload's lock: append the body at ``offset``; finish the upload if complete."""
    stack = contextlib.ExitStack()
    with _lock_problems(upload_id):
        await anyio.to_thread.run_sync(stack.enter_context, uploads.lock(upload_id))
    try:
        info = uploads.get(upload_id)
        if info is None or info.owner_id != owner.id:  # terminated while we waited
            raise _gone(upload_id)
        if offset != info.offset:
            raise tus_problem(
                409,
                f"Upload-Offset {offset} does not match the {info.offset} bytes stored; "
                "ask with HEAD and continue from there.",
                "upload-offset-mismatch",
                headers={"Upload-Offset": str(info.offset)},
                offset=info.offset,
            )
        declared = _int_header(request, "content-length")
        if declared is not None and offset + declared > info.length:
            raise tus_problem(
                413, "The chunk goes past the Upload-Length given at creation.", "tus"
            )
        if not info.complete:
            info = await _write_body(request, uploads, info, checksum)
        if info.complete and not info.job_id:
            info = await _finish(services, uploads, info, owner, accounts)
            await anyio.to_thread.run_sync(charge_upload, request, owner.id, info.length)
        return info, _made_headers(info) if info.job_id else {}
    finally:
        stack.close()


async def _write_body(
    request: Request, uploads: TusUploads, info: UploadInfo, checksum: tuple[str, bytes] | None
) -> UploadInfo:
    writer = await anyio.to_thread.run_sync(ChunkWriter, uploads, info, checksum)
    room = info.length - info.offset
    parts: list[bytes] = []
    pending = 0
    overflow = False
    try:
        async for data in request.stream():
            if writer.written + pending + len(data) > room:
                # A chunked body (no Content-Length) says its size only as it comes.
                overflow = True
                break
            parts.append(data)
            pending += len(data)
            if pending >= intake.FLUSH_BYTES:
                await anyio.to_thread.run_sync(writer.write, b"".join(parts))
                parts, pending = [], 0
        if parts and not overflow:
            await anyio.to_thread.run_sync(writer.write, b"".join(parts))
    except ClientDisconnect:
        with anyio.CancelScope(shield=True):
            if parts:
                await anyio.to_thread.run_sync(writer.write, b"".join(parts))
            await anyio.to_thread.run_sync(writer.keep_partial)
        raise tus_problem(400, "The chunk was interrupted; resume with HEAD.", "tus") from None
    except BaseException:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(writer.keep_partial)
        raise
    if overflow:
        await anyio.to_thread.run_sync(writer.rollback)  # none of the chunk counts
        raise tus_problem(413, "The chunk goes past the Upload-Length given at creation.", "tus")
    if not await anyio.to_thread.run_sync(writer.finish):
        raise tus_problem(
            460,
            "The chunk does not match its Upload-Checksum; it was discarded, send it again.",
            "checksum-mismatch",
            title="Checksum mismatch",
            headers={"Upload-Offset": str(writer.info.offset)},
        )
    return writer.info


async def _finish(
    services: Services,
    uploads: TusUploads,
    info: UploadInfo,
    owner: UserView,
    accounts: AccountServices,
) -> UploadInfo:
    """All bytes are here: store them as a job input and queue the job, like a plain upload
    (or keep them as a source, for an upload whose purpose is ``source``)."""
    if info.options.get("purpose") == "source":
        return await _finish_source(services, uploads, info, owner)
    job_id = new_job_id()
    key = input_key(job_id, info.filename)
    data = uploads.data_path(info.id)

    def store() -> None:
        with data.open("rb") as f:
            services.storage.write(key, f)

    await anyio.to_thread.run_sync(store)
    try:
        await queue_stored_upload(
            services,
            owner=owner,
            accounts=accounts,
            job_id=job_id,
            key=key,
            filename=info.filename,
            size=info.length,
            options=info.options,
        )
    except Problem as problem:
        # Not a video we accept (415): the bytes are of no further use.
        await anyio.to_thread.run_sync(uploads.delete, info.id)
        problem.headers.setdefault("Tus-Resumable", TUS_VERSION)
        raise
    info = await anyio.to_thread.run_sync(lambda: uploads.touch(info, job_id=job_id))
    data.unlink(missing_ok=True)  # the job has its own copy now
    return info


async def _finish_source(
    services: Services, uploads: TusUploads, info: UploadInfo, owner: UserView
) -> UploadInfo:
    """All bytes are here: keep them as a source (``api.sources``); ``job_id`` records it."""
    data = uploads.data_path(info.id)
    try:
        source = await keep_source(services, owner, info.filename, info.length, data)
    except Problem as problem:
        await anyio.to_thread.run_sync(uploads.delete, info.id)
        problem.headers.setdefault("Tus-Resumable", TUS_VERSION)
        raise
    info = await anyio.to_thread.run_sync(lambda: uploads.touch(info, job_id=source.id))
    data.unlink(missing_ok=True)  # the source has its own copy now
    return info


def _made_headers(info: UploadInfo) -> dict[str, str]:
    """What the complete upload became: a job, or a source."""
    if info.options.get("purpose") == "source" and info.job_id:
        return {"Moments-Source-Id": info.job_id}
    return _job_headers(info.job_id or "")


# -- helpers --------------------------------------------------------------------------------


def parse_metadata(header: str) -> dict[str, str]:
    """``Upload-Metadata``: comma-separated ``key base64value`` pairs (value optional)."""
    fields: dict[str, str] = {}
    for pair in filter(None, (p.strip() for p in header.split(","))):
        key, _, value = pair.partition(" ")
        if not key or key in fields or " " in value.strip():
            raise tus_problem(400, "Upload-Metadata is malformed.", "tus")
        try:
            fields[key] = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise tus_problem(
                400, f"Upload-Metadata value of {key!r} is not base64 UTF-8.", "tus"
            ) from None
    return fields


def parse_checksum(header: str | None) -> tuple[str, bytes] | None:
    """``Upload-Checksum: sha1 <base64 digest>`` -> (algorithm, digest)."""
    if not header:
        return None
    algorithm, _, value = header.strip().partition(" ")
    algorithm = algorithm.lower()
    if algorithm not in CHECKSUMS:
        raise tus_problem(
            400,
            f"Checksum algorithm {algorithm!r} is not supported; use sha1.",
            "checksum-algorithm",
        )
    try:
        digest = base64.b64decode(value.strip(), validate=True)
    except binascii.Error:
        digest = b""
    if len(digest) != CHECKSUMS[algorithm]:
        raise tus_problem(400, "Upload-Checksum is not a base64 sha1 digest.", "tus")
    return algorithm, digest


def _int_header(request: Request, name: str) -> int | None:
    """A non-negative integer header: ASCII digits only (``str.isdigit`` also accepts '²',
    which ``int`` refuses). More digits than any size we handle read as ``HUGE``, past every
    bound the caller checks (``int`` refuses over 4,300 digits)."""
    value = request.headers.get(name)
    if value is None:
        return None
    if not (value.isascii() and value.isdigit()):
        raise tus_problem(400, f"{name.title()} must be a non-negative integer.", "tus")
    digits = value.lstrip("0")
    return HUGE if len(digits) > len(str(HUGE)) else int(digits or "0")


def _has_body(request: Request) -> bool:
    declared = request.headers.get("content-length")
    if declared is None and "transfer-encoding" not in request.headers:
        return False
    if declared == "0":
        return False
    mime = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if mime != CHUNK_TYPE:
        raise tus_problem(415, f"Send the first bytes as Content-Type: {CHUNK_TYPE}.", "tus")
    return True


def _find(uploads: TusUploads, upload_id: str, owner: UserView) -> UploadInfo:
    """The ``owner``'s upload; another user's answers 404 like one that does not exist."""
    info = uploads.get(upload_id)
    if info is None or info.owner_id != owner.id:
        raise _gone(upload_id)
    if uploads.expired(info) and not info.job_id:
        with contextlib.suppress(UploadBusy, KeyError), uploads.lock(upload_id, wait=0):
            uploads.delete(upload_id)
        raise tus_problem(
            410, "This upload expired and was removed; start again.", "upload-expired"
        )
    return info


def _gone(upload_id: str) -> Problem:
    return tus_problem(404, f"There is no upload {upload_id!r}.", "upload-not-found")


def _upload_headers(info: UploadInfo) -> dict[str, str]:
    return {
        "Tus-Resumable": TUS_VERSION,
        "Upload-Offset": str(info.offset),
        "Upload-Length": str(info.length),
        "Upload-Expires": formatdate(info.expires, usegmt=True),
    }


def _job_headers(job_id: str) -> dict[str, str]:
    return {"Moments-Job-Id": job_id, "Moments-Job-Status": f"{job_path(job_id)}/status"}


async def _locked(uploads: TusUploads, upload_id: str, action: Any) -> None:
    def run() -> None:
        with uploads.lock(upload_id):
            action()

    with _lock_problems(upload_id):
        await anyio.to_thread.run_sync(run)


@contextlib.contextmanager
def _lock_problems(upload_id: str) -> Iterator[None]:
    """Taking an upload's lock: another writer holds it (423), or the upload is gone (404)."""
    try:
        yield
    except UploadBusy:
        raise tus_problem(
            423, "Another request is writing to this upload; try again.", "upload-busy"
        ) from None
    except KeyError:
        raise _gone(upload_id) from None


async def _maybe_purge(uploads: TusUploads) -> None:
    """Remove abandoned uploads now and then (on creation, at most once a minute)."""
    now = time.monotonic()
    if now - uploads.last_purge < PURGE_EVERY:
        return
    uploads.last_purge = now
    await anyio.to_thread.run_sync(uploads.purge_expired)
