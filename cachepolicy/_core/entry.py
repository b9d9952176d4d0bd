"""One cached key (:class:`Entry`), the recency stamp and the per-build cost model.

Compiled, ``Entry`` is a native class declared *acyclic*: it holds only strings, bytes and
numbers, so it carries no garbage-collector header and is never walked by the cyclic GC. A
cache churning through a million entries therefore gives the collector nothing to do, which is
what the earlier entry-recycling workaround tried to achieve by hand.
"""

from __future__ import annotations

import itertools
import struct
import sys
from typing import Any, Final

from mypy_extensions import mypyc_attr

__all__ = [
    "ASCII_STR_BASE",
    "ATOMIC_NATIVE_UPDATES",
    "BYTES_BASE",
    "COMPILED",
    "DEAD_ENTRY_OVERHEAD",
    "ENTRY_OVERHEAD",
    "RELEASED",
    "SLOT_OVERHEAD",
    "TTL_OVERHEAD",
    "TTL_SLOT_OVERHEAD",
    "Entry",
    "append_growth",
    "list_capacity",
    "stamp",
]

# Measured per build: see the cost model at the end of this module.
ENTRY_OVERHEAD_COMPILED: Final = 129
ENTRY_OVERHEAD_PURE: Final = 223

#: True when this module is a mypyc extension (the compiled build), False for plain Python.
COMPILED: Final = not __file__.endswith((".py", ".pyc"))

#: The payload of an entry that left the cache (compared by identity, never a real value): a
#: lock-free reader that raced the removal sees it and reports a miss.
RELEASED: Final = bytes(bytearray(b"\x00<released>"))

#: Whether ``obj.n += 1`` on an attribute of a compiled (native) class is atomic: compiled
#: code holds the GIL from the load to the store, because it never enters the interpreter's
#: eval loop in between (the only place a thread switch happens). Interpreted, a switch can
#: fall between the two; free-threaded Python has no GIL to hold. Counters bumped on the
#: lock-free read path use a plain native int when this is true (a few instructions) and an
#: ``itertools.count`` otherwise (``next()`` is one C call, atomic under the GIL, but it
#: allocates an int object per call).
ATOMIC_NATIVE_UPDATES: Final = COMPILED and bool(getattr(sys, "_is_gil_enabled", lambda: True)())


class AccessSequence:
    """A counter bumped without a lock (see :data:`ATOMIC_NATIVE_UPDATES`): ``last`` is the
    last number handed out when native updates are atomic, else ``count`` hands them out."""

    __slots__ = ("count", "last")

    def __init__(self) -> None:
        self.last = 0
        self.count = itertools.count(1)


#: The process-wide access sequence of the recency stamp. Lock-free readers never hand out a
#: number twice; a sequence never ties (Redis's 1-second LRU clock does, spec §5) and does not
#: depend on "now", so a score frozen in the eviction pool stays comparable with later ones.
ACCESS_SEQUENCE: Final = AccessSequence()
_ACCESS_COUNT: Final = ACCESS_SEQUENCE.count  # one global lookup for the interpreted stamp


