"""Re-cut benchmark: the service's re-cut (``POST /jobs/{id}/recut``) against the first run.

    python benchmarks/recut.py [--source PATH] [--runs 3]

Runs the real job function (``jobs.run.run_job``: engine, kept analysis, storage, SQLite) in
this process on the engine benchmark's clip (``benchmarks/engine.py``'s 2-minute 1080p30
H.264 + AAC, made once and cached) or ``--source``. Each round, in turn: a first run of a
fresh upload of the clip (30 s reel: probe, analysis, selection, render; its analysis is kept)
and a re-cut of it (15 s reel, 9:16 and back to the source's shape, from the kept analysis).
Prints each re-cut's wall time over its own round's first run, and the 9:16 re-cut's over a
fresh 9:16 run of another upload of the clip: median and range.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from moments.service import db  # noqa: E402
from moments.service.jobs.run import run_job  # noqa: E402
from moments.service.settings import Settings  # noqa: E402
from moments.service.storage import get_storage, upload_key  # noqa: E402
from moments.service.store import JobStore, new_job_id  # noqa: E402

RECUTS = ({"duration": 15.0, "aspect": "source"}, {"duration": 15.0, "aspect": "9:16"})


def benchmark_clip() -> Path:
    from benchmarks.engine import BASELINE, make_clip

    path = Path(tempfile.gettempdir()) / "moments-bench" / "clip-120s-1080p-gop30.mp4"
    if not path.exists():
        path.parent.mkdir(exist_ok=True)
        print(f"making {path} once...")
        make_clip(path, 120.0, 1080, 30, "ultrafast", BASELINE)
    return path


def timed_job(store: JobStore, settings: Settings, job_id: str) -> float:
    start = time.perf_counter()
    status = run_job(job_id, settings, store=store)
    wall = time.perf_counter() - start
    job = store.get(job_id)
    assert status == "completed", job.error if job else status
    return wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=None)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    source = args.source or benchmark_clip()
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(data_dir=Path(folder) / "data", workers=1, _env_file=None)
        db.upgrade(settings)
        store, storage = JobStore.from_settings(settings), get_storage(settings)
        ratios: dict[str, list[float]] = {str(r): [] for r in RECUTS}
        firsts: list[float] = []
        fresh: list[float] = []
        same: list[float] = []
        for _ in range(args.runs):
            job_id, key, size = upload(store, storage, source, {"duration": 30.0})
            first = timed_job(store, settings, job_id)
            firsts.append(first)
            # The same options as the 9:16 re-cut, from scratch: a cropped reel is re-encoded
            # whole, so its render costs more than a 30 s reel's analysis and copy.
            fresh_id, *_ = upload(store, storage, source, dict(RECUTS[1]))
            fresh.append(timed_job(store, settings, fresh_id))
            for options in RECUTS:
                recut = store.create(
                    input_key=key,
                    filename=source.name,
                    input_size=size,
                    options={**options, "recut_of": job_id},
                )
                wall = timed_job(store, settings, recut.id)
                assert "analyse" not in (store.get(recut.id).result or {})["timings"]
                ratios[str(options)].append(wall / first)
                if options == RECUTS[1]:
                    same.append(wall / fresh[-1])
        print(f"{source.name}: first run (30 s reel) median {statistics.median(firsts):.2f} s "
              f"(range {min(firsts):.2f}-{max(firsts):.2f}) over {args.runs} rounds")  # fmt: skip
        for options, values in ratios.items():
            print(
                f"  re-cut {options} / first run: median {statistics.median(values):.2f} "
                f"(range {min(values):.2f}-{max(values):.2f}; target <= 0.30)"
            )

        print(
            f"  re-cut {RECUTS[1]} / a fresh run with the same options: median "
            f"{statistics.median(same):.2f} (range {min(same):.2f}-{max(same):.2f})"
        )


def upload(store: JobStore, storage, source: Path, options: dict) -> tuple[str, str, int]:
    """A fresh upload of ``source`` and its pending job: (job id, upload key, size)."""
    job_id = new_job_id()
    key = upload_key(job_id, source.suffix)
    with source.open("rb") as f:
        size = storage.write(key, f)
    store.create(
        job_id=job_id, input_key=key, filename=source.name, input_size=size, options=options
    )
    return job_id, key, size


if __name__ == "__main__":
    main()
