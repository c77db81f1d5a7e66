"""S3Storage: uploads and reels as objects in an S3-compatible bucket (AWS S3, MinIO, Ceph...).

An object PUT (or a completed multipart upload) is atomic, so readers never see half a file:
no temporary names are needed. Large files go up in parts (bounded memory: one part in RAM).
FFmpeg is never handed a URL: ``local_path`` downloads the object to local scratch first.
Downloads can be served by redirecting clients to a short-lived presigned URL, which S3 serves
with range support itself.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from .base import Stat, StorageError, check_key, committing, write_all

if TYPE_CHECKING:
    from ..settings import Settings

_MISSING = {"404", "NoSuchKey", "NotFound"}


def _missing(exc: Exception) -> bool:
    error = getattr(exc, "response", {}).get("Error", {})
    return str(error.get("Code")) in _MISSING


def make_client(settings: Settings, endpoint_url: str | None = None) -> Any:
    """A boto3 S3 client for the settings' endpoint (or ``endpoint_url``) and credentials."""
    import boto3
    from botocore.config import Config

    secret = settings.s3_secret_access_key
    return boto3.client(
        "s3",
        endpoint_url=endpoint_url or settings.s3_endpoint_url,
        region_name=settings.s3_region,
        aws_access_key_id=settings.s3_access_key_id,
        aws_secret_access_key=secret.get_secret_value() if secret else None,
        config=Config(
            s3={"addressing_style": settings.s3_addressing_style},
            signature_version="s3v4",
            retries={"max_attempts": 5, "mode": "standard"},
        ),
    )


class S3Writer:
    """A streaming write: bytes gather into one part; a part is sent whenever it fills.

    Small objects (under one part) become a single PUT at ``commit``; larger ones a multipart
    upload, completed at ``commit`` and aborted (parts deleted) on ``abort``.
    """

    def __init__(self, storage: S3Storage, key: str):
        self.key = key
        self.size = 0
        self._storage = storage
        self._buffer = bytearray()
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []
        self._done = False

    def write(self, data: bytes) -> int:
        self._buffer += data
        self.size += len(data)
        part = self._storage.part_bytes
        while len(self._buffer) >= part:
            self._send_part(bytes(self._buffer[:part]))
            del self._buffer[:part]
        return len(data)

    def _send_part(self, body: bytes) -> None:
        s3, bucket, name = self._storage.client, self._storage.bucket, self._storage.name(self.key)
        if self._upload_id is None:
            self._upload_id = s3.create_multipart_upload(Bucket=bucket, Key=name)["UploadId"]
        number = len(self._parts) + 1
        answer = s3.upload_part(
            Bucket=bucket, Key=name, UploadId=self._upload_id, PartNumber=number, Body=body
        )
        self._parts.append({"PartNumber": number, "ETag": answer["ETag"]})

    def commit(self) -> int:
        if self._done:
            return self.size
        s3, bucket, name = self._storage.client, self._storage.bucket, self._storage.name(self.key)
        if self._upload_id is None:
            s3.put_object(Bucket=bucket, Key=name, Body=bytes(self._buffer))
        else:
            if self._buffer:
                self._send_part(bytes(self._buffer))
            s3.complete_multipart_upload(
                Bucket=bucket,
                Key=name,
                UploadId=self._upload_id,
                MultipartUpload={"Parts": self._parts},
            )
        self._buffer.clear()
        self._done = True
        return self.size

    def abort(self) -> None:
        if self._done:
            return
        self._done = True
        self._buffer.clear()
        if self._upload_id is not None:
            storage = self._storage
            storage.client.abort_multipart_upload(
                Bucket=storage.bucket, Key=storage.name(self.key), UploadId=self._upload_id
            )


class _RangeReader(io.RawIOBase):
    """A seekable read-only view of one object: each read is a ranged GET from the position.

    Wrapped in a BufferedReader by ``S3Storage.open`` so reads become few large requests.
    """

    def __init__(self, storage: S3Storage, key: str, size: int):
        self._storage, self._key, self._size, self._pos = storage, key, size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer: Any) -> int:
        want = min(len(buffer), self._size - self._pos)
        if want <= 0:
            return 0
        storage = self._storage
        body = storage.client.get_object(
            Bucket=storage.bucket,
            Key=storage.name(self._key),
            Range=f"bytes={self._pos}-{self._pos + want - 1}",
        )["Body"]
        data = body.read()
        buffer[: len(data)] = data
        self._pos += len(data)
        return len(data)


