"""Service configuration, read from ``MOMENTS_*`` environment variables or a ``.env`` file."""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

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

    # -- slow and greedy clients: limits on the API server's connections -----------------------
    max_header_bytes: int = Field(
        64 * 1024,
        ge=1024,
        description="Largest request head (request line and headers), in bytes; a larger one "
        "is answered 431 and its connection closed.",
    )
    header_timeout_seconds: float = Field(
        10,
        gt=0,
        description="Seconds a client has to send a whole request head, from connecting (or "
        "from the first byte of a later request); past it the connection is closed (408).",
    )
    body_min_rate: int = Field(
        2048,
        ge=0,
        description="Bytes per second a request body must average over each "
        "body_idle_seconds; a body that trickles slower is cut off with 408. Time the server "
        "itself is not reading (its disk or storage is behind) does not count.",
    )
    body_idle_seconds: float = Field(
        30,
        gt=0,
        description="The window body_min_rate is measured over; a body that sends nothing "
        "this long is cut off with 408 (within twice this time).",
    )
    keepalive_seconds: float = Field(
        5, gt=0, description="Seconds an idle keep-alive connection waits for its next request."
    )
    max_connections: int = Field(
        1000,
        ge=1,
        description="Open connections the API server keeps, at most half its open-file limit "
        "(raised to the hard limit at start). At the cap a new connection replaces the "
        "longest-idle one; if every one is busy with a request it is answered 503.",
    )
    upload_expiry_hours: float = Field(
        24,
        gt=0,
        description="Hours a resumable upload may sit unfinished without new bytes before its "
        "partial file is deleted.",
    )
    default_duration: float = Field(
        30, gt=0, description="Reel length in seconds when a request does not give one."
    )
    max_duration: float = Field(
        180, gt=0, description="Longest reel a request may ask for, in seconds."
    )
    # The engine's ``models.Resolution``, spelled again so that reading settings does not
    # import the engine (FFmpeg, OpenCV); tests/service/test_resolution_option.py checks that
    # the two agree.
    max_resolution: Literal["720p", "1080p", "4k"] = Field(
        "4k",
        description="Largest reel size offered (720p, 1080p or 4k): a 4K reel's job takes about "
        "1.4 GiB of memory (x265 at 4K alone some 640 MiB), a 1080p one under 1 GiB even from 4K "
        "footage. A request for more is refused (422).",
    )
    max_clips: int = Field(
        50, ge=1, description="Most sources (clips) one reel of many clips may be made of."
    )
    max_footage_minutes: float = Field(
        30, gt=0, description="Most minutes of footage, all clips together, one reel is made of."
    )

    # -- resource limits of one job: one bad file must not take a worker down ------------------
    job_timeout_seconds: float | None = Field(
        1800,
        gt=0,
        description="Wall-clock seconds a job may run; past it, it fails as 'took longer than' "
        "and is not retried (a video that slow would be again). None: no limit.",
    )
    job_memory_bytes: int | None = Field(
        4 * GiB,
        gt=0,
        description="Memory (RLIMIT_DATA, bytes) a job may allocate on top of what its "
        "process held when it started; past it, the job fails and is not retried. None: no "
        "limit.",
    )
    job_cpu_seconds: float | None = Field(
        7200,
        gt=0,
        description="Processor seconds (RLIMIT_CPU, all threads together) a job may use; past "
        "it, the job fails and is not retried. None: no limit.",
    )

    # -- probing uploads: untrusted bytes are read in a limited child process ------------------
    probe_memory_bytes: int | None = Field(
        1_000_000_000,
        gt=0,
        description="Memory (RLIMIT_DATA, bytes) the probe of one upload may allocate, in its "
        "own process; a file that needs more is refused (422). None: no limit.",
    )
    probe_cpu_seconds: float | None = Field(
        20,
        gt=0,
        description="Processor seconds the probe of one upload may use; past it, the file is "
        "refused (422). None: no limit.",
    )
    probe_timeout_seconds: float = Field(
        30,
        gt=0,
        description="Wall-clock seconds the probe of one upload may take; past it, its process "
        "is ended and the file refused (422).",
    )
    probe_processes: int = Field(
        2,
        ge=1,
        description="How many uploads are probed at once, each in its own process (up to "
        "probe_memory_bytes each); more wait their turn.",
    )

    # -- scaling out: Celery on Redis, S3-compatible storage -----------------------------------
    redis_url: str = Field(
        "redis://127.0.0.1:6379/0",
        description="Celery broker (MOMENTS_QUEUE=celery): a Redis URL.",
    )
    celery_queue: str = Field("moments", description="Name of the Celery queue jobs go to.")
    celery_visibility_timeout: float = Field(
        6 * 3600,
        gt=0,
        description="Seconds before Redis hands an unacknowledged job message to another "
        "worker. Must exceed the longest job: a redelivered running job is a no-op anyway.",
    )
    recover_interval: float = Field(
        30,
        gt=0,
        description="Seconds between sweeps that re-queue jobs whose worker vanished "
        "(lease ran out) and re-send jobs left pending without a message.",
    )
    worker_name: str | None = Field(
        None, description="Celery worker node name (default moments-<random>@<host name>)."
    )
    s3_endpoint_url: str | None = Field(
        None, description="S3-compatible endpoint (MinIO, Ceph...); unset for AWS S3."
    )
    s3_public_endpoint_url: str | None = Field(
        None,
        description="Endpoint browsers reach, for presigned download links when it differs "
        "from s3_endpoint_url (e.g. http://minio:9000 inside compose, a public name outside).",
    )
    s3_bucket: str = Field("moments", description="Bucket holding uploads and reels.")
    s3_prefix: str = Field("", description="Key prefix inside the bucket (e.g. 'prod/').")
    s3_region: str = Field("us-east-1", description="Region of the bucket.")
    s3_access_key_id: str | None = Field(None, description="S3 access key (else boto3's chain).")
    s3_secret_access_key: SecretStr | None = Field(None, description="S3 secret key.")
    s3_addressing_style: Literal["auto", "path", "virtual"] = Field(
        "auto", description="'path' for most self-hosted servers (MinIO)."
    )
    s3_create_bucket: bool = Field(
        False, description="Create the bucket at start-up if it is missing (dev/test servers)."
    )
    s3_part_bytes: int = Field(
        8 * 1024**2,
        ge=5 * 1024**2,
        description="Multipart upload part size (S3's minimum is 5 MiB); larger files go in parts.",
    )
    presign_seconds: int = Field(
        300,
        ge=1,
        le=7 * 24 * 3600,
        description="Lifetime of the presigned URLs that S3 downloads are redirected to.",
    )

    # -- accounts, quotas, rate limits, notifications ------------------------------------------
    auth_mode: Literal["local", "accounts"] = Field(
        "local",
        description="'local': one account for this machine, its API key written to "
        "<data_dir>/local-api-key at first start; loopback binds only. 'accounts': sign-up and "
        "login for many users (required to listen on a non-loopback address).",
    )
    jwt_secret: SecretStr | None = Field(
        None,
        description="HS256 key for access tokens; generated and kept in <data_dir>/jwt-secret "
        "when unset. Set it (the same on every API instance) when scaled out.",
    )
    access_token_seconds: int = Field(900, ge=10, description="Lifetime of access tokens.")
    refresh_token_days: float = Field(30, gt=0, description="Lifetime of refresh tokens.")
    allow_signup: bool = Field(
        True, description="Whether anyone may create an account (auth_mode=accounts)."
    )
    default_plan: Literal["free", "pro"] = Field("free", description="Plan of new accounts.")
    free_reels_per_month: int | None = Field(
        3, ge=0, description="Reels a Free account may make per calendar month (None: no limit)."
    )
    pro_reels_per_month: int | None = Field(
        None, ge=0, description="Reels a Pro account may make per month (None: no limit)."
    )
    rate_limit_storage: str = Field(
        "memory://",
        description="Where rate-limit counters live: memory:// on one machine, or a "
        "redis://... URL shared by every API instance.",
    )
    rate_limit_upload: str | None = Field(
        None,
        description="Uploads that become jobs, per user and per client address (refused "
        "uploads do not count), e.g. '30/hour'. Unset: 30/hour with auth_mode=accounts, "
        "1000/hour with local.",
    )
    rate_limit_upload_bytes: str | None = Field(
        None,
        description="Bytes of uploads that become jobs, per user and per client address, e.g. "
        "'10737418240/day'; 'none': no limit. Unset: 50 GiB a day with auth_mode=accounts, no "
        "limit with local.",
    )
    rate_limit_poll: str = Field(
        "240/minute",
        description="Status, event-stream and listing requests allowed per user and per address.",
    )
    auth_cache_seconds: float = Field(
        5,
        ge=0,
        le=60,
        description="Seconds an API instance trusts a credential it has checked, so polling "
        "does not look the key up each time. A key revoked through another instance stops "
        "working there, with every access token made from it, within this time (at once on "
        "the instance that revoked it). At most 60; 0: check every request.",
    )
    rate_limit_auth: str = Field(
        "20/minute",
        description="Login, sign-up, token refreshes and password changes per client address.",
    )
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Reverse proxies whose X-Forwarded-For and X-Forwarded-Proto are believed: "
        "addresses or networks (CIDR), comma-separated. Empty: none, so the client address "
        "(rate limits count by it) is the connection's, whatever the headers say. Set it to "
        "your proxy's address when the API is behind one.",
    )
    webhook_timeout: float = Field(10, gt=0, description="Seconds a webhook receiver gets.")
    webhook_max_attempts: int = Field(8, ge=1, description="Tries per notification.")
    webhook_backoff_seconds: float = Field(
        30, gt=0, description="Wait before the first retry; doubles after each failure."
    )
    webhook_allow_private: bool | None = Field(
        None,
        description="Allow webhook URLs on loopback/private addresses. Unset: allowed with "
        "auth_mode=local only, so users of a shared server cannot probe its network.",
    )
    outbox_interval: float = Field(
        1.0, gt=0, description="Seconds between looks at the notification outbox."
    )
    apns_key_file: Path | None = Field(None, description="APNs auth key (.p8); unset: no APNs.")
    apns_key_id: str = Field("", description="Key ID of the .p8 key.")
    apns_team_id: str = Field("", description="Apple developer team ID.")
    apns_topic: str = Field("", description="The app's bundle ID.")
    apns_sandbox: bool = Field(False, description="Use APNs' development server.")
    apns_server: str | None = Field(
        None, description="host:port of an APNs stand-in (tests); unset for Apple's servers."
    )
    apns_ca_file: Path | None = Field(
        None, description="CA bundle to trust for apns_server (a stand-in's own certificate)."
    )
    log_format: Literal["json", "text"] = Field("json", description="Log line format.")
    metrics_token: SecretStr | None = Field(
        None,
        description="Bearer token for GET /metrics: Prometheus sends 'Authorization: Bearer "
        "<this>' (its scrape config's authorization.credentials). Unset: /metrics answers 401 "
        "unless metrics_public.",
    )
    metrics_public: bool = Field(
        False,
        description="Serve GET /metrics to anyone, without a token (only where the port is "
        "reachable from trusted machines alone). Ignored when metrics_token is set.",
    )

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _proxy_list(cls, value: object) -> object:
        from .proxies import check_proxy

        if isinstance(value, str) and value.strip().startswith("["):
            value = json.loads(value)  # a JSON list, as other list settings are written
        if isinstance(value, str):
            value = [part for part in value.split(",") if part.strip()]
        if isinstance(value, list | tuple):
            return [check_proxy(str(part)) for part in value]
        return value

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


DERIVED_DEFAULTS = {"database_url", "workers", "rate_limit_upload", "rate_limit_upload_bytes"}


def settings_table() -> str:
    """Every setting as a Markdown table (environment variable, default, meaning) for the README."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        default = (
            "(derived)"
            if name in DERIVED_DEFAULTS
            else _shown(field.get_default(call_default_factory=True))
        )
        description = (field.description or "").replace("|", "\\|")
        rows.append(f"| `MOMENTS_{name.upper()}` | {default} | {description} |")
    return "\n".join(rows) + "\n"


def _shown(value: object) -> str:
    if value is None:
        return "unset"
    if value == "" or value == []:
        return "empty"
    return f"`{value}`"


if __name__ == "__main__":
    # python -m moments.service.settings  prints the README's settings table
    print(settings_table(), end="")
