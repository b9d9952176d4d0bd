"""Injectable clocks.

All time-dependent behaviour (TTL deadlines, LRU idle time, LFU decay, the active expiry budget)
reads the time through a :class:`Clock`, so tests can drive it deterministically with a
:class:`ManualClock` instead of sleeping.
"""

from __future__ import annotations

import threading
import time as _time
from typing import Protocol, runtime_checkable

__all__ = ["Clock", "ManualClock", "SystemClock"]


@runtime_checkable
class Clock(Protocol):
    """A source of time, in seconds."""

    def time(self) -> float:
        """Wall-clock seconds since the epoch: deadlines are stored as absolute times."""

    def monotonic(self) -> float:
        """Seconds from an arbitrary origin that never goes backwards: for time budgets."""


class SystemClock:
    """The real clocks: :func:`time.time` and :func:`time.perf_counter`."""

    __slots__ = ()

    time = staticmethod(_time.time)
    monotonic = staticmethod(_time.perf_counter)

    def __repr__(self) -> str:
        return "SystemClock()"


class ManualClock:
    """A clock that only moves when told to; ships publicly for users' own tests.

    ``time()`` and ``monotonic()`` advance together. Background threads waiting on the clock
    can use :meth:`wait_for_change` instead of sleeping.
    """

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._now = float(start)
        self._origin = float(start)
        self._changed = threading.Condition()

    def time(self) -> float:
        return self._now

    def monotonic(self) -> float:
        return self._now - self._origin

    def advance(self, seconds: float) -> None:
        """Move the clock forward by ``seconds`` (which must not be negative)."""
        if seconds < 0:
            raise ValueError(f"ManualClock.advance() needs seconds >= 0, got {seconds!r}.")
        with self._changed:
            self._now += seconds
            self._changed.notify_all()

    def set(self, now: float) -> None:
        """Jump to absolute time ``now`` (which must not be earlier than the current time)."""
        if now < self._now:
            raise ValueError(f"ManualClock.set() cannot go back from {self._now!r} to {now!r}.")
        with self._changed:
            self._now = float(now)
            self._changed.notify_all()

    def wait_for_change(self, timeout: float) -> bool:
        """Block until the clock is advanced (True) or ``timeout`` real seconds pass (False)."""
        with self._changed:
            before = self._now
            return self._changed.wait_for(lambda: self._now != before, timeout)

    def __repr__(self) -> str:
        return f"ManualClock({self._now!r})"
