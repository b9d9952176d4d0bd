"""``allkeys-random`` / ``volatile-random`` and ``noeviction``."""

from __future__ import annotations

from collections.abc import Sequence
from random import Random
from typing import TYPE_CHECKING

from ..keyspace import Entry, Keyspace
from .base import EvictionPolicy
from .recency import RecencyStamp

if TYPE_CHECKING:
    from ..config import CacheConfig

__all__ = ["AllKeysRandom", "NoEviction", "VolatileRandom"]


class _Stamped(EvictionPolicy):
    """Keeps the recency stamp so ``idletime()`` works, as Redis does for non-LFU policies."""

    def __init__(self, config: CacheConfig, rng: Random) -> None:
        super().__init__(config, rng)
        self._recency = RecencyStamp()
        self.on_insert = self.on_access = self._recency.stamp  # type: ignore[method-assign]


class AllKeysRandom(_Stamped):
    """``allkeys-random``: evict a uniformly random key.

    Like Redis, databases are visited round-robin (a persistent cursor), one key from the next
    non-empty one per eviction; no pool. Cost per access O(1); per eviction O(1) amortised.
    """

    name = "allkeys-random"

    def __init__(self, config: CacheConfig, rng: Random) -> None:
        super().__init__(config, rng)
        self.next_db = 0

    def select_victim(self, keyspaces: Sequence[Keyspace], now: float) -> Entry | None:
        # Rotate by database number: start at the first database numbered >= next_db.
        count = len(keyspaces)
        start = next((i for i, ks in enumerate(keyspaces) if ks.db >= self.next_db), 0)
        for step in range(count):
            keyspace = keyspaces[(start + step) % count]
            entry = keyspace.random_entry(self.rng, self.volatile_only)
            if entry is not None:
                self.next_db = keyspace.db + 1
                return entry
        return None

    def reset(self) -> None:
        self.next_db = 0


class VolatileRandom(AllKeysRandom):
    """``volatile-random``: evict a random key among those with a TTL."""

    name = "volatile-random"
    volatile_only = True


class NoEviction(_Stamped):
    """``noeviction``: never evict; a write that needs room raises ``OutOfMemoryError``."""

    name = "noeviction"
    evicts = False

    def select_victim(self, keyspaces: Sequence[Keyspace], now: float) -> Entry | None:
        return None
