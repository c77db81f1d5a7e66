"""A job whose worker process dies in the embedded pool runs again at once, not after its lease.

The lease here is 60 s, far longer than the few seconds the tests allow, so a job seen running
again in time was put back by the dispatcher that watched its process die, not by the lease.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from typing import Any

from sqlalchemy.exc import OperationalError

from moments.service.jobs.embedded import EmbeddedDispatcher
from moments.service.settings import Settings
from moments.service.store import JobStore, JobView
from tests.helpers import pid_alive, wait_for
from tests.service.helpers import embedded_pool, wait_until_working

LEASE_SECONDS = 60.0
RETRY_WITHIN_SECONDS = 5.0


def crash_and_wait_for_retry(
    settings: Settings, add_job, video, before_kill=None, finish: bool = True
) -> JobView:
    """Start a job, SIGKILL its process mid-work, and return it once it runs again (and, with
    ``finish``, check the retry runs to its end as the second attempt)."""
    store = JobStore.from_settings(settings)
    job = add_job(video, duration=3)
    with embedded_pool(settings) as dispatcher:
        assert wait_until_working(store, job.id).attempts == 1
        if before_kill is not None:
            before_kill(dispatcher)
        pid = dispatcher.stats()["running"][job.id]
        os.kill(pid, signal.SIGKILL)  # a crash: the OOM killer, a segfault in FFmpeg
        wait_for(lambda: not pid_alive(pid), 5, "the job process to die")
        again = wait_for(
            lambda: (v := store.get(job.id)).attempts == 2 and v.status == "processing" and v,
            RETRY_WITHIN_SECONDS,
            "the job to run again",
        )
        assert again.lease_until is not None
        wait_for(
            lambda: dispatcher.stats()["running"].get(job.id) not in (None, pid), 5, "a new process"
        )
        if finish:
            # Ends as the second attempt, in whatever way the engine judges the clip.
            done = wait_for(lambda: (v := store.get(job.id)).finished and v, 120, "the retry")
            assert done.attempts == 2
            assert done.status in ("completed", "failed") and "worker process" not in (
                done.error or ""
            ), done.error
    return again


def long_lease(migrated: Settings) -> Settings:
    return migrated.model_copy(update={"job_lease_seconds": LEASE_SECONDS, "max_attempts": 3})


def test_killed_job_process_is_retried_at_once(migrated, add_job, heavy_video) -> None:
    again = crash_and_wait_for_retry(long_lease(migrated), add_job, heavy_video)
    assert again.error == "the worker process was killed by signal 9"


def test_crash_is_retried_at_once_through_a_database_hiccup(migrated, add_job, heavy_video) -> None:
    """The database fails just as the crash is noticed (a PostgreSQL restart, a dropped
    connection): the dispatcher must try again shortly, not forget the job until its lease
    runs out."""

    def fail_once(dispatcher: EmbeddedDispatcher) -> None:
        real: Callable[..., Any] = dispatcher.store.retry_or_fail
        calls = []

        def flaky(*args: Any, **kwargs: Any) -> Any:
            calls.append(args)
            if len(calls) == 1:
                raise OperationalError("UPDATE jobs", {}, Exception("server closed the connection"))
            return real(*args, **kwargs)

        dispatcher.store.retry_or_fail = flaky  # type: ignore[method-assign]

    settings = long_lease(migrated)
    again = crash_and_wait_for_retry(settings, add_job, heavy_video, fail_once, finish=False)
    assert again.error == "the worker process was killed by signal 9"
