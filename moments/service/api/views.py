"""Turning job rows (``JobView``) into the API's documents."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from moments.service.jobs.estimate import plan_of_job, seconds_left
from moments.service.paths import job_path

from .schemas import (
    ClipOut,
    JobDetail,
    JobStatus,
    JobSummary,
    Links,
    ReelOut,
    SegmentOut,
    Timings,
)

if TYPE_CHECKING:
    from moments.service.store import JobView


def links(job: JobView) -> Links:
    base = job_path(job.id)
    done = job.status == "completed"
    return Links(
        status=f"{base}/status",
        events=f"{base}/events",
        details=base,
        download=f"{base}/download" if done else None,
        poster=f"{base}/poster" if done and job.poster_key else None,
    )


def reel_of(job: JobView) -> ReelOut | None:
    """The finished reel: its length, size, encoding and where to fetch it and its poster."""
    result: dict[str, Any] = job.result or {}
    if job.status != "completed" or "duration" not in result:
        return None
    urls = links(job)
    return ReelOut(
        duration=result["duration"],
        width=result["width"],
        height=result["height"],
        size_bytes=result.get("size_bytes"),
        bitrate=result.get("bitrate"),
        codec=result.get("codec"),
        profile=result.get("profile"),
        download=urls.download,
        poster=urls.poster,
    )


def expires_at(job: JobView, retention_hours: float | None) -> datetime | None:
    """When retention deletes the job's files: ``retention_hours`` after it finished."""
    if job.finished_at is None or retention_hours is None:
        return None
    return job.finished_at + timedelta(hours=retention_hours)


def eta_of(job: JobView) -> float | None:
    """The worker's estimate; before its first one (the worker process starting), the plan
    from the upload's facts, so a running job has an ETA from its start."""
    if job.eta_seconds is not None:
        return round(job.eta_seconds, 1)
    if job.status != "processing":
        return None
    plan = plan_of_job(job.result, job.options or {})
    return round(seconds_left(plan, job.stage, 0.0), 1) if plan is not None else None


def status_of(job: JobView, retention_hours: float | None = None) -> JobStatus:
    return JobStatus(
        id=job.id,
        status=job.status,
        progress=round(job.progress, 1),
        stage=job.stage,
        message=job.message,
        eta_seconds=eta_of(job),
        error=job.error if job.status == "failed" else None,
        notes=list((job.result or {}).get("notes", [])),
        reel=reel_of(job),
        expires_at=expires_at(job, retention_hours),
        updated_at=job.updated_at,
    )


def summary_of(job: JobView, retention_hours: float | None = None) -> JobSummary:
    return JobSummary(
        id=job.id,
        status=job.status,
        progress=round(job.progress, 1),
        stage=job.stage,
        filename=job.filename or None,
        created_at=job.created_at,
        finished_at=job.finished_at,
        reel=reel_of(job),
        expires_at=expires_at(job, retention_hours),
        links=links(job),
    )


def detail_of(
    job: JobView, retention_hours: float | None = None, callback_secret: str | None = None
) -> JobDetail:
    result: dict[str, Any] = job.result or {}
    media = dict(result.get("input") or {}) or None
    if media:
        media.pop("path", None)  # a server path means nothing to the client
    return JobDetail(
        id=job.id,
        status=job.status,
        progress=round(job.progress, 1),
        stage=job.stage,
        message=job.message,
        eta_seconds=eta_of(job),
        filename=job.filename or None,
        size_bytes=job.input_size,
        options=dict(job.options),
        input=media,
        reel=reel_of(job),
        expires_at=expires_at(job, retention_hours),
        callback_secret=callback_secret if (job.options or {}).get("callback_url") else None,
        notes=list(result.get("notes", [])),
        segments=[_segment(s) for s in result.get("segments", [])],
        clips=[
            ClipOut(
                filename=c.get("filename", ""),
                duration=c["duration"],
                width=c["width"],
                height=c["height"],
            )
            for c in result.get("clips", [])
        ],
        timings=_timings(job, result),
        attempts=job.attempts,
        error=job.error if job.status == "failed" else None,
        links=links(job),
    )


def _segment(data: dict[str, Any]) -> SegmentOut:
    return SegmentOut(
        source_start=data["source_start"],
        source_end=data["source_end"],
        output_start=data["output_start"],
        duration=data.get("duration", data["source_end"] - data["source_start"]),
        score=data["score"],
        reason=data.get("reason", ""),
        signals=data.get("signals", {}),
        clip=data.get("clip"),
    )


def _timings(job: JobView, result: dict[str, Any]) -> Timings:
    queued = processing = None
    if job.started_at is not None:
        queued = round((job.started_at - job.created_at).total_seconds(), 3)
        if job.finished_at is not None:
            processing = round((job.finished_at - job.started_at).total_seconds(), 3)
    return Timings(
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        queued_seconds=queued,
        processing_seconds=processing,
        stages=result.get("timings", {}),
    )
