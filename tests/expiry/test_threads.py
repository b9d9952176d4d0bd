"""Background threads: daemon, stop on close(), weak references, fork() (all with timeouts)."""

from __future__ import annotations

import gc
import os
import signal
import threading
import time
import weakref
from collections.abc import Callable

import pytest

from cachepolicy import Cache, ManualClock
from cachepolicy.expiry import InlineDriver, ThreadDriver
from tests.conftest import MakeCache

from .helpers import TIMEOUT, ThreadedActive, settle


def _until(condition: Callable[[], bool], timeout: float = TIMEOUT) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.002)
    return True


def _driver(cache: Cache) -> ThreadDriver:
    driver = cache.store.expiry.driver  # type: ignore[attr-defined]
    assert isinstance(driver, ThreadDriver)
    return driver


def _cachepolicy_threads() -> list[threading.Thread]:
    return [
        t
        for t in threading.enumerate()
        if t.name.startswith("cachepolicy-") and "lazyfree" not in t.name
    ]


@pytest.mark.parametrize("expiry", ["background", ThreadedActive])
def test_thread_is_daemon_and_stops_on_close(make_cache: MakeCache, expiry: object) -> None:
    cache = make_cache(expiry=expiry)
    thread = _driver(cache).thread
    assert thread is not None and thread.daemon and thread.is_alive()
    assert thread.name.startswith("cachepolicy-")
    cache.close()
    assert not thread.is_alive()  # close() joins
    cache.close()  # idempotent
    assert cache.get("anything") is None  # data stays usable after close


@pytest.mark.parametrize("expiry", ["lazy", "active", "timed"])
def test_inline_strategies_start_no_thread(make_cache: MakeCache, expiry: str) -> None:
    before = set(_cachepolicy_threads())
    make_cache(expiry=expiry).set("k", 1, ttl=1)
    assert set(_cachepolicy_threads()) == before


def test_background_reclaims_in_real_time() -> None:
    with Cache(expiry="background", hz=50) as cache:
        cache.set("k", 1, ttl=0.05)
        assert _until(lambda: len(cache) == 0)
        assert cache.check() == []


def test_garbage_cache_is_collected_and_its_thread_ends() -> None:
    cache = Cache(expiry="background", clock=ManualClock())
    cache.set("k", 1, ttl=1)
    store_ref = weakref.ref(cache.store)
    thread = _driver(cache).thread
    assert thread is not None and thread.is_alive()
    del cache
    assert _until(lambda: (gc.collect(), store_ref() is None)[1])
    assert _until(lambda: not thread.is_alive())


def test_failing_subscriber_does_not_kill_the_thread(
    make_cache: MakeCache, clock: ManualClock
) -> None:
    cache = make_cache(expiry="background")

    def boom(event: object) -> None:
        raise RuntimeError("subscriber bug")

    cache.subscribe(boom, events={"expired"})
    cache.set("a", 1, ttl=1)
    clock.advance(2)
    assert settle(cache, lambda: len(cache) == 0)
    cache.set("b", 1, ttl=1)
    clock.advance(2)
    assert settle(cache, lambda: len(cache) == 0)
    assert _driver(cache).thread is not None


def _run_in_child(child: Callable[[], bool], timeout: float = TIMEOUT) -> int:
    """Fork; run ``child`` there (exit 0 if it returns True); return the child's exit code."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        code = 1
        try:
            code = 0 if child() else 2
        except BaseException:
            code = 3
        finally:
            os._exit(code)
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            pytest.fail("forked child timed out")
        time.sleep(0.005)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_thread_restarts_in_forked_child(make_cache: MakeCache, clock: ManualClock) -> None:
    cache = make_cache(expiry="background")
    parent_thread = _driver(cache).thread
    cache.set("k", 1, ttl=1)

    def child() -> bool:
        thread = _driver(cache).thread
        if thread is None or thread is parent_thread or not thread.is_alive():
            return False
        clock.advance(2)
        return _until(lambda: len(cache) == 0, timeout=5) and cache.check() == []

    assert _run_in_child(child) == 0
    assert parent_thread is not None and parent_thread.is_alive()
    assert len(cache) == 1  # the parent's copy is untouched by the child


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_fork_while_background_thread_works(make_cache: MakeCache, clock: ManualClock) -> None:
    # Fork repeatedly while the thread reclaims: the child must never inherit a held lock.
    cache = make_cache(expiry="background", maxmemory=0)
    for round_ in range(3):
        for i in range(2000):
            cache.set(f"r{round_}:{i}", i, ttl=1)
        clock.advance(2)

        def child() -> bool:
            cache.set("child", 1)
            return _until(lambda: cache.get("child") == 1 and len(cache) == 1, timeout=5)

        assert _run_in_child(child) == 0
        assert settle(cache, lambda: len(cache) == 0)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_inline_driver_usable_in_child_even_if_busy_at_fork(
    make_cache: MakeCache, clock: ManualClock
) -> None:
    cache = make_cache(expiry="timed")
    driver = cache.store.expiry.driver  # type: ignore[attr-defined]
    assert isinstance(driver, InlineDriver)
    cache.set("k", 1, ttl=1)
    driver._busy.acquire()  # as if another parent thread was reclaiming at fork time
    try:

        def child() -> bool:
            clock.advance(2)
            cache.set("w", 1)
            return "k" not in cache.store.keyspaces[0].data

        assert _run_in_child(child) == 0
    finally:
        driver._busy.release()
