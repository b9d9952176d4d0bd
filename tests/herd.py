"""Helpers for herd tests (single flight): release N callers together, wait on conditions.

No sleeps: a test waits for a condition it can observe (how many callers the flight table
counts as waiting), with a bound far above what the machine needs, so a timeout is a bug.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

__all__ = ["PATIENCE", "run_threads", "wait_until"]

# Bound on every condition wait, in seconds.
PATIENCE = 30.0
# How often a condition is re-tested while waiting for it.
_POLL = 0.001


def wait_until(condition: Callable[[], bool], what: str) -> None:
    """Return once ``condition()`` is true; AssertionError naming ``what`` after PATIENCE."""
    pause = threading.Event()
    for _ in range(int(PATIENCE / _POLL)):
        if condition():
            return
        pause.wait(_POLL)
    raise AssertionError(f"timed out waiting for {what}")


def run_threads(count: int, target: Callable[[int], Any]) -> list[Any]:
    """Run ``target(i)`` in ``count`` threads released together by a barrier; the results, or
    the exception each raised."""
    results: list[Any] = [None] * count
    start = threading.Barrier(count)

    def run(i: int) -> None:
        start.wait()
        try:
            results[i] = target(i)
        except Exception as exc:
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(PATIENCE)
        assert not thread.is_alive(), "a herd thread did not finish"
    return results
