"""Service configuration, read from ``MOMENTS_*`` environment variables or a ``.env`` file."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

GiB = 1024**3


class Settings(BaseSettings):
    """Every knob of the service. Tests build one directly; the app uses :func:`get_settings`."""

    model_config = SettingsConfigDict(
        env_prefix="MOMENTS_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
    )

    data_dir: Path = Field(
        Path("./data"),
        description="Folder for the SQLite database, uploads, reels and scratch space.",
    )
    database_url: str = Field(
        "",
        validation_alias=AliasChoices("MOMENTS_DATABASE_URL", "DATABASE_URL", "database_url"),
        description="SQLAlchemy database URL; defaults to SQLite at <data_dir>/moments.db.",
    )
    storage: Literal["local", "s3"] = Field(
        "local", description="Where uploads and reels are kept: the local data_dir, or S3."
    )
    queue: Literal["embedded", "celery"] = Field(
        "embedded",
        description="How jobs run: an embedded pool of worker processes, or Celery workers.",
    )
    workers: int = Field(
        default_factory=lambda: os.cpu_count() or 1,
        ge=1,
        description="How many videos are processed at once (default: the number of CPU cores).",
    )
    max_upload_bytes: int = Field(4 * GiB, ge=1, description="Largest accepted upload, in bytes.")
    max_attempts: int = Field(
        3,
        ge=1,
        description="How many times a job is tried (after worker crashes or unexpected errors) "
        "before it fails.",
    )
    retention_hours: float = Field(
        72, gt=0, description="Hours after which finished jobs' uploads and reels are deleted."
    )
    job_lease_seconds: float = Field(
        60,
        gt=0,
        description="A running job's lease; the worker renews it, and a job whose lease ran out "
        "is taken to have lost its worker and is retried.",
    )
    progress_interval: float = Field(
        0.5, ge=0, description="Minimum seconds between two progress writes for one job."
    )
    cors_origins: list[str] = Field(
        default_factory=list, description="Browser origins allowed to call the API (CORS)."
    )
    host: str = Field("127.0.0.1", description="Address the API server listens on.")
    port: int = Field(8000, ge=1, le=65535, description="Port the API server listens on.")
    default_duration: float = Field(
        30, gt=0, description="Reel length in seconds when a request does not give one."
    )
    max_duration: float = Field(
        180, gt=0, description="Longest reel a request may ask for, in seconds."
    )

    @model_validator(mode="after")
    def _derive_database_url(self) -> Settings:
        # Derived here rather than as a default so it follows a data_dir given at runtime.
        if not self.database_url:
            self.database_url = f"sqlite:///{(self.data_dir / 'moments.db').resolve()}"
        return self

    @property
    def scratch_dir(self) -> Path:
        """Per-job working files (engine output before it is stored)."""
        return self.data_dir / "scratch"

    @property
    def storage_dir(self) -> Path:
        """Root of LocalStorage."""
        return self.data_dir / "files"


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings (cached). Tests pass their own Settings instead."""
    return Settings()
