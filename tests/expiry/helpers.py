"""Shared helpers for the expiry tests: strategy lists and a deterministic way to let reclaim run.

Inline strategies run when a write calls ``after_operation``; thread strategies run on their own
thread. :func:`settle` drives either until a condition holds, polling with a real-time deadline
(never a bare sleep as an assertion).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from cachepolicy import Cache, ManualClock
from cachepolicy.expiry import ActiveExpiry, ThreadDriver

#: Strategies that reclaim without reads (everything but ``lazy``).
RECLAIMING = ["active", "timed", "background"]
ALL = ["lazy", *RECLAIMING]

#: Real seconds a test waits for a background thread before failing.
TIMEOUT = 10.0


class ThreadedActive(ActiveExpiry):
    """Redis's cycle on a thread: the composition the drivers allow."""

    name = "threaded-active"
    driver_class = ThreadDriver


def is_threaded(cache: Cache) -> bool:
    return isinstance(getattr(cache.store.expiry, "driver", None), ThreadDriver)


def settle(
    cache: Cache,
    condition: Callable[[], bool],
    *,
    step: float = 0.0,
    timeout: float = TIMEOUT,
) -> bool:
    """Let the expiry strategy run until ``condition()`` holds; False on timeout.

    For inline strategies each round calls the write hook (what a ``set`` would do); ``step``
    advances the manual clock before each round so rate-limited cycles become due again.
    """
    store = cache.store
    clock = store.clock
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if time.monotonic() > deadline:
            return False
        if step and isinstance(clock, ManualClock):
            clock.advance(step)
        if is_threaded(cache):
            time.sleep(0.002)
        else:
            store.expiry.after_operation(clock.monotonic())


def pump(cache: Cache, rounds: int = 3, step: float = 0.1) -> None:
    """Advance the manual clock ``rounds`` times by ``step`` and let the strategy catch up
    after each advance: one write hook inline, or until the thread is idle with nothing due."""
    store = cache.store
    clock = store.clock
    assert isinstance(clock, ManualClock)
    driver = getattr(store.expiry, "driver", None)
    for _ in range(rounds):
        clock.advance(step)
        if isinstance(driver, ThreadDriver):
            deadline = time.monotonic() + TIMEOUT
            while driver.next_time <= clock.monotonic() or driver._working.locked():
                assert time.monotonic() < deadline, "background thread did not catch up"
                time.sleep(0.001)
        else:
            store.expiry.after_operation(clock.monotonic())
