"""The render's picture worker (``render.prefetch.Prefetch``): items in order, errors after
the items made before them, a waiting consumer still checks for cancellation, and leaving
stops it."""

from __future__ import annotations

import threading

import pytest

from moments.engine.render.prefetch import Prefetch


def test_items_arrive_in_order_then_the_error_that_ended_them() -> None:
    def make(check):
        for n in range(5):
            check()
            yield n
        raise ValueError("decode failed at 5")

    got = []
    with Prefetch(make, 2, lambda: None) as items, pytest.raises(ValueError, match="at 5"):
        for item in items:
            got.append(item)
    assert got == [0, 1, 2, 3, 4]


def test_a_waiting_consumer_keeps_checking_for_cancellation() -> None:
    def make(check):
        while True:  # a slow decode, which notices when the render is over
            check()
            threading.Event().wait(0.01)
        yield "never"

    class Cancelled(Exception):
        pass

    checks = []

    def waiting() -> None:
        checks.append(1)
        if len(checks) >= 3:
            raise Cancelled

    with pytest.raises(Cancelled), Prefetch(make, 2, waiting) as items:
        list(items)
    assert len(checks) == 3
    assert not [t for t in threading.enumerate() if t.name == "prefetch" and t.is_alive()]


def test_leaving_early_stops_the_worker() -> None:
    made = []

    def make(check):
        n = 0
        while True:
            check()  # raises once the consumer has left
            made.append(n)
            yield n
            n += 1

    with Prefetch(make, 3, lambda: None) as items:
        first = next(iter(items))
    assert first == 0
    assert not [t for t in threading.enumerate() if t.name == "prefetch" and t.is_alive()]
    assert len(made) <= 3 + 2  # it stopped within a queue's depth of where it was
