"""A fork while another thread is inside a store's critical section must not hang the child."""

from __future__ import annotations

import os
import sys
import threading

import pytest

from cachepolicy import Cache, forksafety

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork (POSIX)")


def _wait_child(pid: int, timeout: float = 20.0) -> int:
    """Exit status of child ``pid``, killing it if it does not finish in ``timeout`` seconds."""
    done = threading.Event()
    result: list[int] = []

    def waiter() -> None:
        result.append(os.waitpid(pid, 0)[1])
        done.set()

    threading.Thread(target=waiter, daemon=True).start()
    if not done.wait(timeout):
        os.kill(pid, 9)
        done.wait(5)
        return -1
    return os.waitstatus_to_exitcode(result[0])


def test_child_gets_a_working_lock_even_if_a_thread_held_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(forksafety, "FORK_LOCK_TIMEOUT", 0.1)
    cache = Cache(maxmemory="1mb", expiry="lazy")
    cache.set("before", 1)
    inside = threading.Event()
    release = threading.Event()

    def hold_the_lock() -> None:
        with cache.store.locked():
            inside.set()
            release.wait(30)

    holder = threading.Thread(target=hold_the_lock)
    holder.start()
    assert inside.wait(10)
    # The holder releases only after fork() gave up waiting for it (bounded wait), so the
    # child inherits a held lock and must replace it.
    timer = threading.Timer(1.0, release.set)
    timer.start()
    pid = os.fork()
    if pid == 0:  # child: the holder thread does not exist here
        code = 1
        try:
            cache.set("child", 2)
            code = 0 if cache.get("before") == 1 and cache.get("child") == 2 else 3
        finally:
            os._exit(code)
    holder.join(30)
    timer.join(5)
    assert _wait_child(pid) == 0
    cache.set("parent", 3)  # the parent's lock was released again
    assert cache.get("parent") == 3
    assert cache.check() == []


def test_fork_waits_for_a_short_critical_section() -> None:
    cache = Cache(maxmemory="1mb", expiry="lazy")
    for i in range(1000):
        cache.set(f"k{i}", i)
    stop = threading.Event()

    def writer() -> None:
        n = 0
        while not stop.is_set():
            cache.set(f"w{n % 500}", n)
            n += 1

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        pid = os.fork()
        if pid == 0:
            os._exit(0 if cache.check() == [] else 4)
        assert _wait_child(pid) == 0
    finally:
        stop.set()
        thread.join(10)
    sys.stdout.flush()


def test_child_gets_working_flight_and_tag_locks() -> None:
    """A fork while another thread holds the flight table's and the tag table's locks: the
    child starts with fresh ones (it would hang on its first get_or_set or invalidation)."""
    cache = Cache(maxmemory="1mb", expiry="lazy")
    cache.set("tagged", 1, tags=["t"])
    flights, tags = cache.store.flights, cache.store.tags
    flights._lock.acquire()  # as a thread inside join()/land() at the fork would
    tags._lock.acquire()
    try:
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                cache.invalidate_tags("t")
                fresh = cache.get_or_set("k", lambda: 2) == 2 and cache.get("tagged") is None
                code = 0 if fresh else 3
            finally:
                os._exit(code)
    finally:
        flights._lock.release()
        tags._lock.release()
    assert _wait_child(pid) == 0
