"""The job store and its Alembic migrations on a real PostgreSQL server."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text, update

from moments.service import db
from moments.service.db import Job, make_engine, make_session_factory
from moments.service.db.session import sync_url
from moments.service.settings import Settings
from moments.service.store import JobStore


def _store(settings: Settings, **kwargs) -> JobStore:
    factory = make_session_factory(make_engine(settings.database_url))
    return JobStore(factory, lease_seconds=kwargs.get("lease", 60), max_attempts=3)


def _new(store: JobStore, name: str = "a.mp4"):
    return store.create(input_key=f"uploads/x/{name}", filename=name, input_size=1, options={})


def test_same_migrations_create_the_schema_on_postgresql(pg_url, tmp_path):
    settings = Settings(data_dir=tmp_path, database_url=pg_url, _env_file=None)
    db.upgrade(settings)
    engine = make_engine(pg_url)
    try:
        assert engine.dialect.name == "postgresql"
        inspector = inspect(engine)
        columns = {c["name"]: c for c in inspector.get_columns("jobs")}
        assert set(columns) == set(Job.__table__.columns.keys())
        assert str(columns["lease_until"]["type"]) == "TIMESTAMP"
        assert columns["lease_until"]["type"].timezone is True
        assert columns["input_size"]["type"].__class__.__name__ == "BIGINT"
        indexes = {i["name"] for i in inspector.get_indexes("jobs")}
        assert {"ix_jobs_status", "ix_jobs_created_at"} <= indexes
        with engine.connect() as conn:
            # Every migration there is, the latest included (test_store pins which that is).
            head = ScriptDirectory.from_config(db.alembic_config(pg_url)).get_current_head()
            assert conn.scalar(text("SELECT version_num FROM alembic_version")) == head
    finally:
        engine.dispose()

    # Down and up again: the migrations are reversible on PostgreSQL too.
    from alembic import command

    command.downgrade(db.alembic_config(pg_url), "base")
    engine = make_engine(pg_url)
    try:
        assert not inspect(engine).has_table("jobs")
    finally:
        engine.dispose()
    db.upgrade(settings)


def test_asyncpg_url_is_served_by_psycopg(pg_url, tmp_path):
    # Our store is synchronous: an asyncpg URL (shared with async tools) maps to psycopg 3.
    asyncpg_url = pg_url.replace("postgresql+psycopg", "postgresql+asyncpg")
    assert sync_url(asyncpg_url) == pg_url
    assert sync_url(pg_url.replace("postgresql+psycopg", "postgres")) == pg_url
    settings = Settings(data_dir=tmp_path, database_url=asyncpg_url, _env_file=None)
    db.upgrade(settings)
    store = JobStore.from_settings(settings)
    job = _new(store)
    assert store.get(job.id).status == "pending"
    assert store._sessions().get_bind().dialect.driver == "psycopg"


def test_store_round_trip_keeps_utc_times_and_json(pg_settings):
    store = _store(pg_settings)
    job = store.create(
        input_key="uploads/j/source.mp4",
        filename="Ünïcode clip.mov",
        input_size=5 * 1024**3,  # over 2**32: needs BIGINT
        options={"duration": 12.5, "aspect": "9:16"},
    )
    claimed = store.claim(job.id, "w1")
    assert claimed is not None and claimed.attempts == 1
    assert claimed.lease_until.tzinfo is not None
    assert claimed.lease_until.utcoffset() == timedelta(0)
    assert claimed.lease_until > datetime.now(UTC)
    result = {"segments": [{"start": 1.0, "reason": "loud"}], "timings": {"render": 1.5}}
    assert store.complete(job.id, result=result, output_key="reels/j/reel.mp4", poster_key=None)
    done = store.get(job.id)
    assert done.status == "completed" and done.result == result
    assert done.input_size == 5 * 1024**3 and done.filename == "Ünïcode clip.mov"
    assert done.options == {"duration": 12.5, "aspect": "9:16"}


def test_claim_is_atomic_under_concurrent_workers(pg_settings):
    """8 threads race for the same job 20 times: exactly one wins each race."""
    store = _store(pg_settings)
    for _ in range(20):
        job = _new(store)
        winners: list[str] = []
        barrier = threading.Barrier(8)

        def race(n: int, job_id: str, barrier: threading.Barrier, winners: list[str]) -> None:
            barrier.wait()
            if store.claim(job_id, f"w{n}") is not None:
                winners.append(f"w{n}")

        threads = [
            threading.Thread(target=race, args=(n, job.id, barrier, winners)) for n in range(8)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(winners) == 1
        view = store.get(job.id)
        assert view.attempts == 1 and view.worker_id == winners[0]


def test_claim_next_hands_each_job_to_one_worker(pg_settings):
    store = _store(pg_settings)
    ids = {_new(store, f"{n}.mp4").id for n in range(30)}
    taken: list[str] = []
    lock = threading.Lock()

    def worker(n: int) -> None:
        while (job := store.claim_next(f"w{n}")) is not None:
            with lock:
                taken.append(job.id)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(taken) == sorted(ids)  # every job once, none twice


def test_duplicate_claims_and_stale_recovery(pg_settings):
    store = _store(pg_settings, lease=60)
    job = _new(store)
    assert store.claim(job.id, "w1") is not None
    assert store.claim(job.id, "w2") is None  # live lease: a duplicate delivery is a no-op
    # The worker died: its lease ran out in the past.
    with store._sessions() as session, session.begin():
        past = datetime.now(UTC) - timedelta(seconds=1)
        session.execute(update(Job).where(Job.id == job.id).values(lease_until=past))
    requeued, failed = store.recover_stale()
    assert requeued == [job.id] and failed == []
    again = store.claim(job.id, "w2")
    assert again is not None and again.attempts == 2
    store.complete(job.id, result={}, output_key="reels/x/reel.mp4", poster_key=None)
    assert store.claim(job.id, "w3") is None  # finished: never run again


def test_progress_never_goes_backwards(pg_settings):
    store = _store(pg_settings)
    job = _new(store)
    store.claim(job.id, "w1")
    for percent in (10, 40, 25, 60, 5):
        store.progress(job.id, "analyse", percent, "")
    assert store.get(job.id).progress == 60
