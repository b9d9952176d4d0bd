"""Single flight (``Cache.get_or_set``): one computation per key under a herd of threads.

Deterministic: the computation blocks until the test sees every other caller waiting for it
(the flight table counts them), so "exactly once" does not depend on thread timing.
"""

from __future__ import annotations

import math
import threading
from typing import Any

import pytest

from cachepolicy import Cache, ConfigError, ManualClock, OutOfMemoryError
from cachepolicy.errors import ComputeTimeoutError, NotCallableError
from cachepolicy.flight import StampedeSettings
from tests.conftest import MakeCache
from tests.herd import PATIENCE, run_threads, wait_until

HERD = 64


def test_a_herd_of_threads_computes_once(make_cache: MakeCache) -> None:
    cache = make_cache()
    calls: list[int] = []

    def compute() -> dict[str, int]:
        calls.append(1)
        wait_until(lambda: cache.store.flights.followers(0, "hot") == HERD - 1, "the herd")
        return {"answer": 42}

    results = run_threads(HERD, lambda i: cache.get_or_set("hot", compute, 60))
    assert calls == [1]
    assert results == [{"answer": 42}] * HERD
    assert len({id(r) for r in results}) == HERD  # every waiter decoded its own copy
    info = cache.info()
    assert info["stampede_computed"] == 1
    assert info["stampede_waited"] == HERD - 1
    assert info["keyspace_misses"] == HERD
    assert cache.get("hot") == {"answer": 42}
    assert cache.store.flights.in_flight() == 0


def test_a_hit_does_not_compute(make_cache: MakeCache) -> None:
    cache = make_cache()
    cache.set("k", "stored")
    assert cache.get_or_set("k", lambda: pytest.fail("computed on a hit")) == "stored"
    assert cache.info()["stampede_computed"] == 0


def test_ttl_applies_and_expiry_recomputes(make_cache: MakeCache, clock: Any) -> None:
    cache = make_cache()
    values = iter(["first", "second"])
    assert cache.get_or_set("k", lambda: next(values), 10) == "first"
    assert cache.ttl("k") == 10
    clock.advance(11)
    assert cache.get_or_set("k", lambda: next(values), 10) == "second"


def test_the_leaders_exception_is_its_own_and_followers_retry(make_cache: MakeCache) -> None:
    cache = make_cache()
    herd = 8
    attempts: list[int] = []

    def compute() -> str:
        attempts.append(1)
        if len(attempts) == 1:
            wait_until(lambda: cache.store.flights.followers(0, "k") == herd - 1, "followers")
            raise RuntimeError("database down")
        return "value"

    results = run_threads(herd, lambda i: cache.get_or_set("k", compute, 60))
    errors = [r for r in results if isinstance(r, Exception)]
    assert len(errors) == 1 and isinstance(errors[0], RuntimeError)
    assert results.count("value") == herd - 1
    assert len(attempts) == 2  # the failed leader, then one retrying follower
    info = cache.info()
    assert (info["stampede_failed"], info["stampede_computed"]) == (1, 1)


def test_an_exception_leaves_the_cache_unchanged(make_cache: MakeCache) -> None:
    cache = make_cache()
    with pytest.raises(ZeroDivisionError):
        cache.get_or_set("k", lambda: 1 / 0, 60)
    assert "k" not in cache
    with pytest.raises(Exception, match=r"pickle|lambda"):
        cache.get_or_set("k", lambda: lambda: None, 60)  # unpicklable value
    assert "k" not in cache
    assert cache.store.flights.in_flight() == 0


@pytest.mark.parametrize("on_timeout", ["raise", "compute"])
def test_a_follower_waits_a_bounded_time(make_cache: MakeCache, on_timeout: str) -> None:
    cache = make_cache()
    release = threading.Event()
    leader_started = threading.Event()

    def slow() -> str:
        leader_started.set()
        release.wait(PATIENCE)
        return "leader's"

    leader = threading.Thread(target=lambda: cache.get_or_set("k", slow, 60))
    leader.start()
    try:
        assert leader_started.wait(PATIENCE)
        settings = StampedeSettings(wait=0.01, on_timeout=on_timeout)  # type: ignore[arg-type]
        if on_timeout == "raise":
            with pytest.raises(ComputeTimeoutError, match="stampede_wait") as caught:
                cache.get_or_set("k", lambda: "mine", 60, stampede=settings)
            assert caught.value.key == "k"
            assert "k" not in cache
        else:
            assert cache.get_or_set("k", lambda: "mine", 60, stampede=settings) == "mine"
        assert cache.info()["stampede_wait_timeouts"] == 1
    finally:
        release.set()
        leader.join(PATIENCE)


