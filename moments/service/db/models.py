"""The job table, as a typed SQLAlchemy 2 ORM model.

Types are portable (String ids, sa.JSON, timezone-aware DateTime) so the same migrations run on
SQLite now and PostgreSQL later.
"""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar, get_args

from sqlalchemy import JSON, BigInteger, DateTime, Float, Integer, String, Text, TypeDecorator
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

Status = Literal["pending", "processing", "completed", "failed", "cancelled"]
STATUSES: tuple[str, ...] = get_args(Status)
FINISHED = ("completed", "failed", "cancelled")
V = TypeVar("V")


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """Timezone-aware DateTime that always reads back as UTC.

    SQLite drops tzinfo on the way in; this puts it back so comparisons with aware datetimes work
    the same on every database.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    pass


class Job(Base):
    """One video to turn into a reel, and everything known about its progress."""

    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=lambda: uuid.uuid4().hex)
    status: Mapped[str] = mapped_column(String(16), index=True, default="pending")
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    stage: Mapped[str | None] = mapped_column(String(16), default="queued")
    message: Mapped[str] = mapped_column(Text, default="")
    eta_seconds: Mapped[float | None] = mapped_column(Float)
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    filename: Mapped[str] = mapped_column(String(255), default="")
    input_key: Mapped[str] = mapped_column(String(255))
    input_size: Mapped[int] = mapped_column(BigInteger, default=0)
    output_key: Mapped[str | None] = mapped_column(String(255))
    poster_key: Mapped[str | None] = mapped_column(String(255))
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    worker_id: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    owner_id: Mapped[str | None] = mapped_column(String(32), index=True)
    """The user the job (and its files) belongs to; only they can see it."""


class Source(Base):
    """An upload kept on its own, until it expires, for reels of one or many clips."""

    __tablename__ = "sources"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    owner_id: Mapped[str | None] = mapped_column(String(32), index=True)
    filename: Mapped[str] = mapped_column(String(255), default="")
    input_key: Mapped[str] = mapped_column(String(255))
    size_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    facts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    """What the probe found: duration, width, height, whether it has sound."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


def view_of(view: type[V], row: object) -> V:
    """A frozen dataclass ``view`` filled from the same-named attributes of an ORM ``row``:
    what crosses the store's boundary is plain data, not a session-bound object."""
    return view(**{f.name: getattr(row, f.name) for f in dataclasses.fields(view)})
