"""One numbered database (Redis's per-database ``dict`` + ``expires`` pair).

A :class:`Keyspace` maps key -> :class:`~.entry.Entry` and keeps two dense arrays of entries,
one of all keys and one of keys with a TTL, so that a uniformly random key can be drawn in
O(1): a dict alone cannot do that (Redis walks hash buckets instead, which correlates its
samples, spec §12.4). Removal swaps the removed entry with the last element, so every operation
stays O(1).

This is the only code that writes the sampling arrays and the per-database counters. Locking,
the budget, events and hooks belong to the engine.
"""

from __future__ import annotations

import sys
from random import Random
from typing import Final

from .entry import Entry, append_growth, list_capacity

__all__ = ["RANDOM_INDEX_BITS", "Keyspace"]

#: Random array positions are drawn as ``rng.getrandbits(RANDOM_INDEX_BITS) % size``: uniform
#: to within ``size / 2**48`` (4e-9 at a million keys) and cheaper than
#: ``int(rng.random() * size)``.
RANDOM_INDEX_BITS: Final = 48


class Keyspace:
    """key -> entry, with O(1) uniform sampling of all keys and, when ``index_volatile``, of
    the keys that have a TTL.

    The TTL sampling array is kept only for the consumers that sample TTL keys (``volatile-*``
    policies, ``active`` expiry): for everyone else it is a second array to append to and
    swap-remove from on every write and eviction, for nothing. Without it, the count and bytes
    of TTL keys are still kept, and :meth:`volatile_entries` scans the dict.
    """

    def __init__(self, db: int, index_volatile: bool = True) -> None:
        self.db = db
        self.data: dict[str, Entry] = {}
        self.entries: list[Entry] = []
        self.volatile: list[Entry] = []
        self.index_volatile = index_volatile
        self.memory = 0
        #: Number of keys carrying a TTL (Redis's ``expires`` dict size).
        self.volatile_count = 0
        self.volatile_memory = 0
        #: The most keys held since the containers were last measured (see the engine's
        #: ``measure_structures``) and what they measured then beyond empty.
        self.high_water = 0
        self.measured = 0
        #: ``data.__sizeof__()`` at the last measure: compared after every write, since a
        #: dict can rebuild a bigger table at a constant key count (deleted slots fill it).
        #: (``__sizeof__`` directly: ``sys.getsizeof`` only adds the constant GC header, at
        #: twice the cost.)
        self.dict_measured = self.data.__sizeof__()
        #: The sampling list's capacity at the last measure: a CPython list grows its
        #: allocation only when appending past it, so while ``len(entries) <= entries_room``
        #: it has not grown and the engine needs no ``sys.getsizeof`` call per write to know
        #: it. A list reallocates smaller only when it falls below half its allocation: the
        #: room is re-read then (the bytes counted stay the larger ones until the next
        #: measure: an overcount, never an undercount).
        self.entries_room = 0
        #: The same for the TTL sampling list.
        self.volatile_room = 0
        #: The three measures above as they were before the last write that changed them
        #: (:meth:`remember_tables`).
        self.undo_dict = self.dict_measured
        self.undo_entries = 0
        self.undo_volatile = 0

    def __len__(self) -> int:
        return len(self.data)

    def volatile_entries(self) -> list[Entry]:
        """The entries that have a TTL. With the index, the live array (do not mutate it);
        without, a snapshot made by scanning every entry (O(n): for rare paths only)."""
        if self.index_volatile:
            return self.volatile
        return [entry for entry in self.entries if entry.deadline is not None]

    def all_entries(self) -> list[Entry]:
        """Every entry. The list is live: do not mutate it."""
        return self.entries

    def candidates(self, volatile: bool) -> list[Entry]:
        """The live sampling array of all keys, or of keys with a TTL. Do not mutate it."""
        if not volatile:
            return self.entries
        if not self.index_volatile:
            raise RuntimeError(
                f"database {self.db} keeps no TTL sampling index: the engine builds it only "
                "for volatile-* policies and expiry strategies that sample TTL keys "
                "(uses_ttl_index)"
            )
        return self.volatile

    def insert(self, entry: Entry) -> None:
        """Add an entry whose key is not present."""
        self.data[entry.key] = entry
        entry.pos = len(self.entries)
        self.entries.append(entry)
        self.memory += entry.size
        if entry.deadline is not None:
            self._add_volatile(entry)

    def remove(self, entry: Entry) -> None:
        """Remove an entry that is present (the exact object stored under its key)."""
        del self.data[entry.key]
        entries = self.entries
        last = entries.pop()
        pos = entry.pos
        if last is not entry:
            entries[pos] = last
            last.pos = pos
        entry.pos = -1
        if len(entries) < self.entries_room >> 1:
            # CPython reallocated it smaller (a list shrinks below half its allocation): note
            # the smaller room, or a regrowth up to the old one would go unmeasured.
            self.entries_room = list_capacity(entries)
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

    def random_entry(self, rng: Random, volatile: bool) -> Entry | None:
        """A uniformly random entry (of the volatile keys if ``volatile``), or None if empty."""
        pool = self.candidates(volatile)
        if not pool:
            return None
        return pool[rng.getrandbits(RANDOM_INDEX_BITS) % len(pool)]

    def sample(self, rng: Random, count: int, volatile: bool) -> list[Entry]:
        """``count`` entries drawn uniformly with replacement (all of them if fewer exist)."""
        pool = self.candidates(volatile)
        size = len(pool)
        if size <= count:
            return list(pool)
        return [pool[rng.getrandbits(RANDOM_INDEX_BITS) % size] for _ in range(count)]

    def note_entries_capacity(self) -> None:
        """Record the sampling lists' capacities (see :attr:`entries_room`)."""
        self.entries_room = list_capacity(self.entries)
        self.volatile_room = list_capacity(self.volatile)

    def remeasure(self, empty: int) -> int:
        """Measure the containers again (the ledger's call): their bytes beyond ``empty``, an
        empty keyspace's, become :attr:`measured`; returns the change."""
        measured = self.container_bytes() - empty
        change = measured - self.measured
        self.measured = measured
        self.high_water = len(self.data)
        self.dict_measured = self.data.__sizeof__()
        self.note_entries_capacity()
        return change

    def lists_outgrown(self) -> bool:
        """Whether a sampling list has grown past the capacity last measured."""
        return len(self.entries) > self.entries_room or len(self.volatile) > self.volatile_room

    def ttl_growth(self) -> int:
        """Bytes the TTL sampling list grows by when one more key gets a TTL."""
        return append_growth(self.volatile) if self.index_volatile else 0

    def remember_tables(self) -> None:
        """Note the tables' sizes before a write's growth is measured, for
        :meth:`give_back_growth`."""
        self.undo_dict = self.dict_measured
        self.undo_entries = self.entries_room
        self.undo_volatile = self.volatile_room

    def give_back_growth(self) -> None:
        """Undo what one refused new key made the tables grow by, once it has been removed
        again: a dict keeps the bigger table it rebuilt for the insert (and ``dict(d)`` may
        clone that table as it is), a list the capacity it over-allocated. Compared with the
        sizes :meth:`remember_tables` noted before the write, each table is rebuilt only if it
        grew: a dict filled pair by pair and a list copy are never bigger than the tables that
        held the same keys before (O(n), only at a growth step, not per refusal)."""
        if self.data.__sizeof__() > self.undo_dict:
            self.data = dict(self.data.items())  # filled pair by pair: never a table clone
        if list_capacity(self.entries) > self.undo_entries:
            self.entries = self.entries[:]
        if list_capacity(self.volatile) > self.undo_volatile:
            self.volatile = self.volatile[:]

    def set_index_volatile(self, index_volatile: bool) -> None:
        """Build or drop the TTL sampling array (a policy switch changed who samples TTL
        keys); the counts and bytes of TTL keys are kept either way."""
        if index_volatile == self.index_volatile:
            return
        self.index_volatile = index_volatile
        self.volatile = []
        for entry in self.entries:
            entry.vpos = -1
            if index_volatile and entry.deadline is not None:
                entry.vpos = len(self.volatile)
                self.volatile.append(entry)

    def container_bytes(self) -> int:
        """What this database's dict and sampling arrays allocate (``sys.getsizeof``)."""
        return sys.getsizeof(self.data) + sys.getsizeof(self.entries) + sys.getsizeof(self.volatile)

    def shrink_tables(self) -> None:
        """Give back table space after many deletions: a dict keeps its table when its keys
        are deleted one by one, so it is rebuilt at its current size (a new dict object: the
        engine refreshes its reference to it). Lists shrink by themselves."""
        if self.data:
            self.data = dict(self.data)
        else:
            self.data.clear()

    def clear(self) -> list[Entry]:
        """Empty the keyspace and return the removed entries (containers emptied in place)."""
        removed = self.entries[:]
        self.data.clear()
        self.entries.clear()
        self.volatile.clear()
        self.memory = 0
        self.volatile_count = 0
        self.volatile_memory = 0
        for entry in removed:
            entry.pos = -1
            entry.vpos = -1
        return removed

    def _add_volatile(self, entry: Entry) -> None:
        """Count an entry that has (just got) a TTL, and index it if TTL keys are sampled."""
        self.volatile_count += 1
        self.volatile_memory += entry.size
        if self.index_volatile:
            entry.vpos = len(self.volatile)
            self.volatile.append(entry)

    def _remove_volatile(self, entry: Entry) -> None:
        """Uncount an entry that had a TTL, swap-removing it from the index if it is there."""
        self.volatile_count -= 1
        self.volatile_memory -= entry.size
        vpos = entry.vpos
        if vpos >= 0:
            volatile = self.volatile
            last = volatile.pop()
            if last is not entry:
                volatile[vpos] = last
                last.vpos = vpos
            entry.vpos = -1
            if len(volatile) < self.volatile_room >> 1:  # reallocated smaller (see remove)
                self.volatile_room = list_capacity(volatile)

    def check(self) -> list[str]:
        """Recount this database's structures; every inconsistency found (empty if healthy).
        Entry sizes are checked by the engine, which owns the cost model."""
        problems: list[str] = []
        where = f"db{self.db}"
        entries = self.entries
        if len(entries) != len(self.data):
            problems.append(f"{where}: sampling array has {len(entries)} of {len(self.data)}")
        memory = volatile_memory = volatile = 0
        for key, entry in self.data.items():
            if entry.key != key or entry.db != self.db:
                problems.append(f"{where}: entry {entry!r} filed under {key!r}")
            if not (0 <= entry.pos < len(entries)) or entries[entry.pos] is not entry:
                problems.append(f"{where}: key {key!r} has a wrong sampling position")
            memory += entry.size
            if entry.deadline is not None:
                volatile += 1
                volatile_memory += entry.size
                vpos = entry.vpos
                if not self.index_volatile:
                    if vpos != -1:
                        problems.append(f"{where}: key {key!r} has a TTL index slot, no index")
                elif not (0 <= vpos < len(self.volatile)) or self.volatile[vpos] is not entry:
                    problems.append(f"{where}: key {key!r} missing from the TTL index")
            elif entry.vpos != -1:
                problems.append(f"{where}: key {key!r} has no TTL but is in the TTL index")
        if memory != self.memory:
            problems.append(f"{where}: memory counter {self.memory} != sum {memory}")
        if self.index_volatile and len(self.volatile) != volatile:
            problems.append(f"{where}: TTL index has {len(self.volatile)} of {volatile}")
        if volatile != self.volatile_count:
            problems.append(f"{where}: TTL count is {self.volatile_count}, {volatile} expected")
        if volatile_memory != self.volatile_memory:
            problems.append(
                f"{where}: volatile memory {self.volatile_memory} != sum {volatile_memory}"
            )
        return problems
