"""The native asyncio client: same semantics, connections per event loop."""

from __future__ import annotations

import asyncio
import gc
import threading
import warnings
from collections.abc import Callable, Iterator

import pytest

from cachepolicy.redis import aclose_loop
from cachepolicy.redis.client import AsyncRedisClient, async_remote_count
from cachepolicy.redis.settings import parse_redis_settings
from cachepolicy.redis.two_tier import AsyncNearRedisClient
from tests.redis.servers import RedisProcess


@pytest.fixture
def aclient(location: str) -> AsyncRedisClient:
    return AsyncRedisClient(parse_redis_settings(location, {"EVENTS": ()}))


@pytest.mark.asyncio
async def test_async_operations(aclient: AsyncRedisClient, prefix: str) -> None:
    keys = [f"{prefix}{i}" for i in range(30)]
    await aclient.set_many({k: [i] for i, k in enumerate(keys)}, 60)
    assert await aclient.get_many(keys) == {k: [i] for i, k in enumerate(keys)}
    assert await aclient.add(keys[0], "x", None) is False
    await aclient.set(prefix + "n", 1, 10)
    assert await aclient.incr(prefix + "n", 4) == 5
    with pytest.raises(KeyError):
        await aclient.incr(prefix + "missing")
    assert await aclient.touch(prefix + "n", None) is True
    assert await aclient.ttl(prefix + "n") is None
    assert await aclient.delete(prefix + "n") is True
    assert await aclient.has(prefix + "n") is False
    assert await aclient.delete_many(keys[:5]) == 5
    assert await aclient.clear(prefix) == 25
    await aclient.aclose()


@pytest.mark.asyncio
async def test_many_concurrent_tasks_share_the_loop_pool(
    aclient: AsyncRedisClient, prefix: str
) -> None:
    await asyncio.gather(*(aclient.set(f"{prefix}{i}", i, 30) for i in range(100)))
    values = await asyncio.gather(*(aclient.get(f"{prefix}{i}") for i in range(100)))
    assert values == list(range(100))
    assert await aclient.clear(prefix) == 100
    await aclient.aclose()


def test_a_pool_is_never_used_from_another_loop(location: str, prefix: str) -> None:
    aclient = AsyncRedisClient(parse_redis_settings(location, {"EVENTS": ()}))
    remotes = []

    async def use(n: int) -> int:
        remotes.append(aclient.remote)
        await aclient.set(f"{prefix}{n}", n, 30)
        return int(await aclient.get(f"{prefix}{n}"))

    # Two loops one after the other (the first one closed), then two at once in threads.
    assert asyncio.run(use(1)) == 1
    assert asyncio.run(use(2)) == 2
    assert remotes[0] is not remotes[1]
    results: list[int] = []
    threads = [
        threading.Thread(target=lambda n=n: results.append(asyncio.run(use(n))))  # type: ignore[misc]
        for n in (3, 4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(results) == [3, 4]
    assert len({id(r) for r in remotes}) == 4

    async def cleanup() -> None:
        await aclient.clear(prefix)
        await aclient.aclose()

    asyncio.run(cleanup())
    # Every loop above closed its clients when asyncio.run shut it down: none is left, and a
    # new loop makes its own, closed with it in turn.
    assert async_remote_count() == 0

    async def counted() -> int:
        await use(5)
        return async_remote_count()

    assert asyncio.run(counted()) == 1
    assert async_remote_count() == 0
    asyncio.run(cleanup())


def _resource_warnings(run: Callable[[], None]) -> list[str]:
    """The ResourceWarnings Python reports for what ``run()`` left unclosed."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run()
        gc.collect()
    return [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]


@pytest.fixture(params=["plain", "near cache"])
def make_aclient(request: pytest.FixtureRequest, location: str, prefix: str) -> Iterator[
    Callable[[], AsyncRedisClient]
]:  # fmt: skip
    def make() -> AsyncRedisClient:
        if request.param == "plain":
            return AsyncRedisClient(parse_redis_settings(location, {"EVENTS": ()}))
        settings = parse_redis_settings(location, {"EVENTS": (), "NEAR_CACHE": True})
        return AsyncNearRedisClient(settings, prefix=prefix)

    yield make


def test_a_loops_shutdown_closes_its_clients(
    make_aclient: Callable[[], AsyncRedisClient], prefix: str
) -> None:
    """asyncio.run (like asyncio.Runner, asgiref and pytest-asyncio) shuts the loop's async
    generators down before closing it: that closes its clients, near caches included."""
    aclient = make_aclient()

    async def use() -> None:
        await aclient.set(prefix + "k", 1, 30)
        assert await aclient.get(prefix + "k") == 1
        assert async_remote_count() == 1

    assert _resource_warnings(lambda: asyncio.run(use())) == []
    assert async_remote_count() == 0


def test_aclose_loop_closes_a_hand_run_loops_clients(
    make_aclient: Callable[[], AsyncRedisClient], prefix: str
) -> None:
    """A loop run by hand and closed without shutdown_asyncgens(): aclose_loop() first."""
    aclient = make_aclient()

    async def use() -> None:
        await aclient.set(prefix + "k", 2, 30)
        assert await aclient.get(prefix + "k") == 2

    def run() -> None:
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(use())
            loop.run_until_complete(aclose_loop())
            assert async_remote_count() == 0
            loop.run_until_complete(use())  # made again on next use ...
            loop.run_until_complete(aclose_loop())  # ... and closed again
        finally:
            loop.close()

    assert _resource_warnings(run) == []


@pytest.mark.asyncio
async def test_coalesced_calls_each_get_their_own_answer(
    aclient: AsyncRedisClient, prefix: str
) -> None:
    # Concurrent writes of one iteration share a pipeline: NX answers stay per caller.
    added = await asyncio.gather(*(aclient.add(prefix + "once", n, 30) for n in range(20)))
    assert added.count(True) == 1
    winner = added.index(True)
    await asyncio.gather(*(aclient.set(f"{prefix}{n}", n, 30) for n in range(50)))
    keys = [f"{prefix}{n}" for n in (*range(50), 999)]
    values = await asyncio.gather(*(aclient.get(k, "missing") for k in keys))
    assert values == [*range(50), "missing"]
    assert await aclient.get(prefix + "once") == winner


@pytest.mark.asyncio
async def test_a_cancelled_caller_does_not_break_its_batch(
    aclient: AsyncRedisClient, prefix: str
) -> None:
    await aclient.set(prefix + "k", "v", 30)
    doomed = asyncio.ensure_future(aclient.get(prefix + "k"))
    others = [asyncio.ensure_future(aclient.get(prefix + "k")) for _ in range(5)]
    await asyncio.sleep(0)
    doomed.cancel()
    assert await asyncio.gather(*others) == ["v"] * 5
    assert doomed.cancelled()
    await aclient.clear(prefix)
    await aclient.aclose()


def test_a_failed_batch_raises_in_every_caller(redis_server: RedisProcess) -> None:
    from cachepolicy.redis import RedisUnavailableError

    down = AsyncRedisClient(parse_redis_settings("redis://127.0.0.1:1/0", {"EVENTS": ()}))

    async def run() -> list[BaseException | object]:
        return await asyncio.gather(*(down.get(f"k{n}") for n in range(5)), return_exceptions=True)

    results = asyncio.run(run())
    assert all(isinstance(r, RedisUnavailableError) for r in results)
