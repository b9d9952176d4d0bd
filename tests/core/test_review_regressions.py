"""Regression tests for defects found in review: each failed before its fix."""

from __future__ import annotations

import gc
import threading
import tracemalloc
import weakref

from cachepolicy import Cache, KeyspaceEvent, ManualClock
from tests.conftest import MakeCache


def test_deleted_values_are_released_despite_stale_index_records(make_cache: MakeCache) -> None:
    # The deadline heap keeps records of deleted entries until they surface; those records
    # must not keep the (large) values alive.
    cache = make_cache(maxmemory="512mb", expiry="timed", lazyfree_threshold=0)
    gc.collect()
    tracemalloc.start()
    for i in range(20):
        cache.set(f"big{i}", b"x" * 1_000_000, ttl=3600)
    filled = tracemalloc.get_traced_memory()[0]
    for i in range(20):
        cache.delete(f"big{i}")
    gc.collect()
    emptied = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert filled - emptied > 19_000_000, (filled, emptied)


def test_touch_that_adds_a_ttl_respects_maxmemory(make_cache: MakeCache) -> None:
    cache = make_cache(maxmemory=20_000)
    for i in range(10_000):
        cache.set(f"k{i}", i)  # fill to the limit with keys that have no TTL
    snapshot = cache.keys()
    for key in snapshot:
        cache.touch(key, 100)
        assert cache.info()["used_memory"] <= 20_000


def test_expire_near_the_limit_evicts_only_the_key_itself(make_cache: MakeCache) -> None:
    probe = make_cache(maxmemory=0, eviction_mode="exact")
    for i in range(3):
        probe.set(f"k{i}", i)
    three_keys = probe.info()["used_memory"]  # their entries and the tables holding them
    cache = make_cache(maxmemory=three_keys + 10, eviction_mode="exact")
    events: list[KeyspaceEvent] = []
    cache.subscribe(events.append, events={"evicted"})
    for i in range(3):
        cache.set(f"k{i}", i)
    assert cache.expire("k0", 100) is False  # k0 is the LRU key: it is the victim
    assert [e.key for e in events] == ["k0"]
    assert cache.has("k1") and cache.has("k2")


def test_exact_lru_check_survives_concurrent_reads(make_cache: MakeCache) -> None:
    cache = make_cache(eviction_mode="exact")
    for i in range(5000):
        cache.set(f"k{i}", i)
    stop = threading.Event()

    def reader() -> None:
        i = 0
        while not stop.is_set():
            cache.get(f"k{i % 5000}")
            i += 1

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for _ in range(200):
            assert cache.check() == []
    finally:
        stop.set()
        thread.join(10)


def test_a_dropped_cache_is_freed_by_reference_counting() -> None:
    gc.disable()
    try:
        cache = Cache(expiry="background")
        cache.set("k", 1)
        store = weakref.ref(cache.store)
        del cache
        assert store() is None, gc.get_referrers(store())
    finally:
        gc.enable()


def test_event_sequences_match_redis(make_cache: MakeCache, clock: ManualClock) -> None:
    cache = make_cache()
    seen: list[str] = []
    cache.subscribe(lambda e: seen.append(e.name))
    cache.incr("counter", default=0)
    assert seen == ["new", "incrby"]
    seen.clear()
    cache.set("k", 1, ttl=10)
    assert seen == ["new", "set", "expire"]
    seen.clear()
    cache.set("p", 1)
    seen.clear()
    cache.touch("p", None)  # already persistent: nothing changes, nothing announced
    assert seen == []


def test_inline_expiry_runs_on_incr_only_traffic(make_cache: MakeCache, clock: ManualClock) -> None:
    cache = make_cache(expiry="timed")
    for i in range(100):
        cache.set(f"session{i}", i, ttl=1)
    clock.advance(5)
    for _ in range(3):
        cache.incr("hits", default=0)
        clock.advance(1)
    assert cache.info()["expired_keys"] == 100
    assert len(cache) == 1


def test_forked_child_reads_under_a_locking_policy() -> None:
    import os

    from tests.core.test_fork import _wait_child

    cache = Cache(maxmemory_policy="allkeys-lfu", eviction_mode="exact", expiry="lazy")
    cache.set("k", 1)
    pid = os.fork()
    if pid == 0:
        os._exit(0 if cache.get("k") == 1 else 3)  # the read path takes the (new) lock
    assert _wait_child(pid) == 0


def test_keepttl_and_repeated_expire_events(make_cache: MakeCache) -> None:
    cache = make_cache()
    seen: list[str] = []
    cache.set("k", 1, ttl=10)
    cache.subscribe(lambda e: seen.append(e.name))
    cache.set("k", 2, keepttl=True)
    assert seen == ["set"]  # KEEPTTL sets no expiry: no "expire" event
    seen.clear()
    deadline = cache.expiretime("k")
    assert deadline is not None
    assert cache.expireat("k", deadline) is True
    assert seen == ["expire"]  # Redis announces every successful EXPIRE


def test_flushdb_releases_values_despite_stale_index_records(make_cache: MakeCache) -> None:
    cache = make_cache(maxmemory="512mb", expiry="timed", lazyfree_threshold=0)
    cache.select(1).set("other", 1)  # flushdb of db 0 alone: the deadline heap is kept
    gc.collect()
    tracemalloc.start()
    for i in range(20):
        cache.set(f"big{i}", b"x" * 1_000_000, ttl=3600)
    filled = tracemalloc.get_traced_memory()[0]
    cache.clear()
    gc.collect()
    emptied = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert filled - emptied > 19_000_000, (filled, emptied)
