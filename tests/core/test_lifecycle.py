"""Lifecycle with every thread a store can start (issue 11 test family).

The background expiry thread (one per store) and the lazy-free thread (one per process, like
Redis's BIO thread, holding caches weakly) together: ``close()`` ends the store's thread within a
timeout (and is idempotent), a cache dropped without ``close()`` is collected with its thread
although the lazy-free thread handled its garbage, a forked child gets fresh, working threads,
and a released shared store is rebuilt on reuse.
Waits poll with a real-time deadline; none is a bare sleep.
"""

from __future__ import annotations

import gc
import os
import threading
import time
import weakref
from collections.abc import Callable

import pytest

from cachepolicy import Cache, ManualClock, get_shared_store, release_shared_store
from cachepolicy.config import CacheConfig

TIMEOUT = 10.0
BIG = b"x" * 2048  # above the lazyfree_threshold used here: freed on the lazy-free thread


def _until(condition: Callable[[], bool], timeout: float = TIMEOUT) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def _ours() -> set[threading.Thread]:
    """The running per-store threads (the process-wide lazy-free thread is not one)."""
    return {
        t
        for t in threading.enumerate()
        if t.name.startswith("cachepolicy") and t.name != "cachepolicy-lazyfree"
    }


def _lazyfree_ran() -> bool:
    return any(t.name == "cachepolicy-lazyfree" for t in threading.enumerate())


def _busy_cache() -> Cache:
    cache = Cache(expiry="background", lazyfree_threshold=1024, clock=ManualClock(), seed=1)
    cache.set("k", BIG, ttl=5)
    cache.set("k", BIG)  # the overwritten value goes to the lazy-free thread
    cache.delete("k")
    return cache


def test_close_ends_every_thread_and_is_idempotent() -> None:
    before = _ours()
    cache = _busy_cache()
    started = _ours() - before
    assert {t.name for t in started} == {"cachepolicy-background"}
    assert _lazyfree_ran()
    cache.close()
    assert _until(lambda: not any(t.is_alive() for t in started)), started
    cache.close()  # a second close is harmless
    # A closed cache is still a plain cache: reads and writes work, nothing runs behind them.
    cache.set("after", 1)
    assert cache.get("after") == 1
    assert cache.check() == []


def test_a_dropped_cache_is_collected_with_its_threads() -> None:
    before = _ours()
    cache = _busy_cache()
    started = _ours() - before
    store_ref = weakref.ref(cache.store)
    del cache
    assert _until(lambda: (gc.collect(), store_ref() is None)[1]), "the store was not collected"
    assert _until(lambda: not any(t.is_alive() for t in started)), started


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_gets_working_threads() -> None:
    cache = Cache(expiry="background", lazyfree_threshold=1024, hz=50)
    try:
        cache.set("k", BIG, ttl=0.05)
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: expiry and lazy free must work here too
            os.close(read)
            code = 1
            try:
                cache.set("child", BIG, ttl=0.05)
                cache.set("big", BIG)
                cache.delete("big")
                data = cache.store.keyspaces[0].data  # not `in cache`: that would expire lazily
                ok = _until(lambda: "child" not in data and "k" not in data)
                code = 0 if ok and cache.check() == [] else 2
            finally:
                os.write(write, bytes([code]))
                os._exit(code)
        os.close(write)
        with os.fdopen(read, "rb") as pipe:
            result = pipe.read(1)
        _, status = os.waitpid(pid, 0)
        assert result == b"\x00", result
        assert os.waitstatus_to_exitcode(status) == 0
        assert _until(lambda: len(cache) == 0)  # the parent's own thread still runs
    finally:
        cache.close()


def test_a_released_shared_store_is_rebuilt_on_reuse() -> None:
    name = f"lifecycle-{os.getpid()}-{time.monotonic_ns()}"
    config = CacheConfig.from_options({"maxmemory": "1mb"})
    first = get_shared_store(name, config)
    Cache(store=first).set("k", 1)
    release_shared_store(name)
    assert first.closed
    second = get_shared_store(name, config)
    try:
        assert second is not first and not second.closed
        assert Cache(store=second).get("k") is None
    finally:
        release_shared_store(name)
