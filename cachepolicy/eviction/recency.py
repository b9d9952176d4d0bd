"""LRU ranking: sampled (Redis's approximation) and exact (true recency order).

The recency stamp is a process-wide access *sequence number* plus the wall time. Redis stamps
keys with a 1-second clock (spec §5), so every key touched within the same second ties and the
sampler cannot tell them apart: that tie costs Redis 4-5 hit-ratio points against exact LRU on
real traces. A sequence number never ties, and because it does not depend on "now", a score
frozen in the eviction pool stays comparable with scores computed later.
"""

from __future__ import annotations

import itertools
import operator
from collections import OrderedDict
from collections.abc import Callable, Sequence
from random import Random
from typing import TYPE_CHECKING, Any

from ..keyspace import Entry, Keyspace
from .base import EvictionPolicy
from .sampled import SampledPolicy

if TYPE_CHECKING:
    from ..config import CacheConfig

__all__ = [
    "AllKeysLRU",
    "ExactAllKeysLRU",
    "ExactVolatileLRU",
    "RecencyStamp",
    "VolatileLRU",
]


_BY_ACCESS_SEQUENCE = operator.attrgetter("aseq")


class RecencyStamp:
    """Stamps entries with (wall time, global access sequence) on insert and access.

    Every non-LFU policy keeps the stamp, as Redis keeps the LRU field for every non-LFU policy,
    so ``idletime()`` works under them. Cost per access: one ``next()`` and two attribute stores.
    """

    def __init__(self) -> None:
        #: The global access sequence (``next()`` on it is atomic under the GIL).
        self.sequence = itertools.count(1)

    def stamp(self, entry: Entry, now: float) -> None:
        entry.atime = now
        entry.aseq = next(self.sequence)


class _StampingPolicy(EvictionPolicy):
    def __init__(self, config: CacheConfig, rng: Random) -> None:
        super().__init__(config, rng)
        self._recency = RecencyStamp()
        self.on_insert = self.on_access = self._recency.stamp  # type: ignore[method-assign]


class AllKeysLRU(_StampingPolicy, SampledPolicy):
    """``allkeys-lru``: evict the least recently used key, chosen by sampling into the pool.

    Score: ``-aseq`` (older access = higher score), order-equivalent to Redis's idle time.
    Cost per access O(1); per eviction O(databases * samples).
    """

    name = "allkeys-lru"

    def score(self, entry: Entry, now: float) -> float:
        return -entry.aseq

    def rank_key(self) -> Callable[[Entry], Any]:
        return _BY_ACCESS_SEQUENCE  # oldest access first: the order of -aseq scores

    def scores(self, entries: Sequence[Entry], now: float) -> list[float]:
        return [-entry.aseq for entry in entries]


class VolatileLRU(AllKeysLRU):
    """``volatile-lru``: like ``allkeys-lru`` among keys that have a TTL only."""

    name = "volatile-lru"
    volatile_only = True


class ExactAllKeysLRU(_StampingPolicy):
    """Exact ``allkeys-lru``: a doubly linked recency list (an ``OrderedDict`` of entries).

    Access moves the entry to the MRU end in O(1) (one C call, safe without the lock); the victim
    is the LRU end in O(1). Costs about 100 extra bytes per entry, counted in ``used_memory``.
    """

    name = "allkeys-lru"
    metadata_overhead = 105  # OrderedDict node + dict slot, measured with tracemalloc

    def __init__(self, config: CacheConfig, rng: Random) -> None:
        super().__init__(config, rng)
        self._order: OrderedDict[Entry, None] = OrderedDict()
        self.on_access = self._on_access  # type: ignore[method-assign]
        self.on_insert = self._on_insert  # type: ignore[method-assign]

    def _tracks(self, entry: Entry) -> bool:
        return not self.volatile_only or entry.deadline is not None

    def _on_insert(self, entry: Entry, now: float) -> None:
        self._recency.stamp(entry, now)
        if self._tracks(entry):
            self._order[entry] = None

    def _on_access(self, entry: Entry, now: float) -> None:
        self._recency.stamp(entry, now)
        try:  # noqa: SIM105 - try/except is cheaper than suppress() on the read path
            self._order.move_to_end(entry)
        except KeyError:
            pass  # not tracked (no TTL under volatile-lru) or removed by a concurrent writer

    def on_delete(self, entry: Entry) -> None:
        self._order.pop(entry, None)

    def on_ttl_change(self, entry: Entry, previous: float | None) -> None:
        if not self.volatile_only:
            return
        if entry.deadline is None:
            self._order.pop(entry, None)
        elif previous is None:
            self._order[entry] = None

    def reset(self) -> None:
        self._order.clear()

    def select_victim(self, keyspaces: Sequence[Keyspace], now: float) -> Entry | None:
        for entry in self._order:
            return entry
        return None

    def check(self, keyspaces: Sequence[Keyspace]) -> list[str]:
        expected = sum(ks.volatile_count if self.volatile_only else len(ks) for ks in keyspaces)
        if len(self._order) != expected:
            return [f"exact LRU list tracks {len(self._order)} entries, expected {expected}"]
        # tuple() copies in one C call: lock-free readers move_to_end() concurrently.
        stale = [e for e in tuple(self._order) if e.pos < 0]
        return [f"exact LRU list holds {len(stale)} removed entries"] if stale else []


class ExactVolatileLRU(ExactAllKeysLRU):
    """Exact ``volatile-lru``: the recency list holds only keys that have a TTL."""

    name = "volatile-lru"
    volatile_only = True
    metadata_overhead = 0
    volatile_metadata_overhead = 105  # only keys with a TTL are in the recency list
