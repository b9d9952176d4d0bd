"""Exact eviction (``eviction_mode="exact"``): ordered structures instead of sampling.

Each exact policy declares ``victims = Victims.HOOK`` and keeps its structure up to date through
ordinary hooks (``on_insert``, ``on_read``, ``on_write``, ``on_remove``, ``on_ttl_change``),
which the engine calls because they are overridden here. They cost memory per entry, counted
in ``used_memory`` through ``metadata_overhead``, and O(1) or O(log n) per access.
"""

from __future__ import annotations

import heapq
import sys
from collections import OrderedDict
from collections.abc import Sequence
from random import Random
from typing import TYPE_CHECKING

from .._core.climber import (
    RESTART_THRESHOLD,
    SAMPLE_PER_KEY,
    STEP_DECAY,
    STEP_START,
    HillClimber,
)
from .._core.entry import Entry
from .._core.heaps import LazyHeap
from .._core.keyspace import Keyspace
from .._core.ports import Access, Removal, Victims
from .base import EvictionPolicy

if TYPE_CHECKING:
    from ..config import CacheConfig

# sys.getsizeof of an OrderedDict covers its table and its linked-list nodes (checked against
# tracemalloc at 3,700 and 20,000 keys, both builds): what an empty one reports is not the cache's.
_EMPTY_ORDER = sys.getsizeof(OrderedDict())
# Below this many entries a recency list is never rebuilt: its table is a few kB at most.
_REBUILD_FLOOR = 64
#: Exact LFU's window starts as the newest quarter of its keys, the share of 2Q's recency
#: queue A1in (Johnson and Shasha, VLDB 1994: "Kin = 25 % of the page slots"), which 2Q gives
#: new keys for the same reason, before frequency judges them; a hill climber then moves it
#: within WINDOW_LIMITS by the hit ratio, one step of STEP_START (W-TinyLFU's first step) to
#: start with. Not fitted to a trace; measured on the shared traces in docs/policies/lfu.md.
WINDOW_START = 0.25
WINDOW_LIMITS = (0.0, 0.8)
#: The fewest keys a climber sample is sized for (a nearly empty cache still samples).
_SAMPLE_FLOOR = 64

