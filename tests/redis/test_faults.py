"""Faults on real servers: a restarted server and a killed cluster primary.

While a server is down every operation raises :class:`RedisUnavailableError` (a
``ConnectionError`` naming the server): nothing is answered from a stale copy. Once it is back
the same backend object works again by itself, with no reconnect call.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from cachepolicy.redis import RedisUnavailableError
from cachepolicy.redis.client import AsyncRedisClient, RedisClient
from cachepolicy.redis.settings import parse_redis_settings
from tests.redis.servers import RedisClusterProcess, RedisProcess, require_redis_server, wait_until


def test_restarted_server_errors_clearly_then_recovers(
    redis_server: RedisProcess, prefix: str
) -> None:
    from django_cachepolicy.redis_backend import RedisPolicyCache

    cache = RedisPolicyCache(redis_server.url, {"KEY_PREFIX": prefix, "OPTIONS": {"EVENTS": ()}})
    aclient = AsyncRedisClient(parse_redis_settings(redis_server.url, {"EVENTS": ()}))
    cache.set("k", "before")
    redis_server.stop()
    try:
        with pytest.raises(RedisUnavailableError, match=str(redis_server.port)):
            cache.get("k")
        with pytest.raises(RedisUnavailableError):
            cache.set("k", "during")
        with pytest.raises(ConnectionError):  # RedisUnavailableError is a ConnectionError
            asyncio.run(aclient.get(prefix + "k"))
    finally:
        redis_server.start()
    # No persistence: the restarted server is empty; the same objects work again.
    assert cache.get("k") is None
    cache.set("k", "after")
    assert cache.get("k") == "after"

    async def read() -> object:
        value = await aclient.get(cache.make_key("k"))
        await aclient.aclose()
        return value

    assert asyncio.run(read()) == "after"
    cache.clear()


@pytest.fixture
def doomed_cluster() -> Iterator[RedisClusterProcess]:
    """A cluster of its own: this test kills one of its primaries."""
    cluster = RedisClusterProcess(require_redis_server())
    yield cluster
    cluster.close()


def test_killed_cluster_primary_errors_clearly_then_recovers(
    doomed_cluster: RedisClusterProcess, prefix: str
) -> None:
    settings = parse_redis_settings(doomed_cluster.location, {"EVENTS": ()})
    client = RedisClient(settings)
    keys = [f"{prefix}{i}" for i in range(30)]
    client.set_many(dict.fromkeys(keys, "v"), None)
    victim = doomed_cluster.nodes[1]
    on_victim = [k for k in keys if client.remote.get_node_from_key(k).port == victim.port]
    assert on_victim
    victim.stop()
    # Without replicas the victim's slots are lost: reads of them fail, clearly, every time.
    for _attempt in range(3):
        with pytest.raises(RedisUnavailableError):
            client.get(on_victim[0])
    with pytest.raises(RedisUnavailableError):
        client.get_many(keys)
    victim.start()  # same port, same nodes.conf: it rejoins with its slots
    doomed_cluster.wait_ok()

    def works() -> bool:
        client.set(on_victim[0], "back", None)
        return bool(client.get(on_victim[0]) == "back")

    wait_until(works, 30, "the client to recover by itself")
    assert len(client.get_many(keys)) == len(keys) - len(on_victim) + 1
    client.close()
