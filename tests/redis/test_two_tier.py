"""The Redis backends with the near cache (``NEAR_CACHE``): the two-tier client, end to end.

Against the session's private servers, standalone and cluster (the ``location`` fixture). What
is checked here is the *wiring* (``cachepolicy/redis/two_tier.py`` and the two adapters): the
coherence rules themselves are ``test_near*.py``'s.

Local invalidation (a write, delete, ``touch``, ``incr``, ``clear`` through the backend updates
the L1 at once) is checked with the server's pushes switched off (:func:`_pushes_ignored`):
otherwise a push arriving a fraction of a millisecond later would make the test pass without
the backend doing its part.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from django.core.management import call_command
from django.test import override_settings

from cachepolicy import ConfigError
from cachepolicy.redis.near import AsyncNearCache, Coherence, NearCache
from cachepolicy.redis.two_tier import (
    AsyncNearRedisClient,
    NearRedisClient,
    close_near_caches,
    settle_near_caches,
)
from tests.redis.test_near_support import poll_until

# A short staleness bound: heartbeats every 10 ms, so settle_near_caches() returns quickly.
_NEAR = {"NEAR_CACHE": {"MAXMEMORY": "1mb"}, "NEAR_CACHE_STALENESS": 0.04}


@pytest.fixture(autouse=True)
def _stop_near_caches() -> Iterator[None]:
    yield
    close_near_caches()


def _django(location: str, prefix: str, **options: Any) -> Any:
    from django_cachepolicy.redis_backend import RedisPolicyCache

    params = {"KEY_PREFIX": prefix, "OPTIONS": {"EVENTS": (), **_NEAR, **options}}
    return RedisPolicyCache(location, params)


# A TTL short enough to wait out, and how often a read starved past it is tried again.
_BRIEF = 0.3
_BRIEF_TRIES = 10


def _raw(location: str) -> Any:
    """A plain redis-py client on the same server: "another process" writing."""
    if "," in location:
        host, port = location.split(",")[0].removeprefix("redis://").split(":")
        return redis.cluster.RedisCluster(host=host, port=int(port))
    return redis.Redis.from_url(location)


def _fresh(near: NearCache) -> NearCache:
    assert near.wait_fresh(5.0), "the tracker did not connect"
    return near


def _pushes_ignored(core: Coherence) -> None:
    """Drop the server's invalidation pushes; keep the backend's own (local) invalidations."""
    core.invalidate_keys = lambda keys: None  # type: ignore[method-assign]


def _held(near: NearCache | AsyncNearCache, key: str) -> bool:
    return near.core.l1.get(key) is not None


# ---------------------------------------------------------------------- sync


def test_reads_are_served_by_the_l1_and_shared_by_every_thread(location: str, prefix: str) -> None:
    cache = _django(location, prefix)
    assert isinstance(cache.client, NearRedisClient)
    near = _fresh(cache.client.near)
    cache.set("a", {"v": 1})
    # A miss: Redis, then the fill (a fill the push of our own set raced is dropped: retry).
    key = cache.make_and_validate_key("a")
    poll_until(lambda: cache.get("a") == {"v": 1} and _held(near, key), timeout=5.0)
    before = near.info()["near_cache_hits"]
    for _ in range(10):
        assert cache.get("a") == {"v": 1}
    assert near.info()["near_cache_hits"] == before + 10
    # Django makes a backend object per thread: they all use the one near cache.
    seen: list[Any] = []
    thread = threading.Thread(target=lambda: seen.append(_django(location, prefix).client.near))
    thread.start()
    thread.join()
    assert seen == [near]
    # Another alias on the same server, L1 settings and prefix shares it too (Django's "v2"
    # alias reads the same keys with VERSION=2); other L1 settings or another prefix do not.
    from django_cachepolicy.redis_backend import RedisPolicyCache

    v2 = RedisPolicyCache(
        location, {"KEY_PREFIX": prefix, "VERSION": 2, "OPTIONS": {"EVENTS": (), **_NEAR}}
    )
    assert v2.client is not cache.client and v2.client.near is near
    assert _django(location, prefix, NEAR_CACHE={"MAXMEMORY": "2mb"}).client.near is not near
    assert _django(location, prefix + "x").client.near is not near
    cache.clear()


def test_a_write_by_another_client_invalidates(location: str, prefix: str) -> None:
    cache = _django(location, prefix)
    near = _fresh(cache.client.near)
    raw = _raw(location)
    key = cache.make_and_validate_key("k")
    cache.set("k", 1)
    poll_until(lambda: cache.get("k") == 1 and _held(near, key), timeout=5.0)
    raw.set(key, cache.client.codec.dumps(2))
    poll_until(lambda: cache.get("k") == 2, timeout=5.0)
    raw.delete(key)
    assert settle_near_caches(5.0)  # the invalidation delay, waited for exactly
    assert cache.get("k") is None
    raw.close()
    cache.clear()


def test_reading_back_an_own_write_survives_its_echo(location: str, prefix: str) -> None:
    """Cache-aside: the server's push for this process's own SET must not drop the copy the
    read-back filled (one wasted miss per write); another client's later write still must."""
    cache = _django(location, prefix)
    near = _fresh(cache.client.near)
    key = cache.make_and_validate_key("k")
    assert cache.get("k") is None
    cache.set("k", 1)
    assert cache.get("k") == 1  # read after the SET's reply: fills the L1
    assert settle_near_caches(5.0)  # the SET's own push has been handled since
    assert _held(near, key)
    hits = near.info()["near_cache_hits"]
    assert cache.get("k") == 1
    assert near.info()["near_cache_hits"] == hits + 1
    raw = _raw(location)
    raw.set(key, cache.client.codec.dumps(2))
    assert settle_near_caches(5.0)
    assert not _held(near, key)
    assert cache.get("k") == 2
    raw.close()
    cache.clear()


