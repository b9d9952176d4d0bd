"""Scheduled deletion: a deadline-ordered index, so reclaiming costs O(due keys).

Redis finds expired keys by scanning a cursor window over *all* keys that have a TTL, so when
most TTL keys are far from due, a due key waits until the cursor happens to reach it: PR #15620
measured a p50 lag of 89 s with 100,000 not-yet-due keys (spec §12.8). These strategies keep a
:class:`~cachepolicy._core.deadlines.DeadlineIndex` (an in-order lane plus a heap; see that module
for the structure and the bound on left-over records) and reclaim what its earliest records
say is due.

They declare ``deadline_index = True``: the engine files every TTL into the index and tells it of
every removal itself, without a Python call per write. A subclass that overrides ``on_ttl_set``
(or the other hooks) is called instead, and its ``super()`` files into the same index.

Cost: O(1) when a TTL is set in deadline order (the usual case), O(log n) when it arrives out of
order or is shortened, nothing when it is extended; reclaiming pops O(1) (lane) or O(log n)
(heap) per due key; ~16 bytes per TTL key in the lane, ~100 per heap record (measured and
counted in ``used_memory`` by the engine).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .._core.deadlines import DeadlineIndex
from .driver import DrivenExpiry, ThreadDriver

if TYPE_CHECKING:
    from .._core.ports import ReclaimContext
    from ..config import CacheConfig

__all__ = ["BackgroundExpiry", "TimedExpiry"]

# Records popped between two budget checks: one monotonic() call per this many keys (reading
# the clock costs about as much as reclaiming a key).
_CHECK_EVERY = 16

# The time-limit share of Redis's cycle (ACTIVE_EXPIRE_CYCLE_SLOW_TIME_PERC, 25 %): at most this
# fraction of each 1/hz period is spent reclaiming, so a backlog of due keys never takes more
# than a quarter of the CPU from requests.
_SLOW_TIME_PERC = 25

# Bound of one lock hold (seconds), as Redis's fast cycle (ACTIVE_EXPIRE_CYCLE_FAST_DURATION,
# 1 ms): a request that needs the lock waits at most about this long for reclamation.
_SLICE_BUDGET = 0.001


class TimedExpiry(DrivenExpiry):
    """``timed``: deadline-ordered index (an in-order lane and a heap), driven by cache writes.

    Cost: O(1) per TTL set in deadline order (the usual case), O(log n) per TTL set out of order
    or shortened, O(1) or O(log n) per reclaimed key, ~16 B per TTL key; a write checks one
    float to see whether anything is due. Runs at most ``hz`` times per second; each run
    reclaims everything due, in lock slices of at most ``slice_budget`` seconds and
    ``batch_size`` keys, within ``25 % / hz`` seconds (a backlog continues on the next writes,
    spaced like Redis's fast cycle). Lag (deadline to reclaim) is at most ``1/hz`` while the
    cache is written to, independent of how many keys are not yet due. No thread: safe with
    forking servers. A cache that is never written to reclaims nothing (use ``background``).
    """

    name = "timed"
    deadline_index = True  # its records are measured by the engine (DeadlineIndex.memory)

    #: Runs per second (None: the config's ``hz``). Higher = smaller lag, more lock churn.
    rate: float | None = None
    #: Most keys reclaimed in one lock hold.
    batch_size: int = 256
    #: Longest lock hold in seconds.
    slice_budget: float = _SLICE_BUDGET

    def __init__(self, config: CacheConfig) -> None:
        super().__init__(config)
        self._last_run = -math.inf
        self._interval = 1.0 / (self.rate if self.rate else config.hz)
        self._run_budget = _SLOW_TIME_PERC / 100 * self._interval
        self._index = DeadlineIndex(self._wake)
        self._index.alarm = self.driver.next_time
        self.index = self._index
        self.reclaimed = 0
        self.lag_max = 0.0
        self.lag_sum = 0.0

    def _wake(self, deadline: float) -> None:
        """A deadline earlier than the planned run was filed (lock held): run sooner, but
        not more often than ``rate`` allows. Due means ``now > deadline``: the first instant
        after ``deadline``."""
        due = max(math.nextafter(deadline, math.inf), self._last_run + self._interval)
        if due < self.driver.next_time:  # a wake-up only ever moves the run earlier
            self.driver.wake(due)

    @property
    def records(self) -> int:
        """Records in the index, left-over ones included."""
        return self._index.records

    def next_deadline(self) -> float | None:
        """The earliest scheduled deadline (possibly of a left-over record), or None."""
        return self._index.next_deadline()

    # ------------------------------------------------------------------ reclaiming

    def run(self, context: ReclaimContext, pause: Callable[[], None] | None) -> None:
        clock = context.clock
        now = clock.monotonic()
        top = self._index.next_deadline()
        if top is not None and top < now:
            self._last_run = now
            backlog = self._reclaim(context, self._run_budget, pause)
        else:
            backlog = False
        with context.lock:  # hooks move the schedule under this lock too: no lost wake-up
            if backlog:
                # Like Redis's fast cycle: resume soon, leaving requests 2/3 of the time.
                self.driver.schedule(clock.monotonic() + 2 * self.slice_budget)
            else:
                top = self._index.next_deadline()
                earliest = self._last_run + self._interval
                due = math.nextafter(top, math.inf) if top is not None else math.inf
                self.driver.schedule(max(due, earliest))

    def _reclaim(
        self,
        context: ReclaimContext,
        budget: float,
        pause: Callable[[], None] | None,
    ) -> bool:
        """Pop due records in lock slices until none is due or ``budget`` is spent.
        Returns True if due keys remain (the budget ran out)."""
        clock = context.clock
        monotonic = clock.monotonic
        # Budget and CPU count only time spent in slices, not GIL waits after a pause.
        busy = 0.0
        batch = self.batch_size
        index = self._index
        backlog = False
        while True:
            with context.locked():
                t = monotonic()
                slice_start = monotonic()
                slice_end = slice_start + min(self.slice_budget, budget - busy)
                done = 0
                while True:
                    entry = index.pop_due(t)
                    if entry is None:
                        break
                    deadline = entry.deadline
                    assert deadline is not None
                    lag = t - deadline
                    self.lag_sum += lag
                    if lag > self.lag_max:
                        self.lag_max = lag
                    context.delete_expired(entry)
                    done += 1
                    if done >= batch or (done % _CHECK_EVERY == 0 and monotonic() >= slice_end):
                        break
                self.reclaimed += done
                busy += monotonic() - slice_start
                top = index.next_deadline()
                more = top is not None and top < t
                if more and busy >= budget:
                    backlog = True
                    context.stats.expired_time_cap_reached_count += 1
                if not more or backlog:
                    context.stats.expire_cycle_cpu_milliseconds += busy * 1000
                    return backlog
            if pause is not None:
                pause()

    # ------------------------------------------------------------------ introspection

    def check(self) -> list[str]:
        context = self.context
        if context is None:
            return []
        volatile = [
            entry
            for keyspace in context.keyspaces
            for entry in keyspace.data.values()
            if entry.deadline is not None
        ]
        return [f"{self.name}: {problem}" for problem in self._index.check(volatile)]

    def info(self) -> dict[str, Any]:
        return {
            "expire_index_records": self._index.records,
            "expire_index_compactions": self._index.compactions,
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
