"""SourceStore: the rows of sources, uploads kept on their own for reels of one or many clips.

A source belongs to its owner, lives ``retention_hours`` from its upload, and is stored under
``sources/<id>/`` (with the analyses kept of it: ``jobs.analyses``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select

from .db.models import Source, utcnow, view_of
from .storage.base import check_key

if TYPE_CHECKING:
    from .store import SessionFactory


def new_source_id() -> str:
    return uuid.uuid4().hex


def source_key(source_id: str, extension: str) -> str:
    """Where a source's upload is stored (its folder also holds its kept analyses)."""
    ext = "".join(c for c in extension.lower().lstrip(".") if c.isalnum())[:10] or "bin"
    return check_key(f"sources/{source_id}/source.{ext}")


@dataclass(frozen=True)
class SourceView:
    id: str
    owner_id: str | None
    filename: str
    input_key: str
    size_bytes: int
    facts: dict[str, Any]
    created_at: datetime


class SourceStore:
    """Source rows. Sync SQLAlchemy: call from threads or worker processes."""

    def __init__(self, session_factory: SessionFactory):
        self._sessions = session_factory

    def create(
        self,
        *,
        source_id: str,
        owner_id: str | None,
        filename: str,
        input_key: str,
        size_bytes: int,
        facts: dict[str, Any],
    ) -> SourceView:
        row = Source(
            id=source_id,
            owner_id=owner_id,
            filename=filename,
            input_key=input_key,
            size_bytes=size_bytes,
            facts=dict(facts),
            created_at=utcnow(),
        )
        with self._sessions() as session, session.begin():
            session.add(row)
        return view_of(SourceView, row)

    def get(self, source_id: str) -> SourceView | None:
        with self._sessions() as session:
            row = session.get(Source, source_id)
            return view_of(SourceView, row) if row else None

    def expired(self, before: datetime) -> list[SourceView]:
        query = select(Source).where(Source.created_at < before)
        with self._sessions() as session:
            return [view_of(SourceView, row) for row in session.scalars(query)]

    def delete(self, source_id: str) -> bool:
        with self._sessions() as session, session.begin():
            return session.execute(delete(Source).where(Source.id == source_id)).rowcount == 1