def test_a_non_callable_default_is_refused(make_cache: MakeCache) -> None:
    cache = make_cache()
    with pytest.raises(NotCallableError, match="needs a callable") as caught:
        cache.get_or_set("k", 42, 60)  # type: ignore[arg-type]
    assert isinstance(caught.value, TypeError)
    assert "k" not in cache and cache.info()["keyspace_misses"] == 0


@pytest.mark.parametrize("ttl", [math.nan, "10", True])
def test_a_bad_ttl_is_refused_before_computing(make_cache: MakeCache, ttl: Any) -> None:
    cache = make_cache()
    with pytest.raises((TypeError, ValueError)):
        cache.get_or_set("k", lambda: pytest.fail("computed"), ttl)
    assert "k" not in cache


@pytest.mark.parametrize("wait", [0, -1, math.nan, math.inf, True, "1", 1e9])
def test_bad_wait_settings_name_the_option(wait: Any) -> None:
    with pytest.raises(ConfigError, match="stampede_wait") as caught:
        StampedeSettings(wait=wait)
    assert caught.value.option == "stampede_wait"


def test_bad_on_timeout_names_the_option() -> None:
    with pytest.raises(ConfigError, match="stampede_on_timeout"):
        StampedeSettings(on_timeout="wait")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="StampedeSettings"):
        Cache(stampede={"wait": 1})  # type: ignore[arg-type]


def test_a_refused_write_reaches_the_leader_and_the_cache_is_unchanged(
    make_cache: MakeCache,
) -> None:
    cache = make_cache(maxmemory="2kb", maxmemory_policy="noeviction")
    cache.set("small", 1)  # with nothing stored, the engine says ValueTooLargeError instead
    with pytest.raises(OutOfMemoryError):
        cache.get_or_set("big", lambda: "x" * 1500, 60)
    assert "big" not in cache
    assert cache.info()["stampede_computed"] == 1


def test_views_of_one_store_share_flights(make_cache: MakeCache) -> None:
    cache = make_cache()
    other = Cache(store=cache.store)
    assert other.store.flights is cache.store.flights
    assert cache.select(1).stampede is cache.stampede


def test_reset_stats_zeroes_the_counters(make_cache: MakeCache) -> None:
    cache = make_cache()
    cache.get_or_set("k", lambda: 1)
    cache.store.reset_stats()
    assert cache.info()["stampede_computed"] == 0


def test_each_get_or_set_reads_the_key_once(make_cache: MakeCache) -> None:
    """The compiled hit path (Accessor.get_fresh) hands stale, tagged and early-refresh
    envelopes to the view without a second read: one hit or miss per call, whatever path."""
    clock = ManualClock()
    cache = make_cache(clock=clock, stampede=StampedeSettings(beta=None, grace=30.0))

    def counts() -> tuple[int, int]:
        info = cache.info()
        return info["keyspace_hits"], info["keyspace_misses"]

    assert cache.get_or_set("k", lambda: 1, 10) == 1 and counts() == (0, 1)  # miss
    assert cache.get_or_set("k", lambda: 2, 10) == 1 and counts() == (1, 1)  # fresh envelope
    assert cache.get_or_set("t", lambda: 3, 10, tags=["x"]) == 3 and counts() == (1, 2)
    assert cache.get_or_set("t", lambda: 4, 10, tags=["x"]) == 3 and counts() == (2, 2)
    cache.invalidate_tags("x")
    assert cache.get_or_set("t", lambda: 5, 10, tags=["x"]) == 5 and counts() == (3, 2)
    clock.advance(11)  # "k" is stale, in its grace period: refreshed by this caller
    assert cache.get_or_set("k", lambda: 6, 10) == 6 and counts() == (4, 2)
    assert cache.get_or_set("plain", lambda: 7) == 7 and counts() == (4, 3)  # no TTL: plain
    assert cache.get_or_set("plain", lambda: 8) == 7 and counts() == (5, 3)
    assert cache.info()["stampede_computed"] == 5


def test_an_early_refresh_reads_the_key_once(make_cache: MakeCache) -> None:
    clock = ManualClock()
    cache = make_cache(clock=clock, seed=7, stampede=StampedeSettings(beta=100.0))

    def slow() -> int:
        clock.advance(1.0)  # delta = 1 s: with beta 100, most reads refresh early
        return 1

    cache.get_or_set("k", slow, 10)
    for reads in range(1, 21):
        assert cache.get_or_set("k", slow, 10) == 1
        assert cache.info()["keyspace_hits"] == reads
    assert cache.info()["stampede_early_refreshes"] >= 10
