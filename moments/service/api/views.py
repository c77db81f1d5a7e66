"""Turning job rows (``JobView``) into the API's documents."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .schemas import JobDetail, JobStatus, JobSummary, Links, ReelOut, SegmentOut, Timings

if TYPE_CHECKING:
    from moments.service.store import JobView

PREFIX = "/api/v1"


def links(job: JobView) -> Links:
    base = f"{PREFIX}/jobs/{job.id}"
    done = job.status == "completed"
    return Links(
        status=f"{base}/status",
        events=f"{base}/events",
        details=base,
        download=f"{base}/download" if done else None,
        poster=f"{base}/poster" if done and job.poster_key else None,
    )


def status_of(job: JobView) -> JobStatus:
    return JobStatus(
        id=job.id,
        status=job.status,
        progress=round(job.progress, 1),
        stage=job.stage,
        message=job.message,
        eta_seconds=round(job.eta_seconds, 1) if job.eta_seconds is not None else None,
        error=job.error if job.status == "failed" else None,
        notes=list((job.result or {}).get("notes", [])),
        updated_at=job.updated_at,
    )


def summary_of(job: JobView) -> JobSummary:
    return JobSummary(
        id=job.id,
        status=job.status,
        progress=round(job.progress, 1),
        stage=job.stage,
        filename=job.filename or None,
        created_at=job.created_at,
        finished_at=job.finished_at,
        links=links(job),
    )


def detail_of(job: JobView) -> JobDetail:
    result: dict[str, Any] = job.result or {}
    media = dict(result.get("input") or {}) or None
    if media:
        media.pop("path", None)  # a server path means nothing to the client
    reel = None
    if job.status == "completed" and result:
        reel = ReelOut(duration=result["duration"], width=result["width"], height=result["height"])
    return JobDetail(
        id=job.id,
        status=job.status,
        progress=round(job.progress, 1),
        stage=job.stage,
        message=job.message,
        eta_seconds=job.eta_seconds,
        filename=job.filename or None,
        size_bytes=job.input_size,
        options=dict(job.options),
        input=media,
        reel=reel,
        notes=list(result.get("notes", [])),
        segments=[_segment(s) for s in result.get("segments", [])],
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
