"""A payload larger than the server's ``maxmemory`` is refused before it is sent; the server's
own out-of-memory reply is the library's error (issue 23, item 1).

Before: Redis counted the request itself as used memory, evicted every other key to make room
for it, and then refused it with redis-py's raw ``OutOfMemoryError``. Each test runs its own
``redis-server`` (it changes ``maxmemory``), never the shared one.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from cachepolicy import OutOfMemoryError, ValueTooLargeError
from cachepolicy.redis.two_tier import close_near_caches
from tests.redis.servers import RedisProcess, require_redis_server

BIG = b"y" * (6 * 1024 * 1024)  # larger than the 4 MB maxmemory
SMALL = b"x" * 100


@pytest.fixture
def server() -> Iterator[RedisProcess]:
    process = RedisProcess(require_redis_server())
    yield process
    process.close()


def _django(server: RedisProcess, policy: str = "allkeys-lru", **options: Any) -> Any:
    from django_cachepolicy.redis_backend import RedisPolicyCache

    return RedisPolicyCache(
        server.url,
        {
            "KEY_PREFIX": f"lim{uuid.uuid4().hex[:6]}",
            "OPTIONS": {
                "MAXMEMORY": "4mb",
                "MAXMEMORY_POLICY": policy,
                "APPLY_CONFIG": True,
                "EVENTS": (),
                **options,
            },
        },
    )


def _flask(server: RedisProcess, policy: str = "allkeys-lru") -> Any:
    import flask
    from flask_caching import Cache as FlaskCache

    app = flask.Flask(__name__)
    app.config.update(
        CACHE_TYPE="flask_cachepolicy.RedisPolicyCache",
        CACHE_REDIS_URL=server.url,
        CACHE_KEY_PREFIX=f"lim{uuid.uuid4().hex[:6]}:",
        CACHE_MAXMEMORY="4mb",
        CACHE_MAXMEMORY_POLICY=policy,
        CACHE_OPTIONS={"apply_config": True, "events": ()},
    )
    cache = FlaskCache(app)
    with app.app_context():
        return cache.cache


@pytest.mark.parametrize("near", [False, True], ids=["plain", "near-cache"])
def test_django_refuses_a_value_larger_than_maxmemory_before_sending_it(
    server: RedisProcess, near: bool
) -> None:
    cache = _django(server, **({"NEAR_CACHE": True} if near else {}))
    try:
        _refuses_before_sending(cache)
    finally:
        # The near cache is process-wide: its tracker must not outlive this test's server
        # (settle_near_caches() of later tests would wait for it).
        close_near_caches(cache.client._key)


def _refuses_before_sending(cache: Any) -> None:
    keys = [f"k{i}" for i in range(50)]
    cache.set_many(dict.fromkeys(keys, SMALL), timeout=None)
    with pytest.raises(ValueTooLargeError, match="maxmemory") as caught:
        cache.set("big", BIG)
    assert caught.value.size >= len(BIG)  # the pickled payload
    assert len(cache.get_many(keys)) == 50  # nothing was evicted for it
    assert cache.get("big") is None
    with pytest.raises(ValueTooLargeError):
        cache.add("big", BIG)
    with pytest.raises(ValueTooLargeError):
        asyncio.run(cache.aset("big", BIG))
    # set_many stores what fits and returns the rest (Django's contract), deleting their
    # earlier values.
    cache.set("other", SMALL)
    assert cache.set_many({"other": BIG, "fits": SMALL}) == ["other"]
    assert cache.get("other") is None and cache.get("fits") == SMALL
    assert asyncio.run(cache.aset_many({"big": BIG, "fits2": SMALL})) == ["big"]
    assert len(cache.get_many(keys)) == 50


def test_the_limit_is_the_servers_room_for_a_write(server: RedisProcess) -> None:
    """A write needs about twice its payload (the request buffer and the value), out of what
    the empty server leaves: a value of half maxmemory is refused too, a smaller one fits."""
    cache = _django(server)
    limit = cache.client.payload_limit
    startup = int(server.client().info("memory")["used_memory_startup"])
    assert limit == (4 * 1024 * 1024 - startup) // 2
    with pytest.raises(ValueTooLargeError):
        cache.set("half", b"z" * (2 * 1024 * 1024))
    cache.set("fits", b"z" * (limit // 2))
    assert cache.get("fits") is not None


def test_the_servers_out_of_memory_reply_is_the_librarys_error(server: RedisProcess) -> None:
    cache = _django(server, policy="noeviction")
    value = b"v" * (256 * 1024)
    with pytest.raises(OutOfMemoryError, match="out of memory") as caught:
        for i in range(64):  # 16 MB in all: the server refuses long before
            cache.set(f"fill{i}", value, timeout=None)
    assert not isinstance(caught.value, ValueTooLargeError)
    with pytest.raises(OutOfMemoryError):
        asyncio.run(cache.aset("more", value))
    # set_many: every refused key is returned, none raises.
    refused = cache.set_many({"m1": value, "m2": value})
    assert refused == ["m1", "m2"]


def test_flask_returns_false_for_a_refused_write(server: RedisProcess) -> None:
    cache = _flask(server)
    assert cache.set("small", SMALL)
    assert cache.set("gone", SMALL)
    assert cache.set("gone", BIG) is False
    assert cache.get("gone") is None  # the old value is not served after a refused write
    assert cache.add("big", BIG) is False
    assert cache.set_many({"a": SMALL, "b": BIG}) == ["a"]
    assert cache.get("small") == SMALL and cache.get("a") == SMALL


def test_flask_returns_false_when_the_server_is_out_of_memory(server: RedisProcess) -> None:
    cache = _flask(server, policy="noeviction")
    value = b"v" * (256 * 1024)
    results = [cache.set(f"fill{i}", value) for i in range(64)]
    assert results[0] is True and results[-1] is False
    assert cache.add("more", value) is False
