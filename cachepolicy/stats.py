"""Counters reported by ``info()`` under Redis's INFO field names.

Read hits and misses are counted on the lock-free read path, where ``x += 1`` on a shared
attribute can lose updates between threads; :class:`HitCounter` counts them exactly without a
lock.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field, fields

__all__ = ["HitCounter", "Stats"]


class HitCounter:
    """Read hits and misses as two ``itertools.count`` objects.

    ``next()`` on a count is a single C call, atomic under the GIL, so concurrent readers never
    lose an increment and never wait for each other (a shared ``x += 1`` can lose updates; a
    lock would serialize every read). The current value is read from the count's repr,
    ``count(N)``, which is its documented form.
    """

    def __init__(self) -> None:
        # The counts are never replaced (readers hold them in closures); reset() moves a
        # baseline instead.
        self.hit = itertools.count()
        self.miss = itertools.count()
        self._base = (0, 0)

    def totals(self) -> tuple[int, int]:
        base = self._base  # first: counts only grow, so a concurrent reset() never goes negative
        return _value(self.hit) - base[0], _value(self.miss) - base[1]

    def reset(self) -> None:
        self._base = (_value(self.hit), _value(self.miss))


def _value(counter: itertools.count[int]) -> int:
    return int(repr(counter)[len("count(") : -1])


@dataclass
class Stats:
    """Counters updated under the store lock (or by one background thread)."""

    expired_keys: int = 0
    evicted_keys: int = 0
    evicted_bytes: int = 0
    rejected_writes: int = 0
    expired_stale_perc: float = 0.0
    expired_time_cap_reached_count: int = 0
    expire_cycle_cpu_milliseconds: float = 0.0
    lazyfree_pending_objects: int = 0
    lazyfreed_objects: int = 0
    used_memory_peak: int = 0
    extra: dict[str, float] = field(default_factory=dict)

    def reset(self) -> None:
        """Redis's CONFIG RESETSTAT: zero the counters (not the pending work)."""
        pending = self.lazyfree_pending_objects
        for f in fields(self):
            if f.name == "extra":
                self.extra.clear()
            else:
                setattr(self, f.name, type(getattr(self, f.name))())
        self.lazyfree_pending_objects = pending
