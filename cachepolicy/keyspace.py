"""Entries and keyspaces (Redis's per-database ``dict`` + ``expires`` pair).

A :class:`Keyspace` maps key -> :class:`Entry` and keeps two dense arrays of entries, one of all
keys and one of keys with a TTL, so that a uniformly random key can be drawn in O(1): a dict
alone cannot do that (Redis walks hash buckets instead, which correlates its samples, spec
§12.4). Removal swaps the removed entry with the last element, so every operation stays O(1).

The keyspace does bookkeeping only. Locking, accounting against ``maxmemory``, events and policy
hooks belong to :class:`cachepolicy.store.CacheStore`.
"""

from __future__ import annotations

import sys
from random import Random

__all__ = [
    "ENTRY_RECYCLING",
    "RANDOM_INDEX_BITS",
    "SPARE_ENTRIES_MAX",
    "Entry",
    "Keyspace",
    "keep_spares",
]

#: Random array positions are drawn as ``rng.getrandbits(RANDOM_INDEX_BITS) % size``: uniform
#: to within ``size / 2**48`` (4e-9 at a million keys) and about 40 % cheaper than
#: ``int(rng.random() * size)``, which matters because every eviction draws ``samples`` of them.
RANDOM_INDEX_BITS = 48


class Entry:
    """One cached key.

    ``payload`` is the serialized value: storing bytes makes the size exact and immune to the
    caller mutating the object after ``set``. ``atime``/``aseq`` are the LRU stamp (wall time for
    ``idletime``, a global access sequence number for tie-free recency order); ``lfu``/``ldt``
    are Redis's logarithmic counter and its last-decrement time in minutes. ``pos``/``vpos`` are
    the entry's indexes in its keyspace's sampling arrays (-1 when absent). ``version`` changes
    whenever the entry's rank changes, so exact-mode heaps can discard stale records lazily.

    A removed entry may later be re-initialised for another key (:func:`keep_spares`), but only
    once nothing references it: whoever holds an entry sees it keep its old key, with ``pos``
    -1 once it has left the cache.
    """

    __slots__ = (
        "aseq",
        "atime",
        "db",
        "deadline",
        "key",
        "ldt",
        "lfu",
        "payload",
        "pos",
        "size",
        "version",
        "vpos",
    )

    def __init__(
        self,
        key: str,
        payload: bytes,
        size: int,
        deadline: float | None,
        db: int,
        pos: int = -1,
        vpos: int = -1,
        atime: float = 0.0,
        aseq: int = 0,
    ):
        # pos/vpos/atime/aseq can be given at once: the store's write path knows them already.
        self.key = key
        self.payload = payload
        self.size = size
        self.deadline = deadline
        self.db = db
        self.atime = atime
        self.aseq = aseq
        self.lfu = 0
        self.ldt = 0
        self.pos = pos
        self.vpos = vpos
        self.version = 0

    def __repr__(self) -> str:
        return f"<Entry db={self.db} key={self.key!r} size={self.size} deadline={self.deadline}>"


def _sole_reference_count() -> int:
    """What ``sys.getrefcount`` reports for an object held by one local variable only."""
    probe = Entry("", b"", 0, None, 0)
    return sys.getrefcount(probe)


#: Whether removed entries are reused for new keys (see :func:`keep_spares`). Reuse is decided
#: by reference count, which is exact only on CPython with the GIL: the free-threaded build
#: defers reference counts, and CPython 3.14 may pass a local to ``getrefcount`` as a borrowed
#: reference, so both (and other interpreters) simply allocate every entry.
ENTRY_RECYCLING = (
    sys.implementation.name == "cpython"
    and sys.version_info < (3, 14)
    and getattr(sys, "_is_gil_enabled", lambda: True)()
    and _sole_reference_count() == 2
)

#: At most this many spare entries are kept per store (about 128 bytes each, 1 MiB in all).
SPARE_ENTRIES_MAX = 8192


def keep_spares(removed: list[Entry], spares: list[Entry]) -> None:
    """Move the entries of ``removed`` that nothing else references into ``spares`` (lock
    held), emptying ``removed``.

    Why: every entry is an object the cyclic garbage collector tracks, so a cache that evicts
    or expires as fast as it is written allocates one tracked object per write, and the
    collections those allocations trigger walk the whole cache again and again (over a tenth
    of a Django write under eviction pressure). A new key takes a spare entry instead
    (re-initialised in full), so steady churn allocates nothing.

    Safety: an entry is reused only when the reference count shows that ``removed`` was its
    last holder, checked under the store lock with the GIL held. Anything else that still
    holds it (an index's left-over record, the eviction pool, an event being delivered, a
    lock-free reader that just fetched it, user code) keeps it out of ``spares``, so a reused
    entry can never be seen under its old identity. Entries must already be out of their
    keyspace (``pos < 0``).
    """
    if not ENTRY_RECYCLING:
        removed.clear()
        return
    room = SPARE_ENTRIES_MAX - len(spares)
    refcount = sys.getrefcount
    while removed and room > 0:
        entry = removed.pop()
        # Two references: ``entry`` and getrefcount's own argument.
        if refcount(entry) == 2 and entry.pos < 0:
            entry.key = ""  # release the key string now; the payload is already RELEASED
            spares.append(entry)
            room -= 1
    removed.clear()


