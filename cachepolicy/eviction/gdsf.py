"""``allkeys-gdsf``: GreedyDual-Size-Frequency, for byte budgets with values of mixed sizes.

GDSF (Cherkasova, HP Labs HPL-98-69, 1998; Squid's ``heap GDSF``) gives every key a
**priority** ``H = L + F x cost / size`` and evicts the key of lowest priority:

* ``F`` is how often the key was accessed since it entered the cache (1 when it is written);
* ``size`` is what the key weighs against the bound: its accounted bytes under a byte budget
  (``maxmemory``), 1 under an entry-count bound (``max_entries``), where GDSF is exactly
  LFU with dynamic aging (Arlitt et al., 2000);
* ``cost`` is 1 (:meth:`GreedyDualSizeFrequency.cost`): every miss costs the same, so the
  policy maximises the *object* hit ratio; a subclass returning ``entry.size`` maximises the
  byte hit ratio instead;
* ``L`` is the cache's **inflation clock**: it starts at 0 and becomes the priority of each
  evicted key. A key's priority is computed when it is accessed, with the clock of that
  moment, so a key that is not accessed again falls behind every key accessed after it, however
  often it was used before: frequency counts, but only against keys of its own era (the aging
  that plain LFU lacks).

Small keys that are asked for again stay; big ones must earn their bytes with proportionally
more hits. Ties go to the least recently used key.

Where things live: the priority in the policy's per-entry slot (:attr:`Entry.slot`, a float,
declared with ``uses_slot``), the access count in ``Entry.lfu`` (the LFU field, unused by this
policy otherwise, saturating at 255 as Redis's counter does: a small int, so it costs no
memory in either build). Reads run lock-free: an increment and two attribute stores (a racing
read may lose an increment, as Redis's counter may).

Two implementations, both exact about the ranking and different in how they search it:

* ``eviction_mode="sampled"`` (:class:`AllKeysGDSF`): Redis's sampler and 16-slot pool scored by
  ``-priority``; nothing per entry beyond the slot; O(samples) per eviction;
* ``eviction_mode="exact"`` (:class:`ExactAllKeysGDSF`): a heap by priority (the lowest is
  evicted, every time). A read only raises a key's priority, so reads never touch the heap: a
  top record whose key was read since it was filed is re-filed when a victim is chosen (as exact
  LFU does). O(log n) per write and per re-file; one heap record per key, counted.

``volatile-gdsf`` is the same ranking among keys with a TTL only (the volatile axis of Redis's
policies applies to any ranking): only their evictions move the clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from random import Random
from typing import TYPE_CHECKING

from .._core.entry import Entry
from .._core.keyspace import Keyspace
from .._core.ports import Access, Ranking, Removal, Victims
from .._core.ranking import LFU_COUNTER_MAX
from .base import EvictionPolicy
from .exact import _RefiledHeap, _SparesNewcomer

if TYPE_CHECKING:
    from ..config import CacheConfig

#: The score of a candidate passed over (the worst victim there is).
_NEVER = float("-inf")

__all__ = [
    "AllKeysGDSF",
    "ExactAllKeysGDSF",
    "ExactVolatileGDSF",
    "GreedyDualSizeFrequency",
    "VolatileGDSF",
]


class GreedyDualSizeFrequency(EvictionPolicy):
    """The GDSF ranking (see the module docstring): priorities in ``Entry.slot``, the access
    count in ``Entry.lfu``, the inflation clock in :attr:`inflation`. The subclasses add where
    victims come from (Redis's pool, or an exact heap)."""

    # The recency stamp: the tie-break between equal priorities, idletime(), and the exact
    # heap's "read since it was filed" test.
    read_access = write_access = Access.STAMP
    uses_slot = True

    def __init__(self, config: CacheConfig, rng: Random) -> None:
        super().__init__(config, rng)
        #: ``L``: the priority of the last key evicted (never decreases).
        self.inflation = 0.0

    # The bound is read from ``self.config`` each time: CONFIG SET maxmemory keeps the policy
    # object and gives it the new configuration (keys keep the priority they were given until
    # they are accessed again).
    def weight(self, entry: Entry) -> int:
        """What ``entry`` weighs against the bound: its bytes under a byte budget, else 1."""
        config = self.config
        if config.maxmemory and config.max_entries is None:
            return entry.size if entry.size > 0 else 1
        return 1

    def cost(self, entry: Entry) -> float:
        """What a miss on ``entry`` costs (1: all misses alike, the object hit ratio).
        Override to weigh misses, e.g. ``entry.size`` for the byte hit ratio."""
        return 1.0

    def priority(self, entry: Entry) -> float:
        """``L + F x cost / size`` with the clock of now."""
        return self.inflation + entry.lfu * self.cost(entry) / self.weight(entry)

    def on_insert(self, entry: Entry, now: float) -> None:
        entry.lfu = 1
        entry.slot = self.priority(entry)
        super().on_insert(entry, now)

    def on_read(self, entry: Entry, now: float) -> None:
        count = entry.lfu
        if count < LFU_COUNTER_MAX:
            entry.lfu = count + 1
        entry.slot = self.priority(entry)  # before the stamp: the heap re-files on the stamp
        super().on_read(entry, now)

    def on_write(self, entry: Entry, now: float, old_size: int) -> None:
        # An overwrite is an access too (Redis's SET keeps and bumps the LFU history), and the
        # size may have changed.
        count = entry.lfu
        if count < LFU_COUNTER_MAX:
            entry.lfu = count + 1
        entry.slot = self.priority(entry)
        super().on_write(entry, now, old_size)

    def on_remove(self, entry: Entry, cause: Removal) -> None:
        super().on_remove(entry, cause)
        if cause is Removal.EVICTED and entry.slot > self.inflation:
            self.inflation = entry.slot

    def reset(self) -> None:
        super().reset()
        self.inflation = 0.0

    def frequency(self, entry: Entry, now: float) -> int:
        """``F``: the accesses since the key was written (``Cache.frequency()``), up to 255."""
        return entry.lfu


class AllKeysGDSF(GreedyDualSizeFrequency, _SparesNewcomer):
    """``allkeys-gdsf``, sampled: Redis's pool scored by ``-priority`` (lowest goes first).
    Nothing per entry beyond the slot; a popped candidate is re-scored, so a key read while
    it sat in the pool is put back, not evicted."""

    name = "allkeys-gdsf"
    victims = Victims.POOL
    ranking = Ranking.SCORE

    def __init__(self, config: CacheConfig, rng: Random) -> None:
        super().__init__(config, rng)
        self.passed: Entry | None = None

    def score(self, entry: Entry, now: float) -> float:
        return _NEVER if entry is self.passed else -entry.slot

    def lowest(
        self, keyspaces: Sequence[Keyspace], now: float, passed: Entry | None
    ) -> Entry | None:
        self.passed = passed  # scored as the worst victim while it is passed over
        try:
            return EvictionPolicy.select_victim(self, keyspaces, now)
        finally:
            self.passed = None


class VolatileGDSF(AllKeysGDSF):
    """``volatile-gdsf``, sampled: ``allkeys-gdsf`` among keys that have a TTL only."""

    name = "volatile-gdsf"
    volatile_only = True


class ExactAllKeysGDSF(GreedyDualSizeFrequency, _RefiledHeap):
    """``allkeys-gdsf``, exact: a heap by priority, ties by the access sequence (LRU first).

    Reads raise a key's priority (the clock never goes back, the count only grows) and stamp
    its access sequence, so they leave the heap alone (see :class:`_RefiledHeap`). An
    overwrite may *lower* it (a bigger value), so a write files a new record under the lock.
    """

    name = "allkeys-gdsf"
    heap_name = "exact GDSF"

    def rank(self, entry: Entry) -> float:
        # A float of the record's own, as every exact heap's (``metadata_overhead`` counts it):
        # the pure build would otherwise share the slot's until a read replaced it.
        return entry.slot + 0.0

    def on_write(self, entry: Entry, now: float, old_size: int) -> None:
        super().on_write(entry, now, old_size)
        # on_ttl_change ran before this hook, so tracks() says whether a record is current.
        if self.tracks(entry):
            self.heap.push(self.rank(entry), entry, new=False, order=entry.aseq)


class ExactVolatileGDSF(ExactAllKeysGDSF):
    """``volatile-gdsf``, exact: the heap ranks only keys that have a TTL."""

    name = "volatile-gdsf"
    volatile_only = True
    metadata_overhead = 0
    volatile_metadata_overhead = 150  # only keys with a TTL are in the heap (as volatile-lfu)
