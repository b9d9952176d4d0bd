"""The Redis-faithful policies: rows of (candidate keys, ranking) on the engine's sampler.

Each built-in is a declaration, not code: which keys may go (all, or only those with a TTL),
how the sampler scores them (:class:`~cachepolicy._core.ports.Ranking`) and what is recorded on
a read and on a write. The engine samples ``maxmemory_samples`` candidates per database into
Redis's 16-slot pool (:mod:`cachepolicy._core.sampler`) and scores them natively; subclass one
and override ``score`` (or any hook) to change it, and the engine calls your method instead.

Cost per access: the recency stamp (one ``next()``, two stores) or the LFU counter update (one
random draw). Cost per eviction: O(databases x samples) scores plus O(16) pool shifts.
"""

from __future__ import annotations

import abc

from .._core.entry import Entry
from .._core.ports import Access, Ranking, Victims
from .base import EvictionPolicy

__all__ = [
    "AllKeysLFU",
    "AllKeysLRM",
    "AllKeysLRU",
    "AllKeysRandom",
    "NoEviction",
    "SampledPolicy",
    "VolatileLFU",
    "VolatileLRM",
    "VolatileLRU",
    "VolatileRandom",
    "VolatileTTL",
]


class SampledPolicy(EvictionPolicy, abc.ABC):
    """A policy defined by one score function (higher score = better victim), sampled into
    Redis's eviction pool. Subclass it and implement :meth:`score`."""

    victims = Victims.POOL
    read_access = write_access = Access.STAMP

    @abc.abstractmethod
    def score(self, entry: Entry, now: float) -> float:
        """How good a victim ``entry`` is at time ``now``: higher is evicted first."""


class AllKeysLRU(EvictionPolicy):
    """``allkeys-lru``: evict the least recently used key, sampled into the pool.
    Score ``-aseq`` (older access = higher), order-equivalent to Redis's idle time."""

    name = "allkeys-lru"
    read_access = write_access = Access.STAMP
    victims = Victims.POOL
    ranking = Ranking.LRU


class VolatileLRU(AllKeysLRU):
    """``volatile-lru``: like ``allkeys-lru`` among keys that have a TTL only."""

    name = "volatile-lru"
    volatile_only = True


class AllKeysLRM(EvictionPolicy):
    """``allkeys-lrm`` (Redis 8.6): evict the least recently *modified* key, sampled into the
    pool. LRU's ranking (``-aseq``) with the stamp recorded on writes only: a new key, an
    overwrite, INCR/DECR refresh it; reads, TOUCH and EXPIRE/PERSIST (which change metadata,
    not the value) do not. For caches of data that goes stale however often it is read."""

    name = "allkeys-lrm"
    read_access = Access.NONE
    write_access = Access.STAMP
    victims = Victims.POOL
    ranking = Ranking.LRU


class VolatileLRM(AllKeysLRM):
    """``volatile-lrm``: like ``allkeys-lrm`` among keys that have a TTL only."""

    name = "volatile-lrm"
    volatile_only = True


class AllKeysLFU(EvictionPolicy):
    """``allkeys-lfu``: evict the least frequently used key, sampled into the pool.
    Score ``255 - decayed counter`` plus an idle-time tie-break below 1, so equal counters go
    least recently used first (Redis breaks such ties arbitrarily, spec §12.6)."""

    name = "allkeys-lfu"
    read_access = write_access = Access.LFU
    victims = Victims.POOL
    ranking = Ranking.LFU


class VolatileLFU(AllKeysLFU):
    """``volatile-lfu``: like ``allkeys-lfu`` among keys that have a TTL only."""

    name = "volatile-lfu"
    volatile_only = True


class VolatileTTL(EvictionPolicy):
    """``volatile-ttl``: evict the key whose TTL runs out soonest (sampled, as in Redis).
    Score ``-deadline``; keeps the recency stamp so ``idletime()`` works."""

    name = "volatile-ttl"
    volatile_only = True
    read_access = write_access = Access.STAMP
    victims = Victims.POOL
    ranking = Ranking.TTL


class AllKeysRandom(EvictionPolicy):
    """``allkeys-random``: evict a uniformly random key. Like Redis, databases are visited
    round-robin, one key from the next non-empty one per eviction; no pool. O(1)."""

    name = "allkeys-random"
    read_access = write_access = Access.STAMP
    victims = Victims.RANDOM


class VolatileRandom(AllKeysRandom):
    """``volatile-random``: evict a random key among those with a TTL."""

    name = "volatile-random"
    volatile_only = True


class NoEviction(EvictionPolicy):
    """``noeviction``: never evict; a write that needs room raises ``OutOfMemoryError``."""

    name = "noeviction"
    evicts = False
    read_access = write_access = Access.STAMP
    victims = Victims.NONE
