"""Exact eviction (``eviction_mode="exact"``): ordered structures instead of sampling.

Each exact policy declares ``victims = Victims.HOOK`` and keeps its structure up to date through
ordinary hooks (``on_insert``, ``on_access``, ``on_delete``, ``on_ttl_change``), which the engine
calls because they are overridden here. They cost memory per entry, counted in ``used_memory``
through ``metadata_overhead``, and O(1) or O(log n) per access.
"""

from __future__ import annotations

import sys
from collections import OrderedDict
from collections.abc import Sequence
from random import Random
from typing import TYPE_CHECKING

from .._core.entry import Entry
from .._core.heaps import LazyHeap
from .._core.keyspace import Keyspace
from .._core.ports import Access, Victims
from .base import EvictionPolicy

if TYPE_CHECKING:
    from ..config import CacheConfig

# sys.getsizeof of an OrderedDict covers its table and its linked-list nodes (checked against
# tracemalloc at 3,700 and 20,000 keys, both builds): what an empty one reports is not the cache's.
_EMPTY_ORDER = sys.getsizeof(OrderedDict())

__all__ = [
    "ExactAllKeysLFU",
    "ExactAllKeysLRU",
    "ExactVolatileLFU",
    "ExactVolatileLRU",
    "ExactVolatileTTL",
]


class _Tracked(EvictionPolicy):
    """Exact policies rank all keys, or only keys with a TTL under ``volatile-*``."""

    victims = Victims.HOOK

    def tracks(self, entry: Entry) -> bool:
        return not self.volatile_only or entry.deadline is not None

    def tracked_count(self, keyspaces: Sequence[Keyspace]) -> int:
        return sum(ks.volatile_count if self.volatile_only else len(ks) for ks in keyspaces)


class _HeapRanked(_Tracked):
    """Exact policies that keep their candidates in a :class:`LazyHeap`, lowest rank evicted
    first; subclasses file entries into ``self.heap`` from their hooks."""

    heap_name = "exact heap"

    def __init__(self, config: CacheConfig, rng: Random) -> None:
        super().__init__(config, rng)
        self.heap = LazyHeap()

    def reset(self) -> None:
        super().reset()
        self.heap.clear()

    def select_victim(self, keyspaces: Sequence[Keyspace], now: float) -> Entry | None:
        return self.heap.top()

    def check(self, keyspaces: Sequence[Keyspace]) -> list[str]:
        return self.heap.check(self.tracked_count(keyspaces), self.heap_name)


class ExactAllKeysLRU(_Tracked):
    """Exact ``allkeys-lru``: a doubly linked recency list (an ``OrderedDict`` of entries).

    Access moves the entry to the MRU end in O(1) (one C call, safe without the lock); the
    victim is the LRU end in O(1). About 100 extra bytes per entry, counted in ``used_memory``.
    """

    name = "allkeys-lru"
    access = Access.STAMP
    # The recency list's table and nodes are measured (structure_bytes): its table grows and
    # shrinks in steps, like the keyspace dicts.

    def __init__(self, config: CacheConfig, rng: Random) -> None:
        super().__init__(config, rng)
        self.order: OrderedDict[Entry, None] = OrderedDict()

    def on_insert(self, entry: Entry, now: float) -> None:
        super().on_insert(entry, now)
        if self.tracks(entry):
            self.order[entry] = None

    def on_access(self, entry: Entry, now: float) -> None:
        super().on_access(entry, now)
        try:  # noqa: SIM105 - try/except is cheaper than suppress() on the read path
            self.order.move_to_end(entry)
        except KeyError:
            pass  # not tracked (no TTL under volatile-lru) or removed by a concurrent writer

    def on_delete(self, entry: Entry) -> None:
        self.order.pop(entry, None)

    def on_ttl_change(self, entry: Entry, previous: float | None) -> None:
        if not self.volatile_only:
            return
        if entry.deadline is None:
            self.order.pop(entry, None)
        elif previous is None:
            self.order[entry] = None

    def reset(self) -> None:
        super().reset()
        self.order.clear()

    def select_victim(self, keyspaces: Sequence[Keyspace], now: float) -> Entry | None:
        for entry in self.order:
            return entry
        return None

    def structure_bytes(self) -> int:
        return sys.getsizeof(self.order) - _EMPTY_ORDER

    def check(self, keyspaces: Sequence[Keyspace]) -> list[str]:
        expected = self.tracked_count(keyspaces)
        if len(self.order) != expected:
            return [f"exact LRU list tracks {len(self.order)} entries, expected {expected}"]
        # tuple() copies in one C call: lock-free readers move_to_end() concurrently.
        stale = [e for e in tuple(self.order) if not e.alive]
        return [f"exact LRU list holds {len(stale)} removed entries"] if stale else []