@mypyc_attr(acyclic=True)
class Entry:
    """One cached key.

    ``payload`` is the serialized value: storing bytes makes the size exact and immune to the
    caller mutating the object after ``set``. ``atime``/``aseq`` are the recency stamp (clock
    time for ``idletime``, the access sequence for tie-free order); ``lfu``/``ldt`` are Redis's
    logarithmic counter and its last-decrement time in minutes. ``pos``/``vpos`` are the
    entry's indexes in its keyspace's sampling arrays. ``version`` changes whenever an exact
    policy re-ranks the entry, so its heap can discard stale records lazily. ``slot`` is a
    float the eviction policy owns (a priority, a timestamp; 0.0 until it writes one).

    :attr:`alive` is true while the entry is in the cache. An entry that left is never
    reinserted: a policy holding one (in a pool, a heap) sees ``alive`` false and skips it.
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
        "slot",
        "version",
        "vpos",
    )

    def __init__(
        self, key: str, payload: bytes, size: int, deadline: float | None, db: int
    ) -> None:
        self.key = key
        self.payload = payload
        self.size = size
        self.deadline = deadline
        self.db = db
        self.atime = 0.0
        self.aseq = 0
        self.lfu = 0
        self.ldt = 0
        self.pos = -1
        self.vpos = -1
        self.version = 0
        self.slot = 0.0

    @property
    def alive(self) -> bool:
        """Whether the entry is in the cache (it leaves once, and is never put back)."""
        return self.pos >= 0

    def __repr__(self) -> str:
        return f"<Entry db={self.db} key={self.key!r} size={self.size} deadline={self.deadline}>"


def stamp(entry: Entry, now: float) -> None:
    """The recency stamp: what every policy that records accesses records on insert and access
    (the LFU ones after their counter; Redis keeps the LRU field for the others, so
    ``idletime()`` works): the clock time and the next number of the access sequence."""
    entry.atime = now
    if ATOMIC_NATIVE_UPDATES:
        sequence = ACCESS_SEQUENCE
        sequence.last += 1
        entry.aseq = sequence.last
    else:
        entry.aseq = next(_ACCESS_COUNT)


# ---------------------------------------------------------------------------------- cost model
#
# ``used_memory`` is the sum over entries of sys.getsizeof(key) + sys.getsizeof(payload) + a
# fixed per-entry overhead, plus the measured size of the containers (the keyspace dicts and
# sampling lists, counted by the engine as they grow, not per entry). The overhead is what the
# cache holds for an entry beyond its key and value objects and its container slots: the Entry
# object itself and, in the pure build, the int and float objects of its numbers (a compiled
# Entry stores them unboxed and has no GC header). Each build has its own figures, measured
# with tracemalloc over 50,000 entries of mixed sizes; tests/core/test_sizing.py fails if they
# drift by more than 5 %.

#: sys.getsizeof() of an exact ASCII str and of exact bytes is a fixed header plus the length.
ASCII_STR_BASE: Final = sys.getsizeof("")
BYTES_BASE: Final = sys.getsizeof(b"")

#: Bytes per entry beyond key and payload objects and container slots (see above).
ENTRY_OVERHEAD: Final = ENTRY_OVERHEAD_COMPILED if COMPILED else ENTRY_OVERHEAD_PURE
#: Extra bytes for an entry with a TTL: the deadline float object (24 B) and, pure, the boxed
#: ``vpos``. The TTL sampling array's slot is a container (measured, not modelled).
TTL_OVERHEAD: Final = 24 if COMPILED else 24 + 28
#: Extra bytes for an entry under an LFU policy (``access = Access.LFU``): pure, the boxed
#: last-decrement minute ``ldt`` (28 B), where other policies leave it at the shared 0 (the
#: boxed ``aseq`` of the recency stamp, which LFU records too, is in ENTRY_OVERHEAD). A
#: compiled entry stores both unboxed.
LFU_OVERHEAD: Final = 0 if COMPILED else 28
#: Extra bytes for an entry under a policy that stores floats in ``Entry.slot``
#: (``uses_slot``): pure, the float object (24 B; 0.0 is one shared constant until then). A
#: compiled entry stores it unboxed (its 8 B are in ENTRY_OVERHEAD).
SLOT_OVERHEAD: Final = 0 if COMPILED else 24
#: The part of TTL_OVERHEAD that only a store with a TTL sampling array pays (its ``vpos``).
TTL_SLOT_OVERHEAD: Final = 0 if COMPILED else 28
#: Bytes a removed entry still holds while an index record points at it, beyond its key: the
#: entry object and its numbers (its value is released at once; the deadline float is the
#: record's own).
DEAD_ENTRY_OVERHEAD: Final = ENTRY_OVERHEAD


#: A list's bytes are sys.getsizeof([]) plus one pointer per allocated slot.
EMPTY_LIST: Final = sys.getsizeof([])
POINTER: Final = struct.calcsize("P")


def list_capacity(array: list[Any]) -> int:
    """How many items ``array`` has room for before its next reallocation."""
    return (sys.getsizeof(array) - EMPTY_LIST) // POINTER


def append_growth(array: list[Any]) -> int:
    """Bytes one ``append`` to ``array`` will allocate: none while it has room, else CPython's
    over-allocation step (``list_resize``: the new length plus an eighth plus 6, rounded down
    to a multiple of 4). Lets a write whose growth cannot be evicted for be refused before it
    changes anything (the engine's ``_ttl_growth``)."""
    length = len(array)
    capacity = list_capacity(array)
    if length < capacity:
        return 0
    grown = length + 1
    return (((grown + (grown >> 3) + 6) & ~3) - capacity) * POINTER