def test_the_l1_copy_never_outlives_the_ttl(location: str, prefix: str) -> None:
    cache = _django(location, prefix)
    near = _fresh(cache.client.near)
    raw = _raw(location)
    key = cache.make_and_validate_key("brief")
    _pushes_ignored(near.core)  # the expiry push must not be what removes it
    for _attempt in range(_BRIEF_TRIES):
        began = time.monotonic()
        cache.set("brief", "x", timeout=_BRIEF)
        if cache.get("brief") == "x" and _held(near, key):
            break
        # Missing only because this thread was starved past the TTL: try again.
        assert time.monotonic() - began >= _BRIEF
    else:
        pytest.fail(f"no read within a {_BRIEF}s TTL in {_BRIEF_TRIES} tries")
    poll_until(lambda: raw.pttl(key) == -2, timeout=5.0)
    assert cache.get("brief") is None
    raw.close()


def test_writes_through_the_backend_update_the_l1_at_once(location: str, prefix: str) -> None:
    cache = _django(location, prefix)
    near = _fresh(cache.client.near)
    _pushes_ignored(near.core)

    def cached(name: str) -> Any:
        value = cache.get(name)
        assert _held(near, cache.make_and_validate_key(name)), name
        return value

    cache.set("a", 1)
    assert cached("a") == 1
    cache.set("a", 2)
    assert cached("a") == 2
    assert cache.incr("a", 5) == 7
    assert cached("a") == 7
    assert cache.decr("a") == 6
    assert cache.get("a") == 6
    cache.set_many({"a": "m", "b": "n"})
    assert cache.get_many(["a", "b"]) == {"a": "m", "b": "n"}
    cache.delete("a")
    assert cache.get("a") is None
    assert cached("b") == "n"
    cache.delete_many(["b"])
    assert cache.get("b") is None
    cache.set("c", 1, timeout=None)
    assert cached("c") == 1
    assert cache.touch("c", timeout=0.2)
    assert not _held(near, cache.make_and_validate_key("c"))
    poll_until(lambda: cache.get("c") is None, timeout=5.0)  # the new TTL is respected
    cache.set("d", 1)
    assert cached("d") == 1
    cache.set("d", 2, timeout=0)  # Django: expire now
    assert cache.get("d") is None
    assert cache.add("e", 1) and cached("e") == 1
    cache.clear()
    assert near.info()["near_cache_keys"] == 0
    assert cache.get("e") is None