class ExactVolatileLRU(ExactAllKeysLRU):
    """Exact ``volatile-lru``: the recency list holds only keys that have a TTL."""

    name = "volatile-lru"
    volatile_only = True


class ExactAllKeysLFU(_HeapRanked):
    """Exact ``allkeys-lfu``: a heap ordered by the decayed counter.

    With linear decay of one point per ``D`` minutes, a key's counter at time ``t`` is
    ``C - (t - ldt) / D``, so ranking by ``C * D + ldt`` orders keys exactly as their decayed
    counters at *any* common time (ignoring Redis's rounding to whole periods). Ties go to the
    least recently accessed key (the access sequence, ``aseq``).

    Reads never touch the heap: an access (the declared LFU counter, lock-free) can only raise
    a key's rank and its ``aseq`` (:func:`~cachepolicy._core.ranking.lfu_touch`), so every
    entry's record is at or below where it belongs. Choosing a victim re-files a top entry
    whose (rank, aseq) moved since it was filed and looks again, until the top is current:
    the same victim as pushing on every read, at O(log n) per eviction for each key that was
    read since it was filed, instead of a heap push under the lock on every read.
    """

    name = "allkeys-lfu"
    access = Access.LFU
    # One heap record and its list slot (132 B: the 4-tuple, the rank float, the order int),
    # plus the stale records that deleted keys (and, under volatile-lfu, removed TTLs) leave
    # until they reach the top or the heap is rebuilt: 4 B per entry measured under eviction
    # churn (tests/core/test_memory_churn.py). The rebuild bounds them at an eighth of the live
    # records plus HEAP_SLACK, so at most 13 B per entry and 8.4 kB go uncounted. (Reads pushed
    # records too before they left the heap; 150 B was then this figure at that bound.)
    metadata_overhead = 136

    heap_name = "exact LFU"

    def rank(self, entry: Entry) -> float:
        decay_time = self.config.lfu_decay_time
        if decay_time <= 0:
            return float(entry.lfu)
        return float(entry.lfu * decay_time + entry.ldt)

    def on_insert(self, entry: Entry, now: float) -> None:
        super().on_insert(entry, now)
        if self.tracks(entry):
            self.heap.push(self.rank(entry), entry, new=True, order=entry.aseq)

    def on_delete(self, entry: Entry) -> None:
        if self.tracks(entry):
            self.heap.discard(entry)

    def on_ttl_change(self, entry: Entry, previous: float | None) -> None:
        if not self.volatile_only:
            return
        if entry.deadline is None:
            self.heap.discard(entry)
        elif previous is None:
            self.heap.push(self.rank(entry), entry, new=True, order=entry.aseq)

    def select_victim(self, keyspaces: Sequence[Keyspace], now: float) -> Entry | None:
        # Every access stamps a new aseq and every other rank change files a new record, so a
        # top entry whose aseq is its record's has the record's rank; others are re-filed.
        return self.heap.top_refiled(self.rank)


class ExactVolatileLFU(ExactAllKeysLFU):
    """Exact ``volatile-lfu``: the heap ranks only keys that have a TTL."""

    name = "volatile-lfu"
    volatile_only = True
    metadata_overhead = 0
    volatile_metadata_overhead = 150  # only keys with a TTL are in the heap


class ExactVolatileTTL(_HeapRanked):
    """Exact ``volatile-ttl``: a min-heap of deadlines with lazily discarded stale records.
    O(log n) per TTL change, O(1) amortised per eviction, nothing per read."""

    name = "volatile-ttl"
    volatile_only = True
    access = Access.STAMP
    volatile_metadata_overhead = 150  # a heap record per TTL key, stale ones at the bound

    heap_name = "exact TTL"

    def on_insert(self, entry: Entry, now: float) -> None:
        super().on_insert(entry, now)
        if entry.deadline is not None:
            self.heap.push(entry.deadline, entry, new=True)

    def on_delete(self, entry: Entry) -> None:
        if entry.deadline is not None:
            self.heap.discard(entry)

    def on_ttl_change(self, entry: Entry, previous: float | None) -> None:
        if entry.deadline is None:
            self.heap.discard(entry)
        else:
            self.heap.push(entry.deadline, entry, new=previous is None)
