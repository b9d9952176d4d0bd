"""The deadline index: "which keys are due?" in O(due keys), for the ``timed`` strategies.

Redis finds expired keys by scanning a cursor over *all* keys that have a TTL, so when most TTL
keys are far from due, a due key waits until the cursor happens to reach it: PR #15620 measured a
p50 lag of 89 s with 100,000 not-yet-due keys (spec §12.8). This index answers by looking at its
earliest record, whatever the number of keys not yet due.

Data structure. One index for all databases, in two parts:

* a *lane*: a FIFO of records whose deadlines never decrease, as two parallel lists (deadlines,
  entries) read from a moving head position, compacted when half of them are behind it (list
  operations are native in the compiled build; a deque's are method calls). A deadline not
  earlier than the lane's last one is appended in O(1).
  With one TTL for every key (Django's ``TIMEOUT``, Flask's ``CACHE_DEFAULT_TIMEOUT``) every new
  deadline is the latest so far, so usually the lane holds everything;
* a heap of ``(deadline, seq, entry)`` for deadlines that arrive out of order; ``seq`` breaks
  ties so entries are never compared.

Records are invalidated lazily: a deleted or evicted entry (``alive`` false) or one that lost its
TTL leaves its record behind; a deadline moved *later* pushes nothing (when the old record comes
up, the entry is re-filed at its current deadline); a deadline moved *earlier* files a new record.
Every live TTL key therefore has a record no later than its deadline (:meth:`check`).

Bound on what removed keys leave behind. The engine tells the index of every removal of a TTL
key (:meth:`forget`). Left-over records at the lane's head are dropped at once (with LRU-like
eviction and one TTL for all keys, the keys that leave are the oldest, which is where their
records are); when the forgotten records not yet dropped exceed :data:`STALE_SHARE` of the live
TTL keys plus :data:`STALE_SLACK`, the index is compacted: from the lane's front, or from its back
once a front pass kept four times what it dropped (a policy that evicts recent keys, as
W-TinyLFU refusing newcomers, leaves its records there). So at any moment the index holds at
most ``live / 16 + 64`` records of removed keys, each keeping a dead entry object and its key
alive: :attr:`DeadlineIndex.retained` counts those bytes and the engine adds them to
``used_memory`` until the records go, so they take budget instead of hiding outside it.
"""

from __future__ import annotations

import heapq
import math
import sys
from collections.abc import Callable
from typing import Any, Final

from .entry import DEAD_ENTRY_OVERHEAD, EMPTY_LIST, Entry, append_growth, list_capacity

#: What a popped lane slot is set to, so that the popped prefix keeps no entry alive.
_GONE: Final = Entry("", b"", 0, None, -1)
#: What a popped slot's deadline is set to. None, not a float: the compiled build inlines a
#: float constant and would box a fresh 24 B object into every freed slot (2,000 freed slots
#: held 48 kB that nothing counted). Slots before the head are never read.
_NO_DEADLINE: Final = None

__all__ = ["STALE_SHARE", "STALE_SLACK", "DeadlineIndex"]

#: Compact once forgotten records exceed live TTL keys / STALE_SHARE + STALE_SLACK. Every
#: compaction is O(records), so this trades the amortised cost (about STALE_SHARE record checks
#: per removal in the worst case, none when removals come at the lane's head) against the
#: budget the left-over records take: a dead record keeps its entry object and key, about half
#: a small entry's bytes, so at 16 they take at most about 4 % of the budget (32 cost a
#: pure-Python evicting write 13 % of its time in compactions; 8 took a tenth of the budget).
STALE_SHARE: Final = 16
#: Slack so that tiny caches do not compact on every removal (a small one: in a cache of a
#: thousand entries, 256 dead records took a fifth of the budget).
STALE_SLACK: Final = 64


def _schedules(deadline: float, entry: Entry) -> bool:
    """Whether a record still schedules its key: the entry is in the cache, has a TTL, and the
    record is not later than it (a later one was superseded by an earlier push)."""
    current = entry.deadline
    return entry.pos >= 0 and current is not None and deadline <= current