def test_info_and_cacheinfo_report_the_near_cache(location: str, prefix: str) -> None:
    caches = {
        "default": {"BACKEND": "django_cachepolicy.PolicyCache", "LOCATION": "two-tier-local"},
        "redis": {
            "BACKEND": "django_cachepolicy.RedisPolicyCache",
            "LOCATION": location,
            "KEY_PREFIX": prefix,
            "OPTIONS": {"EVENTS": (), **_NEAR},
        },
    }
    with override_settings(CACHES=caches):
        from django.core.cache import caches as django_caches

        cache = django_caches["redis"]
        cache.set("x", 1)
        near = _fresh(cache.client.near)
        key = cache.make_and_validate_key("x")
        poll_until(lambda: cache.get("x") == 1 and _held(near, key), timeout=5.0)
        assert cache.get("x") == 1  # an L1 hit
        report = cache.info()
        assert "used_memory" in report and report["near_cache_maxmemory"] == 1024 * 1024
        assert report["near_cache_fresh"] is True
        assert report["near_cache_tracking_connections"] == (3 if "," in location else 1)
        out = io.StringIO()
        call_command("cacheinfo", "redis", "--json", stdout=out)
        assert json.loads(out.getvalue())["redis"]["near_cache_hits"] >= 1
        text = io.StringIO()
        call_command("cacheinfo", "redis", stdout=text)
        assert "near_cache_hits:" in text.getvalue()
        cache.clear()


def test_without_near_cache_the_plain_client_is_used(location: str, prefix: str) -> None:
    from django_cachepolicy.redis_backend import RedisPolicyCache

    cache = RedisPolicyCache(location, {"KEY_PREFIX": prefix, "OPTIONS": {"EVENTS": ()}})
    assert not isinstance(cache.client, NearRedisClient)
    assert not any(name.startswith("near_cache") for name in cache.info())


# ---------------------------------------------------------------------- async


def test_async_reads_fill_and_writes_invalidate(location: str, prefix: str) -> None:
    cache = _django(location, prefix)
    assert isinstance(cache.async_client, AsyncNearRedisClient)
    raw = _raw(location)

    async def run() -> None:
        await cache.aset("a", 1)
        near = cache.async_client.near
        assert await near.wait_fresh(5.0)
        key = cache.make_and_validate_key("a")

        async def filled() -> None:  # a fill raced by the push of our own aset is dropped
            while await cache.aget("a") != 1 or not _held(near, key):
                await asyncio.sleep(0.001)

        await asyncio.wait_for(filled(), 5.0)
        hits = near.info()["near_cache_hits"]
        assert await cache.aget("a") == 1
        assert near.info()["near_cache_hits"] == hits + 1
        # Another client's write: the push invalidates the copy.
        raw.set(key, cache.client.codec.dumps(2))

        async def sees_two() -> None:
            while await cache.aget("a") != 2:
                await asyncio.sleep(0.001)

        await asyncio.wait_for(sees_two(), 5.0)
        # The backend's own writes invalidate at once (pushes ignored from here on).
        _pushes_ignored(near.core)
        assert await cache.aget("a") == 2 and _held(near, key)
        assert await cache.aincr("a", 3) == 5
        assert await cache.aget("a") == 5
        await cache.aset_many({"a": "x", "b": "y"})
        assert await cache.aget_many(["a", "b"]) == {"a": "x", "b": "y"}
        await cache.adelete("a")
        assert await cache.aget("a") is None
        await cache.aset("c", 1, timeout=None)
        assert await cache.aget("c") == 1
        assert await cache.atouch("c", timeout=0.2)

        async def expired() -> None:
            while await cache.aget("c") is not None:
                await asyncio.sleep(0.005)

        await asyncio.wait_for(expired(), 5.0)
        assert await cache.aget("b") == "y"
        await cache.aclear()
        assert near.info()["near_cache_keys"] == 0
        assert await cache.aget("b") is None
        # A write through the async API drops the sync API's copy at once, and back.
        cache.set("s", 1)
        assert cache.get("s") == 1
        sync_near = cache.client.near
        _pushes_ignored(sync_near.core)
        await cache.aset("s", 2)
        assert cache.get("s") == 2
        await cache.async_client.aclose()

    try:
        asyncio.run(run())
    finally:
        raw.close()


