"""Hardening figures: hostile uploads handled, API fuzzing, load (issue 7).

Runs the real service as a uvicorn child process on loopback (rate limits raised, as for the
tests: see tests/hardening/fuzz.py GENEROUS_ENV) and prints:

1. hostile corpus: cases tried (plain upload, and tus for a subset) / handled cleanly (a 4xx
   problem or a failed job with a plain message, or a reel for real videos under odd names),
   and whether the canary file or the loopback canary server was touched;
2. Schemathesis with every check: cases run / failures;
3. load: requests / errors / status p50 and p99 with N pollers and M uploaders.

    python benchmarks/hardening.py [--examples 30] [--pollers 100] [--uploaders 10] [--seconds 15]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.engine.media_factory import make_video  # noqa: E402
from tests.hardening.fuzz import (  # noqa: E402
    GENEROUS_ENV,
    SELF_REVOKING,
    new_api_key,
    run_schemathesis,
)
from tests.hardening.load import run_load  # noqa: E402
from tests.hardening.server_process import ServerProcess  # noqa: E402
from tests.hardening.test_hostile_uploads import (  # noqa: E402
    JARGON,
    TUS_SUBSET,
    job_of,
    plain_upload,
    tus_upload,
)
from tests.hostile_corpus import Canary, CountingServer, hostile_cases  # noqa: E402

FINISHED = ("completed", "failed", "cancelled")


def clear(text: str) -> bool:
    return bool(text.strip()) and not any(w.lower() in text.lower() for w in JARGON)


def hostile(server: ServerProcess, folder: Path, video: Path) -> tuple[int, int, bool]:
    canary = Canary(folder / "canary.ts")
    listener = CountingServer()
    corpus = folder / "corpus"
    corpus.mkdir()
    tried = clean = 0
    pending: list[tuple[bool, str]] = []
    try:
        with server.client() as client:
            for case in hostile_cases(canary, listener.url, video):
                path = case.build(corpus)
                for via in ("plain", "tus") if case.name in TUS_SUBSET else ("plain",):
                    tried += 1
                    send = plain_upload if via == "plain" else tus_upload
                    response = send(client, path, case.filename)
                    job_id = job_of(response, via)
                    if job_id is not None:
                        pending.append((case.accept, job_id))
                    elif 400 <= response.status_code < 500 and not case.accept:
                        clean += clear(response.json().get("detail", ""))
            for accept, job_id in pending:
                deadline = time.monotonic() + 120
                while True:
                    status = client.get(f"/api/v1/jobs/{job_id}").json()
                    if status["status"] in FINISHED or time.monotonic() > deadline:
                        break
                    time.sleep(0.2)  # polling a job, as a client does
                if accept:
                    clean += status["status"] == "completed"
                else:
                    clean += status["status"] == "failed" and clear(status.get("error") or "")
        untouched = not canary.was_read() and not listener.hits
        canary.prove_detection_works()
    finally:
        listener.close()
    return tried, clean, untouched


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=30, help="Schemathesis examples per op")
    parser.add_argument("--pollers", type=int, default=100)
    parser.add_argument("--uploaders", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--interval", type=float, default=0.5)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="moments-hardening-") as tmp:
        folder = Path(tmp)
        video = make_video(folder / "clip.mp4", seconds=6.0, width=320, height=180)
        env = {**GENEROUS_ENV, "MOMENTS_WORKERS": "2"}

        server = ServerProcess(folder / "hostile" / "data", env).start()
        try:
            tried, clean, untouched = hostile(server, folder, video)
        finally:
            server.stop()
        print(f"hostile corpus: {tried} cases tried, {clean} handled cleanly; canary file and "
              f"loopback server {'untouched' if untouched else 'TOUCHED'}")  # fmt: skip

        server = ServerProcess(folder / "fuzz" / "data", env).start()
        try:
            token = server.headers["Authorization"].removeprefix("Bearer ")
            main_pass = run_schemathesis(
                server.base_url, token, folder / "st-main", max_examples=args.examples,
                exclude=SELF_REVOKING,
            )  # fmt: skip
            revoking = run_schemathesis(
                server.base_url, new_api_key(server.base_url, token), folder / "st-revoking",
                max_examples=args.examples, include=SELF_REVOKING,
            )  # fmt: skip
        finally:
            server.stop()
        cases = main_pass.cases + revoking.cases
        failures = main_pass.failures + revoking.failures + main_pass.errors + revoking.errors
        operations = main_pass.operations + revoking.operations
        print(f"schemathesis (all checks, {args.examples} examples/operation): {cases} cases "
              f"over {operations} operations, {failures} failures")  # fmt: skip

        server = ServerProcess(folder / "load" / "data", env).start()
        try:
            result = asyncio.run(
                run_load(
                    server.base_url, server.headers, video, pollers=args.pollers,
                    uploaders=args.uploaders, seconds=args.seconds, interval=args.interval,
                )
            )  # fmt: skip
        finally:
            server.stop()
        print(f"load ({args.pollers} pollers every {args.interval:g} s, {args.uploaders} "
              f"uploaders, {args.seconds:g} s): {result.requests} requests, {result.errors} "
              f"errors, {result.uploads} uploads; status p50 {result.percentile(50) * 1000:.0f} "
              f"ms, p99 {result.percentile(99) * 1000:.0f} ms; upload p50 "
              f"{result.percentile(50, 'upload') * 1000:.0f} ms")  # fmt: skip
        if result.error_samples:
            print("  first errors:", *result.error_samples, sep="\n    ")


if __name__ == "__main__":
    main()
