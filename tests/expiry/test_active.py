"""Redis's active expire cycle (spec §6, §12.9), step by step with a manual clock."""

from __future__ import annotations

import pytest

from cachepolicy import Cache, ManualClock
from cachepolicy.expiry import ActiveExpiry, effort_params
from tests.conftest import MakeCache


class TickingClock(ManualClock):
    """Every monotonic() read costs ``step`` seconds: makes time budgets run out on cue."""

    def __init__(self, step: float) -> None:
        super().__init__()
        self.step = step

    def monotonic(self) -> float:
        self._now += self.step
        return super().monotonic()


def _active(cache: Cache) -> ActiveExpiry:
    strategy = cache.store.expiry
    assert isinstance(strategy, ActiveExpiry)
    return strategy


@pytest.mark.parametrize(
    ("effort", "keys", "fast_us", "slow_perc", "stale", "slow_ms"),
    [(1, 20, 1000, 25, 0.10, 25.0), (5, 40, 2000, 33, 0.06, 33.0), (10, 65, 3250, 43, 0.01, 43.0)],
)
def test_effort_formulas(
    effort: int, keys: int, fast_us: int, slow_perc: int, stale: float, slow_ms: float
) -> None:
    params = effort_params(effort, hz=10)
    assert params.keys_per_loop == keys
    assert params.fast_duration * 1e6 == pytest.approx(fast_us)
    assert params.slow_time_perc == slow_perc
    assert params.acceptable_stale == pytest.approx(stale)
    assert params.slow_duration * 1000 == pytest.approx(slow_ms)
    assert effort_params(1, hz=100).slow_duration == pytest.approx(0.0025)


def test_cursor_persists_across_cycles(make_cache: MakeCache, clock: ManualClock) -> None:
    cache = make_cache(expiry="active")
    for i in range(100):
        cache.set(f"k{i}", i, ttl=3600)
    strategy = _active(cache)
    # One loop of keys_per_loop per cycle, nothing expired, no repeat: 100 keys take 5 cycles.
    for _ in range(4):
        strategy.cycle(cache.store.engine, fast=False, pause=None)
        assert strategy._cursors[0] != 0  # the cursor carries over
    strategy.cycle(cache.store.engine, fast=False, pause=None)
    assert strategy._cursors[0] == 0  # wrapped: the whole array was scanned


def test_repeats_while_stale_share_is_high(make_cache: MakeCache, clock: ManualClock) -> None:
    cache = make_cache(expiry="active")
    for i in range(1000):
        cache.set(f"k{i}", i, ttl=1)
    clock.advance(2)
    strategy = _active(cache)
    strategy.cycle(cache.store.engine, fast=False, pause=None)
    assert len(cache) == 0  # every sample was 100 % expired: repeated until the array was empty
    assert cache.info()["expired_keys"] == 1000


def test_stops_repeating_at_low_stale_share(make_cache: MakeCache, clock: ManualClock) -> None:
    cache = make_cache(expiry="active")
    # 1 expired key in each 20 slots sampled (5 % < 10 % acceptable): one loop, no repeat.
    order = scan_order(200)
    expiring = set(order[3::20])  # one per loop of 20 slots, in the cursor's order
    for i in range(200):
        cache.set(f"k{i}", i, ttl=1 if i in expiring else 3600)
    clock.advance(2)
    _active(cache).cycle(cache.store.engine, fast=False, pause=None)
    assert cache.info()["expired_keys"] == 1


def scan_order(size: int) -> list[int]:
    """The slots of an array of ``size`` in the cursor's order: dictScan's reverse-binary
    increments over the next power of two, slots past the end skipped."""
    width = max(size - 1, 0).bit_length()
    return [
        slot
        for slot in (int(f"{v:0{width}b}"[::-1], 2) if width else 0 for v in range(1 << width))
        if slot < size
    ]