def test_async_ttl_is_respected(location: str, prefix: str) -> None:
    cache = _django(location, prefix)
    raw = _raw(location)

    async def run() -> None:
        near = cache.async_client.near
        assert await near.wait_fresh(5.0)
        key = cache.make_and_validate_key("brief")
        _pushes_ignored(near.core)
        for _attempt in range(_BRIEF_TRIES):
            began = time.monotonic()
            await cache.aset("brief", "x", timeout=_BRIEF)
            if await cache.aget("brief") == "x" and _held(near, key):
                break
            assert time.monotonic() - began >= _BRIEF  # starved past the TTL: try again
        else:
            pytest.fail(f"no read within a {_BRIEF}s TTL in {_BRIEF_TRIES} tries")
        deadline = time.monotonic() + 5.0
        while raw.pttl(key) != -2:
            assert time.monotonic() < deadline, "the key did not expire"
            await asyncio.sleep(0.005)
        assert await cache.aget("brief") is None
        await cache.async_client.aclose()

    try:
        asyncio.run(run())
    finally:
        raw.close()


# ---------------------------------------------------------------------- Flask


def test_flask_backend_with_the_near_cache(location: str, prefix: str) -> None:
    import flask
    from flask_caching import Cache as FlaskCache

    app = flask.Flask(__name__)
    app.config.update(
        CACHE_TYPE="flask_cachepolicy.RedisPolicyCache",
        CACHE_REDIS_URL=location,
        CACHE_KEY_PREFIX=prefix,
        CACHE_NEAR_CACHE={"MAXMEMORY": "1mb"},
        CACHE_NEAR_CACHE_STALENESS=0.04,
        CACHE_OPTIONS={"events": ()},
    )
    cache = FlaskCache(app)
    with app.app_context():
        backend = cache.cache
        assert isinstance(backend.client, NearRedisClient)
        near = _fresh(backend.client.near)
        raw = _raw(location)
        cache.set("k", "v")
        poll_until(lambda: cache.get("k") == "v" and _held(near, prefix + "k"), timeout=5.0)
        raw.set(prefix + "k", backend.client.codec.dumps("w"))
        poll_until(lambda: cache.get("k") == "w", timeout=5.0)
        _pushes_ignored(near.core)
        assert backend.inc("n") == 1 and cache.get("n") == 1
        assert _held(near, prefix + "n")
        assert backend.inc("n") == 2 and cache.get("n") == 2
        cache.delete("k")
        assert cache.get("k") is None
        report = backend.info()
        assert report["near_cache_hits"] >= 1 and report["flask_key_prefix"] == prefix
        text = app.test_cli_runner().invoke(args=["cachepolicy", "info"])
        assert "near_cache_hits:" in text.output, text.output
        cache.clear()
        raw.close()


# ---------------------------------------------------------------------- configuration errors


