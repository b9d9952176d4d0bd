"""The asyncio near cache (``redis.asyncio``): coherence, races and faults, as for the sync one.

Each test runs its own event loop (``asyncio.run``), so the tracker's tasks, the client's pool
and the near cache all live on one loop, as they do in an async web worker.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import pytest
import redis
import redis.asyncio as aioredis

import tests.redis.test_near_support as support
from cachepolicy.redis.near import (
    AsyncNearCache,
    AsyncNearRemote,
    AsyncRedisRemote,
    NearCacheConfig,
)
from tests.redis.test_near_support import (
    FreezableProxy,
    PrivateServer,
    delete_prefix,
    unique_prefix,
)

shared_redis = support.shared_redis  # the fixtures
private_server = support.private_server


async def apoll(condition: Callable[[], Awaitable[Any]], timeout: float = 5.0) -> Any:
    """Await ``condition()`` until truthy (returned) or ``timeout`` passes (AssertionError)."""
    deadline = time.monotonic() + timeout
    while True:
        result = await condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(0.001)


async def apoll_within_bound(
    read: Callable[[], Awaitable[Any]],
    settled: Callable[[Any], bool],
    since: float,
    bound: float,
    timeout: float = 5.0,
) -> Any:
    """The async :func:`~tests.redis.test_near_support.poll_within_bound`: each read is
    judged by its own start time, so a slow loop never fails it, a stale hit after the bound
    always does."""
    deadline = time.monotonic() + timeout
    while True:
        began = time.monotonic()
        result = await read()
        if settled(result):
            return result
        late = began - since
        if late > bound:
            raise AssertionError(f"{result!r} from a read begun {late:.3f}s after the event")
        if time.monotonic() > deadline:
            raise AssertionError(f"not settled within {timeout}s")
        await asyncio.sleep(0.001)


async def _open(port: int, prefix: str, mode: str = "bcast", **kwargs: Any) -> AsyncNearCache:
    client = aioredis.Redis(host="127.0.0.1", port=port, socket_timeout=5)
    near = AsyncNearCache(
        AsyncRedisRemote(client),
        prefix=prefix,
        config=NearCacheConfig(staleness=kwargs.pop("staleness", 1.0), mode=mode),
        **kwargs,
    )
    assert await near.wait_fresh()
    return near


async def _close(near: AsyncNearCache) -> None:
    await near.close()
    remote = near.remote
    assert isinstance(remote, AsyncRedisRemote)
    await remote.client.aclose()


def _cached(near: AsyncNearCache, key: str, value: bytes) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return await near.get(key) == value and near.core.l1.has(key)

    return check


@pytest.mark.parametrize("mode", ["bcast", "default"])
def test_async_coherence_on_the_shared_server(shared_redis: Any, mode: str) -> None:
    prefix = unique_prefix("async")

    async def scenario() -> None:
        near = await _open(6379, prefix, mode)
        writer = aioredis.Redis(host="127.0.0.1", port=6379)
        try:
            assert isinstance(near.remote, AsyncNearRemote)
            key = prefix + "k"
            await writer.set(key, b"old")
            await apoll(_cached(near, key, b"old"))
            hits = near.info()["near_cache_hits"]
            assert await near.get(key) == b"old"
            assert near.info()["near_cache_hits"] == hits + 1
            before = near.info()["near_cache_invalidations"]
            await writer.set(key, b"new")
            await apoll(lambda: _true(near.info()["near_cache_invalidations"] > before))
            assert await near.get(key) == b"new"
            await near.set(key, b"mine", ttl_ms=60_000)
            assert await near.get(key) == b"mine"
            ttl = near.core.l1.ttl(key) if near.core.l1.has(key) else None
            assert ttl is None or ttl <= 60
            keys = [prefix + f"m{i}" for i in range(5)]
            await writer.mset(dict.fromkeys(keys, b"v"))
            assert await near.get_many([*keys, prefix + "absent"]) == dict.fromkeys(keys, b"v")
            assert await near.delete(key)
            assert await near.get(key) is None
        finally:
            await _close(near)
            await writer.aclose()

    try:
        asyncio.run(scenario())
    finally:
        delete_prefix(shared_redis, prefix)


async def _true(value: bool) -> bool:
    return value


def test_async_read_racing_a_write_never_fills(shared_redis: Any) -> None:
    prefix = unique_prefix("arace")
    key = prefix + "k"
    shared_redis.set(key, b"old")

    class WriteDuringRead(AsyncRedisRemote):
        near: AsyncNearCache

        async def fetch_many(
            self, keys: Sequence[str], redirect: int | None = None
        ) -> list[tuple[bytes | None, int]]:
            replies = await super().fetch_many(keys, redirect)
            if replies[0][0] == b"old":
                before = self.near.info()["near_cache_invalidations"]
                await self.client.set(key, b"new")
                await apoll(lambda: _true(self.near.info()["near_cache_invalidations"] > before))
            return replies

    async def scenario() -> None:
        client = aioredis.Redis(host="127.0.0.1", port=6379)
        remote = WriteDuringRead(client)
        near = AsyncNearCache(remote, prefix=prefix)
        remote.near = near
        try:
            assert await near.wait_fresh()
            assert await near.get(key) == b"old"
            assert not near.core.l1.has(key)
            assert await near.get(key) == b"new"
            assert near.info()["near_cache_fills_refused"] >= 1
        finally:
            await _close(near)

    try:
        asyncio.run(scenario())
    finally:
        delete_prefix(shared_redis, prefix)


def test_async_killed_tracking_connection_recovers(private_server: PrivateServer) -> None:
    async def scenario() -> None:
        near = await _open(private_server.port, "a:", staleness=0.2)
        admin = aioredis.Redis(host="127.0.0.1", port=private_server.port)
        try:
            await admin.set("a:k", b"1")
            await apoll(_cached(near, "a:k", b"1"))
            old_id = near.tracker.client_ids[0]
            await admin.client_kill_filter(_id=old_id)
            await admin.set("a:k", b"2")
            written = time.monotonic()
            await apoll_within_bound(lambda: near.get("a:k"), lambda v: v == b"2", written, 0.2)
            await apoll(lambda: _true(near.tracker.client_ids[0] not in (None, old_id)))
            assert await near.wait_fresh()
            assert near.info()["near_cache_reconnects"] == 2
            await apoll(_cached(near, "a:k", b"2"))
            await admin.set("a:k", b"3")
            await apoll(lambda: _equals(near.get("a:k"), b"3"))
        finally:
            await _close(near)
            await admin.aclose()

    asyncio.run(scenario())


async def _equals(value: Awaitable[Any], expected: Any) -> bool:
    return bool(await value == expected)


def test_async_silent_connection_stops_hits_within_the_bound(
    private_server: PrivateServer,
) -> None:
    proxy = FreezableProxy(private_server.port)
    staleness = 0.2
    sync_admin = private_server.client()
    sync_admin.set("a:s", b"old")  # before tracking starts: no late push of it

    async def scenario() -> None:
        near = await _open(
            private_server.port,
            "a:",
            staleness=staleness,
            endpoints=[{"host": "127.0.0.1", "port": proxy.port}],
        )
        admin = aioredis.Redis(host="127.0.0.1", port=private_server.port)
        try:
            await apoll(_cached(near, "a:s", b"old"))
            invalidations = near.info()["near_cache_invalidations"]
            proxy.freeze()
            await admin.set("a:s", b"new")
            acknowledged = time.monotonic()
            # The old copy may be served inside the bound (the documented window), never after.
            await apoll_within_bound(
                lambda: near.get("a:s"), lambda v: v == b"new", acknowledged, staleness
            )
            assert near.info()["near_cache_invalidations"] == invalidations  # push held
            assert len(near.core.l1) == 0
            assert near.info()["near_cache_stale_flushes"] >= 1
            proxy.thaw()
            assert await near.wait_fresh(timeout=10)
            await apoll(_cached(near, "a:s", b"new"))
        finally:
            await _close(near)
            await admin.aclose()

    try:
        asyncio.run(scenario())
    finally:
        proxy.close()
        sync_admin.close()


def test_async_server_flush_and_restart(private_server: PrivateServer) -> None:
    async def scenario() -> None:
        near = await _open(private_server.port, "a:", staleness=0.2)
        try:
            admin = aioredis.Redis(host="127.0.0.1", port=private_server.port)
            await admin.set("a:x", b"1")
            await apoll(_cached(near, "a:x", b"1"))
            flushes = near.info()["near_cache_flushes"]
            await admin.flushdb()
            await apoll(lambda: _true(near.info()["near_cache_flushes"] > flushes))
            assert len(near.core.l1) == 0
            await admin.set("a:x", b"2")
            await apoll(_cached(near, "a:x", b"2"))
            await admin.aclose()
            private_server.stop()
            # Not fresh first, then flushed (the tracker drops freshness, then clears the L1).
            await apoll(
                lambda: _true(not near.info()["near_cache_fresh"] and len(near.core.l1) == 0)
            )
            assert len(near.core.l1) == 0
            with pytest.raises(redis.ConnectionError):
                await near.get("a:x")
            private_server.start()
            assert await near.wait_fresh(timeout=10)
            assert await near.get("a:x") is None
        finally:
            await _close(near)

    asyncio.run(scenario())
