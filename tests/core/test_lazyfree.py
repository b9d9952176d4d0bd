"""Lazy free (spec §8, §10.42): big values and flushed databases released by the free thread."""

from __future__ import annotations

import threading

import pytest

from cachepolicy import Cache, ManualClock, lazyfree
from tests.conftest import MakeCache

BIG = "x" * 5000  # pickles to more than the 1000-byte threshold used below


def _counts(cache: Cache) -> tuple[int, int]:
    assert lazyfree.drain(10)
    info = cache.info()
    return info["lazyfree_pending_objects"], info["lazyfreed_objects"]


@pytest.fixture
def cache(make_cache: MakeCache) -> Cache:
    return make_cache(expiry="timed", lazyfree_threshold=1000)


def test_delete_big_value(cache: Cache) -> None:
    cache.set("big", BIG)
    cache.set("small", "x")
    cache.delete("small")
    assert _counts(cache) == (0, 0)
    cache.delete("big")
    assert _counts(cache) == (0, 1)


def test_overwrite_expire_and_evict_big_values(cache: Cache, clock: ManualClock) -> None:
    cache.set("big", BIG)
    cache.set("big", "now small")  # the old big payload is released lazily
    cache.set("ttl", BIG, ttl=1)
    clock.advance(2)
    cache.set("w", 1)  # timed reclaims "ttl"
    assert _counts(cache) == (0, 2)


def test_flush_counts_keys(cache: Cache) -> None:
    for i in range(100):
        cache.set(f"k{i}", i)
    cache.clear()
    assert _counts(cache) == (0, 100)
    for i in range(10):  # a small flush is freed inline, except its big values
        cache.set(f"k{i}", i)
    cache.set("big", BIG)
    cache.flushall()
    assert _counts(cache) == (0, 101)


def test_pending_while_the_free_thread_is_busy(cache: Cache) -> None:
    cache.set("big", BIG)
    worker = lazyfree.worker
    assert lazyfree.drain(10)
    with worker._busy:  # the free thread is (as if) releasing something else
        cache.delete("big")
        info = cache.info()
        assert info["lazyfree_pending_objects"] == 1
        assert info["lazyfreed_objects"] == 0
    assert _counts(cache) == (0, 1)


def test_threshold_zero_disables(make_cache: MakeCache) -> None:
    cache = make_cache(lazyfree_threshold=0)
    cache.set("big", BIG)
    cache.delete("big")
    for i in range(100):
        cache.set(f"k{i}", i)
    cache.clear()
    assert _counts(cache) == (0, 0)


def test_release_happens_on_the_free_thread(cache: Cache) -> None:
    released_on: list[str] = []

    class Witness:
        def __del__(self) -> None:
            released_on.append(threading.current_thread().name)

    garbage: list[object] = [Witness() for _ in range(lazyfree.LAZYFREE_MIN_ENTRIES + 1)]
    with cache.store.locked():
        lazyfree.worker.submit(cache.store.engine, garbage, len(garbage), 0)
    del garbage
    assert lazyfree.drain(10)
    assert set(released_on) == {"cachepolicy-lazyfree"}
    assert _counts(cache) == (0, lazyfree.LAZYFREE_MIN_ENTRIES + 1)


def test_reset_stats_keeps_pending(cache: Cache) -> None:
    cache.set("big", BIG)
    with lazyfree.worker._busy:
        cache.delete("big")
        cache.store.reset_stats()
        assert cache.info()["lazyfree_pending_objects"] == 1
    assert _counts(cache) == (0, 1)


def test_backlog_is_bounded_while_the_free_thread_lags(make_cache: MakeCache) -> None:
    """Issue 11, defect 1: values waiting to be freed were unbounded (3.7 GB behind a 64 MB
    cache). With the free thread stuck, the pending bytes stop at the backlog limit and further
    big values are released inline."""
    cache = make_cache(maxmemory="2mb", lazyfree_threshold=10_000)
    limit = lazyfree.backlog_limit(cache.store.engine)
    big = b"v" * 60_000
    assert lazyfree.drain(10)
    with lazyfree.worker._busy:  # the free thread cannot release anything meanwhile
        for i in range(200):  # 12 MB through a 2 MB cache: every write evicts a big value
            cache.set(f"k{i}", big)
            pending = cache.info()["lazyfree_pending_bytes"]
            assert pending <= limit
    assert pending > 0  # the thread did take values while it could
    assert lazyfree.drain(10)
    info = cache.info()
    assert info["lazyfree_pending_bytes"] == 0 and info["lazyfree_pending_objects"] == 0


def test_the_engine_releases_through_the_port_it_is_given(make_cache: MakeCache) -> None:
    """The engine imports nothing above ``_core``: the store hands it the lazy-free port, and
    whatever port it holds gets the big values (here one that records them)."""
    cache = make_cache(lazyfree_threshold=1000)
    engine = cache.store.engine
    assert engine.lazy_free is lazyfree.LAZY_FREE
    released: list[tuple[str, int]] = []

    class Recorder:
        def release(self, engine: object, payload: bytes) -> None:
            released.append(("one", len(payload)))

        def release_all(self, engine: object, payloads: list[bytes]) -> None:
            released.append(("all", len(payloads)))

    engine.lazy_free = Recorder()
    cache.set("big", BIG)
    cache.set("small", "x")
    cache.delete("small")
    cache.delete("big")
    cache.set("a", 1)
    cache.clear()
    assert [kind for kind, _ in released] == ["one", "all"]
    assert released[0][1] > 1000
    assert _counts(cache) == (0, 0)
