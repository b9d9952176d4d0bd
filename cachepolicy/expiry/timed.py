"""Scheduled deletion: a deadline-ordered index, so reclaiming costs O(due keys).

Redis finds expired keys by scanning a cursor window over *all* keys that have a TTL, so when
most TTL keys are far from due, a due key waits until the cursor happens to reach it: PR #15620
measured a p50 lag of 89 s with 100,000 not-yet-due keys (spec §12.8). A min-heap ordered by
deadline answers "what is due?" by looking at its top, whatever the number of keys not yet due.

Data structure. One ``heapq`` list of ``(deadline, seq, entry)`` records for all databases (one
scheduler for all keys, never a timer per key); ``seq`` breaks ties so entries are never
compared. Records are invalidated lazily instead of being searched for and removed:

* a deleted or evicted entry leaves its record behind; it is dropped when it reaches the top
  (``entry.pos < 0`` means the entry left its keyspace);
* a deadline moved *later* (the common ``set(key, value, ttl)`` refresh) pushes nothing: when the
  old record comes up early, the entry is simply re-pushed at its current deadline;
* a deadline moved *earlier*, or a TTL given to a key that had none, pushes a new record.

Every live volatile entry therefore has a record no later than its deadline (checked by
:meth:`TimedExpiry.check`). Left-over records are bounded: a push that takes the heap past its
last bound counts the live TTL keys, and when the heap holds more than twice as many records
(plus a slack) it is rebuilt from the keyspaces' TTL arrays, an O(n) pass amortised over at
least n/2 deletions. Deletions themselves cost the strategy nothing (no hook call per delete or
eviction).

Cost: ``heappush`` O(log n) when a TTL is set or shortened, nothing when it is extended or the
key deleted; reclaiming pops O(log n) per due key; ~104 bytes per TTL key (counted in
``used_memory`` through :attr:`metadata_overhead`; left-over records may add up to as much again
before a rebuild).
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..keyspace import Entry
from .driver import DrivenExpiry, ThreadDriver

if TYPE_CHECKING:
    from ..config import CacheConfig
    from ..store import CacheStore

__all__ = ["BackgroundExpiry", "TimedExpiry"]

# Per-record bytes: the 3-tuple (64 B on 64-bit CPython 3.11), the ``seq`` int (28-32 B; the
# deadline float is shared with the entry) and the heap list's slot (8 B plus ~12 % list
# over-allocation). Measured with sys.getsizeof; see the module docstring for the upper bound.
_RECORD_BYTES = 104

# Rebuild the heap once it holds more than 2 x live TTL keys + this many records: the slack keeps
# tiny caches from rebuilding on every delete.
_COMPACT_SLACK = 1024

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
    """``timed``: deadline-ordered index (a heap), driven by cache writes.

    Cost: O(log n) per TTL set or shortened, O(log n) per reclaimed key, ~104 B per TTL key; a
    write checks one float to see whether anything is due. Runs at most ``hz`` times per second;
    each run reclaims everything due, in lock slices of at most ``slice_budget`` seconds and
    ``batch_size`` keys, within ``25 % / hz`` seconds (a backlog continues on the next writes,
    spaced like Redis's fast cycle). Lag (deadline to reclaim) is at most ``1/hz`` while the cache
    is written to, independent of how many keys are not yet due. No thread: safe with forking
    servers. A cache that is never written to reclaims nothing (use ``background``).
    """

    name = "timed"
    metadata_overhead = _RECORD_BYTES

    #: Runs per second (None: the config's ``hz``). Higher = smaller lag, more lock churn.
    rate: float | None = None
    #: Most keys reclaimed in one lock hold.
    batch_size: int = 256
    #: Longest lock hold in seconds.
    slice_budget: float = _SLICE_BUDGET

    def __init__(self, config: CacheConfig) -> None:
        super().__init__(config)
        self._heap: list[tuple[float, int, Entry]] = []
        self._seq = itertools.count()
        # Heap length at which to count the live TTL keys and maybe rebuild: deletions leave
        # records behind without telling the strategy (no hook call per delete or eviction), so
        # the left-over share is checked when the heap grows, which is when it can go up.
        self._compact_at = _COMPACT_SLACK
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
        heap = self._heap
        heapq.heappush(heap, (deadline, next(self._seq), entry))
        if len(heap) >= self._compact_at and self._needs_rebuild():
            self.driver.wake(-math.inf)  # the next run rebuilds the heap
            return
        driver = self.driver
        if deadline < driver.next_time:
            due = math.nextafter(deadline, math.inf)
            driver.wake(max(due, self._last_run + self._interval))

    # No on_ttl_cleared / on_delete: a record of a key that lost its TTL or left the cache is
    # dropped when it reaches the top (see the module docstring).

    def reset(self) -> None:
        self._heap = []
        self._compact_at = _COMPACT_SLACK

    def _needs_rebuild(self) -> bool:
        """Whether left-over records outnumber live TTL keys (plus slack); if not, the next
        check waits until the heap has grown past that bound again."""
        store = self.store
        if store is None:
            return False
        bound = 2 * sum(ks.volatile_count for ks in store.keyspaces) + _COMPACT_SLACK
        if len(self._heap) > bound:
            return True
        self._compact_at = bound + 1
        return False

    # ------------------------------------------------------------------ reclaiming

    def next_deadline(self) -> float | None:
        """The earliest scheduled deadline (possibly of a left-over record), or None."""
        heap = self._heap
        return heap[0][0] if heap else None

    def run(self, store: CacheStore, pause: Callable[[], None] | None) -> None:
        clock = store.clock
        now = clock.time()
        heap = self._heap
        if len(heap) >= self._compact_at:
            with store.locked():
                if self._needs_rebuild():
                    self._rebuild(store)
            heap = self._heap
        if heap and heap[0][0] < now:
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
        heappush = heapq.heappush
        backlog = False
        reclaimed = 0
        lag_sum = 0.0
        lag_max = self.lag_max
        while True:
            with store.locked():
                heap = self._heap
                t = clock.time() if now is None else now
                slice_start = monotonic()
                slice_end = slice_start + min(slice_budget, budget - busy)
                done = popped = 0
                while heap and heap[0][0] < t:
                    _, _, entry = heappop(heap)
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
                        done += 1
                    else:  # deadline was extended: requeue at the new deadline
                        heappush(heap, (deadline, next(self._seq), entry))
                    if done >= batch or (popped % _CHECK_EVERY == 0 and monotonic() >= slice_end):
                        break
                reclaimed += done
                busy += monotonic() - slice_start
                more = bool(heap) and heap[0][0] < t
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
        """Drop left-over records: one record per live TTL key (lock held)."""
        seq = self._seq
        records = [
            (entry.deadline, next(seq), entry)
            for keyspace in store.keyspaces
            for entry in keyspace.volatile_entries()
            if entry.deadline is not None
        ]
        heapq.heapify(records)
        self._heap = records
        self._compact_at = 2 * len(records) + _COMPACT_SLACK + 1
        self.rebuilds += 1

    # ------------------------------------------------------------------ introspection

    def check(self) -> list[str]:
        store = self.store
        if store is None:
            return []
        problems: list[str] = []
        earliest: dict[int, float] = {}
        for deadline, _, entry in self._heap:
            if entry.pos >= 0 and deadline < earliest.get(id(entry), math.inf):
                earliest[id(entry)] = deadline
        for keyspace in store.keyspaces:
            for entry in keyspace.volatile_entries():
                assert entry.deadline is not None
                if earliest.get(id(entry), math.inf) > entry.deadline:
                    problems.append(f"{self.name}: key {entry.key!r} has no record by its deadline")
        return problems

    def info(self) -> dict[str, Any]:
        return {
            "expire_index_records": len(self._heap),
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
