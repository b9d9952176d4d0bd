"""Redis's active expire cycle (``activeExpireCycle``, spec §6), written from the spec.

Each call visits up to 16 databases that have TTL keys, resuming at the database after the one
the previous call stopped at. In each database a persistent cursor walks the dense array of TTL
keys (:meth:`Keyspace.volatile_entries`), the analogue of Redis's ``dictScan`` cursor over the
``expires`` dict: it samples ``keys_per_loop`` keys, deletes the expired ones, and repeats on the
same database while the expired share of the sample is above the acceptable stale share, until
the cursor wraps (the whole database was scanned) or the time budget is spent.

The cursor visits the array's slots in ``dictScan``'s order, reverse-binary increments over the
next power of two (0, n/2, n/4, 3n/4, ...), not from first to last. The array is in insertion
order, so a front-to-back walk met keys added after a block of not-yet-due keys only once it had
crossed the whole block (2,000 long-TTL keys, then 3,300 keys of 0.2 s: none reclaimed in 2.6 s).
In Redis the bucket is the key's hash, so new keys land among old ones and every loop samples
the whole keyspace evenly; the reverse-binary order gives every loop that evenness here, and
``tests/expiry/test_active_vs_redis.py`` compares the ``expired_keys`` curve with a real server's.

Where we differ from Redis, on purpose:

* The fast-cycle trigger compares the stale estimate as a *fraction* with the acceptable share as
  a *fraction*. Redis compares a 0..1 fraction with a 1..10 percentage, so its "too many stale
  keys" trigger never fires (spec §12.9, redis#15410).
* A key is expired when ``now > deadline``, exactly as on lookup. Redis's cycle uses ``>=``, so a
  key still readable at its deadline could vanish in the same millisecond (spec §7, §12.9).
* The array has no empty buckets, so Redis's bucket cap (``keys_per_loop x 20`` buckets) and its
  skipping of sparse dicts (< 1 % full) have no analogue: every step samples a key.
* Deleting a key moves the array's last key into its slot; the cursor re-examines that slot. A
  key moved into a slot the pass has already visited waits for the next pass, and so does one
  whose slot number a shrinking array gave to another (``dictScan``'s guarantee is the same:
  keys present for a whole pass are visited, those that moved may be missed or seen twice).
  Slots past the array's end (the power of two is larger) are skipped uncounted, like Redis's
  empty buckets.
* The cycle takes the store lock once per loop of ``keys_per_loop`` keys, not for the whole cycle,
  so a request waits at most one loop.
* Cycle state lives on the instance, not in C statics: two caches never share a cursor.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .._core.keyspace import Keyspace
from .driver import DrivenExpiry

if TYPE_CHECKING:
    from .._core.ports import ReclaimContext
    from ..config import CacheConfig

__all__ = ["ActiveExpiry", "EffortParams", "effort_params"]

# ACTIVE_EXPIRE_CYCLE_KEYS_PER_LOOP: keys sampled per database loop at effort 1; large enough for
# a meaningful expired share, small enough that one loop is a short lock hold.
KEYS_PER_LOOP = 20
# ACTIVE_EXPIRE_CYCLE_FAST_DURATION (seconds): a fast cycle runs between requests, so it must be
# short enough to be invisible in request latency.
FAST_DURATION = 0.001
# ACTIVE_EXPIRE_CYCLE_SLOW_TIME_PERC: at most this % of the time goes to slow cycles, so a big
# backlog of expired keys cannot starve requests.
SLOW_TIME_PERC = 25
# ACTIVE_EXPIRE_CYCLE_ACCEPTABLE_STALE (%): below this share of expired keys in the samples the
# cycle stops repeating on a database; reclaiming the last stragglers would cost more than the
# memory they hold.
ACCEPTABLE_STALE = 10
# CRON_DBS_PER_CALL: databases visited per call, bounding one call's work with many databases.
DBS_PER_CALL = 16
# The budget is checked every this many loops: reading the clock costs about as much as a loop.
TIME_CHECK_EVERY = 16
# Weight of the newest cycle in the stale-share moving average (Redis: 5 %): smooth enough that
# one unlucky sample does not trigger fast cycles, quick enough to react within a second or two.
STALE_EMA_WEIGHT = 0.05
# Per-loop decay of the old average TTL estimate (Redis: 0.98), so ``avg_ttl`` follows slowly.
AVG_TTL_DECAY = 0.98


@dataclass(frozen=True)
class EffortParams:
    """The cycle's knobs for one ``active-expire-effort`` (spec §6, formulas exact)."""

    keys_per_loop: int
    #: Fast-cycle budget in seconds.
    fast_duration: float
    slow_time_perc: int
    #: Acceptable expired share as a fraction (Redis's percentage / 100).
    acceptable_stale: float
    #: Slow-cycle budget in seconds: ``slow_time_perc`` % of one ``1/hz`` period.
    slow_duration: float


