from __future__ import annotations

import io
from pathlib import Path

import pytest

from moments.service.storage import LocalStorage, StorageError, reel_key, upload_key


def test_write_read_stat_delete(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "files")
    key = upload_key("abc", ".MP4")
    assert key == "uploads/abc/source.mp4"
    data = bytes(range(256)) * 5000  # > 1 MiB: several chunks
    assert storage.write(key, io.BytesIO(data)) == len(data)
    assert storage.exists(key) and storage.size(key) == len(data)
    assert storage.local_path(key).read_bytes() == data
    with storage.open(key) as f:
        assert f.read() == data
    size, _mtime, etag = storage.stat(key)
    assert size == len(data) and etag.startswith('"')
    storage.delete(key)
    assert not storage.exists(key)
    assert not (tmp_path / "files" / "uploads").exists(), "empty folders are pruned"


def test_writer_is_atomic(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    key = reel_key("j1")
    with storage.open_writer(key) as writer:
        writer.write(b"half")
        assert not storage.exists(key), "nothing visible under the key before commit"
    assert storage.local_path(key).read_bytes() == b"half"

    with pytest.raises(RuntimeError), storage.open_writer("reels/j2/reel.mp4") as writer:
        writer.write(b"partial")
        raise RuntimeError("client went away")
    assert not storage.exists("reels/j2/reel.mp4")
    assert list((tmp_path / "reels").rglob("*.part")) == [], "temp file cleaned up"


@pytest.mark.parametrize(
    "key", ["../x", "/etc/passwd", "a/../../b", "a//b", "", "a/./b", "uploads/\x00", "a\\b"]
)
def test_keys_cannot_escape_root(tmp_path: Path, key: str) -> None:
    storage = LocalStorage(tmp_path / "root")
    with pytest.raises(StorageError):
        storage.write(key, [b"x"])


def test_delete_prefix(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    storage.write("reels/j/reel.mp4", [b"a"])
    storage.write("reels/j/poster.jpg", [b"b"])
    storage.write("reels/k/reel.mp4", [b"c"])
    assert storage.delete_prefix("reels/j") == 2
    assert not storage.exists("reels/j/poster.jpg")
    assert storage.exists("reels/k/reel.mp4")
