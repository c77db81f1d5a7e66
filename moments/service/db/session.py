"""Engine and session factory. SQLite gets WAL and a busy timeout: several processes write."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

SQLITE_BUSY_TIMEOUT_MS = 30_000
# As many pooled SQLite connections as the API has request threads (anyio's default, 40): under
# 100 concurrent pollers a smaller pool opened and closed a connection (with its PRAGMAs) per
# request. SQLite connections are only open file handles, so keeping them is cheap.
SQLITE_POOL_SIZE = 40


# PostgreSQL URLs we accept, and the sync driver each maps to. The store is synchronous, so an
# asyncpg URL (shared with async tools) is served by psycopg 3; plain "postgresql://" would
# otherwise pick psycopg2, which we do not install.
_POSTGRES_DRIVERS = {
    "postgres": "postgresql+psycopg",
    "postgresql": "postgresql+psycopg",
    "postgresql+asyncpg": "postgresql+psycopg",
    "postgresql+psycopg": "postgresql+psycopg",
}


def sync_url(url: str) -> str:
    """The URL our synchronous engine uses: PostgreSQL flavours go through psycopg 3."""
    if url.split("://", 1)[0] == "postgres":  # Heroku-style; SQLAlchemy has no such dialect
        url = "postgresql" + url[len("postgres") :]
    parsed = make_url(url)
    driver = _POSTGRES_DRIVERS.get(parsed.drivername)
    if driver is None or driver == parsed.drivername:
        return url
    return parsed.set(drivername=driver).render_as_string(hide_password=False)


def make_engine(url: str) -> Engine:
    """Create an Engine; for SQLite also create the folder and set WAL + busy timeout."""
    url = sync_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url,
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
        pool_size=SQLITE_POOL_SIZE,
    )

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_conn, _record) -> None:
        # Writes are single conditional UPDATEs (see store.py), atomic on their own, so the
        # driver's default transaction handling is enough.
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    return engine


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)
