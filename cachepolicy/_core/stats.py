"""Counters reported by ``info()`` under Redis's INFO field names.

Read hits and misses are counted on the lock-free read path, where ``x += 1`` on a shared
attribute can lose updates between threads (in the pure build); :class:`HitCounter` counts them
exactly without a lock.
"""

from __future__ import annotations

import itertools

from .entry import ATOMIC_NATIVE_UPDATES

__all__ = ["HitCounter", "Stats"]


class HitCounter:
    """Read hits and misses, counted without a lock.

    Where :data:`~cachepolicy._core.entry.ATOMIC_NATIVE_UPDATES` holds (the compiled build
    with a GIL) the engine adds to the native ints ``hit_count`` and ``miss_count``; otherwise
    it calls ``next()`` on the ``itertools.count`` objects ``hit`` and ``miss``, a single C
    call that is atomic under the GIL, so concurrent readers never lose an increment. A count's
    current value is read from its repr, ``count(N)``, which is its documented form.
    """

    def __init__(self) -> None:
        # Never replaced (the engine holds them); reset() moves a baseline instead.
        self.hit = itertools.count()
        self.miss = itertools.count()
        self.hit_count = 0
        self.miss_count = 0
        self._base = (0, 0)

    def totals(self) -> tuple[int, int]:
        base = self._base  # first: counts only grow, so a concurrent reset() never goes negative
        hits, misses = self._current()
        return hits - base[0], misses - base[1]

    def reset(self) -> None:
        self._base = self._current()

    def _current(self) -> tuple[int, int]:
        if ATOMIC_NATIVE_UPDATES:
            return self.hit_count, self.miss_count
        return _value(self.hit), _value(self.miss)


def _value(counter: itertools.count[int]) -> int:
    return int(repr(counter)[len("count(") : -1])


class Stats:
    """Counters updated under the cache lock (or by one background thread)."""

    def __init__(self) -> None:
        self.expired_keys = 0
        self.evicted_keys = 0
        self.evicted_bytes = 0
        self.rejected_writes = 0
        #: New keys the policy's ``admit`` refused (nothing stored, nothing evicted).
        self.rejected_admissions = 0
        self.expired_stale_perc = 0.0
        self.expired_time_cap_reached_count = 0
        self.expire_cycle_cpu_milliseconds = 0.0
        self.lazyfree_pending_objects = 0
        self.lazyfree_pending_bytes = 0
        self.lazyfreed_objects = 0
        self.used_memory_peak = 0
        #: Counters a custom strategy adds (reported by ``info()`` as they are).
        self.extra: dict[str, float] = {}

    def reset(self) -> None:
        """Redis's CONFIG RESETSTAT: zero the counters (not the pending work, not the peak,
        which the engine resets to the current use)."""
        self.expired_keys = 0
        self.evicted_keys = 0
        self.evicted_bytes = 0
        self.rejected_writes = 0
        self.rejected_admissions = 0
        self.expired_stale_perc = 0.0
        self.expired_time_cap_reached_count = 0
        self.expire_cycle_cpu_milliseconds = 0.0
        self.lazyfreed_objects = 0
        self.extra.clear()