def effort_params(effort: int, hz: int) -> EffortParams:
    """``active-expire-effort`` 1..10 scaled as Redis does (``e = effort - 1``)."""
    e = effort - 1
    slow_time_perc = SLOW_TIME_PERC + 2 * e
    return EffortParams(
        keys_per_loop=KEYS_PER_LOOP + KEYS_PER_LOOP // 4 * e,
        fast_duration=FAST_DURATION + FAST_DURATION / 4 * e,
        slow_time_perc=slow_time_perc,
        acceptable_stale=(ACCEPTABLE_STALE - e) / 100,
        slow_duration=slow_time_perc / 100 / hz,
    )


class ActiveExpiry(DrivenExpiry):
    """``active``: Redis's active expire cycle, driven by cache writes.

    Cost: a slow cycle every ``1/hz`` s using at most ``slow_time_perc`` % of the time (25 % at
    effort 1), plus fast cycles of ``fast_duration`` (1 ms) after writes while the previous cycle
    hit its budget or the stale share is high; per cycle at least ``keys_per_loop`` keys per
    database with TTL keys. No per-key memory. Weakness inherited from Redis on purpose: the lag
    of a due key grows with the number of *not yet due* TTL keys (the cursor must reach it), see
    spec §12.8; ``timed`` and ``background`` do not have it.
    """

    name = "active"
    uses_ttl_index = True  # its cycle walks and samples the TTL arrays, as Redis its expires dict

    def __init__(self, config: CacheConfig) -> None:
        super().__init__(config)
        self.params = effort_params(config.active_expire_effort, config.hz)
        self._period = 1.0 / config.hz
        # Per-database scan cursors and average-TTL estimates; the rotating database cursor.
        self._cursors = [0] * config.databases
        self._avg_ttl = [0.0] * config.databases
        self._current_db = 0
        self._timelimit_exit = False
        self._next_slow = -math.inf
        self._last_fast_start = -math.inf
        self.cycles_slow = 0
        self.cycles_fast = 0
        self.reclaimed = 0
        self.lag_sum = 0.0
        self.lag_max = 0.0

    # ------------------------------------------------------------------ driving

    def fast_wanted(self, stale_perc: float) -> bool:
        """Whether fast cycles should run between slow ones: the previous cycle ran out of time,
        or the stale estimate (a fraction) reached the acceptable share (a fraction too)."""
        return self._timelimit_exit or stale_perc >= self.params.acceptable_stale

    def run(self, context: ReclaimContext, pause: Callable[[], None] | None) -> None:
        # Scheduling, like deadlines and the driver's ``next_time``, is on monotonic() time.
        clock = context.clock
        fast_spacing = 2 * self.params.fast_duration
        now = clock.monotonic()
        if now >= self._next_slow:
            self._next_slow = now + self._period
            self.cycle(context, fast=False, pause=pause)
        elif (
            self.fast_wanted(context.stats.expired_stale_perc)
            and now >= self._last_fast_start + fast_spacing
        ):
            self._last_fast_start = now
            self.cycle(context, fast=True, pause=pause)
        when = self._next_slow
        if self.fast_wanted(context.stats.expired_stale_perc):
            when = min(when, self._last_fast_start + fast_spacing)
        self.driver.schedule(when)

    # ------------------------------------------------------------------ the cycle

    def cycle(
        self, context: ReclaimContext, *, fast: bool, pause: Callable[[], None] | None
    ) -> None:
        """One slow or fast cycle (spec §6 steps 1-3)."""
        params = self.params
        clock = context.clock
        monotonic = clock.monotonic
        start = monotonic()
        if fast:
            self.cycles_fast += 1
            timelimit = params.fast_duration
        else:
            self.cycles_slow += 1
            timelimit = params.slow_duration
        keyspaces = context.keyspaces
        dbnum = len(keyspaces)
        # After a time-limit exit, visit every database so none is starved.
        dbs_per_call = dbnum if self._timelimit_exit else min(DBS_PER_CALL, dbnum)
        self._timelimit_exit = False
        acceptable = params.acceptable_stale
        total_sampled = total_expired = 0
        iteration = 0
        performed = 0
        for _ in range(dbnum):
            if performed >= dbs_per_call or self._timelimit_exit:
                break
            db = self._current_db % dbnum
            self._current_db = db + 1
            keyspace = keyspaces[db]
            if not keyspace.volatile_count:
                self._avg_ttl[db] = 0.0  # databases without TTL keys are passed over, uncounted
                continue
            performed += 1
            loops = 0
            ttl_sum = 0.0
            ttl_samples = 0
            while True:
                iteration += 1
                if iteration % TIME_CHECK_EVERY == 0 and monotonic() - start > timelimit:
                    self._timelimit_exit = True
                    break
                loops += 1
                with context.locked():
                    sampled, expired, ttl, samples, done = self._scan(context, keyspace)
                total_sampled += sampled
                total_expired += expired
                ttl_sum += ttl
                ttl_samples += samples
                # Fraction against fraction (Redis compares expired*100/sampled with a percentage
                # here, correctly; the bug is only in the fast-cycle trigger).
                repeat = not done and sampled > 0 and expired / sampled > acceptable
                if pause is not None:
                    paused_at = monotonic()
                    pause()
                    start += monotonic() - paused_at  # GIL waits are not the cycle's time
                if not repeat:
                    break
            if ttl_samples:
                sample_avg = ttl_sum / ttl_samples
                old = self._avg_ttl[db]
                self._avg_ttl[db] = (
                    sample_avg
                    if old == 0
                    else sample_avg + (old - sample_avg) * AVG_TTL_DECAY**loops
                )
        elapsed = monotonic() - start
        current = total_expired / total_sampled if total_sampled else 0.0
        with context.lock:
            stats = context.stats
            stats.expire_cycle_cpu_milliseconds += elapsed * 1000
            stats.expired_stale_perc = current * STALE_EMA_WEIGHT + stats.expired_stale_perc * (
                1 - STALE_EMA_WEIGHT
            )
            if self._timelimit_exit:
                stats.expired_time_cap_reached_count += 1

    def _scan(
        self, context: ReclaimContext, keyspace: Keyspace
    ) -> tuple[int, int, float, int, bool]:
        """One loop on one database (lock held): sample up to ``keys_per_loop`` keys from the
        cursor. Returns (sampled, expired, sum of remaining TTLs, TTLs summed, cursor wrapped)."""
        db = keyspace.db
        volatile = keyspace.volatile_entries()
        if not volatile:
            return 0, 0, 0.0, 0, True
        num = min(len(volatile), self.params.keys_per_loop)
        cursor = self._cursors[db]
        now = context.clock.monotonic()
        sampled = expired = samples = 0
        ttl_sum = 0.0
        done = False
        # The width of the slot numbers: the next power of two at or above the array's length,
        # read again after every deletion (the array shrinks).
        top = 1 << max(len(volatile) - 1, 0).bit_length() >> 1
        cursor &= (top << 1) - 1 if top else 0  # the array shrank since: bits above it go
        while True:
            if cursor < len(volatile):
                if sampled >= num:
                    break  # stopped on the next slot to sample (so a wrap is seen at once)
                entry = volatile[cursor]
                deadline = entry.deadline
                sampled += 1
                if deadline is not None and now > deadline:
                    self._delete_expired(
                        context, entry, now, deadline
                    )  # the last key moves in here
                    expired += 1
                    top = 1 << max(len(volatile) - 1, 0).bit_length() >> 1
                    cursor &= (top << 1) - 1 if top else 0
                    continue
                if deadline is not None:
                    ttl_sum += deadline - now
                    samples += 1
            # dictScan's reverse-binary increment: add one at the top bit, carrying downwards.
            bit = top
            while cursor & bit:
                cursor ^= bit
                bit >>= 1
            if not bit:
                done = True  # wrapped: the whole array was scanned
                break
            cursor |= bit
        self._cursors[db] = cursor
        return sampled, expired, ttl_sum, samples, done

    def _delete_expired(
        self, context: ReclaimContext, entry: Any, now: float, deadline: float
    ) -> None:
        lag = now - deadline
        self.lag_sum += lag
        if lag > self.lag_max:
            self.lag_max = lag
        self.reclaimed += 1
        context.delete_expired(entry)

    # ------------------------------------------------------------------ introspection

    def avg_ttl_ms(self, db: int) -> int:
        """Redis's running ``avg_ttl`` estimate for database ``db`` (ms, 0 if unknown)."""
        return int(self._avg_ttl[db] * 1000)

    def reset(self) -> None:
        self._cursors = [0] * len(self._cursors)
        self._avg_ttl = [0.0] * len(self._avg_ttl)

    def check(self) -> list[str]:
        if any(cursor < 0 for cursor in self._cursors):
            return [f"{self.name}: negative scan cursor {self._cursors}"]
        return []

    def info(self) -> dict[str, Any]:
        return {
            "expire_cycles_slow": self.cycles_slow,
            "expire_cycles_fast": self.cycles_fast,
            "expired_lag_max_ms": round(self.lag_max * 1000, 3),
            "expired_lag_avg_ms": round(self.lag_sum * 1000 / self.reclaimed, 3)
            if self.reclaimed
            else 0.0,
        }
