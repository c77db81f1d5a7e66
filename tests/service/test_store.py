from __future__ import annotations

import threading
from datetime import timedelta

from sqlalchemy import create_engine

from moments.service import db
from moments.service.db.models import utcnow
from moments.service.store import JobStore


def _job(store: JobStore, name: str = "a.mp4"):
    return store.create(input_key=f"uploads/x/{name}", filename=name, input_size=3, options={})


def test_migration_matches_models(migrated) -> None:
    """The Alembic migration creates exactly what the ORM models describe."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    engine = create_engine(migrated.database_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), db.Base.metadata)
    engine.dispose()
    assert diff == []


def test_sqlite_uses_wal(store: JobStore, migrated) -> None:
    engine = db.make_engine(migrated.database_url)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000


def test_create_get_list(store: JobStore) -> None:
    first = _job(store, "1.mp4")
    second = _job(store, "2.mp4")
    assert first.status == "pending" and first.stage == "queued" and first.attempts == 0
    assert store.get(first.id) == first
    assert store.get("nope") is None
    jobs, total = store.list()
    assert total == 2 and [j.id for j in jobs] == [second.id, first.id]  # newest first
    jobs, total = store.list(limit=1, offset=1)
    assert total == 2 and [j.id for j in jobs] == [first.id]
    store.claim(first.id, "w")
    assert [j.id for j in store.list(status="processing")[0]] == [first.id]


def test_claim_is_exclusive_under_contention(store: JobStore) -> None:
    job = _job(store)
    winners: list[str] = []
    barrier = threading.Barrier(8)

    def grab(worker: str) -> None:
        barrier.wait()
        if store.claim(job.id, worker) is not None:
            winners.append(worker)

    threads = [threading.Thread(target=grab, args=(f"w{i}",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(winners) == 1
    view = store.get(job.id)
    assert view.status == "processing" and view.attempts == 1 and view.worker_id == winners[0]
    assert view.lease_until > utcnow()


def test_finished_or_cancelled_jobs_are_not_claimable(store: JobStore) -> None:
    job = _job(store)
    assert store.request_cancel(job.id).status == "cancelled"
    assert store.claim(job.id, "w") is None
    assert store.is_cancelled(job.id)
    done = _job(store)
    store.claim(done.id, "w")
    assert store.complete(done.id, result={"x": 1}, output_key="reels/o", poster_key=None)
    assert store.claim(done.id, "w2") is None
    assert store.request_cancel(done.id).status == "completed", "finished jobs stay finished"
    assert store.request_cancel("missing") is None


def test_progress_never_goes_backwards(store: JobStore) -> None:
    job = _job(store)
    assert not store.progress(job.id, "probe", 5, "x"), "no progress for a job not running"
    store.claim(job.id, "w")
    assert store.progress(job.id, "analyse", 40.0, "Analysing", 12.0)
    store.progress(job.id, "analyse", 30.0, "Analysing", 10.0)
    view = store.get(job.id)
    assert view.progress == 40.0 and view.stage == "analyse" and view.eta_seconds == 10.0
    store.request_cancel(job.id)
    assert not store.progress(job.id, "render", 90.0), "late writes after cancel are ignored"
    assert store.get(job.id).progress == 40.0


def test_complete_after_cancel_does_not_apply(store: JobStore) -> None:
    job = _job(store)
    store.claim(job.id, "w")
    store.request_cancel(job.id)
    assert not store.complete(job.id, result={}, output_key="k", poster_key=None)
    assert store.get(job.id).status == "cancelled"


def test_retry_or_fail_counts_attempts(store: JobStore) -> None:
    job = _job(store)
    for attempt in (1, 2):
        assert store.claim_next("w").id == job.id
        assert store.retry_or_fail(job.id, "boom", max_attempts=3) == "pending"
        view = store.get(job.id)
        assert view.attempts == attempt and view.error == "boom" and view.worker_id is None
    store.claim_next("w")
    assert store.retry_or_fail(job.id, "boom", max_attempts=3) == "failed"
    view = store.get(job.id)
    assert view.status == "failed" and view.error == "boom (tried 3 times)"
    assert view.finished_at is not None
    assert store.claim_next("w") is None


def test_a_retry_keeps_the_progress_a_client_has_seen(store: JobStore) -> None:
    job = _job(store)
    store.claim_next("w")
    store.progress(job.id, "render", 70.0, "Rendering")
    store.retry_or_fail(job.id, "worker lost", max_attempts=3)
    assert store.claim_next("w2").progress == 70.0
    store.progress(job.id, "analyse", 20.0, "Analysing")
    assert store.get(job.id).progress == 70.0


def test_heartbeat_only_for_the_holder(store: JobStore) -> None:
    job = _job(store)
    first = store.claim(job.id, "w1")
    assert not store.heartbeat(job.id, "w2")
    assert store.heartbeat(job.id, "w1")
    assert store.get(job.id).lease_until >= first.lease_until


def test_recover_stale_requeues_then_fails(migrated) -> None:
    store = JobStore.from_settings(migrated)
    store.lease_seconds = -1.0  # every lease is already over: the worker "died" at once
    job = _job(store)
    for attempt in (1, 2, 3):
        assert store.claim(job.id, f"w{attempt}") is not None
        requeued, failed = store.recover_stale(max_attempts=3)
        if attempt < 3:
            assert requeued == [job.id] and failed == []
            assert store.get(job.id).status == "pending"
    assert failed == [job.id]
    view = store.get(job.id)
    assert view.status == "failed" and view.attempts == 3
    assert view.error == "the worker stopped 3 times while processing this video"


def test_live_lease_is_not_recovered_or_stolen(store: JobStore) -> None:
    job = _job(store)
    store.claim(job.id, "w1")
    assert store.recover_stale() == ([], [])
    assert store.claim(job.id, "w2") is None


def test_expired_lists_old_finished_jobs(store: JobStore) -> None:
    old = _job(store)
    store.fail(old.id, "bad")
    running = _job(store)
    store.claim(running.id, "w")
    later = utcnow() + timedelta(hours=1)
    assert [j.id for j in store.expired(later)] == [old.id]
    assert store.expired(utcnow() - timedelta(hours=1)) == []
    assert store.delete(old.id) and store.get(old.id) is None


def test_upgrade_is_idempotent_and_reaches_head(migrated) -> None:
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    db.upgrade(migrated)  # a second run (every server start does one) changes nothing
    head = ScriptDirectory.from_config(db.alembic_config(migrated.database_url)).get_current_head()
    engine = create_engine(migrated.database_url)
    with engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == head == "0004"
    engine.dispose()
