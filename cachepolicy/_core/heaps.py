"""A binary min-heap of entries with lazily discarded stale records (exact eviction modes).

Re-ranking an entry pushes a new record and bumps ``entry.version``; a record whose version is
not the entry's current one, or whose entry left the cache, is stale and is dropped when it
reaches the top. So a re-rank is one O(log n) push and a removal is O(1), instead of searching
the heap. Stale records are bounded: when they outnumber the live ones (plus a slack) the heap
is rebuilt from its current records, O(n) amortised over n/8 re-ranks.

Used by exact LFU (ranked by the decayed-counter rank, which reads only ever raise: it re-files
a top entry whose rank grew instead of pushing on every read) and exact TTL (ranked by
deadline); an entry is in at most one such heap, since a cache has one policy.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from typing import Final

from .entry import Entry

__all__ = ["HEAP_SLACK", "HEAP_STALE_SHARE", "LazyHeap"]

#: Rebuild once records exceed the live entries by an eighth of them plus this many: stale
#: records then cost at most an eighth more per entry (the policies' ``metadata_overhead`` is
#: stated at that bound), for about 8 record checks per push, amortised.
HEAP_SLACK: Final = 64
HEAP_STALE_SHARE: Final = 8


class LazyHeap:
    """Entries by ascending rank; ties go to the earlier push."""

    def __init__(self) -> None:
        self.records: list[tuple[float, int, int, Entry]] = []
        self._seq = 0
        #: Entries with a current record.
        self.live = 0

    def push(self, rank: float, entry: Entry, *, new: bool, order: int = -1) -> None:
        """File ``entry`` at ``rank`` (``new``: it had no current record before). Equal ranks
        go by ``order`` (ascending), or by push order when it is not given (negative)."""
        if new:
            self.live += 1
        entry.version += 1
        if order < 0:
            self._seq += 1
            order = self._seq
        heapq.heappush(self.records, (rank, order, entry.version, entry))
        if len(self.records) > self.live + self.live // HEAP_STALE_SHARE + HEAP_SLACK:
            self.records = [record for record in self.records if _current(record)]
            heapq.heapify(self.records)

    def discard(self, entry: Entry) -> None:
        """``entry`` leaves the heap (its records become stale)."""
        self.live -= 1
        entry.version += 1

    def top(self) -> Entry | None:
        """The lowest-ranked current entry (left in the heap), or None when empty."""
        records = self.records
        while records:
            record = records[0]
            if _current(record):
                return record[3]
            heapq.heappop(records)
        return None

    def top_refiled(self, rank: Callable[[Entry], float]) -> Entry | None:
        """:meth:`top`, for a heap filed with ``order=entry.aseq`` whose ranks an access can
        only raise (exact LFU): a top entry accessed since it was filed (its ``aseq`` moved)
        is re-filed at ``rank(entry)`` and the top looked at again, so the result is the entry
        a push on every access would give. O(log n) per re-file."""
        records = self.records
        refiles = len(records)  # a bound against readers that keep touching the top
        while records:
            record = records[0]
            entry = record[3]
            if not _current(record):
                heapq.heappop(records)
            elif entry.aseq == record[1] or refiles <= 0:
                return entry
            else:
                refiles -= 1
                heapq.heapreplace(records, (rank(entry), entry.aseq, record[2], entry))
        return None

    def clear(self) -> None:
        self.records.clear()
        self.live = 0

    def check(self, expected: int, what: str) -> list[str]:
        current = {id(record[3]) for record in self.records if _current(record)}
        problems: list[str] = []
        if len(current) != expected or self.live != expected:
            problems.append(
                f"{what} heap ranks {len(current)} entries (counter {self.live}), "
                f"expected {expected}"
            )
        return problems


def _current(record: tuple[float, int, int, Entry]) -> bool:
    entry = record[3]
    return entry.pos >= 0 and entry.version == record[2]