def _retains(entry: Entry) -> int:
    """Bytes a removed entry still holds while a record points at it: the entry object, its
    numbers and deadline, and its key (its value was released when it left)."""
    return entry.key.__sizeof__() + DEAD_ENTRY_OVERHEAD  # sys.getsizeof (no GC header), cheaper


#: One heap record beyond its list slot: the 3-tuple (64 B with its GC header) and the ``seq``
#: int (28 B); the deadline float is the entry's own.
HEAP_RECORD_BYTES: Final = 92


class DeadlineIndex:
    """Records of (deadline, entry), earliest first, for every key that has a TTL."""

    def __init__(self, wake: Callable[[float], None] | None = None) -> None:
        #: Called (lock held) with a new deadline earlier than :attr:`alarm`.
        self.wake = wake
        # Any, not float: the compiled build would unbox a float on the way in and box a fresh
        # one (24 B) per record; these hold the entries' own deadline objects.
        self.lane_deadlines: list[Any] = []
        self.lane_entries: list[Entry] = []
        #: Records before this position were popped (see :meth:`_advance`).
        self.head = 0
        self.heap: list[tuple[Any, int, Entry]] = []
        self._seq = 0
        #: Live TTL keys filed (the engine files every new TTL and forgets every lost one).
        self.live = 0
        #: Records of forgotten keys that may still be in the index.
        self.stale = 0
        #: Bytes that records of removed keys keep alive (their entries and keys): counted in
        #: ``used_memory`` by the engine until the records are dropped.
        self.retained = 0
        # The entry pop_due() last returned: its record is gone, so forgetting it (the
        # engine does when the strategy expires it) leaves nothing behind.
        self._popped: Entry | None = None
        #: When the strategy's next run is planned: a new deadline before it must wake it.
        self.alarm = math.inf
        self.compactions = 0
        #: Whether the next partial compaction starts at the lane's back (see
        #: :meth:`_compact_back`).
        self.from_back = False
        # What memory() last counted (see outgrown()).
        self._heap_counted = 0
        self._heap_room = 0
        self._lane_room = 0

    @property
    def records(self) -> int:
        """Records in the index, left-over ones included."""
        return len(self.lane_deadlines) - self.head + len(self.heap)

    def memory(self) -> int:
        """Bytes the index's own structures hold (its lists and heap records), beyond empty.
        Notes what it counted, for :meth:`outgrown`."""
        self._heap_counted = len(self.heap)
        self._lane_room = list_capacity(self.lane_entries)
        self._heap_room = list_capacity(self.heap)
        return (
            sys.getsizeof(self.lane_deadlines)
            + sys.getsizeof(self.lane_entries)
            + sys.getsizeof(self.heap)
            - 3 * EMPTY_LIST
            + len(self.heap) * HEAP_RECORD_BYTES
        )

    def _note_rooms(self) -> None:
        """Re-read the lists' capacities after they were replaced or reallocated smaller, so
        that :meth:`outgrown` sees a regrowth that stays below the room :meth:`memory` noted
        (the bytes counted stay the larger ones until then: an overcount, never an
        undercount)."""
        self._lane_room = list_capacity(self.lane_entries)
        self._heap_room = list_capacity(self.heap)

    def outgrown(self) -> bool:
        """Whether :meth:`memory` would count more than when it last ran: a heap record was
        added or dropped (92 B each), or a list appended past its capacity (a CPython list
        grows only then). Cheap enough to ask after every write, so that what a write files is
        counted by that write."""
        heap = len(self.heap)
        return (
            heap != self._heap_counted
            or heap > self._heap_room
            or len(self.lane_entries) > self._lane_room
        )

    def _advance(self) -> None:
        """Pop the lane's head record; drop the popped prefix once it is half the lane."""
        head = self.head
        self.lane_entries[head] = _GONE  # a popped slot must not keep its entry alive
        self.lane_deadlines[head] = _NO_DEADLINE
        self.head = head + 1
        self._trim()

    def _trim(self) -> None:
        """Give back the lane's popped prefix: all of it when the lane ran empty, else once it
        is a quarter of the lane and at least 256 slots (a memmove of the rest: amortised O(1)
        per popped record, and a freed slot costs 16 B of budget while it waits)."""
        head = self.head
        if head == len(self.lane_entries):
            self.lane_deadlines.clear()
            self.lane_entries.clear()
            self.head = 0
            self._note_rooms()
        elif head >= 256 and head * 4 >= len(self.lane_entries):
            del self.lane_deadlines[:head]
            del self.lane_entries[:head]
            self.head = 0
            self._note_rooms()

    # ------------------------------------------------------------------ filing (lock held)

    def file(self, entry: Entry, previous: float | None) -> None:
        """``entry`` got a deadline (``previous``: its old one, or None for a new TTL).
        A deadline earlier than :attr:`alarm` calls :attr:`wake`."""
        deadline = entry.deadline
        assert deadline is not None
        if previous is None:
            self.live += 1
        elif deadline >= previous:
            return  # the old record comes up first and re-files the entry
        else:
            self.stale += 1  # the old, later record is superseded
        deadlines = self.lane_deadlines
        # Filed behind a lane record still here: the strategy is already due no later than
        # that record (or held back by its rate limit), so there is no wake-up to move.
        behind_lane = len(deadlines) > self.head and deadline >= deadlines[-1]
        self._push(deadline, entry)
        if not behind_lane and deadline < self.alarm and self.wake is not None:
            self.wake(deadline)

    def filing_growth(self, deadline: float, previous: float | None) -> int:
        """Bytes :meth:`file` will add for a key whose deadline goes from ``previous`` to
        ``deadline``: a lane record (two list slots) or a heap record, or nothing for a
        deadline moved later."""
        if previous is not None and deadline >= previous:
            return 0
        deadlines = self.lane_deadlines
        if len(deadlines) <= self.head or deadline >= deadlines[-1]:
            return append_growth(deadlines) + append_growth(self.lane_entries)
        return append_growth(self.heap) + HEAP_RECORD_BYTES

    def _push(self, deadline: float, entry: Entry) -> None:
        """File a record at ``deadline`` (the entry's current one). The record shares the
        entry's own deadline object: a fresh float per record would cost 24 B more."""
        # Any, not float: a float-typed value is unboxed by the compiled build and boxed anew.
        shared: Any = entry.deadline
        deadlines = self.lane_deadlines
        if len(deadlines) <= self.head or deadline >= deadlines[-1]:
            deadlines.append(shared)
            self.lane_entries.append(entry)
        else:
            self._seq += 1
            heapq.heappush(self.heap, (shared, self._seq, entry))

    def forget(self, entry: Entry) -> None:
        """``entry`` left the cache or lost its TTL: its record is now left over (and, if the
        entry left, keeps it alive: :attr:`retained`)."""
        self.live -= 1
        if entry is self._popped:
            self._popped = None
            return
        self.stale += 1
        if entry.pos < 0:
            self.retained += _retains(entry)
        entries = self.lane_entries
        while self.head < len(entries):
            first = entries[self.head]
            if first.pos >= 0 and first.deadline is not None:
                break
            self._advance()
            self._dropped(first)
        bound = self.live // STALE_SHARE + STALE_SLACK
        if self.stale > bound:
            target = bound // 2
            done = self._compact_back(target) if self.from_back else self._compact_front(target)
            if not done:
                self.compact()

    def _compact_back(self, target: int) -> bool:
        """:meth:`_compact_front` from the lane's back: for a policy that evicts *recent* keys
        (W-TinyLFU refuses most newcomers a short window after they came), whose left-over
        records crowd the back of the lane behind the window's few live ones. The kept records
        close up in order at the end, and the lane is shorter by what was dropped."""
        deadlines, entries = self.lane_deadlines, self.lane_entries
        head = self.head
        position = len(entries)
        kept_deadlines: list[Any] = []
        kept_entries: list[Entry] = []
        while position > head and self.stale > target:
            position -= 1
            self._sift(position, kept_deadlines, kept_entries)
        self.compactions += 1
        # Back to the front once this end keeps more records than it drops.
        self.from_back = len(kept_entries) <= len(entries) - position - len(kept_entries)
        kept_deadlines.reverse()
        kept_entries.reverse()
        deadlines[position:] = kept_deadlines
        entries[position:] = kept_entries
        self._trim()
        self._note_rooms()  # the lists are shorter: CPython may have reallocated them
        return self.stale <= target

    def _compact_front(self, target: int) -> bool:
        """Drop left-over records from the front of the lane until at most ``target`` remain
        in the whole index; False if the lane ran out first (the rest are in the heap).

        Keys leave mostly where their records are oldest (eviction of old keys, one TTL for
        all), so a sampled policy's left-over records crowd the lane's front behind a few old
        keys it has not sampled yet: this pass costs the length of that crowded stretch, not
        of the index (a full :meth:`compact` on every bound crossing cost a Django write with
        a TTL a fifth of its instructions). The kept records move to the end of the scanned
        stretch, in order, and the head moves up to them."""
        deadlines, entries = self.lane_deadlines, self.lane_entries
        head = position = self.head
        end = len(entries)
        kept_deadlines: list[Any] = []
        kept_entries: list[Entry] = []
        while position < end and self.stale > target:
            self._sift(position, kept_deadlines, kept_entries)
            position += 1
        start = position - len(kept_entries)
        # A pass that keeps four times what it drops looked in the wrong place: the left-over
        # records are elsewhere, the back is tried next (W-TinyLFU's refusals of recent keys).
        self.from_back = len(kept_entries) > 4 * (start - head)
        deadlines[start:position] = kept_deadlines
        entries[start:position] = kept_entries
        for slot in range(head, start):  # the freed slots must not keep entries alive
            entries[slot] = _GONE
            deadlines[slot] = _NO_DEADLINE
        self.head = start
        self._trim()
        self.compactions += 1
        return self.stale <= target

    def _sift(self, position: int, kept_deadlines: list[Any], kept_entries: list[Entry]) -> None:
        """A partial compaction's step: keep the lane's record at ``position`` if it still
        schedules its key, else drop it."""
        entry = self.lane_entries[position]
        deadline = self.lane_deadlines[position]
        if _schedules(deadline, entry):
            kept_deadlines.append(deadline)
            kept_entries.append(entry)
        else:
            self._dropped(entry)

    def take_back(self, entry: Entry) -> None:
        """A write of ``entry`` (a new key, just filed and forgotten) was refused: drop its
        record and reallocate the lists at their length, so the index holds nothing more than
        before the write (O(records): for refusals only)."""
        dropped = False
        if len(self.lane_entries) > self.head and self.lane_entries[-1] is entry:
            self.lane_entries.pop()
            self.lane_deadlines.pop()
            dropped = True
        else:
            kept = [record for record in self.heap if record[2] is not entry]
            if len(kept) < len(self.heap):
                heapq.heapify(kept)
                self.heap = kept
                dropped = True
        if dropped:
            self._dropped(entry)
        self.lane_deadlines = self.lane_deadlines[self.head :]
        self.lane_entries = self.lane_entries[self.head :]
        self.head = 0
        self.heap = self.heap[:]
        self._note_rooms()

    def _dropped(self, entry: Entry) -> None:
        """A left-over record of ``entry`` was dropped."""
        if self.stale > 0:
            self.stale -= 1
        if entry.pos < 0:
            retained = self.retained - _retains(entry)
            self.retained = retained if retained > 0 else 0  # not max(): a generic call

    def forget_all(self, count: int) -> None:
        """``count`` TTL keys left at once (a flushed database): one compaction, so that no
        record keeps a flushed entry alive."""
        self.live -= count
        self.compact()

    def clear(self) -> None:
        self.lane_deadlines.clear()
        self.lane_entries.clear()
        self.head = 0
        self.retained = 0
        self._popped = None
        self.heap.clear()
        self.live = 0
        self.stale = 0
        self._note_rooms()

    # ------------------------------------------------------------------ reclaiming (lock held)

    def next_deadline(self) -> float | None:
        """The earliest record's deadline (possibly a left-over one), or None."""
        deadlines, heap, head = self.lane_deadlines, self.heap, self.head
        if len(deadlines) > head and (not heap or deadlines[head] <= heap[0][0]):
            earliest: float = deadlines[head]
            return earliest
        if heap:
            top: float = heap[0][0]
            return top
        return None

    def pop_due(self, now: float) -> Entry | None:
        """The next live entry due at ``now`` (``now > deadline``), its record removed; None
        when nothing is due. Left-over records met on the way are dropped, and an entry whose
        deadline was extended is re-filed at its current deadline."""
        heap = self.heap
        while True:
            deadlines, head = self.lane_deadlines, self.head
            if (
                len(deadlines) > head
                and deadlines[head] < now
                and (not heap or deadlines[head] <= heap[0][0])
            ):
                entry = self.lane_entries[head]
                self._advance()
            elif heap and heap[0][0] < now:
                entry = heapq.heappop(heap)[2]
                if len(heap) < self._heap_room >> 1:  # reallocated smaller
                    self._note_rooms()
            else:
                return None
            deadline = entry.deadline
            if entry.pos < 0 or deadline is None:
                self._dropped(entry)
                continue
            if now > deadline:
                self._popped = entry
                return entry
            self._push(deadline, entry)  # extended since it was filed

    def compact(self) -> None:
        """Drop the records of removed keys, of keys without a TTL, and records later than
        their key's deadline, keeping the lane's order (O(records))."""
        lane_deadlines: list[Any] = []
        lane_entries: list[Entry] = []
        deadlines, entries = self.lane_deadlines, self.lane_entries
        for index in range(self.head, len(entries)):
            entry = entries[index]
            deadline = deadlines[index]
            if _schedules(deadline, entry):
                lane_deadlines.append(deadline)
                lane_entries.append(entry)
        heap = [record for record in self.heap if _schedules(record[0], record[2])]
        heapq.heapify(heap)
        self.lane_deadlines = lane_deadlines
        self.lane_entries = lane_entries
        self.head = 0
        self.heap = heap
        self.stale = 0
        self.retained = 0
        self.compactions += 1
        self._note_rooms()

    def check(self, volatile: list[Entry]) -> list[str]:
        """Every live TTL key (``volatile``) has a record no later than its deadline."""
        problems: list[str] = []
        if len(self.lane_deadlines) != len(self.lane_entries):
            problems.append("deadline index: the lane's deadlines and entries are out of step")
        earliest: dict[int, float] = {}
        lane = list(zip(self.lane_deadlines, self.lane_entries, strict=False))[self.head :]
        for deadline, entry in lane:
            if entry.pos >= 0 and deadline < earliest.get(id(entry), math.inf):
                earliest[id(entry)] = deadline
        for deadline, _, entry in self.heap:
            if entry.pos >= 0 and deadline < earliest.get(id(entry), math.inf):
                earliest[id(entry)] = deadline
        previous = -math.inf
        for deadline, _ in lane:
            if deadline < previous:
                problems.append("deadline index: the in-order lane is out of order")
                break
            previous = deadline
        for entry in volatile:
            due = entry.deadline
            assert due is not None
            if earliest.get(id(entry), math.inf) > due:
                problems.append(f"deadline index: key {entry.key!r} has no record by its deadline")
        if self.live != len(volatile):
            problems.append(f"deadline index counts {self.live} TTL keys, {len(volatile)} exist")
        bound = self.live // STALE_SHARE + STALE_SLACK
        if self.stale > bound + 1:
            problems.append(f"deadline index holds {self.stale} left-over records > {bound}")
        return problems
