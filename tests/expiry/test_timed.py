"""The deadline index (``timed``, ``background``): O(due keys), bounded lag, honest memory."""

from __future__ import annotations

import tracemalloc

import pytest

from cachepolicy import Cache, KeyspaceEvent, ManualClock
from cachepolicy._core.deadlines import STALE_SHARE, STALE_SLACK, DeadlineIndex
from cachepolicy._core.entry import Entry
from cachepolicy.expiry import BackgroundExpiry, TimedExpiry
from tests.conftest import MakeCache

from .helpers import settle


def _timed(cache: Cache) -> TimedExpiry:
    strategy = cache.store.expiry
    assert isinstance(strategy, TimedExpiry)
    return strategy


def test_index_memory_matches_tracemalloc() -> None:
    """DeadlineIndex.memory(), which the engine counts in used_memory, is what its lists and
    heap records really allocate (the deadline floats and entries are the entries' own)."""
    entries = [Entry(f"k{i}", b"", 0, float(1000 + i), 0) for i in range(12_000)]
    for entry in entries:
        entry.pos = 0  # as if in a keyspace
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        index = DeadlineIndex()
        for entry in entries[2000:]:  # in deadline order: the lane
            index.file(entry, None)
        for entry in entries[:2000]:  # earlier than the lane's last: the heap
            index.file(entry, None)
        traced = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(index.heap) == 2000
    assert abs(index.memory() - traced) <= 0.05 * traced


def test_one_ttl_for_every_key_fills_the_lane_not_the_heap(
    make_cache: MakeCache, clock: ManualClock
) -> None:
    cache = make_cache(expiry="timed", maxmemory=0)
    strategy = _timed(cache)
    for i in range(500):
        cache.set(f"k{i}", i, ttl=60)
        clock.advance(0.01)
    assert len(strategy.index.lane_entries) == 500 and not strategy.index.heap
    cache.set("short", 1, ttl=1)  # earlier than the lane's last deadline: goes to the heap
    assert len(strategy.index.heap) == 1
    clock.advance(2)
    cache.set("tick", 1)
    assert "short" not in cache and len(cache) == 501  # reclaimed from the heap
    clock.advance(60)
    cache.set("tick", 1)
    assert len(cache) == 1 and strategy.records == 0  # reclaimed from the lane, in order
    assert cache.store.check() == []


def test_ttl_keys_pay_for_their_record(make_cache: MakeCache) -> None:
    lazy = make_cache(expiry="lazy")
    timed = make_cache(expiry="timed")
    for cache in (lazy, timed):
        for i in range(100):
            cache.set(f"k{i}", "v", ttl=10)
        cache.set("p", "v")
    extra = timed.info()["used_memory"] - lazy.info()["used_memory"]
    assert extra == _timed(timed).index.memory() > 100 * 16


def test_reclaims_only_due_keys_among_many_not_due(
    make_cache: MakeCache, clock: ManualClock
) -> None:
    cache = make_cache(expiry="timed", maxmemory=0)
    for i in range(20_000):
        cache.set(f"long{i}", i, ttl=3600)
    seen: list[KeyspaceEvent] = []
    cache.subscribe(seen.append, events={"expired"})
    for i in range(10):
        cache.set(f"short{i}", i, ttl=0.5 + i / 100)
    clock.advance(0.7)
    cache.set("writer", 1)  # one write: everything due is reclaimed, in deadline order
    assert [e.key for e in seen] == [f"short{i}" for i in range(10)]
    strategy = _timed(cache)
    assert strategy.reclaimed == 10
    assert strategy.info()["expire_index_records"] == 20_000


def test_lag_bounded_by_hz_whatever_the_population(
    make_cache: MakeCache, clock: ManualClock
) -> None:
    cache = make_cache(expiry="timed", hz=10, maxmemory=0)
    for i in range(50_000):
        cache.set(f"long{i}", i, ttl=3600)
    cache.set("short", 1, ttl=0.5)
    steps = 0
    while "short" in cache.store.keyspaces[0].data:
        clock.advance(0.01)
        cache.set("writer", steps)
        steps += 1
    assert steps <= 61  # deadline at 50 steps; reclaimed within one 1/hz period after it
    assert _timed(cache).lag_max <= 0.1 + 1e-9