class Keyspace:
    """One numbered database: key -> entry, with O(1) uniform sampling of all keys and,
    when ``index_volatile``, of the keys that have a TTL.

    The TTL sampling array is kept only for the consumers that sample TTL keys (``volatile-*``
    policies, ``active`` expiry): for everyone else it is a second array to append to and
    swap-remove from on every write and eviction, for nothing. Without it, the count and bytes
    of TTL keys are still kept (``volatile_count``, ``volatile_memory``), and
    :meth:`volatile_entries` scans the dict.
    """

    __slots__ = (
        "_all",
        "_volatile",
        "data",
        "db",
        "index_volatile",
        "memory",
        "volatile_count",
        "volatile_memory",
    )

    def __init__(self, db: int, index_volatile: bool = True) -> None:
        self.db = db
        self.data: dict[str, Entry] = {}
        self._all: list[Entry] = []
        self._volatile: list[Entry] = []
        self.index_volatile = index_volatile
        self.memory = 0
        #: Number of keys carrying a TTL (Redis's ``expires`` dict size).
        self.volatile_count = 0
        self.volatile_memory = 0

    def __len__(self) -> int:
        return len(self.data)

    def volatile_entries(self) -> list[Entry]:
        """The entries that have a TTL. With the index, the live array (do not mutate it);
        without, a snapshot made by scanning every entry (O(n): for rare paths only)."""
        if self.index_volatile:
            return self._volatile
        return [entry for entry in self._all if entry.deadline is not None]

    def all_entries(self) -> list[Entry]:
        """Every entry. The list is live: do not mutate it."""
        return self._all

    def _ttl_index(self) -> list[Entry]:
        if not self.index_volatile:
            raise RuntimeError(
                f"database {self.db} keeps no TTL sampling index: the store builds it only "
                "for volatile-* policies and expiry strategies that sample TTL keys "
                "(uses_ttl_index)"
            )
        return self._volatile

    def insert(self, entry: Entry) -> None:
        """Add an entry whose key is not present."""
        self.data[entry.key] = entry
        entry.pos = len(self._all)
        self._all.append(entry)
        self.memory += entry.size
        if entry.deadline is not None:
            self._add_volatile(entry)

    def remove(self, entry: Entry) -> None:
        """Remove an entry that is present (the exact object stored under its key)."""
        del self.data[entry.key]
        # Swap-remove from the dense array, written out: this runs for every eviction.
        items = self._all
        last = items.pop()
        if last is not entry:
            items[entry.pos] = last
            last.pos = entry.pos
        entry.pos = -1
        self.memory -= entry.size
        if entry.deadline is not None:
            self._remove_volatile(entry)

    def resize(self, entry: Entry, new_size: int) -> None:
        """Record that ``entry`` now costs ``new_size`` bytes."""
        delta = new_size - entry.size
        entry.size = new_size
        self.memory += delta
        if entry.deadline is not None:
            self.volatile_memory += delta

    def set_deadline(self, entry: Entry, deadline: float | None) -> None:
        """Change an entry's deadline, moving it in or out of the TTL keys."""
        previous = entry.deadline
        entry.deadline = deadline
        if deadline is None and previous is not None:
            self._remove_volatile(entry)
        elif deadline is not None and previous is None:
            self._add_volatile(entry)

    def candidates(self, volatile: bool) -> list[Entry]:
        """The live sampling array of all keys, or of keys with a TTL. Do not mutate it."""
        return self._ttl_index() if volatile else self._all

    def random_entry(self, rng: Random, volatile: bool) -> Entry | None:
        """A uniformly random entry (of the volatile keys if ``volatile``), or None if empty."""
        pool = self._ttl_index() if volatile else self._all
        if not pool:
            return None
        return pool[rng.getrandbits(RANDOM_INDEX_BITS) % len(pool)]

    def sample(self, rng: Random, count: int, volatile: bool) -> list[Entry]:
        """``count`` entries drawn uniformly with replacement (all of them if fewer exist)."""
        pool = self._ttl_index() if volatile else self._all
        size = len(pool)
        if size <= count:
            return list(pool)
        bits = rng.getrandbits
        return [pool[bits(RANDOM_INDEX_BITS) % size] for _ in range(count)]

    def clear(self) -> list[Entry]:
        """Empty the keyspace and return the removed entries.

        The dict and the sampling arrays are emptied in place: the store's read and write
        paths hold direct references to them.
        """
        removed = self._all[:]
        self.data.clear()
        self._all.clear()
        self._volatile.clear()
        self.memory = 0
        self.volatile_count = 0
        self.volatile_memory = 0
        for entry in removed:
            entry.pos = entry.vpos = -1
        return removed

    def _add_volatile(self, entry: Entry) -> None:
        """Count an entry that has (just got) a TTL, and index it if TTL keys are sampled."""
        self.volatile_count += 1
        self.volatile_memory += entry.size
        if self.index_volatile:
            volatile = self._volatile
            entry.vpos = len(volatile)
            volatile.append(entry)

    def _remove_volatile(self, entry: Entry) -> None:
        """Uncount an entry that had a TTL, swap-removing it from the index if it is there."""
        self.volatile_count -= 1
        self.volatile_memory -= entry.size
        vpos = entry.vpos
        if vpos >= 0:
            items = self._volatile
            last = items.pop()
            if last is not entry:
                items[vpos] = last
                last.vpos = vpos
            entry.vpos = -1
