"""How a job that failed ends, and what its user is told: the engine's message about the file
they know, a plain word for a full disk or the job's memory limit, or a retry after an
unexpected error. The details (paths, errno, tracebacks) stay in the server's log."""

from __future__ import annotations

import errno
import logging
from pathlib import Path

from moments.engine import EngineError

from ..settings import Settings
from ..store import JobStore, JobView
from .limits import JobLimitExceeded, is_out_of_memory, memory_message

log = logging.getLogger(__name__)

NO_SPACE_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
NO_SPACE_MESSAGE = "The server ran out of disk space while making your reel; try again later."


def record_failure(
    exc: JobLimitExceeded | Exception, job: JobView, settings: Settings, store: JobStore
) -> str:
    """Records that ``job``'s run raised ``exc`` (not Cancelled); returns the job's status.

    EngineError (bad input) and a job limit fail the job at once; anything else is retried up
    to ``settings.max_attempts`` times.
    """
    job_id = job.id
    if isinstance(exc, JobLimitExceeded):
        # Over a limit: the same file would be again, so it fails for good (a poison file).
        log.warning("job %s stopped: %s", job_id, exc)
        store.fail(job_id, str(exc))
        return "failed"
    if is_out_of_space(exc):
        return _out_of_space(store, job_id, exc)
    if settings.job_memory_bytes and is_out_of_memory(exc):
        # Where the engine saw an allocation fail, that is our limit, not a damaged file.
        if not isinstance(exc, EngineError):
            log.warning("job %s ran out of memory: %r", job_id, exc)
        store.fail(job_id, memory_message(settings.job_memory_bytes))
        return "failed"
    if isinstance(exc, EngineError):
        # The engine names the file it read (our storage name); show the name the user knows.
        stored, known = Path(job.input_key).name, job.filename or "the video"
        message = exc.about(known) if exc.file == stored else str(exc)
        store.fail(job_id, message)
        return "failed"
    log.error("job %s failed unexpectedly", job_id, exc_info=exc)
    error = f"internal error: {type(exc).__name__}: {exc}".rstrip(": ")
    return store.retry_or_fail(job_id, error, settings.max_attempts)


def is_out_of_space(exc: BaseException) -> bool:
    """True if ``exc`` (or what caused it) is a disk or quota running full.

    The engine wraps FFmpeg's write errors in EngineError, whose text names the scratch file;
    storing the reel raises a plain OSError. Either way its errno is found along the chain.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in NO_SPACE_ERRNOS:
            return True
        current = current.__cause__ or current.__context__
    return False


def _out_of_space(store: JobStore, job_id: str, exc: BaseException) -> str:
    """The job fails with a plain message; the paths and errno stay in the server's log.

    It is not retried: an attempt right away would most likely meet the same full disk and
    only delay the answer; the user is told to try again later instead.
    """
    log.error("job %s ran out of disk space: %s", job_id, exc, exc_info=exc)
    store.fail(job_id, NO_SPACE_MESSAGE)
    return "failed"
