"""Scheduled deletion: a deadline-ordered index, so reclaiming costs O(due keys).

Redis finds expired keys by scanning a cursor window over *all* keys that have a TTL, so when
most TTL keys are far from due, a due key waits until the cursor happens to reach it: PR #15620
measured a p50 lag of 89 s with 100,000 not-yet-due keys (spec §12.8). A min-heap ordered by
deadline answers "what is due?" by looking at its top, whatever the number of keys not yet due.

Data structure. One index for all databases (one scheduler for all keys, never a timer per
key), in two parts:

* a *lane*: a FIFO of records whose deadlines never decrease, kept as two parallel ``deque``
  objects (deadlines, entries) rather than one of pairs, so that filing a record allocates no
  object the cyclic garbage collector has to track (a tuple holding an entry is one: on a
  cache written to at full speed, GC passes over such records cost more than the index
  itself). A record whose deadline is not earlier than the lane's last one is appended in
  O(1). With one TTL for every key (Django's ``TIMEOUT``, Flask's ``CACHE_DEFAULT_TIMEOUT``)
  every new deadline is the latest so far, so in the usual case the lane holds everything;
* a ``heapq`` list of ``(deadline, seq, entry)`` records for the deadlines that arrive out of
  order (shorter TTLs among longer ones, re-queued records); ``seq`` breaks ties so entries are
  never compared.

The earliest record is the earlier of the lane's head and the heap's top. Records are
invalidated lazily instead of being searched for and removed:

* a deleted or evicted entry leaves its record behind; it is dropped when it reaches the top
  (``entry.pos < 0`` means the entry left its keyspace);
* a deadline moved *later* (the common ``set(key, value, ttl)`` refresh) pushes nothing: when the
  old record comes up early, the entry is simply re-pushed at its current deadline;
* a deadline moved *earlier*, or a TTL given to a key that had none, pushes a new record.

Every live volatile entry therefore has a record no later than its deadline (checked by
:meth:`TimedExpiry.check`). Left-over records are bounded: a push that takes the index past
its last bound counts the live TTL keys, and when there are more than twice as many records
(plus a slack) the index is compacted: records of removed keys and superseded records are
filtered out, keeping the lane's order (an O(n) pass amortised over at least n/2 deletions; if
duplicates of live keys keep it large, it is rebuilt from the keyspaces' TTL arrays). Deletions
themselves cost the strategy nothing (no hook call per delete or eviction).

Cost: O(1) when a TTL is set in deadline order, ``heappush`` O(log n) when it arrives out of
order or is shortened, nothing when it is extended or the key deleted; reclaiming pops O(1)
(lane) or O(log n) (heap) per due key; ~16 bytes per TTL key in the lane, ~104 in the heap
(counted in ``used_memory`` through :attr:`metadata_overhead`; left-over records may add up to
as much again before a compaction).
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections import deque
from collections.abc import Callable
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from ..keyspace import Entry, keep_spares
from .driver import DrivenExpiry, ThreadDriver

if TYPE_CHECKING:
    from ..config import CacheConfig
    from ..store import CacheStore

__all__ = ["BackgroundExpiry", "TimedExpiry"]

# Per-record bytes in the lane, where records go in the usual case: one slot in each of its two
# deques (8 B each plus the deques' block headers; the deadline float is shared with the entry):
# 16.5 B, measured with tracemalloc over 100,000 records. A heap record costs more (a 3-tuple,
# the ``seq`` int and the list slot, about 104 B); see the module docstring for the upper bound.
_RECORD_BYTES = 16

# Compact the index once it holds more than 2 x live TTL keys + this many records: the slack
# keeps tiny caches from compacting on every delete.
_COMPACT_SLACK = 1024

# Check the lane head for left-over records at least every this many new records.
_TRIM_EVERY = 256

_deadline_of = itemgetter(0)
_entry_of = itemgetter(1)


def _schedules(deadline: float, entry: Entry) -> bool:
    """Whether a record still schedules its key: the entry is live, has a TTL, and the record
    is not later than it (a later one was superseded by an earlier push)."""
    return entry.pos >= 0 and entry.deadline is not None and deadline <= entry.deadline


# Records popped between two budget checks: one monotonic() call per this
# many keys (reading the clock costs about as much as reclaiming a key).
_CHECK_EVERY = 16

# The time-limit exit share of Redis's cycle (ACTIVE_EXPIRE_CYCLE_SLOW_TIME_PERC, 25 %): at most
# this fraction of each 1/hz period is spent reclaiming, so a backlog of due keys never takes
# more than a quarter of the CPU from requests.
_SLOW_TIME_PERC = 25

# Bound of one lock hold (seconds), as Redis's fast cycle (ACTIVE_EXPIRE_CYCLE_FAST_DURATION,
# 1 ms): a request that needs the lock waits at most about this long for reclamation.
_SLICE_BUDGET = 0.001


class TimedExpiry(DrivenExpiry):
    """``timed``: deadline-ordered index (an in-order lane and a heap), driven by cache writes.

    Cost: O(1) per TTL set in deadline order (the usual case), O(log n) per TTL set out of order
    or shortened, O(1) or O(log n) per reclaimed key, ~16 B per TTL key; a
    write checks one float to see whether anything is due. Runs at most ``hz`` times per second;
    each run reclaims everything due, in lock slices of at most ``slice_budget`` seconds and
    ``batch_size`` keys, within ``25 % / hz`` seconds (a backlog continues on the next writes,
    spaced like Redis's fast cycle). Lag (deadline to reclaim) is at most ``1/hz`` while the cache
    is written to, independent of how many keys are not yet due. No thread: safe with forking
    servers. A cache that is never written to reclaims nothing (use ``background``).
    """

    name = "timed"
    metadata_overhead = _RECORD_BYTES
    retains_removed_entries = True  # left-over records; the lane trim reuses their entries

    #: Runs per second (None: the config's ``hz``). Higher = smaller lag, more lock churn.
    rate: float | None = None
    #: Most keys reclaimed in one lock hold.
    batch_size: int = 256
    #: Longest lock hold in seconds.
    slice_budget: float = _SLICE_BUDGET

    def __init__(self, config: CacheConfig) -> None:
        super().__init__(config)
        # The lane: deadline i belongs to entry i (see the module docstring).
        self._lane_deadlines: deque[float] = deque()
        self._lane_entries: deque[Entry] = deque()
        self._heap: list[tuple[float, int, Entry]] = []
        self._seq = itertools.count()
        # Record count at which to count the live TTL keys and maybe compact: deletions leave
        # records behind without telling the strategy (no hook call per delete or eviction), so
        # the left-over share is checked when the index grows, which is when it can go up.
        self._compact_at = _COMPACT_SLACK
        #: Lane length at which :meth:`on_ttl_set` must run (to trim or compact the index):
        #: the records left before ``_compact_at``, heap included, so that the write path's
        #: own lane appends stop where :meth:`on_ttl_set` would check. Kept by _check_at().
        self.lane_limit = _COMPACT_SLACK
        self._last_run = -math.inf
        self._interval = 1.0 / (self.rate if self.rate else config.hz)
        self._run_budget = _SLOW_TIME_PERC / 100 * self._interval
        self.reclaimed = 0
        self.rebuilds = 0
        self.lag_max = 0.0
        self.lag_sum = 0.0

    # ------------------------------------------------------------------ hooks (lock held)

    def on_ttl_set(self, entry: Entry, previous: float | None) -> None:
        deadline = entry.deadline
        assert deadline is not None
        if previous is not None and deadline >= previous:
            return  # the old record comes up first and re-pushes the entry
        deadlines = self._lane_deadlines
        # Filed behind a lane record that is still here: the driver is already due no later
        # than that record (or held back by the rate limit), so there is no wake-up to move.
        behind_lane = bool(deadlines) and deadline >= deadlines[-1]
        self._push(deadline, entry)
        if self.records >= self._compact_at and self._needs_rebuild():
            self.driver.wake(-math.inf)  # the next run compacts the index
            return
        if behind_lane:
            return
        driver = self.driver
        if deadline < driver.next_time:
            due = math.nextafter(deadline, math.inf)
            driver.wake(max(due, self._last_run + self._interval))

    def in_order_lane(self) -> tuple[deque[float], deque[Entry]]:
        """The lane's two deques, for the store's write path (lock held when used).

        A caller may append ``(deadline, entry)`` to them, exactly as :meth:`on_ttl_set` would
        for a key that just got its first TTL, when the lane is non-empty, the deadline is not
        earlier than the lane's last one, and the lane is shorter than :attr:`lane_limit`;
        otherwise it must call :meth:`on_ttl_set`. The deques live as long as the strategy.
        """
        return self._lane_deadlines, self._lane_entries

    def _check_at(self, records: int) -> None:
        """Count live keys (and maybe compact) once the index holds ``records`` records."""
        self._compact_at = records
        self.lane_limit = records - len(self._heap)

    # No on_ttl_cleared / on_delete: a record of a key that lost its TTL or left the cache is
    # dropped when it reaches the top (see the module docstring).

    def reset(self) -> None:
        # In place: the store's write path holds these two (see in_order_lane()).
        self._lane_deadlines.clear()
        self._lane_entries.clear()
        self._heap = []
        self._check_at(_COMPACT_SLACK)

    @property
    def records(self) -> int:
        """Records in the index, left-over ones included."""
        return len(self._lane_deadlines) + len(self._heap)

    def _needs_rebuild(self) -> bool:
        """Trim the lane's head; then whether left-over records still outnumber live TTL keys
        (plus slack). If not, the next check comes after a sixteenth of the live keys' worth of
        new records (at least ``_TRIM_EVERY``): trimming that often frees removed entries
        promptly (fewer objects for the garbage collector to walk, less memory held) at O(1)
        amortised per record."""
        store = self.store
        if store is None:
            return False
        # Left-over records gather at the lane's head when the oldest keys are the ones that
        # leave (LRU eviction, Django's culls, deletes of old keys): dropping those first is a
        # popleft() each, and often spares the O(n) compaction.
        entries = self._lane_entries
        drop_entry, drop_deadline = entries.popleft, self._lane_deadlines.popleft
        dropped: list[Entry] = []
        while entries and (entries[0].pos < 0 or entries[0].deadline is None):
            dropped.append(drop_entry())
            drop_deadline()
        keep_spares(dropped, store.spare_entries)  # entries of removed keys are reused
        live = sum(ks.volatile_count for ks in store.keyspaces)
        records = self.records
        if records > 2 * live + _COMPACT_SLACK:
            return True
        self._check_at(records + max(_TRIM_EVERY, live // 16) + 1)
        return False

    # ------------------------------------------------------------------ reclaiming

    def next_deadline(self) -> float | None:
        """The earliest scheduled deadline (possibly of a left-over record), or None."""
        deadlines, heap = self._lane_deadlines, self._heap
        if deadlines and (not heap or deadlines[0] <= heap[0][0]):
            return deadlines[0]
        return heap[0][0] if heap else None

    def _push(self, deadline: float, entry: Entry) -> None:
        """File a record: on the lane if it keeps the lane in order, else on the heap."""
        deadlines = self._lane_deadlines
        if not deadlines or deadline >= deadlines[-1]:
            deadlines.append(deadline)
            self._lane_entries.append(entry)
        else:
            heapq.heappush(self._heap, (deadline, next(self._seq), entry))
            self.lane_limit -= 1  # the heap record counts towards _compact_at too

    def run(self, store: CacheStore, pause: Callable[[], None] | None) -> None:
        clock = store.clock
        now = clock.time()
        if self.records >= self._compact_at:
            with store.locked():
                if self._needs_rebuild():
                    self._rebuild(store)
        top = self.next_deadline()
        if top is not None and top < now:
            self._last_run = now
            backlog = self._reclaim(store, self._run_budget, pause)
        else:
            backlog = False
        with store.lock:  # hooks move next_time under this lock too: no lost wake-up
            if backlog:
                # Like Redis's fast cycle: resume soon, leaving requests 2/3 of the time.
                self.driver.schedule(clock.time() + 2 * self.slice_budget)
            else:
                top = self.next_deadline()
                earliest = self._last_run + self._interval
                # Due means now > deadline: the first instant after ``top``, not ``top`` itself.
                due = math.nextafter(top, math.inf) if top is not None else math.inf
                self.driver.schedule(max(due, earliest))

    def reclaim(self, now: float, budget: float) -> int:
        """Reclaim every key due at ``now`` (``now > deadline``) within ``budget`` seconds."""
        store = self.store
        if store is None:
            return 0
        before = self.reclaimed
        self._reclaim(store, budget, None, now)
        return self.reclaimed - before

    def _reclaim(
        self,
        store: CacheStore,
        budget: float,
        pause: Callable[[], None] | None,
        now: float | None = None,
    ) -> bool:
        """Pop due records in lock slices until none is due or ``budget`` is spent.
        Returns True if due keys remain (the budget ran out)."""
        clock = store.clock
        monotonic = clock.monotonic
        # Budget and CPU count only time spent in slices, not GIL waits after a pause.
        busy = 0.0
        batch = self.batch_size
        slice_budget = self.slice_budget
        heappop = heapq.heappop
        push = self._push
        backlog = False
        reclaimed = 0
        lag_sum = 0.0
        lag_max = self.lag_max
        expired: list[Entry] = []
        while True:
            with store.locked():
                # A compaction replaces these.
                deadlines, entries, heap = self._lane_deadlines, self._lane_entries, self._heap
                t = clock.time() if now is None else now
                slice_start = monotonic()
                slice_end = slice_start + min(slice_budget, budget - busy)
                done = popped = 0
                while True:
                    # The earlier of the lane's head and the heap's top, if it is due.
                    if deadlines and deadlines[0] < t and (not heap or deadlines[0] <= heap[0][0]):
                        deadlines.popleft()
                        entry = entries.popleft()
                    elif heap and heap[0][0] < t:
                        entry = heappop(heap)[2]
                    else:
                        break
                    popped += 1
                    deadline = entry.deadline
                    if entry.pos < 0 or deadline is None:
                        continue  # left-over record of a deleted or persisted key
                    if t > deadline:
                        lag = t - deadline
                        lag_sum += lag
                        if lag > lag_max:
                            lag_max = lag
                        store.expire_entry(entry)
                        expired.append(entry)
                        done += 1
                    else:  # deadline was extended: requeue at the new deadline
                        push(deadline, entry)
                    if done >= batch or (popped % _CHECK_EVERY == 0 and monotonic() >= slice_end):
                        break
                keep_spares(expired, store.spare_entries)
                reclaimed += done
                busy += monotonic() - slice_start
                top = self.next_deadline()
                more = top is not None and top < t
                if more and busy >= budget:
                    backlog = True
                    store.stats.expired_time_cap_reached_count += 1
                if not more or backlog:
                    store.stats.expire_cycle_cpu_milliseconds += busy * 1000
                    self.reclaimed += reclaimed
                    self.lag_sum += lag_sum
                    self.lag_max = lag_max
                    return backlog
            if pause is not None:
                pause()

    def _rebuild(self, store: CacheStore) -> None:
        """Compact the index (lock held): drop the records of removed keys, of keys without a
        TTL, and records later than their key's deadline (a shortened deadline pushed an
        earlier one). Every live TTL key keeps a record no later than its deadline, the lane
        keeps its order, and only the heap is re-heapified.

        Records of live keys survive the filter even when a key has several (a TTL extended
        and shortened again and again); if they leave the index well above one per key, it is
        rebuilt from the keyspaces instead: one record per live TTL key.
        """
        live = sum(keyspace.volatile_count for keyspace in store.keyspaces)
        lane = [
            record
            for record in zip(self._lane_deadlines, self._lane_entries, strict=True)
            if _schedules(*record)
        ]
        heap = [record for record in self._heap if _schedules(record[0], record[2])]
        if len(lane) + len(heap) > live + _COMPACT_SLACK:
            lane = [
                (entry.deadline, entry)
                for keyspace in store.keyspaces
                for entry in keyspace.volatile_entries()
                if entry.deadline is not None
            ]
            lane.sort(key=_deadline_of)  # stable: no entry is ever compared
            heap = []
        heapq.heapify(heap)
        self._lane_deadlines.clear()
        self._lane_deadlines.extend(map(_deadline_of, lane))
        self._lane_entries.clear()
        self._lane_entries.extend(map(_entry_of, lane))
        self._heap = heap
        self._check_at(2 * (len(lane) + len(heap)) + _COMPACT_SLACK + 1)
        self.rebuilds += 1

    # ------------------------------------------------------------------ introspection

    def check(self) -> list[str]:
        store = self.store
        if store is None:
            return []
        problems: list[str] = []
        earliest: dict[int, float] = {}
        if len(self._lane_deadlines) != len(self._lane_entries):
            problems.append(f"{self.name}: the lane's deadlines and entries are out of step")
        records = [
            *zip(self._lane_deadlines, self._lane_entries, strict=False),
            *((deadline, entry) for deadline, _, entry in self._heap),
        ]
        for deadline, entry in records:
            if entry.pos >= 0 and deadline < earliest.get(id(entry), math.inf):
                earliest[id(entry)] = deadline
        if any(a > b for a, b in itertools.pairwise(self._lane_deadlines)):
            problems.append(f"{self.name}: the in-order lane is out of order")
        for keyspace in store.keyspaces:
            for entry in keyspace.volatile_entries():
                assert entry.deadline is not None
                if earliest.get(id(entry), math.inf) > entry.deadline:
                    problems.append(f"{self.name}: key {entry.key!r} has no record by its deadline")
        return problems

    def info(self) -> dict[str, Any]:
        return {
            "expire_index_records": self.records,
            "expire_index_rebuilds": self.rebuilds,
            "expired_lag_max_ms": round(self.lag_max * 1000, 3),
            "expired_lag_avg_ms": round(self.lag_sum * 1000 / self.reclaimed, 3)
            if self.reclaimed
            else 0.0,
        }


class BackgroundExpiry(TimedExpiry):
    """``background``: the deadline index, collected by a daemon thread.

    The thread sleeps until the earliest deadline (no polling while nothing is due; a nearer
    deadline wakes it), but wakes at most ``rate`` times per second (default ``hz``); so with
    a high ``rate`` the ``expired`` event fires at the deadline itself, which Redis cannot do
    (spec §12.10). Each wake-up reclaims in lock slices of at most ``batch_size`` keys and
    ``slice_budget`` seconds, yielding the GIL between slices, so a request waits at most one
    slice. Cost: as ``timed``, plus one thread per store and no work at all on the request path.
    Configure by subclassing: ``class Precise(BackgroundExpiry): rate = 1000``.
    """

    name = "background"
    driver_class = ThreadDriver
    batch_size = 64

    @property
    def thread_driver(self) -> ThreadDriver:
        driver = self.driver
        assert isinstance(driver, ThreadDriver)
        return driver
