"""Throughput benchmark: jobs per minute, embedded pool vs Celery workers, on one job set.

    python benchmarks/scale.py [--jobs 8] [--source ../shared/media/man-on-green-screen.mp4]
                               [--duration 5] [--pg postgresql+psycopg://postgres@127.0.0.1/test]
                               [--redis redis://127.0.0.1:6379/13]

Needs PostgreSQL and Redis (as the scale tests do). It creates a scratch database (dropped at the
end), then runs the same N jobs through: the embedded pool with 1 and 2 slots, and 1 and 2
``moments worker`` processes on Celery (one slot each). Workers are started and ready before
the clock starts; the clock stops when the last job is completed. Storage is local (a shared
folder), so the figures compare the queues, not the network. Ratios are against the embedded
pool with one slot, measured in the same run. Setups are interleaved over ``--rounds`` rounds
and each keeps its best time, so a burst of other load on the machine skews them less.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from moments.service import db  # noqa: E402
from moments.service.jobs.celery_app import make_celery, send_job  # noqa: E402
from moments.service.jobs.embedded import EmbeddedDispatcher  # noqa: E402
from moments.service.settings import Settings  # noqa: E402
from moments.service.storage import get_storage, upload_key  # noqa: E402
from moments.service.store import JobStore, new_job_id  # noqa: E402


def create_database(admin_url: str) -> tuple[str, Callable[[], None]]:
    url = make_url(admin_url)
    conninfo = dict(
        host=url.host or "127.0.0.1", port=url.port or 5432, user=url.username or "postgres"
    )
    admin = psycopg.connect(dbname=url.database or "test", autocommit=True, **conninfo)
    name = f"moments_bench_{uuid.uuid4().hex[:8]}"
    admin.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()

    return url.set(drivername="postgresql+psycopg", database=name).render_as_string(False), drop


def add_jobs(settings: Settings, source: Path, count: int, duration: float) -> list[str]:
    store, storage = JobStore.from_settings(settings), get_storage(settings)
    ids = []
    for _ in range(count):
        job_id = new_job_id()
        key = upload_key(job_id, source.suffix)
        with source.open("rb") as f:
            size = storage.write(key, f)
        store.create(
            job_id=job_id,
            input_key=key,
            filename=source.name,
            input_size=size,
            options={"duration": duration},
        )
        ids.append(job_id)
    return ids


def wait_all_done(store: JobStore, ids: list[str], timeout: float = 900) -> None:
    """Wait until every job is completed; print the median engine time per job."""
    deadline = time.monotonic() + timeout
    while True:
        views = [store.get(i) for i in ids]
        if all(v.finished for v in views):
            bad = [v for v in views if v.status != "completed"]
            if bad:
                raise SystemExit(f"{len(bad)} jobs did not complete: {bad[0].error}")
            engine = sorted(v.result["timings"]["total"] for v in views)
            print(f"  (engine time per job: median {engine[len(engine) // 2]:.2f}s)", flush=True)
            return
        if time.monotonic() > deadline:
            raise SystemExit("timed out")
        time.sleep(0.05)  # polling the database for completion


def run_embedded(settings: Settings, source: Path, n: int, duration: float, slots: int) -> float:
    ids = add_jobs(settings, source, n, duration)
    store = JobStore.from_settings(settings)
    dispatcher = EmbeddedDispatcher(settings, workers=slots)
    started = time.monotonic()
    dispatcher.start()
    try:
        wait_all_done(store, ids)
    finally:
        elapsed = time.monotonic() - started
        dispatcher.stop()
    return elapsed


def worker_env(settings: Settings, name: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MOMENTS_")}
    env.update(
        MOMENTS_QUEUE="celery",
        MOMENTS_DATA_DIR=str(settings.data_dir),
        MOMENTS_DATABASE_URL=settings.database_url,
        MOMENTS_REDIS_URL=settings.redis_url,
        MOMENTS_CELERY_QUEUE=settings.celery_queue,
        MOMENTS_WORKERS="1",
        MOMENTS_WORKER_NAME=name,
    )
    return env


def run_celery(settings: Settings, source: Path, n: int, duration: float, workers: int) -> float:
    logs = [settings.data_dir / f"worker-{i}.log" for i in range(workers)]
    procs = []
    for i, log in enumerate(logs):
        with log.open("wb") as out:
            procs.append(
                subprocess.Popen(
                    [str(Path(sys.executable).with_name("moments")), "worker"],
                    env=worker_env(settings, f"bench{i}-{uuid.uuid4().hex[:4]}"),
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
    try:
        deadline = time.monotonic() + 60
        while not all(" ready." in log.read_text(errors="replace") for log in logs):
            if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                raise SystemExit("a Celery worker did not start; see " + str(logs))
            time.sleep(0.1)  # polling worker logs for readiness
        ids = add_jobs(settings, source, n, duration)
        store, app = JobStore.from_settings(settings), make_celery(settings)
        started = time.monotonic()
        for job_id in ids:
            send_job(app, settings, job_id)
        wait_all_done(store, ids)
        elapsed = time.monotonic() - started
        app.close()
        return elapsed
    finally:
        for p in procs:
            os.killpg(p.pid, signal.SIGTERM)
        for p in procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=8)
    parser.add_argument(
        "--source", type=Path, default=ROOT.parent / "shared/media/man-on-green-screen.mp4"
    )
    parser.add_argument("--duration", type=float, default=5.0, help="reel length per job")
    parser.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/13")
    parser.add_argument(
        "--rounds", type=int, default=2, help="runs per setup, interleaved; the best counts"
    )
    args = parser.parse_args()

    url, drop = create_database(args.pg)
    base = Path(tempfile.mkdtemp(prefix="moments-scale-"))
    results: dict[str, float] = {}
    try:
        job_set = (args.source, args.jobs, args.duration)
        configs: list[tuple[str, Callable[[Settings], float]]] = [
            ("embedded, 1 slot", lambda s: run_embedded(s, *job_set, 1)),
            ("embedded, 2 slots", lambda s: run_embedded(s, *job_set, 2)),
            ("celery, 1 worker", lambda s: run_celery(s, *job_set, 1)),
            ("celery, 2 workers", lambda s: run_celery(s, *job_set, 2)),
        ]
        for round_number in range(args.rounds):
            for label, run in configs:
                settings = Settings(
                    data_dir=base / f"{label.replace(', ', '-').replace(' ', '')}-{round_number}",
                    database_url=url,
                    redis_url=args.redis,
                    celery_queue=f"moments-bench-{uuid.uuid4().hex[:8]}",
                    _env_file=None,
                )
                db.upgrade(settings)
                settings.data_dir.mkdir(parents=True, exist_ok=True)
                elapsed = run(settings)
                results[label] = min(elapsed, results.get(label, float("inf")))
                print(f"{label:<18} {args.jobs} jobs in {elapsed:6.1f}s", flush=True)
    finally:
        drop()
        shutil.rmtree(base, ignore_errors=True)

    reference = results["embedded, 1 slot"]
    print(
        f"\n{args.jobs} jobs of {args.source.name} -> {args.duration:g}s reels, "
        f"{os.cpu_count()} cores"
    )
    print(f"{'setup':<18} {'jobs/min':>9} {'vs embedded 1':>14}")
    for label, elapsed in results.items():
        print(f"{label:<18} {args.jobs / elapsed * 60:9.1f} {reference / elapsed:13.2f}x")


if __name__ == "__main__":
    main()