def test_the_cursor_samples_the_whole_array_evenly(
    make_cache: MakeCache, clock: ManualClock
) -> None:
    """Issue 11, defect 10: keys written after a block of not-yet-due keys are met at their
    share of the keyspace in every loop, as in Redis's hash-ordered scan, not after the block."""
    assert scan_order(8) == [0, 4, 2, 6, 1, 5, 3, 7]
    assert scan_order(5) == [0, 4, 2, 1, 3]
    assert sorted(scan_order(1000)) == list(range(1000))
    cache = make_cache(expiry="active")
    for i in range(2000):
        cache.set(f"long{i}", i, ttl=3600)
    for i in range(3300):
        cache.set(f"short{i}", i, ttl=0.2)
    clock.advance(0.3)
    _active(cache).cycle(cache.store.engine, fast=False, pause=None)
    # The manual clock does not move during the cycle, so its budget never runs out: it repeats
    # while samples are > 10 % stale, and every loop samples both blocks evenly.
    assert cache.info()["expired_keys"] >= 3300 * 0.9
    assert sum(1 for key in cache.keys() if key.startswith("long")) == 2000  # noqa: SIM118


def test_visits_at_most_16_databases_and_rotates(make_cache: MakeCache, clock: ManualClock) -> None:
    cache = make_cache(expiry="active", databases=20)
    for db in range(20):
        cache.select(db).set("k", 1, ttl=1)
    cache.select(3).set("plain", 1)
    clock.advance(2)
    strategy = _active(cache)
    strategy.cycle(cache.store.engine, fast=False, pause=None)
    assert sum(len(cache.select(db)) for db in range(20)) == 1 + 4  # 16 visited, 4 left
    strategy.cycle(
        cache.store.engine, fast=False, pause=None
    )  # resumes where the last call stopped
    assert sum(len(cache.select(db)) for db in range(20)) == 1


def test_databases_without_ttl_keys_are_not_counted(
    make_cache: MakeCache, clock: ManualClock
) -> None:
    # spec §10.38: empty or TTL-less databases never stop the cycle reaching the others.
    cache = make_cache(expiry="active", databases=40)
    for db in range(0, 40, 2):
        cache.select(db).set("plain", 1)
    for db in range(1, 40, 2):
        cache.select(db).set("k", 1, ttl=1)
    clock.advance(2)
    _active(cache).cycle(cache.store.engine, fast=False, pause=None)
    assert all(len(cache.select(db)) == 0 for db in range(1, 32, 2))
    assert cache.info()["expired_time_cap_reached_count"] == 0


def test_normal_run_never_hits_the_time_cap(make_cache: MakeCache, clock: ManualClock) -> None:
    cache = make_cache(expiry="active")
    for i in range(500):
        cache.select(i % 16).set(f"k{i}", i, ttl=1 + (i % 7))
    for _ in range(100):
        clock.advance(0.1)
        cache.set("writer", 1)
    assert cache.info()["expired_time_cap_reached_count"] == 0
    assert sum(len(cache.select(db)) for db in range(16)) == 1


def test_time_limit_exit_is_counted_and_triggers_fast_cycles(make_cache: MakeCache) -> None:
    clock = TickingClock(step=0.002)  # 2 ms per clock read: a 25 ms budget lasts ~12 reads
    cache = make_cache(expiry="active", clock=clock)
    for i in range(20_000):
        cache.set(f"k{i}", i, ttl=1)
    clock.advance(5)
    strategy = _active(cache)
    # The writes' own cycles may already have hit the cap (the clock ticks on every read).
    before = cache.info()
    strategy.cycle(cache.store.engine, fast=False, pause=None)
    info = cache.info()
    assert info["expired_time_cap_reached_count"] == before["expired_time_cap_reached_count"] + 1
    assert before["expired_keys"] < info["expired_keys"] < 20_000
    assert strategy.fast_wanted(cache.store.stats.expired_stale_perc)
    assert info["expire_cycle_cpu_milliseconds"] > 0
    fast_before = strategy.cycles_fast
    cache.set("writer", 1)  # within the same slow period: a fast cycle runs after the write
    cache.set("writer", 2)
    assert strategy.cycles_fast > fast_before


def test_stale_estimate_is_a_fraction_and_triggers_fast_cycles(
    make_cache: MakeCache, clock: ManualClock
) -> None:
    # spec §12.9: Redis compares a 0..1 fraction against 1..10 *percent*, so this trigger never
    # fires there. Here a sustained 100 % stale sample pushes the EMA past 10 % and it does.
    cache = make_cache(expiry="active", databases=1)
    strategy = _active(cache)
    stats = cache.store.stats
    for round_ in range(3):
        for i in range(2):
            cache.set(f"r{round_}:{i}", i, ttl=1)
        clock.advance(2)
        old = stats.expired_stale_perc
        strategy.cycle(cache.store.engine, fast=False, pause=None)
        assert stats.expired_stale_perc == pytest.approx(0.05 * 1.0 + 0.95 * old)
    assert cache.info()["expired_stale_perc"] == round(100 * stats.expired_stale_perc, 2)
    assert strategy.fast_wanted(0.10)  # 10 % stale against 10 % acceptable: fires
    assert not strategy.fast_wanted(0.09)


