"""Where uploads and reels are kept. ``get_storage(settings)`` picks the backend."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import (
    Stat,
    Storage,
    StorageError,
    Writer,
    check_key,
    poster_key,
    reel_key,
    upload_key,
)
from .local import LocalStorage

if TYPE_CHECKING:
    from ..settings import Settings

__all__ = [
    "LocalStorage",
    "Stat",
    "Storage",
    "StorageError",
    "Writer",
    "check_key",
    "get_storage",
    "poster_key",
    "reel_key",
    "upload_key",
]


def get_storage(settings: Settings) -> Storage:
    if settings.storage == "s3":
        from .s3 import S3Storage  # boto3 is only imported when S3 is in use

        return S3Storage.from_settings(settings)
    return LocalStorage(settings.storage_dir)
