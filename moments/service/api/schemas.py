"""The JSON documents the API sends and accepts (pydantic models, shown in the OpenAPI page)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from moments.engine.models import Aspect
from moments.service.db.models import Status

__all__ = ["Aspect", "Status"]  # the vocabularies, spelled where they belong, re-exported


class Problem(BaseModel):
    """RFC 9457 problem details: every error looks like this."""

    type: str = Field(examples=["urn:moments:problem:job-not-ready"])
    title: str
    status: int
    detail: str
    instance: str


class Links(BaseModel):
    status: str
    events: str
    details: str
    download: str | None = None
    poster: str | None = None


CALLBACK_URL = (
    "URL to POST to when this job ends (job.completed or job.failed), signed like account "
    "webhooks: 'Moments-Signature: t=<unix time>,v1=<HMAC-SHA256 hex of \"<t>.<body>\">' "
    "with this job's callback_secret. It must reach a public address (loopback and private "
    "ones too in local mode or with MOMENTS_WEBHOOK_ALLOW_PRIVATE); else the upload is 422."
)
KEEP_LOCATION = (
    "Keep where the video was shot (its GPS location tags) in the reel. By default it is "
    "removed, as a reel is made for sharing; when it was shot is kept either way, the phone's "
    "make and model never."
)
CALLBACK_SECRET = (
    "Key of the callback's Moments-Signature (present when callback_url was given); also in "
    "the job's details."
)
EXPIRES_AT = (
    "When the reel and the upload are deleted (retention_hours after the job finished); null "
    "until the job finishes."
)


class UploadAccepted(BaseModel):
    """Answer to an upload: the job was queued."""

    id: str
    status: Status
    filename: str | None
    size_bytes: int
    options: dict[str, Any]
    estimated_seconds: float = Field(
        description="Rough time until the reel is ready, including jobs queued ahead of it."
    )
    callback_secret: str | None = Field(None, description=CALLBACK_SECRET)
    links: Links


class ReelOut(BaseModel):
    """The finished reel."""

    duration: float = Field(description="Length of the reel in seconds.")
    width: int
    height: int
    size_bytes: int | None = Field(
        None, description="Size of the reel file in bytes (null for reels made before it was kept)."
    )
    bitrate: int | None = Field(
        None, description="The reel's video bits per second (its AAC sound adds 160 kbit/s)."
    )
    codec: str | None = Field(None, description='The reel\'s video codec ("h264", "hevc").')
    profile: str | None = Field(None, description='The video codec\'s profile ("High", "Main").')
    download: str | None = Field(None, description="URL of the reel (MP4), with byte ranges.")
    poster: str | None = Field(None, description="URL of the poster JPEG, if there is one.")


NOTES = (
    "Sentences for the person when the reel differs from what was asked (shorter than asked, "
    "sound dropped...), each saying why."
)


class JobStatus(BaseModel):
    """Where a job stands. ``progress`` never goes backwards."""

    id: str
    status: Status
    progress: float = Field(ge=0, le=100)
    stage: str | None = Field(description="queued, probe, analyse, select, render or saving")
    message: str = Field(description="What is happening, for a person to read.")
    eta_seconds: float | None = Field(
        description="Seconds until the reel is likely ready, from the start of processing "
        "(planned from the video's length and size, corrected by the pace so far); null while "
        "queued and once finished."
    )
    error: str | None = None
    notes: list[str] = Field(default_factory=list, description=NOTES)
    reel: ReelOut | None = Field(None, description="The reel, once the job completed.")
    expires_at: datetime | None = Field(None, description=EXPIRES_AT)
    updated_at: datetime | None = None


class JobSummary(BaseModel):
    id: str
    status: Status
    progress: float
    stage: str | None
    filename: str | None
    created_at: datetime
    finished_at: datetime | None
    reel: ReelOut | None = Field(None, description="The reel, once the job completed.")
    expires_at: datetime | None = Field(None, description=EXPIRES_AT)
    links: Links


class JobPage(BaseModel):
    items: list[JobSummary]
    total: int
    limit: int
    offset: int
    next: str | None = Field(description="URL of the next page, or null on the last one.")


class Timings(BaseModel):
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    queued_seconds: float | None
    processing_seconds: float | None
    stages: dict[str, float] = Field(default_factory=dict, description="Engine time per stage.")


class SegmentOut(BaseModel):
    source_start: float
    source_end: float
    output_start: float
    duration: float
    score: float
    reason: str
    signals: dict[str, float]
    clip: int | None = Field(
        None, description="A reel of many clips: which clip the moment is from, counted in "
        "the order the clips are shown (the order they were shot); null for one video.",
    )  # fmt: skip


class ClipOut(BaseModel):
    """One clip of a reel of many clips."""

    filename: str
    duration: float
    width: int
    height: int


class JobDetail(BaseModel):
    """Everything about one job: input facts, options, timings, chosen segments, error."""

    id: str
    status: Status
    progress: float
    stage: str | None
    message: str
    eta_seconds: float | None
    filename: str | None
    size_bytes: int
    options: dict[str, Any]
    input: dict[str, Any] | None = Field(description="Facts read from the video (once probed).")
    reel: ReelOut | None
    expires_at: datetime | None = Field(None, description=EXPIRES_AT)
    callback_secret: str | None = Field(None, description=CALLBACK_SECRET)
    notes: list[str] = Field(default_factory=list, description=NOTES)
    segments: list[SegmentOut]
    clips: list[ClipOut] = Field(
        default_factory=list,
        description="A reel of many clips: the clips it shows, in reel order (a segment's "
        "clip indexes this list); empty for a reel of one video.",
    )
    timings: Timings
    attempts: int
    error: str | None
    links: Links


class Formats(BaseModel):
    """What uploads we accept."""

    containers: list[dict[str, Any]]
    video_codecs: list[str]
    audio_codecs: list[str]
    max_upload_bytes: int
    min_video_seconds: float
    max_video_seconds: float
    max_width: int
    max_height: int
    aspects: list[str]
    default_duration: float
    max_duration: float
    resolutions: list[str] = Field(description="The reel sizes this server makes.")
    upload_styles: list[str]


class Health(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    status: Literal["ready", "not ready"]
    checks: dict[str, dict[str, Any]]