@pytest.mark.parametrize(
    ("config", "key", "words"),
    [
        ({"CACHE_NEAR_CACHE_STALENESS": 0.5}, "CACHE_NEAR_CACHE_STALENESS", "NEAR_CACHE"),
        ({"CACHE_NEAR_CACHE": "yes please"}, "CACHE_NEAR_CACHE", "mapping"),
        (
            {"CACHE_NEAR_CACHE": True, "CACHE_NEAR_CACHE_MODE": "bcst"},
            "CACHE_NEAR_CACHE_MODE",
            "Did you mean 'bcast'",
        ),
        (
            {"CACHE_OPTIONS": {"near_cache": {"maxmemry": "1mb"}}},
            "CACHE_OPTIONS['near_cache']",
            "Did you mean 'maxmemory'",
        ),
        (
            {"CACHE_NEAR_CACHE": True, "CACHE_OPTIONS": {"near_cache": False}},
            "CACHE_NEAR_CACHE",
            "set twice",
        ),
        (
            {"CACHE_NEAR_CACHE_STALNESS": 1},
            "CACHE_NEAR_CACHE_STALNESS",
            "CACHE_NEAR_CACHE_STALENESS",
        ),
    ],
)
def test_flask_near_cache_errors_name_the_key(
    redis_server: Any, config: dict[str, Any], key: str, words: str
) -> None:
    import flask
    from flask_caching import Cache as FlaskCache

    app = flask.Flask(__name__)
    app.config.update(
        CACHE_TYPE="flask_cachepolicy.RedisPolicyCache", CACHE_REDIS_URL=redis_server.url, **config
    )
    with pytest.raises(ConfigError) as raised:
        FlaskCache(app)
    assert raised.value.option == key, raised.value
    assert key in str(raised.value) and words in str(raised.value)


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"NEAR_CACHE": 3}, "'NEAR_CACHE' must be True or a mapping"),
        ({"NEAR_CACHE_MODE": "bcast"}, "'NEAR_CACHE' is not"),
        ({"NEAR_CACHE": True, "NEAR_CACHE_STALENESS": 0}, "NEAR_CACHE_STALENESS"),
        ({"NEAR_CACHE": {"SERIALIZER": "json"}}, "cannot set 'SERIALIZER'"),
    ],
)
def test_django_near_cache_errors_are_system_check_errors(
    redis_server: Any, options: dict[str, Any], words: str
) -> None:
    from django_cachepolicy.checks import check_redis_caches

    caches = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
        "bad": {
            "BACKEND": "django_cachepolicy.RedisPolicyCache",
            "LOCATION": redis_server.url,
            "OPTIONS": {"EVENTS": (), **options},
        },
    }
    with override_settings(CACHES=caches):
        messages = check_redis_caches()
    errors = [m for m in messages if m.id == "django_cachepolicy.E201"]
    assert len(errors) == 1 and errors[0].obj == "CACHES['bad']", messages
    assert words in errors[0].msg


def test_default_mode_on_a_cluster_is_refused_at_configuration(redis_cluster: Any) -> None:
    from cachepolicy.redis.settings import parse_redis_settings

    with pytest.raises(ConfigError) as raised:
        parse_redis_settings(
            redis_cluster.location, {"NEAR_CACHE": True, "NEAR_CACHE_MODE": "default"}
        )
    assert raised.value.option == "NEAR_CACHE_MODE" and "bcast" in str(raised.value)


def test_flask_in_process_backend_refuses_the_near_cache_keys() -> None:
    import flask
    from flask_caching import Cache as FlaskCache

    app = flask.Flask(__name__)
    app.config.update(CACHE_TYPE="flask_cachepolicy.PolicyCache", CACHE_NEAR_CACHE=True)
    with pytest.raises(ConfigError) as raised:
        FlaskCache(app)
    assert raised.value.option == "CACHE_NEAR_CACHE" and "RedisPolicyCache" in str(raised.value)


# ---------------------------------------------------------------------- fork


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_worker_never_serves_the_parents_copy(redis_server: Any, prefix: str) -> None:
    """gunicorn --preload: the parent filled the L1, the child must not trust it. The parent's
    copy is made stale on purpose (pushes ignored, then another client writes)."""
    cache = _django(redis_server.url, prefix)
    near = _fresh(cache.client.near)
    raw = _raw(redis_server.url)
    key = cache.make_and_validate_key("k")
    cache.set("k", "parent")
    poll_until(lambda: cache.get("k") == "parent" and _held(near, key), timeout=5.0)
    _pushes_ignored(near.core)
    raw.set(key, cache.client.codec.dumps("new"))
    assert cache.get("k") == "parent"  # stale by construction in the parent
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report what it reads, then what it reads once tracking is back
        try:
            first = cache.get("k")
            fresh = cache.client.near.wait_fresh(5.0)
            cache.set("k", "child")
            answer = f"{first}|{fresh}|{cache.get('k')}"
            os.write(write, answer.encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as reader:
        answer = reader.read()
    os.waitpid(pid, 0)
    raw.close()
    assert answer == "new|True|child", answer
