"""``Cache.aget_or_set``: single flight for asyncio tasks (and tasks mixed with threads).

Deterministic: the computation waits until the flight table counts every other caller as a
follower; waits are bounded (tests/herd.py's PATIENCE)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from cachepolicy.errors import ComputeTimeoutError, NotCallableError
from cachepolicy.flight import StampedeSettings
from tests.conftest import MakeCache
from tests.herd import PATIENCE

HERD = 64


async def until(condition: Any, what: str) -> None:
    """Yield to the loop until ``condition()``; bounded by PATIENCE."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + PATIENCE
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.001)


def test_a_herd_of_tasks_computes_once(make_cache: MakeCache) -> None:
    cache = make_cache()
    calls: list[int] = []

    async def compute() -> dict[str, int]:
        calls.append(1)
        await until(lambda: cache.store.flights.followers(0, "hot") == HERD - 1, "the herd")
        return {"answer": 42}

    async def herd() -> list[Any]:
        return await asyncio.gather(*(cache.aget_or_set("hot", compute, 60) for _ in range(HERD)))

    assert asyncio.run(herd()) == [{"answer": 42}] * HERD
    assert calls == [1]
    info = cache.info()
    assert (info["stampede_computed"], info["stampede_waited"]) == (1, HERD - 1)
    assert cache.get("hot") == {"answer": 42}


def test_a_sync_callable_and_a_hit(make_cache: MakeCache) -> None:
    cache = make_cache()
    assert asyncio.run(cache.aget_or_set("k", lambda: "v", 60)) == "v"
    assert asyncio.run(cache.aget_or_set("k", lambda: pytest.fail("computed"), 60)) == "v"


def test_a_task_waits_for_a_thread_without_blocking_its_loop(make_cache: MakeCache) -> None:
    cache = make_cache()
    release, started = threading.Event(), threading.Event()

    def slow() -> str:
        started.set()
        release.wait(PATIENCE)
        return "from the thread"

    leader = threading.Thread(target=lambda: cache.get_or_set("k", slow, 60))
    leader.start()
    assert started.wait(PATIENCE)

    async def main() -> tuple[Any, int]:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while ticks < 5:  # runs while the follower is suspended: the loop is free
                ticks += 1
                await asyncio.sleep(0)
            release.set()

        value, _ = await asyncio.gather(cache.aget_or_set("k", lambda: "mine", 60), ticker())
        return value, ticks

    try:
        assert asyncio.run(main()) == ("from the thread", 5)
    finally:
        release.set()
        leader.join(PATIENCE)


def test_the_leaders_exception_is_its_own(make_cache: MakeCache) -> None:
    cache = make_cache()
    attempts: list[int] = []

    async def compute() -> str:
        attempts.append(1)
        if len(attempts) == 1:
            await until(lambda: cache.store.flights.followers(0, "k") == 7, "followers")
            raise RuntimeError("down")
        return "ok"

    async def herd() -> list[Any]:
        calls = (cache.aget_or_set("k", compute, 60) for _ in range(8))
        return await asyncio.gather(*calls, return_exceptions=True)

    results = asyncio.run(herd())
    assert sum(isinstance(r, RuntimeError) for r in results) == 1
    assert results.count("ok") == 7 and len(attempts) == 2


def test_a_follower_task_times_out(make_cache: MakeCache) -> None:
    cache = make_cache()
    strict = StampedeSettings(wait=0.01, on_timeout="raise")

    async def main() -> None:
        gate = asyncio.Event()

        async def slow() -> str:
            await gate.wait()
            return "late"

        leader = asyncio.create_task(cache.aget_or_set("k", slow, 60))
        await until(lambda: cache.store.flights.in_flight() == 1, "the leader")
        with pytest.raises(ComputeTimeoutError):
            await cache.aget_or_set("k", lambda: "mine", 60, stampede=strict)
        gate.set()
        assert await leader == "late"

    asyncio.run(main())
    assert cache.info()["stampede_wait_timeouts"] == 1


def test_bad_input_and_tags(make_cache: MakeCache) -> None:
    cache = make_cache()
    with pytest.raises(NotCallableError):
        asyncio.run(cache.aget_or_set("k", 1, 60))  # type: ignore[arg-type]
    assert asyncio.run(cache.aget_or_set("k", lambda: 1, 60, tags=["t"])) == 1
    cache.invalidate_tags("t")
    assert asyncio.run(cache.aget_or_set("k", lambda: 2, 60, tags=["t"])) == 2


def test_early_refresh_and_serve_stale_match_the_sync_method() -> None:
    from cachepolicy import Cache, ManualClock

    clock = ManualClock()
    cache = Cache(clock=clock, seed=7, stampede=StampedeSettings(beta=1.0, grace=30))
    computed: list[float] = []

    async def slow_query() -> str:
        computed.append(clock.time())
        clock.advance(2.0)  # the computation takes 2 s
        return f"v{len(computed)}"

    async def reads() -> None:
        assert await cache.aget_or_set("hot", slow_query, 60) == "v1"
        while len(computed) == 1:
            clock.advance(0.1)  # a read every 100 ms: never a miss
            assert await cache.aget_or_set("hot", slow_query, 60) in ("v1", "v2")
        assert cache.info()["stampede_early_refreshes"] == 1
        assert cache.ttl("hot") > 55 + 30  # refreshed before it expired (TTL + grace)
        clock.advance(70)  # past the TTL, within the grace period
        assert cache.get("hot") is None  # plain get: a miss
        flight = cache.store.flights.lead(0, "hot")  # another caller is refreshing it
        assert flight is not None
        assert await cache.aget_or_set("hot", slow_query, 60) == "v2"  # served stale
        cache.store.flights.land(0, "hot", flight)
        assert cache.info()["stampede_stale_served"] == 1

        async def down() -> str:
            raise RuntimeError("database down")

        assert await cache.aget_or_set("hot", down, 60) == "v2"  # stale-if-error
        assert await cache.aget_or_set("hot", slow_query, 60) == "v3"  # refreshed

    asyncio.run(reads())
