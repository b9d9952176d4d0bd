"""Injectable clocks.

All time-dependent behaviour (TTL deadlines, LRU idle time, LFU decay, the active expiry budget)
reads the time through a :class:`Clock`, so tests can drive it deterministically with a
:class:`ManualClock` instead of sleeping.

Deadlines, expiry schedules and idle times run on ``monotonic()``: a wall-clock step (NTP, a VM
resumed, an administrator) must neither stop reclamation nor expire every key at once. Wall-clock
time appears only at the API edge (``expiretime()``, ``expireat()``), converted through
:class:`WallOffset`.
"""

from __future__ import annotations

import threading
import time as _time
from typing import Protocol, runtime_checkable

__all__ = ["Clock", "ManualClock", "SystemClock", "WallOffset"]


@runtime_checkable
class Clock(Protocol):
    """A source of time, in seconds."""

    def time(self) -> float:
        """Wall-clock seconds since the epoch: only for absolute times users give or read."""

    def monotonic(self) -> float:
        """Seconds from an arbitrary origin that never goes backwards: deadlines, schedules
        and time budgets."""


class SystemClock:
    """The real clocks: :func:`time.time` and :func:`time.perf_counter`."""

    __slots__ = ()

    time = staticmethod(_time.time)
    monotonic = staticmethod(_time.perf_counter)

    def __repr__(self) -> str:
        return "SystemClock()"


class ManualClock:
    """A clock that only moves when told to; ships publicly for users' own tests.

    :meth:`advance` and :meth:`set` move ``time()`` and ``monotonic()`` together (they start
    equal, so absolute times convert exactly); :meth:`step_wall` moves the wall clock alone,
    either way, as an NTP step would. Background threads waiting on the clock can use
    :meth:`wait_for_change` instead of sleeping.
    """

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        #: The monotonic reading; the wall clock is ``_now + _wall_offset``.
        self._now = float(start)
        self._wall_offset = 0.0
        self._changed = threading.Condition()

    def time(self) -> float:
        return self._now + self._wall_offset

    def monotonic(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        """Move both clocks forward by ``seconds`` (which must not be negative)."""
        if seconds < 0:
            raise ValueError(f"ManualClock.advance() needs seconds >= 0, got {seconds!r}.")
        with self._changed:
            self._now += seconds
            self._changed.notify_all()

    def set(self, now: float) -> None:
        """Jump to wall time ``now`` (not earlier than ``time()``); monotonic moves as much."""
        current = self.time()
        if now < current:
            raise ValueError(f"ManualClock.set() cannot go back from {current!r} to {now!r}.")
        with self._changed:
            self._now += float(now) - current
            self._changed.notify_all()

    def step_wall(self, seconds: float) -> None:
        """Step the wall clock alone by ``seconds`` (negative: backwards); monotonic stays."""
        with self._changed:
            self._wall_offset += float(seconds)
            self._changed.notify_all()

    def wait_for_change(self, timeout: float) -> bool:
        """Block until the clock is moved (True) or ``timeout`` real seconds pass (False)."""
        with self._changed:
            before = (self._now, self._wall_offset)
            return self._changed.wait_for(lambda: (self._now, self._wall_offset) != before, timeout)

    def __repr__(self) -> str:
        return f"ManualClock({self.time()!r})"


class WallOffset:
    """``wall time = monotonic time + offset``, for the API edge's absolute times.

    The offset is re-read on every call but only replaced when it moved by more than
    ``STEP`` seconds (a wall-clock step): two reads of two clocks differ by a few hundred
    nanoseconds each time, and without this ``expireat(t)`` then ``expiretime()`` would not
    return ``t`` exactly. Writing one float is atomic, so no lock is needed.
    """

    __slots__ = ("_clock", "_offset")

    #: Offset changes up to this are read jitter, not a clock step (seconds).
    STEP = 0.001

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._offset = clock.time() - clock.monotonic()

    def __call__(self) -> float:
        clock = self._clock
        offset = clock.time() - clock.monotonic()
        if abs(offset - self._offset) > self.STEP:
            self._offset = offset
        return self._offset

    def to_wall(self, monotonic_time: float) -> float:
        """An engine time (a deadline) as epoch seconds."""
        return monotonic_time + self()

    def from_wall(self, wall_time: float) -> float:
        """Epoch seconds as an engine time."""
        return wall_time - self()
