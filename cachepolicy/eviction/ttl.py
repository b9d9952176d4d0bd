"""``volatile-ttl``: evict the key whose TTL runs out soonest.

Redis samples and pools this policy like LRU/LFU, so it is an approximation (spec §3); the exact
mode keeps a deadline-ordered heap instead.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Sequence
from random import Random
from typing import TYPE_CHECKING

from ..keyspace import Entry, Keyspace
from .recency import RecencyStamp
from .sampled import SampledPolicy

if TYPE_CHECKING:
    from ..config import CacheConfig

__all__ = ["ExactVolatileTTL", "VolatileTTL"]


class VolatileTTL(SampledPolicy):
    """Sampled ``volatile-ttl``. Score: ``-deadline`` (sooner = higher).

    Redis scores ``ULLONG_MAX - expire_at``; negating is the same order. Cost per access O(1)
    (recency stamp only); per eviction O(databases * samples).
    """

    name = "volatile-ttl"
    volatile_only = True

    def __init__(self, config: CacheConfig, rng: Random) -> None:
        super().__init__(config, rng)
        self._recency = RecencyStamp()
        self.on_insert = self.on_access = self._recency.stamp  # type: ignore[method-assign]

    def score(self, entry: Entry, now: float) -> float:
        deadline = entry.deadline
        return -deadline if deadline is not None else float("-inf")


class ExactVolatileTTL(VolatileTTL):
    """Exact ``volatile-ttl``: a min-heap of deadlines with lazily discarded stale records.

    O(log n) per TTL change, O(1) amortised per eviction, nothing per read.
    """

    volatile_metadata_overhead = 109  # heap record tuple + version int, tracemalloc-measured

    def __init__(self, config: CacheConfig, rng: Random) -> None:
        super().__init__(config, rng)
        self._heap: list[tuple[float, int, int, Entry]] = []
        self._sequence = itertools.count()
        self._tracked = 0
        self.on_insert = self._on_insert  # type: ignore[method-assign]

    def _on_insert(self, entry: Entry, now: float) -> None:
        self._recency.stamp(entry, now)
        if entry.deadline is not None:
            self._tracked += 1
            self._push(entry, entry.deadline)

    def _push(self, entry: Entry, deadline: float) -> None:
        entry.version += 1
        heapq.heappush(self._heap, (deadline, next(self._sequence), entry.version, entry))
        if len(self._heap) > 2 * self._tracked + 64:
            self._heap = [item for item in self._heap if self._is_current(item)]
            heapq.heapify(self._heap)

    @staticmethod
    def _is_current(item: tuple[float, int, int, Entry]) -> bool:
        entry = item[3]
        return entry.pos >= 0 and entry.version == item[2] and entry.deadline is not None

    def on_delete(self, entry: Entry) -> None:
        if entry.deadline is not None:
            self._tracked -= 1
        entry.version += 1

    def on_ttl_change(self, entry: Entry, previous: float | None) -> None:
        if entry.deadline is None:
            self._tracked -= 1
            entry.version += 1
            return
        if previous is None:
            self._tracked += 1
        self._push(entry, entry.deadline)

    def reset(self) -> None:
        super().reset()
        self._heap.clear()
        self._tracked = 0

    def select_victim(self, keyspaces: Sequence[Keyspace], now: float) -> Entry | None:
        heap = self._heap
        while heap:
            if self._is_current(heap[0]):
                return heap[0][3]
            heapq.heappop(heap)
        return None

    def check(self, keyspaces: Sequence[Keyspace]) -> list[str]:
        expected = sum(ks.volatile_count for ks in keyspaces)
        live = sum(1 for item in self._heap if self._is_current(item))
        problems = []
        if live != expected or self._tracked != expected:
            problems.append(
                f"exact TTL heap ranks {live} entries (counter {self._tracked}), "
                f"expected {expected}"
            )
        return problems
