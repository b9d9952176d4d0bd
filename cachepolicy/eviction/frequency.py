"""LFU ranking: Redis's 8-bit logarithmic counter with time decay (spec §4).

The counter math is Redis's exactly: new keys start at ``LFU_INIT_VAL`` = 5; an access first
applies decay (one point per ``lfu-decay-time`` minutes idle, 0 = never) and then increments with
probability ``1 / ((counter - 5) * lfu_log_factor + 1)``, saturating at 255. The one deliberate
difference: the last-decrement time is kept in whole minutes without Redis's 16-bit wrap, so a
key idle for 46 days does not suddenly look fresh.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Sequence
from random import Random
from typing import TYPE_CHECKING

from ..keyspace import Entry, Keyspace
from .base import EvictionPolicy
from .sampled import SampledPolicy

if TYPE_CHECKING:
    from ..config import CacheConfig

__all__ = [
    "LFU_COUNTER_MAX",
    "LFU_INIT_VAL",
    "AllKeysLFU",
    "ExactAllKeysLFU",
    "ExactVolatileLFU",
    "VolatileLFU",
    "lfu_decay",
    "lfu_log_incr",
]

# A new key's counter: high enough that it is not evicted before it had a chance to be read
# again, low enough that a few accesses lift it above never-read keys. Redis's LFU_INIT_VAL.
LFU_INIT_VAL = 5
# The counter is 8 bits in Redis; keeping the same ceiling keeps Redis's published tables valid.
LFU_COUNTER_MAX = 255
# Idle seconds at which the recency tie-break reaches 0.5: keys idle much longer than an hour
# all get nearly the same bonus, which stays below 1 so it never overrides a counter difference.
_TIE_BREAK_SCALE = 3600.0


def lfu_decay(counter: int, ldt_minutes: int, now_minutes: int, decay_time: int) -> int:
    """The counter after idle decay, without storing it (Redis's ``LFUDecrAndReturn``)."""
    if decay_time <= 0:
        return counter
    periods = (now_minutes - ldt_minutes) // decay_time
    if periods <= 0:
        return counter
    return counter - periods if periods < counter else 0


def lfu_log_incr(counter: int, log_factor: int, rng: Random) -> int:
    """Logarithmic increment (Redis's ``LFULogIncr``): likely while low, rare when high."""
    if counter >= LFU_COUNTER_MAX:
        return LFU_COUNTER_MAX
    base = counter - LFU_INIT_VAL
    if base <= 0:
        return counter + 1
    if rng.random() < 1.0 / (base * log_factor + 1):
        return counter + 1
    return counter


class _LFUCounting(EvictionPolicy):
    """Maintains ``entry.lfu`` / ``entry.ldt`` (and ``atime`` as the recency tie-break)."""

    def __init__(self, config: CacheConfig, rng: Random) -> None:
        super().__init__(config, rng)
        self.log_factor = config.lfu_log_factor
        self.decay_time = config.lfu_decay_time

    def on_insert(self, entry: Entry, now: float) -> None:
        entry.lfu = LFU_INIT_VAL
        entry.ldt = int(now // 60)
        entry.atime = now

    def on_access(self, entry: Entry, now: float) -> None:
        # Runs without the lock: concurrent readers may lose an increment, which only makes a
        # probabilistic counter slightly more conservative.
        now_minutes = int(now // 60)
        counter = lfu_decay(entry.lfu, entry.ldt, now_minutes, self.decay_time)
        entry.lfu = lfu_log_incr(counter, self.log_factor, self.rng)
        entry.ldt = now_minutes
        entry.atime = now

    def frequency(self, entry: Entry, now: float) -> int:
        """The decayed counter, as Redis's ``OBJECT FREQ`` reports it."""
        return lfu_decay(entry.lfu, entry.ldt, int(now // 60), self.decay_time)


class AllKeysLFU(_LFUCounting, SampledPolicy):
    """``allkeys-lfu``: evict the least frequently used key, chosen by sampling into the pool.

    Score: ``255 - decayed counter``, plus a fraction below 1 that grows with idle time, so that
    keys with equal counters are evicted least recently used first (Redis breaks such ties
    arbitrarily, spec §12.6). Cost per access: one random draw; per eviction O(dbs * samples).
    """

    name = "allkeys-lfu"

    def score(self, entry: Entry, now: float) -> float:
        counter = entry.lfu
        if self.decay_time > 0:  # lfu_decay() inlined: this runs for every sampled key
            periods = (int(now // 60) - entry.ldt) // self.decay_time
            if periods > 0:
                counter = counter - periods if periods < counter else 0
        idle = now - entry.atime
        if idle <= 0:
            return float(LFU_COUNTER_MAX - counter)
        return (LFU_COUNTER_MAX - counter) + idle / (idle + _TIE_BREAK_SCALE)


class VolatileLFU(AllKeysLFU):
    """``volatile-lfu``: like ``allkeys-lfu`` among keys that have a TTL only."""

    name = "volatile-lfu"
    volatile_only = True


class ExactAllKeysLFU(_LFUCounting):
    """Exact ``allkeys-lfu``: a binary heap ordered by the decayed counter.

    With linear decay of one point per ``D`` minutes, a key's counter at time ``t`` is
    ``C - (t - ldt) / D``, so ranking by ``C * D + ldt`` orders keys exactly as their decayed
    counters at *any* common time (ignoring Redis's rounding to whole periods). That rank only
    changes on access, so a heap with lazily discarded stale records is exact: O(log n) per
    access and per eviction. Ties go to the least recently accessed key. The access hook pushes
    onto the heap, so it runs under the store lock.
    """

    name = "allkeys-lfu"
    lock_free_access = False
    metadata_overhead = 141  # heap record tuple + version int + amortised stale records

    def __init__(self, config: CacheConfig, rng: Random) -> None:
        super().__init__(config, rng)
        self._heap: list[tuple[int, int, int, Entry]] = []
        self._sequence = itertools.count()
        self._tracked = 0

    def _rank(self, entry: Entry) -> int:
        if self.decay_time <= 0:
            return entry.lfu
        return entry.lfu * self.decay_time + entry.ldt

    def _tracks(self, entry: Entry) -> bool:
        return not self.volatile_only or entry.deadline is not None

    def _push(self, entry: Entry) -> None:
        entry.version += 1
        heapq.heappush(self._heap, (self._rank(entry), next(self._sequence), entry.version, entry))
        if len(self._heap) > 2 * self._tracked + 64:
            self._compact()

    def _compact(self) -> None:
        self._heap = [item for item in self._heap if self._is_current(item)]
        heapq.heapify(self._heap)

    def _is_current(self, item: tuple[int, int, int, Entry]) -> bool:
        entry = item[3]
        return entry.pos >= 0 and entry.version == item[2] and self._tracks(entry)

    def on_insert(self, entry: Entry, now: float) -> None:
        super().on_insert(entry, now)
        if self._tracks(entry):
            self._tracked += 1
            self._push(entry)

    def on_access(self, entry: Entry, now: float) -> None:
        super().on_access(entry, now)
        if self._tracks(entry) and entry.pos >= 0:
            self._push(entry)

    def on_delete(self, entry: Entry) -> None:
        if self._tracks(entry):
            self._tracked -= 1
        entry.version += 1  # invalidates its heap records

    def on_ttl_change(self, entry: Entry, previous: float | None) -> None:
        if not self.volatile_only:
            return
        if entry.deadline is None:
            self._tracked -= 1
            entry.version += 1
        elif previous is None:
            self._tracked += 1
            self._push(entry)

    def reset(self) -> None:
        self._heap.clear()
        self._tracked = 0

    def select_victim(self, keyspaces: Sequence[Keyspace], now: float) -> Entry | None:
        heap = self._heap
        while heap:
            item = heap[0]
            if self._is_current(item):
                return item[3]
            heapq.heappop(heap)
        return None

    def check(self, keyspaces: Sequence[Keyspace]) -> list[str]:
        expected = sum(ks.volatile_count if self.volatile_only else len(ks) for ks in keyspaces)
        live = {id(item[3]) for item in self._heap if self._is_current(item)}
        problems = []
        if len(live) != expected:
            problems.append(f"exact LFU heap ranks {len(live)} entries, expected {expected}")
        if self._tracked != expected:
            problems.append(f"exact LFU heap counts {self._tracked} entries, expected {expected}")
        return problems


class ExactVolatileLFU(ExactAllKeysLFU):
    """Exact ``volatile-lfu``: the heap ranks only keys that have a TTL."""

    name = "volatile-lfu"
    volatile_only = True
    metadata_overhead = 0
    volatile_metadata_overhead = 141