def test_extended_deadlines_do_not_grow_the_index(
    make_cache: MakeCache, clock: ManualClock
) -> None:
    cache = make_cache(expiry="timed")
    for _ in range(100):
        for i in range(50):
            cache.set(f"k{i}", i, ttl=60)  # the usual refresh: deadline moves later
        clock.advance(1)
    assert _timed(cache).info()["expire_index_records"] <= 100  # re-pushed lazily, not per set


def test_leftover_records_are_bounded(make_cache: MakeCache, clock: ManualClock) -> None:
    cache = make_cache(expiry="timed", maxmemory=0)
    strategy = _timed(cache)
    cache.set("anchor", 0, ttl=3600)  # a live record at the lane's head: trimming cannot help
    for i in range(5000):
        cache.set(f"k{i}", i, ttl=3600)
        cache.delete(f"k{i}")  # leaves a record behind
        live = sum(keyspace.volatile_count for keyspace in cache.store.keyspaces)
        # The stated bound: left-over records <= live / STALE_SHARE + STALE_SLACK (one
        # removal past it triggers the compaction).
        assert strategy.records - live <= live // STALE_SHARE + STALE_SLACK + 1
    assert strategy.index.compactions >= 1
    assert cache.store.check() == []


def test_heap_records_of_removed_keys_count_towards_the_bound(
    make_cache: MakeCache, clock: ManualClock
) -> None:
    """Left-over records on the heap (out-of-order deadlines) are bounded like lane records."""
    cache = make_cache(expiry="timed", maxmemory=0)
    strategy = _timed(cache)
    cache.set("anchor", 0, ttl=3600)  # a live record at the lane's head: trimming cannot help
    worst = 0
    for i in range(800):  # earlier than the lane's last deadline: heap records, left behind
        cache.set(f"short{i}", i, ttl=1800)
        cache.delete(f"short{i}")
    for i in range(3000):
        cache.set(f"k{i}", i, ttl=3600)
        cache.delete(f"k{i}")
        live = sum(keyspace.volatile_count for keyspace in cache.store.keyspaces)
        worst = max(worst, strategy.records - live - (live // STALE_SHARE + STALE_SLACK))
    assert worst <= 1
    assert strategy.index.compactions >= 1
    assert cache.store.check() == []


def test_leftover_records_at_the_lane_head_are_trimmed_without_compaction(
    make_cache: MakeCache, clock: ManualClock
) -> None:
    """The oldest keys leaving first (LRU eviction, culls) leave their records at the head."""
    cache = make_cache(expiry="timed", maxmemory=0)
    strategy = _timed(cache)
    for i in range(5000):
        cache.set(f"k{i}", i, ttl=3600)
        if i >= 10:
            cache.delete(f"k{i - 10}")
    assert strategy.index.compactions == 0
    assert strategy.records <= 10 + 1
    assert cache.store.check() == []


def test_shortened_deadline_pushes_a_new_record(make_cache: MakeCache, clock: ManualClock) -> None:
    cache = make_cache(expiry="timed")
    cache.set("k", 1, ttl=100)
    cache.expire("k", 1)
    cache.expire("k", 50)  # extended again: the record at 1 s re-pushes it, does not expire it
    clock.advance(2)
    cache.set("w", 1)
    assert cache.get("k") == 1
    clock.advance(49)
    cache.set("w", 1)
    assert "k" not in cache.store.keyspaces[0].data


def test_backlog_is_bounded_per_run_and_counted(make_cache: MakeCache) -> None:
    class Ticking(ManualClock):
        def monotonic(self) -> float:
            self._now += 0.0002
            return super().monotonic()

    clock = Ticking()
    cache = make_cache(expiry="timed", clock=clock, maxmemory=0)
    for i in range(5000):
        cache.set(f"k{i}", i, ttl=1)
    clock.advance(2)
    cache.set("w", 1)
    info = cache.info()
    assert 0 < info["expired_keys"] < 5000  # 25 ms budget ran out: the rest waits
    assert info["expired_time_cap_reached_count"] >= 1
    assert settle(cache, lambda: len(cache) == 1, step=0.01)  # follow-ups finish the backlog
    assert info["expire_cycle_cpu_milliseconds"] > 0


def test_a_write_reclaims_exactly_what_is_due(make_cache: MakeCache, clock: ManualClock) -> None:
    cache = make_cache(expiry="timed")
    for i in range(30):
        cache.set(f"k{i}", i, ttl=1 + (i % 3))
    clock.advance(2.5)
    cache.set("w", 1)
    assert cache.store.expiry.reclaimed == 20
    assert len(cache) == 11


class Precise(BackgroundExpiry):
    rate = 1000.0


def test_background_notifies_at_the_deadline(make_cache: MakeCache, clock: ManualClock) -> None:
    # spec §12.10: Redis fires "expired" only when its sampler happens to find the key.
    cache = make_cache(expiry=Precise)
    seen: list[tuple[str, float]] = []
    cache.subscribe(lambda e: seen.append((e.key, clock.time())), events={"expired"})
    cache.set("a", 1, ttl=1.0)
    cache.set("b", 1, ttl=2.0)
    clock.advance(1.0005)
    assert settle(cache, lambda: len(seen) == 1)
    clock.advance(1.0)
    assert settle(cache, lambda: len(seen) == 2)
    assert [key for key, _ in seen] == ["a", "b"]
    start = clock.time() - 2.0005
    assert seen[0][1] - (start + 1) <= 0.001
    assert seen[1][1] - (start + 2) <= 0.001


def test_background_does_no_work_on_the_request_path(
    make_cache: MakeCache, clock: ManualClock
) -> None:
    cache = make_cache(expiry="background")
    strategy = _timed(cache)
    cache.set("k", 1, ttl=1)
    clock.advance(2)
    before = strategy.reclaimed
    strategy.after_operation(clock.time())  # the write hook does nothing for a threaded driver
    assert settle(cache, lambda: strategy.reclaimed == before + 1)


@pytest.mark.parametrize("expiry", ["timed", "background"])
def test_lag_metrics_in_info(make_cache: MakeCache, clock: ManualClock, expiry: str) -> None:
    cache = make_cache(expiry=expiry)
    cache.set("k", 1, ttl=1)
    clock.advance(1.05)
    assert settle(cache, lambda: len(cache) == 0, step=0.05)
    info = cache.info()
    assert info["expired_lag_max_ms"] > 0
    assert info["expired_lag_avg_ms"] > 0


def test_leftover_records_at_the_lane_back_are_compacted_from_the_back() -> None:
    """A policy that evicts recent keys (W-TinyLFU refusing newcomers) leaves its records at
    the lane's back, behind many live ones: the partial compaction turns to the back, so the
    live front is not rescanned at every bound crossing, and the bound still holds."""
    index = DeadlineIndex()
    live: list[Entry] = []
    for i in range(2000):  # old keys that stay
        entry = Entry(f"old{i}", b"", 0, float(i), 0)
        entry.pos = 0
        index.file(entry, None)
        live.append(entry)
    recent: list[Entry] = []
    for i in range(3000):  # each newcomer leaves five files later
        entry = Entry(f"new{i}", b"", 0, float(2000 + i), 0)
        entry.pos = 0
        index.file(entry, None)
        recent.append(entry)
        if len(recent) > 5:
            gone = recent.pop(0)
            gone.pos = -1
            index.forget(gone)
        assert index.stale <= index.live // STALE_SHARE + STALE_SLACK
    assert index.compactions >= 10
    assert index.from_back
    assert index.check(live + recent) == []
    # Old keys leave again (LRU-like) behind a live one at the head: the back pass keeps
    # more than it drops, and the next one starts at the front again.
    for entry in live[1:1500]:
        entry.pos = -1
        index.forget(entry)
        assert index.stale <= index.live // STALE_SHARE + STALE_SLACK
    assert not index.from_back
    assert index.check(live[:1] + live[1500:] + recent) == []
