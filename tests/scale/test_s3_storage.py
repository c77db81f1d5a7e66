"""S3Storage against a real S3-protocol HTTP server on loopback.

moto's ThreadedMotoServer stands in for S3 (AWS, MinIO...): boto3 talks real HTTP to it.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import httpx
import pytest

from moments.service.settings import Settings
from moments.service.storage import StorageError, get_storage
from moments.service.storage.s3 import S3Storage

from .conftest import derive

MiB = 1024 * 1024


@pytest.fixture
def s3(s3_settings: Settings) -> S3Storage:
    storage = get_storage(s3_settings)
    assert isinstance(storage, S3Storage)
    return storage


def test_small_write_read_stat_delete(s3: S3Storage):
    assert s3.write("reels/j1/poster.jpg", [b"abc", b"def"]) == 6
    assert s3.exists("reels/j1/poster.jpg")
    assert s3.size("reels/j1/poster.jpg") == 6
    stat = s3.stat("reels/j1/poster.jpg")
    assert stat.size == 6 and stat.etag.startswith('"') and stat.mtime > 0
    with s3.open("reels/j1/poster.jpg") as f:
        assert f.read() == b"abcdef"
    s3.delete("reels/j1/poster.jpg")
    assert not s3.exists("reels/j1/poster.jpg")
    s3.delete("reels/j1/poster.jpg")  # deleting a missing key is no error
    with pytest.raises(FileNotFoundError):
        s3.size("reels/j1/poster.jpg")


def test_streaming_writer_uses_multipart_with_bounded_memory(s3: S3Storage):
    data = os.urandom(12 * MiB + 123)
    with s3.open_writer("uploads/j2/source.mp4") as writer:
        for start in range(0, len(data), 256 * 1024):
            writer.write(data[start : start + 256 * 1024])
            # Never more than one part held in memory.
            assert len(writer._buffer) < s3.part_bytes
    head = s3.client.head_object(Bucket=s3.bucket, Key=s3.name("uploads/j2/source.mp4"))
    assert head["ETag"].strip('"').endswith("-3")  # 5 + 5 + 2 MiB parts: a multipart upload
    assert head["ContentLength"] == len(data)
    local = s3.local_path("uploads/j2/source.mp4")
    assert local.read_bytes() == data
    assert local.is_relative_to(s3.scratch_dir / "j2")  # the job's own scratch folder


def test_aborted_streaming_write_leaves_nothing(s3: S3Storage):
    with pytest.raises(RuntimeError), s3.open_writer("uploads/j3/source.mp4") as writer:
        writer.write(os.urandom(6 * MiB))  # one part already sent
        raise RuntimeError("client went away")
    assert not s3.exists("uploads/j3/source.mp4")
    uploads = s3.client.list_multipart_uploads(Bucket=s3.bucket)
    assert not uploads.get("Uploads"), "the multipart upload was not aborted"


def test_file_upload_goes_in_parts_above_the_threshold(s3: S3Storage, tmp_path: Path):
    path = tmp_path / "big.bin"
    path.write_bytes(os.urandom(11 * MiB))
    with path.open("rb") as f:
        assert s3.write("reels/j4/reel.mp4", f) == 11 * MiB
    head = s3.client.head_object(Bucket=s3.bucket, Key=s3.name("reels/j4/reel.mp4"))
    assert "-" in head["ETag"]  # managed transfer used multipart
    with s3.open("reels/j4/reel.mp4") as f:
        f.seek(5 * MiB + 7)
        assert f.read(100) == path.read_bytes()[5 * MiB + 7 : 5 * MiB + 107]


def test_delete_prefix_list_and_keys(s3: S3Storage):
    for name in ("reel.mp4", "poster.jpg"):
        s3.write(f"reels/j5/{name}", [b"x"])
    s3.write("reels/j50/reel.mp4", [b"y"])
    assert sorted(s3.list("reels/j5")) == ["reels/j5/poster.jpg", "reels/j5/reel.mp4"]
    assert s3.delete_prefix("reels/j5") == 2
    assert s3.list("reels/j5") == []
    assert s3.exists("reels/j50/reel.mp4")  # a sibling with the same leading characters stays
    with pytest.raises(StorageError):
        s3.write("../escape", [b"x"])
    with pytest.raises(FileNotFoundError):
        s3.local_path("uploads/missing/source.mp4")


def test_presigned_url_serves_ranges(s3: S3Storage):
    data = bytes(range(256)) * 4096  # 1 MiB
    s3.write("reels/j6/reel.mp4", io.BytesIO(data))
    url = s3.presigned_url(
        "reels/j6/reel.mp4",
        media_type="video/mp4",
        disposition='inline; filename="clip highlights.mp4"',
        expires=60,
    )
    assert "X-Amz-Expires=60" in url and "X-Amz-Signature=" in url
    with httpx.Client() as client:
        whole = client.get(url)
        assert whole.status_code == 200 and whole.content == data
        assert whole.headers["content-type"] == "video/mp4"
        assert "clip highlights.mp4" in whole.headers["content-disposition"]
        part = client.get(url, headers={"Range": "bytes=1000-1999"})
        assert part.status_code == 206
        assert part.content == data[1000:2000]
        assert part.headers["content-range"] == f"bytes 1000-1999/{len(data)}"
        tampered = client.get(url.replace("reels/j6", "reels/j7"))
        assert tampered.status_code == 403  # the signature covers the key


def test_presigned_links_use_the_public_endpoint(s3_settings: Settings):
    # Workers reach S3 by an inside name; browsers get links on the public one.
    public = s3_settings.s3_endpoint_url.replace("127.0.0.1", "localhost")
    storage = get_storage(derive(s3_settings, s3_public_endpoint_url=public))
    storage.write("reels/j8/reel.mp4", [b"0123456789"])
    url = storage.presigned_url("reels/j8/reel.mp4")
    assert url.startswith(public + "/")
    answer = httpx.get(url, headers={"Range": "bytes=2-4"})
    assert answer.status_code == 206 and answer.content == b"234"