__all__ = [
    "ExactAllKeysLFU",
    "ExactAllKeysLRM",
    "ExactAllKeysLRU",
    "ExactVolatileLFU",
    "ExactVolatileLRM",
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


class _RecencyList(_Tracked):
    """A doubly linked recency list (an ``OrderedDict`` of entries): a write moves the entry
    to the MRU end in O(1), the victim is the LRU end in O(1). About 100 extra bytes per
    entry, counted in ``used_memory`` (the list's table and nodes are measured through
    ``structure_bytes``: its table grows and shrinks in steps, like the keyspace dicts)."""

    def __init__(self, config: CacheConfig, rng: Random) -> None:
        super().__init__(config, rng)
        self.order: OrderedDict[Entry, None] = OrderedDict()
        #: The most entries the list held since it was last rebuilt (see ``on_remove``).
        self.high_water = 0

    def on_insert(self, entry: Entry, now: float) -> None:
        super().on_insert(entry, now)
        if self.tracks(entry):
            self._track(entry)

    def _track(self, entry: Entry) -> None:
        order = self.order
        order[entry] = None
        if len(order) > self.high_water:
            self.high_water = len(order)

    def on_write(self, entry: Entry, now: float, old_size: int) -> None:
        super().on_write(entry, now, old_size)
        self._move_to_end(entry)

    def _move_to_end(self, entry: Entry) -> None:
        try:  # noqa: SIM105 - try/except is cheaper than suppress() on the read path
            self.order.move_to_end(entry)
        except KeyError:
            pass  # not tracked (no TTL under volatile-*) or removed by a concurrent writer

    def on_remove(self, entry: Entry, cause: Removal) -> None:
        self._untrack(entry)

    def _untrack(self, entry: Entry) -> None:
        order = self.order
        order.pop(entry, None)
        # An OrderedDict never gives its table back as keys go: lowering maxmemory evicted
        # every key and still left the table of 10,000 counted above the new limit. Rebuilt
        # (one C-level copy, sized to what is left) when it holds under a quarter of its
        # high-water mark: O(1) amortised, and the engine re-measures it after each removal.
        if len(order) * 4 < self.high_water and self.high_water > _REBUILD_FLOOR:
            self.order = OrderedDict(order)
            self.high_water = len(order)

    def on_ttl_change(self, entry: Entry, previous: float | None) -> None:
        if not self.volatile_only:
            return
        if entry.deadline is None:
            self._untrack(entry)
        elif previous is None:
            self._track(entry)

    def reset(self) -> None:
        super().reset()
        self.order = OrderedDict()
        self.high_water = 0

    def select_victim(self, keyspaces: Sequence[Keyspace], now: float) -> Entry | None:
        for entry in self.order:
            return entry
        return None

    def structure_bytes(self) -> int:
        return sys.getsizeof(self.order) - _EMPTY_ORDER

    def check(self, keyspaces: Sequence[Keyspace]) -> list[str]:
        expected = self.tracked_count(keyspaces)
        if len(self.order) != expected:
            return [f"exact recency list tracks {len(self.order)} entries, expected {expected}"]
        # tuple() copies in one C call: lock-free readers move_to_end() concurrently.
        stale = [e for e in tuple(self.order) if not e.alive]
        return [f"exact recency list holds {len(stale)} removed entries"] if stale else []


class ExactAllKeysLRU(_RecencyList):
    """Exact ``allkeys-lru``: reads move the entry to the MRU end too (one C call, safe
    without the lock)."""

    name = "allkeys-lru"
    read_access = write_access = Access.STAMP

    def on_read(self, entry: Entry, now: float) -> None:
        super().on_read(entry, now)
        self._move_to_end(entry)


class ExactVolatileLRU(ExactAllKeysLRU):
    """Exact ``volatile-lru``: the recency list holds only keys that have a TTL."""

    name = "volatile-lru"
    volatile_only = True


class _SparesNewcomer(EvictionPolicy):
    """Never the victim of its own write: for rankings where a new key can rank lowest of all
    (a big value under GDSF, a new counter under LFU with aging).

    The engine makes room before it inserts a key, but evicts again after it for the few bytes
    the tables may grow by; a new key that ranks lowest would then be chosen, and the engine,
    which never evicts a new key by its own write, asks again and finally refuses the write.
    Asked again for the newest key without having evicted it (``offered``), this gives the
    next lowest (:meth:`lowest` with the key passed over). Only then: a later write may evict
    the newest key like any other, and a key that ``admit`` refused against is still offered.
    """

    def __init__(self, config: CacheConfig, rng: Random) -> None:
        super().__init__(config, rng)
        #: The newest key, and the last victim offered and not removed since.
        self.incoming: Entry | None = None
        self.offered: Entry | None = None

    def on_insert(self, entry: Entry, now: float) -> None:
        super().on_insert(entry, now)
        self.incoming = entry

    def on_remove(self, entry: Entry, cause: Removal) -> None:
        super().on_remove(entry, cause)
        if entry is self.offered:
            self.offered = None
        if entry is self.incoming:
            self.incoming = None

    def reset(self) -> None:
        super().reset()
        self.incoming = self.offered = None

    def select_victim(self, keyspaces: Sequence[Keyspace], now: float) -> Entry | None:
        victim = self.lowest(keyspaces, now, None)
        if victim is not None and victim is self.offered and victim is self.incoming:
            victim = self.lowest(keyspaces, now, victim)
        self.offered = victim
        return victim

    def lowest(
        self, keyspaces: Sequence[Keyspace], now: float, passed: Entry | None
    ) -> Entry | None:
        """The best victim other than ``passed`` (None: any)."""
        raise NotImplementedError


class _RefiledHeap(_SparesNewcomer, _HeapRanked):
    """A heap of the tracked entries by :meth:`rank`, for ranks that an access can only
    raise and that move with the access sequence (``aseq``): reads and writes never touch the
    heap; choosing a victim re-files a top entry whose ``aseq`` moved since it was filed and
    looks again, until the top is current (:meth:`LazyHeap.top_refiled`): the same victim as
    pushing on every access, at O(log n) per eviction for each key accessed since it was
    filed. A key that starts being tracked later (it gains a TTL under ``volatile-*``) is
    filed at its own rank, not as if just accessed."""

    # One heap record and its list slot (132 B: the 4-tuple, the rank float, the order int),
    # plus the stale records that deleted keys (and, under volatile-*, removed TTLs) leave
    # until they reach the top or the heap is rebuilt: 4 B per entry measured under eviction
    # churn (tests/core/test_memory_churn.py). The rebuild bounds them at an eighth of the live
    # records plus HEAP_SLACK, so at most 13 B per entry and 8.4 kB go uncounted.
    metadata_overhead = 136

    def rank(self, entry: Entry) -> float:
        """The heap's order, lowest evicted first."""
        raise NotImplementedError

    def on_insert(self, entry: Entry, now: float) -> None:
        super().on_insert(entry, now)
        if self.tracks(entry):
            self.file(entry)

    def on_remove(self, entry: Entry, cause: Removal) -> None:
        super().on_remove(entry, cause)
        if self.tracks(entry):
            self.unfile(entry)

    def on_ttl_change(self, entry: Entry, previous: float | None) -> None:
        if not self.volatile_only:
            return
        if entry.deadline is None:
            self.unfile(entry)
        elif previous is None:
            self.file(entry)

    def file(self, entry: Entry) -> None:
        """``entry`` starts being ranked (a new key, or one that gained a TTL)."""
        self.heap.push(self.rank(entry), entry, new=True, order=entry.aseq)

    def unfile(self, entry: Entry) -> None:
        """``entry`` stops being ranked (it left, or lost its TTL under ``volatile-*``)."""
        self.heap.discard(entry)

    def lowest(
        self, keyspaces: Sequence[Keyspace], now: float, passed: Entry | None
    ) -> Entry | None:
        # Every access stamps a new aseq and every other rank change files a new record, so a
        # top entry whose aseq is its record's has the record's rank; others are re-filed.
        heap = self.heap
        top = heap.top_refiled(self.rank)
        if top is None or top is not passed:
            return top
        record = heapq.heappop(heap.records)  # set aside while the next one is found
        try:
            return heap.top_refiled(self.rank)
        finally:
            heapq.heappush(heap.records, record)


class ExactAllKeysLFU(_RefiledHeap):
    """Exact ``allkeys-lfu``: an adaptive window of the newest keys, then a heap by decayed
    counter, ties broken at random.

    Plain exact LFU collapses on recency-heavy traffic (issue 20: 35 % on cache2k-orm-busy
    where sampled LFU has 71 % and LRU 80 %; 0.2 % on corda-vaultservice): a new key starts at
    ``LFU_INIT_VAL`` and ranks below every key read twice, so each insert evicts the previous
    newcomer before it can be read again. Sampled LFU escapes it by chance: a newcomer lives
    until a sample happens to draw it. Exact mode gives every newcomer that chance for sure:

    * the newest keys are a **window**, in insertion order, that is never evicted from while
      the heap has a key. Its share of the keys starts at a quarter (:data:`WINDOW_START`) and
      a :class:`~cachepolicy._core.climber.HillClimber` moves it by the hit ratio of each
      sample of ``SAMPLE_PER_KEY`` x the keys requests, as W-TinyLFU sizes its window: recency
      traffic grows it, loops and frequency-skewed traffic shrink it;
    * a key leaving the window (the oldest, pushed out by an insert) joins a **heap** ranked
      as Redis ranks: by the decayed counter. With linear decay of one point per ``D``
      minutes, a key's counter at time ``t`` is ``C - (t - ldt) / D``, so ranking by
      ``C * D + ldt`` orders keys exactly as their decayed counters at *any* common time
      (ignoring Redis's rounding to whole periods);
    * **ties go to a random key**: each key draws a number in [0, 1) from the cache's seeded
      generator when it is written (kept in the policy's slot, :attr:`Entry.slot`) and adds it
      to its rank, which orders keys of equal rank and nothing else. Least-recently-used ties
      make a loop larger than the cache miss on every request (the key evicted is always the
      next one asked for); random ties let some keys survive a lap and earn a higher counter,
      which is how sampled LFU wins on loops (lirs-loop @ 800: 0 % with LRU ties, 76.6 % now,
      sampled LFU 63.1 %, OPT 78.4 %).

    The counter is Redis's, untouched (``Cache.frequency()`` is ``OBJECT FREQ``), and kept
    lock-free on the read path by the engine (the declared ``Access.LFU``): an access can only
    raise the rank and the ``aseq`` (:func:`~cachepolicy._core.ranking.lfu_touch`), so reads
    touch neither structure (the read hook counts the hit for the climber, without the lock);
    a key read in the window joins the heap at its rank of that moment. Per insert: one
    ``OrderedDict`` append and one heap push (O(log n)).
    """

    name = "allkeys-lfu"
    read_access = write_access = Access.LFU
    heap_name = "exact LFU"
    uses_slot = True

    def __init__(self, config: CacheConfig, rng: Random) -> None:
        super().__init__(config, rng)
        #: The newest keys, oldest first (see :data:`WINDOW_START`).
        self.window: OrderedDict[Entry, None] = OrderedDict()
        #: The most keys the window held since it was last rebuilt (see ``unfile``).
        self.high_water = 0
        low, high = WINDOW_LIMITS
        self.climber = HillClimber(
            WINDOW_START, low, high, STEP_START, STEP_DECAY, RESTART_THRESHOLD, _SAMPLE_FLOOR
        )

    @property
    def window_share(self) -> float:
        """The share of the ranked keys the window holds at most (the climber moves it)."""
        return self.climber.value

    def rank(self, entry: Entry) -> float:
        decay_time = self.config.lfu_decay_time
        if decay_time <= 0:
            return entry.lfu + entry.slot
        return entry.lfu * decay_time + entry.ldt + entry.slot

    def on_insert(self, entry: Entry, now: float) -> None:
        entry.slot = self.rng.random()  # the tie-break, before the key is filed
        super().on_insert(entry, now)

    def on_read(self, entry: Entry, now: float) -> None:
        self.climber.hits += 1
        super().on_read(entry, now)

    def on_miss(self, key: str, db: int) -> None:
        climber = self.climber
        climber.misses += 1
        climber.period = SAMPLE_PER_KEY * max(self.heap.live + len(self.window), _SAMPLE_FLOOR)
        climber.tick()
        super().on_miss(key, db)

    def file(self, entry: Entry) -> None:
        window = self.window
        window[entry] = None
        size = int((self.heap.live + len(window)) * self.climber.value)
        while len(window) > size:
            oldest, _ = window.popitem(last=False)
            super().file(oldest)
        if len(window) > self.high_water:
            self.high_water = len(window)

    def unfile(self, entry: Entry) -> None:
        window = self.window
        if window.pop(entry, 0) is not None:  # not in the window (its value is None)
            super().unfile(entry)
        elif len(window) * 4 < self.high_water and self.high_water > _REBUILD_FLOOR:
            # An OrderedDict never gives its table back: rebuilt as the recency list is.
            self.window = OrderedDict(window)
            self.high_water = len(window)

    def reset(self) -> None:
        super().reset()
        self.window = OrderedDict()
        self.high_water = 0
        self.climber.reset(WINDOW_START)

    def lowest(
        self, keyspaces: Sequence[Keyspace], now: float, passed: Entry | None
    ) -> Entry | None:
        victim = super().lowest(keyspaces, now, passed)
        if victim is None:  # a cache too small to have left a key to the heap
            victim = next((entry for entry in self.window if entry is not passed), None)
        return victim

    def structure_bytes(self) -> int:
        # ``metadata_overhead`` charges every ranked key a heap record; a key in the window
        # has an OrderedDict slot instead, measured here in its place.
        charged = self.volatile_metadata_overhead if self.volatile_only else self.metadata_overhead
        return sys.getsizeof(self.window) - _EMPTY_ORDER - charged * len(self.window)

    def check(self, keyspaces: Sequence[Keyspace]) -> list[str]:
        problems = self.heap.check(self.tracked_count(keyspaces) - len(self.window), self.heap_name)
        if any(not entry.alive or not self.tracks(entry) for entry in tuple(self.window)):
            problems.append("exact LFU window holds a removed or untracked entry")
        return problems


class ExactVolatileLFU(ExactAllKeysLFU):
    """Exact ``volatile-lfu``: the heap ranks only keys that have a TTL."""

    name = "volatile-lfu"
    volatile_only = True
    metadata_overhead = 0
    volatile_metadata_overhead = 150  # only keys with a TTL are in the heap


class ExactAllKeysLRM(_RefiledHeap):
    """Exact ``allkeys-lrm``: a heap by the access sequence of the last *write* (reads do not
    stamp under LRM), so the least recently modified key is on top. Reads cost nothing; a key
    that gains a TTL under ``volatile-lrm`` is ranked by its last write, not by the EXPIRE."""

    name = "allkeys-lrm"
    read_access = Access.NONE
    write_access = Access.STAMP
    heap_name = "exact LRM"

    def rank(self, entry: Entry) -> float:
        return float(entry.aseq)


class ExactVolatileLRM(ExactAllKeysLRM):
    """Exact ``volatile-lrm``: the heap ranks only keys that have a TTL."""

    name = "volatile-lrm"
    volatile_only = True
    metadata_overhead = 0
    volatile_metadata_overhead = 150  # only keys with a TTL are in the heap


class ExactVolatileTTL(_HeapRanked):
    """Exact ``volatile-ttl``: a min-heap of deadlines with lazily discarded stale records.
    O(log n) per TTL change, O(1) amortised per eviction, nothing per read."""

    name = "volatile-ttl"
    volatile_only = True
    read_access = write_access = Access.STAMP
    volatile_metadata_overhead = 150  # a heap record per TTL key, stale ones at the bound

    heap_name = "exact TTL"

    def on_insert(self, entry: Entry, now: float) -> None:
        super().on_insert(entry, now)
        if entry.deadline is not None:
            self.heap.push(entry.deadline, entry, new=True)

    def on_remove(self, entry: Entry, cause: Removal) -> None:
        if entry.deadline is not None:
            self.heap.discard(entry)

    def on_ttl_change(self, entry: Entry, previous: float | None) -> None:
        if entry.deadline is None:
            self.heap.discard(entry)
        else:
            self.heap.push(entry.deadline, entry, new=previous is None)
