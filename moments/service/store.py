"""JobStore: every read and write of job rows.

Each state change is ONE conditional UPDATE ("... WHERE status = 'processing'"), so it is atomic
on SQLite and PostgreSQL alike, and a change that no longer applies (the job was cancelled, or
another worker took it over) simply matches no row. That is what makes duplicate delivery,
late progress writes and races with cancel harmless.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import case, delete, func, insert, literal, or_, select, update
from sqlalchemy.orm import Session

from .db.account_models import JobEvent
from .db.models import FINISHED, Job, UTCDateTime, utcnow, view_of

if TYPE_CHECKING:
    from .settings import Settings

SessionFactory = Callable[[], Session]


def new_job_id() -> str:
    """A fresh job id (uuid4 hex). The API takes one before storing the upload under it."""
    return uuid.uuid4().hex


@dataclass(frozen=True)
class JobView:
    """A read-only snapshot of a job row: what crosses the boundary to the API and workers."""

    id: str
    status: str
    progress: float
    stage: str | None
    message: str
    eta_seconds: float | None
    options: dict[str, Any]
    filename: str
    input_key: str
    input_size: int
    output_key: str | None
    poster_key: str | None
    result: dict[str, Any] | None
    error: str | None
    attempts: int
    worker_id: str | None
    lease_until: datetime | None
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    owner_id: str | None = None

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    @classmethod
    def of(cls, job: Job) -> JobView:
        return view_of(cls, job)


class JobStore:
    """Job rows in the database. Sync SQLAlchemy: call from threads or worker processes."""

    def __init__(
        self,
        session_factory: SessionFactory,
        *,
        lease_seconds: float = 60.0,
        max_attempts: int = 3,
    ):
        self._sessions = session_factory
        self.lease_seconds = lease_seconds
        self.max_attempts = max_attempts

    @property
    def sessions(self) -> SessionFactory:
        """The session factory, for the other stores on the same database (``sources``)."""
        return self._sessions

    @classmethod
    def from_settings(cls, settings: Settings) -> JobStore:
        """A store on the settings' database (a new Engine: one per process)."""
        from .db.session import make_engine, make_session_factory

        return cls(
            make_session_factory(make_engine(settings.database_url)),
            lease_seconds=settings.job_lease_seconds,
            max_attempts=settings.max_attempts,
        )

    # -- reads ---------------------------------------------------------------------------

    def get(self, job_id: str) -> JobView | None:
        with self._sessions() as session:
            job = session.get(Job, job_id)
            return JobView.of(job) if job else None

    def list(
        self,
        status: str | None = None,
        limit: int = 20,
        offset: int = 0,
        owner_id: str | None = None,
    ) -> tuple[list[JobView], int]:
        """Newest first, and the total count matching ``status`` (and ``owner_id`` if given)."""
        query = select(Job)
        count = select(func.count()).select_from(Job)
        if owner_id is not None:
            query = query.where(Job.owner_id == owner_id)
            count = count.where(Job.owner_id == owner_id)
        if status is not None:
            query = query.where(Job.status == status)
            count = count.where(Job.status == status)
        query = query.order_by(Job.created_at.desc(), Job.id).limit(limit).offset(offset)
        with self._sessions() as session:
            jobs = [JobView.of(j) for j in session.scalars(query)]
            return jobs, session.scalar(count) or 0

    def is_cancelled(self, job_id: str) -> bool:
        with self._sessions() as session:
            return session.scalar(select(Job.status).where(Job.id == job_id)) == "cancelled"

    def pending_ids(self, limit: int = 100) -> list[str]:
        """Oldest pending jobs first: the queue, as the database sees it."""
        query = (
            select(Job.id)
            .where(Job.status == "pending")
            .order_by(Job.created_at, Job.id)
            .limit(limit)
        )
        with self._sessions() as session:
            return list(session.scalars(query))

    def count(self, *statuses: str) -> int:
        """Jobs in any of ``statuses``, counted in one query (one consistent snapshot)."""
        with self._sessions() as session:
            return session.scalar(select(func.count()).where(Job.status.in_(statuses))) or 0

    def expired(self, before: datetime) -> list[JobView]:
        """Finished jobs whose files may go: finished before ``before``."""
        query = select(Job).where(Job.status.in_(FINISHED), Job.finished_at < before)
        with self._sessions() as session:
            return [JobView.of(j) for j in session.scalars(query)]

    # -- writes --------------------------------------------------------------------------

    def create(
        self,
        *,
        input_key: str,
        filename: str,
        input_size: int,
        options: dict[str, Any],
        job_id: str | None = None,
        owner_id: str | None = None,
        result: dict[str, Any] | None = None,
    ) -> JobView:
        """Add a pending job. Store the upload first: a pending job may be claimed at once.

        ``result`` may hold what is known before processing: ``{"input": facts}`` from the
        upload's probe (duration, width, height), which its ETA is planned from."""
        now = utcnow()
        job = Job(
            id=job_id or new_job_id(),
            status="pending",
            progress=0.0,
            stage="queued",
            message="Waiting for a free worker",
            options=dict(options),
            filename=filename,
            input_key=input_key,
            input_size=input_size,
            attempts=0,
            created_at=now,
            updated_at=now,
            owner_id=owner_id,
            result=result,
        )
        with self._sessions() as session, session.begin():
            session.add(job)
        return JobView.of(job)

    def _update(self, job_id: str, *where: Any, **values: Any) -> bool:
        """One conditional UPDATE of one job; True if it applied."""
        values.setdefault("updated_at", utcnow())
        stmt = update(Job).where(Job.id == job_id, *where).values(**values)
        with self._sessions() as session, session.begin():
            applied = session.execute(stmt).rowcount == 1
            if applied and values.get("status") in FINISHED:
                session.execute(_outbox_event(job_id, f"job.{values['status']}"))
            return applied

    def _claimable(self, now: datetime) -> Any:
        # Pending, or processing by a worker whose lease ran out (it died) with tries left.
        return or_(
            Job.status == "pending",
            (Job.status == "processing")
            & (Job.lease_until < now)
            & (Job.attempts < self.max_attempts),
        )

    def claim(self, job_id: str, worker_id: str) -> JobView | None:
        """Atomically take a job for ``worker_id``: None if it is not there to take."""
        now = utcnow()
        claimed = self._update(
            job_id,
            self._claimable(now),
            status="processing",
            attempts=Job.attempts + 1,
            worker_id=worker_id,
            lease_until=now + timedelta(seconds=self.lease_seconds),
            started_at=now,
            stage="probe",
            # progress is kept: a retry must not make the percentage a client sees go backwards
            eta_seconds=None,
            message="Starting",
            updated_at=now,
        )
        return self.get(job_id) if claimed else None

    def claim_next(self, worker_id: str) -> JobView | None:
        """Claim the oldest pending job; losing a race to another worker just tries the next."""
        for job_id in self.pending_ids(limit=10):
            view = self.claim(job_id, worker_id)
            if view is not None:
                return view
        return None

    def heartbeat(self, job_id: str, worker_id: str) -> bool:
        """Renew the lease; False if the job is no longer this worker's (cancelled, taken over)."""
        now = utcnow()
        return self._update(
            job_id,
            Job.status == "processing",
            Job.worker_id == worker_id,
            lease_until=now + timedelta(seconds=self.lease_seconds),
            updated_at=now,
        )

    def hold(self, job_id: str, worker_id: str, seconds: float) -> bool:
        """Set the lease of a job this worker holds to ``seconds`` from now (longer or shorter
        than its usual one); False if the job is no longer this worker's."""
        now = utcnow()
        return self._update(
            job_id,
            Job.status == "processing",
            Job.worker_id == worker_id,
            lease_until=now + timedelta(seconds=seconds),
            updated_at=now,
        )

    def take_over(self, job_id: str, holder: str, worker_id: str) -> JobView | None:
        """Atomically hand a running job from ``holder`` to ``worker_id`` (no attempt counted:
        the same attempt goes on elsewhere); None if ``holder`` no longer has it."""
        now = utcnow()
        taken = self._update(
            job_id,
            Job.status == "processing",
            Job.worker_id == holder,
            worker_id=worker_id,
            lease_until=now + timedelta(seconds=self.lease_seconds),
            updated_at=now,
        )
        return self.get(job_id) if taken else None

    def progress(
        self,
        job_id: str,
        stage: str | None,
        percent: float,
        message: str = "",
        eta: float | None = None,
    ) -> bool:
        """Record progress of a running job. The stored percent never goes backwards."""
        percent = min(100.0, max(0.0, float(percent)))
        return self._update(
            job_id,
            Job.status == "processing",
            progress=case((Job.progress < percent, percent), else_=Job.progress),
            stage=stage,
            message=message,
            eta_seconds=eta,
        )

    def complete(
        self,
        job_id: str,
        *,
        result: dict[str, Any],
        output_key: str,
        poster_key: str | None,
    ) -> bool:
        """Mark a running job done; False if it was cancelled meanwhile (outputs then unused)."""
        now = utcnow()
        return self._update(
            job_id,
            Job.status == "processing",
            status="completed",
            progress=100.0,
            message="Your reel is ready",
            result=result,
            output_key=output_key,
            poster_key=poster_key,
            error=None,
            **_ended(now),
        )

    def fail(self, job_id: str, error: str) -> bool:
        """Mark a pending or running job failed for good, with a message for a person."""
        now = utcnow()
        return self._update(
            job_id,
            Job.status.in_(("pending", "processing")),
            status="failed",
            message="Could not make a reel from this video",
            error=error,
            **_ended(now),
        )

    def retry_or_fail(self, job_id: str, error: str, max_attempts: int | None = None) -> str | None:
        """After an unexpected error: back to pending if tries are left, else failed.

        Returns the new status, or None if the job was no longer running (e.g. cancelled).
        """
        max_attempts = self.max_attempts if max_attempts is None else max_attempts
        view = self.get(job_id)
        if view is None or view.status != "processing":
            return None
        if view.attempts >= max_attempts:
            tries = "once" if view.attempts == 1 else f"{view.attempts} times"
            return "failed" if self.fail(job_id, f"{error} (tried {tries})") else None
        requeued = self._update(
            job_id,
            Job.status == "processing",
            Job.attempts == view.attempts,
            status="pending",
            stage="queued",
            message="Retrying after an error",
            eta_seconds=None,
            error=error,
            worker_id=None,
            lease_until=None,
        )
        return "pending" if requeued else None

    def request_cancel(self, job_id: str) -> JobView | None:
        """Cancel a pending or running job (the dispatcher then stops its process).

        Returns the job as it is afterwards (unchanged if it had already finished), or None if
        there is no such job.
        """
        now = utcnow()
        self._update(
            job_id,
            Job.status.in_(("pending", "processing")),
            status="cancelled",
            message="Cancelled",
            **_ended(now),
        )
        return self.get(job_id)

    def recover_stale(self, max_attempts: int | None = None) -> tuple[list[str], list[str]]:
        """Jobs left "processing" by a worker that died (lease ran out): retry or fail them.

        Returns (requeued ids, failed ids).
        """
        max_attempts = self.max_attempts if max_attempts is None else max_attempts
        now = utcnow()
        stale = select(Job.id, Job.attempts).where(
            Job.status == "processing", Job.lease_until < now
        )
        with self._sessions() as session:
            rows = session.execute(stale).all()
        requeued, failed = [], []
        for job_id, attempts in rows:
            still_stale = (
                Job.status == "processing",
                Job.lease_until < now,
                Job.attempts == attempts,
            )
            if attempts >= max_attempts:
                times = "once" if attempts == 1 else f"{attempts} times"
                if self._update(
                    job_id,
                    *still_stale,
                    status="failed",
                    message="Could not make a reel from this video",
                    error=f"the worker stopped {times} while processing this video",
                    **_ended(now),
                ):
                    failed.append(job_id)
            elif self._update(
                job_id,
                *still_stale,
                status="pending",
                stage="queued",
                message="Retrying: the worker processing this video stopped",
                eta_seconds=None,
                worker_id=None,
                lease_until=None,
            ):
                requeued.append(job_id)
        return requeued, failed

    def release(self, job_id: str, worker_id: str, message: str) -> bool:
        """Put a job this worker holds back to pending without counting it against the video.

        Used when a worker shuts down cleanly mid-job: the attempt is handed back.
        """
        return self._update(
            job_id,
            Job.status == "processing",
            Job.worker_id == worker_id,
            status="pending",
            stage="queued",
            message=message,
            attempts=case((Job.attempts > 0, Job.attempts - 1), else_=0),
            worker_id=None,
            lease_until=None,
            eta_seconds=None,
        )

    def with_source(self, owner_id: str, source_id: str) -> list[JobView]:
        """The owner's reels made of source ``source_id`` (``options['sources']``), newest
        first. Filtered here, not in SQL: JSON queries differ between SQLite and PostgreSQL,
        and one person's jobs are few (retention deletes them)."""
        query = select(Job).where(Job.owner_id == owner_id).order_by(Job.created_at.desc())
        with self._sessions() as session:
            return [
                JobView.of(job)
                for job in session.scalars(query)
                if source_id in ((job.options or {}).get("sources") or [])
            ]

    def input_in_use(self, input_key: str, besides: str) -> bool:
        """Whether a job other than ``besides`` reads the upload at ``input_key`` (a re-cut
        shares its original's upload and kept analysis)."""
        query = select(func.count()).where(Job.input_key == input_key, Job.id != besides)
        with self._sessions() as session:
            return bool(session.scalar(query))

    def delete(self, job_id: str) -> bool:
        with self._sessions() as session, session.begin():
            return session.execute(delete(Job).where(Job.id == job_id)).rowcount == 1


def _ended(now: datetime) -> dict[str, Any]:
    """What every way a job ends writes: no stage, estimate or lease any more; when it ended."""
    return {
        "stage": None,
        "eta_seconds": None,
        "lease_until": None,
        "finished_at": now,
        "updated_at": now,
    }


def _outbox_event(job_id: str, kind: str) -> Any:
    """INSERT of the job's end-state event, in the transaction that ends it (see JobEvent)."""
    columns = ["job_id", "owner_id", "kind", "job_created_at", "created_at"]
    now = literal(utcnow(), UTCDateTime())
    row = select(Job.id, Job.owner_id, literal(kind), Job.created_at, now).where(Job.id == job_id)
    return insert(JobEvent).from_select(columns, row)