class S3Storage:
    """Objects in ``bucket`` under ``prefix``; keys are the same relative paths as LocalStorage."""

    def __init__(
        self,
        client: Any,
        bucket: str,
        *,
        scratch_dir: Path | str,
        prefix: str = "",
        part_bytes: int = 8 * 1024**2,
        presign_seconds: int = 300,
        presign_client: Any = None,
    ):
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.scratch_dir = Path(scratch_dir)
        self.part_bytes = part_bytes
        self.presign_seconds = presign_seconds
        # Signing is local (no request): a client on the public endpoint signs links for browsers.
        self.presign_client = presign_client or client

    @classmethod
    def from_settings(cls, settings: Settings) -> S3Storage:
        storage = cls(
            make_client(settings),
            settings.s3_bucket,
            scratch_dir=settings.scratch_dir,
            prefix=settings.s3_prefix,
            part_bytes=settings.s3_part_bytes,
            presign_seconds=settings.presign_seconds,
            presign_client=make_client(settings, settings.s3_public_endpoint_url)
            if settings.s3_public_endpoint_url
            else None,
        )
        if settings.s3_create_bucket:
            storage.ensure_bucket()
        return storage

    def ensure_bucket(self) -> None:
        """Create the bucket if it does not exist (dev and test servers)."""
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except Exception as exc:
            if not _missing(exc):
                raise
            self.client.create_bucket(Bucket=self.bucket)

    def name(self, key: str) -> str:
        """The object name of ``key`` in the bucket."""
        return self.prefix + check_key(key)

    # -- writes --------------------------------------------------------------------------

    def open_writer(self, key: str) -> AbstractContextManager[S3Writer]:
        return committing(S3Writer(self, check_key(key)))

    def write(self, key: str, chunks: Iterable[bytes] | BinaryIO) -> int:
        if hasattr(chunks, "read") and hasattr(chunks, "seek"):
            return self._upload_file(key, chunks)  # type: ignore[arg-type]
        return write_all(self, key, chunks)

    def _upload_file(self, key: str, file: BinaryIO) -> int:
        """A seekable file: boto3's managed transfer (parallel multipart above one part)."""
        from boto3.s3.transfer import TransferConfig

        start = file.tell()
        size = file.seek(0, os.SEEK_END) - start
        file.seek(start)
        config = TransferConfig(
            multipart_threshold=self.part_bytes, multipart_chunksize=self.part_bytes
        )
        self.client.upload_fileobj(file, self.bucket, self.name(key), Config=config)
        return size

    # -- reads ---------------------------------------------------------------------------

    def local_path(self, key: str) -> Path:
        """Download the object to local scratch and return that file.

        Job inputs (``uploads/<job_id>/...``) land in ``<scratch>/<job_id>/input/``, the job's
        own scratch folder, which the job removes when it ends.
        """
        parts = check_key(key).split("/")
        if len(parts) >= 3 and parts[0] == "uploads":
            target = self.scratch_dir / parts[1] / "input" / parts[-1]
        else:
            target = self.scratch_dir / "s3" / key
        if target.is_file() and target.stat().st_size == self._size_or_missing(key):
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.{os.getpid()}.part")
        try:
            self.client.download_file(self.bucket, self.name(key), str(partial))
        except Exception as exc:
            partial.unlink(missing_ok=True)
            if _missing(exc):
                raise FileNotFoundError(key) from None
            raise
        os.replace(partial, target)
        return target

    def open(self, key: str) -> BinaryIO:
        """A seekable reader (ranged GETs through a 1 MiB buffer)."""
        raw = _RangeReader(self, check_key(key), self.size(key))
        return io.BufferedReader(raw, buffer_size=1024 * 1024)  # type: ignore[return-value]

    def _head(self, key: str) -> dict[str, Any]:
        try:
            return self.client.head_object(Bucket=self.bucket, Key=self.name(key))
        except Exception as exc:
            if _missing(exc):
                raise FileNotFoundError(key) from None
            raise

    def _size_or_missing(self, key: str) -> int:
        try:
            return self.size(key)
        except FileNotFoundError:
            return -1

    def size(self, key: str) -> int:
        return int(self._head(key)["ContentLength"])

    def exists(self, key: str) -> bool:
        try:
            self._head(key)
        except FileNotFoundError:
            return False
        return True

    def stat(self, key: str) -> Stat:
        head = self._head(key)
        return Stat(int(head["ContentLength"]), head["LastModified"].timestamp(), head["ETag"])

    def presigned_url(
        self,
        key: str,
        *,
        disposition: str | None = None,
        media_type: str | None = None,
        expires: int | None = None,
    ) -> str:
        """A short-lived GET URL for ``key``; S3 itself then serves ranges and validators."""
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": self.name(key)}
        if media_type:
            params["ResponseContentType"] = media_type
        if disposition:
            params["ResponseContentDisposition"] = disposition
        return self.presign_client.generate_presigned_url(
            "get_object", Params=params, ExpiresIn=expires or self.presign_seconds
        )

    def release_local_path(self, path: Path) -> None:
        path.unlink(missing_ok=True)

    def clean_partial_writes(self) -> list[Path]:
        """Nothing to do: an unfinished multipart upload is never a visible object (the
        writer aborts it; a bucket lifecycle rule removes the parts of one that died)."""
        return []

    # -- deletes -------------------------------------------------------------------------

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self.name(key))

    def delete_prefix(self, prefix: str) -> int:
        folder = self.name(prefix.rstrip("/")) + "/"
        count = 0
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=folder
        )
        for page in pages:
            objects = [{"Key": item["Key"]} for item in page.get("Contents", [])]
            if objects:
                answer = self.client.delete_objects(
                    Bucket=self.bucket, Delete={"Objects": objects, "Quiet": True}
                )
                if answer.get("Errors"):
                    raise StorageError(f"could not delete under {prefix!r}: {answer['Errors']}")
                count += len(objects)
        return count

    def list(self, prefix: str) -> list[str]:
        """Keys under ``prefix/`` (for maintenance and tests)."""
        folder = self.name(prefix.rstrip("/")) + "/"
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=folder
        )
        return [
            item["Key"][len(self.prefix) :] for page in pages for item in page.get("Contents", [])
        ]