def test_fast_cycles_are_spaced(make_cache: MakeCache, clock: ManualClock) -> None:
    cache = make_cache(expiry="active")
    strategy = _active(cache)
    cache.store.stats.expired_stale_perc = 0.5
    cache.set("a", 1)  # first write: the slow cycle
    slow, fast = strategy.cycles_slow, strategy.cycles_fast
    cache.set("a", 2)
    assert strategy.cycles_fast == fast + 1
    cache.set("a", 3)  # within 2 x fast_duration of the previous fast cycle: skipped
    assert strategy.cycles_fast == fast + 1
    clock.advance(0.002)
    cache.set("a", 4)
    assert strategy.cycles_fast == fast + 2
    assert strategy.cycles_slow == slow


def test_slow_cycle_rate_is_hz(make_cache: MakeCache, clock: ManualClock) -> None:
    cache = make_cache(expiry="active", hz=10)
    strategy = _active(cache)
    for _ in range(50):
        cache.set("a", 1)
    assert strategy.cycles_slow == 1
    for _ in range(10):
        clock.advance(0.1)
        cache.set("a", 1)
    assert strategy.cycles_slow == 11


def test_exact_deadline_is_not_expired(make_cache: MakeCache, clock: ManualClock) -> None:
    # Redis's cycle uses now >= deadline, lookups now > deadline (spec §7); we use > for both.
    cache = make_cache(expiry="active")
    cache.set("k", 1, ttl=1)
    clock.advance(1)
    _active(cache).cycle(cache.store.engine, fast=False, pause=None)
    assert cache.get("k") == 1


def test_avg_ttl_estimate(make_cache: MakeCache, clock: ManualClock) -> None:
    cache = make_cache(expiry="active")
    for i in range(10):
        cache.set(f"k{i}", i, ttl=100)
    strategy = _active(cache)
    strategy.cycle(cache.store.engine, fast=False, pause=None)
    assert strategy.avg_ttl_ms(0) == 100_000
    assert strategy.avg_ttl_ms(1) == 0


def test_a_slow_cycle_sweeps_a_mostly_expired_database(
    make_cache: MakeCache, clock: ManualClock
) -> None:
    cache = make_cache(expiry="active")
    for i in range(300):
        cache.set(f"k{i}", i, ttl=1 if i % 3 else 100)
    clock.advance(2)
    strategy = _active(cache)
    strategy.cycle(cache.store.engine, fast=False, pause=None)
    assert strategy.reclaimed == 200
    assert len(cache) == 100


def test_lag_grows_with_not_yet_due_keys(make_cache: MakeCache, clock: ManualClock) -> None:
    # The weakness kept on purpose (spec §12.8): the cursor must reach a due key.
    cache = make_cache(expiry="active", databases=1)
    for i in range(2000):
        cache.set(f"long{i}", i, ttl=3600)
    cache.set("short", 1, ttl=0.5)
    cycles = 0
    while "short" in cache.store.keyspaces[0].data:
        clock.advance(0.1)
        cache.set("writer", 1)
        cycles += 1
    assert cycles > 10  # ~2000 / 20 keys per cycle, far later than the deadline


def test_the_cursor_follows_a_shrinking_array(make_cache: MakeCache, clock: ManualClock) -> None:
    """A cursor left past the next power of two of a shrunk array is folded back into it, so
    the scan goes on (it used to stay there, every cycle a wrap that sampled nothing)."""
    cache = make_cache(expiry="active")
    strategy = _active(cache)
    for i in range(5000):
        cache.set(f"k{i}", i, ttl=3600)
    strategy._cursors[0] = 4096 + 7  # as a scan of 5000 keys leaves it
    for i in range(2000):  # down to 3000 keys: the slots now number 4096
        cache.delete(f"k{i}")
    for i in range(100):
        cache.set(f"s{i}", i, ttl=0.5)
    clock.advance(1)
    for _ in range(30):
        strategy.cycle(cache.store.engine, fast=False, pause=None)
    assert cache.info()["expired_keys"] > 0
