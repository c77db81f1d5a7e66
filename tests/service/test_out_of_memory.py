"""Which failures count as a job running out of memory (failed once, not retried)."""

from __future__ import annotations

import errno

import pytest

from moments.service.jobs.limits import is_out_of_memory


def _raised_from(cause: BaseException) -> BaseException:
    """``cause`` wrapped the way the engine reports it (``raise ... from``)."""
    try:
        try:
            raise cause
        except BaseException as inner:
            raise ValueError("could not analyse the video") from inner
    except ValueError as outer:
        return outer


@pytest.mark.parametrize(
    "cause",
    [
        MemoryError(),
        OSError(errno.ENOMEM, "Cannot allocate memory"),
        OSError(errno.EAGAIN, "Resource temporarily unavailable"),  # FFmpeg's thread
        RuntimeError("can't start new thread"),  # Python's thread: no memory for its stack
    ],
)
def test_allocation_failures_count_as_out_of_memory(cause: BaseException) -> None:
    assert is_out_of_memory(cause)
    assert is_out_of_memory(_raised_from(cause))


@pytest.mark.parametrize(
    "cause",
    [ValueError("bad frame"), RuntimeError("generator raised StopIteration"), OSError(2, "gone")],
)
def test_other_failures_do_not(cause: BaseException) -> None:
    assert not is_out_of_memory(cause)
    assert not is_out_of_memory(_raised_from(cause))
