"""Early refresh (XFetch) and serve-stale on the Redis tier's get_or_set, with a fake clock and a
seeded RNG; a herd of 64 threads computes once; the Django and Flask Redis backends expose the
in-process backends' tag API. On the private standalone server."""

from __future__ import annotations

import asyncio
import itertools
import threading
from random import Random
from typing import Any

import pytest

from cachepolicy.errors import TagError
from cachepolicy.flight import StampedeSettings
from cachepolicy.redis.client import AsyncRedisClient, RedisClient
from cachepolicy.redis.flight import LOCK_SUFFIX, aget_or_set, get_or_set
from cachepolicy.redis.settings import parse_redis_settings
from tests.herd import run_threads


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def url(redis_server: Any) -> str:
    return str(redis_server.url)


def make_client(url: str, prefix: str) -> tuple[RedisClient, FakeClock]:
    client = RedisClient(parse_redis_settings(url, {"EVENTS": ()}), tag_prefix=prefix)
    clock = FakeClock()
    client.clock = clock
    client.rng = Random(7)
    return client, clock


def test_xfetch_refreshes_before_expiry_and_nobody_misses(url: str, prefix: str) -> None:
    client, clock = make_client(url, prefix)
    settings = StampedeSettings(beta=1.0)
    calls: list[float] = []

    def slow_query() -> str:
        calls.append(clock.now)
        clock.now += 2.0  # the computation takes 2 s
        return f"v{len(calls)}"

    assert get_or_set(client, prefix + "hot", slow_query, 60, settings) == "v1"
    expiry = clock.now + 60
    while len(calls) == 1:
        clock.now += 0.1  # a read every 100 ms
        assert clock.now < expiry, "no early refresh before expiry"
        assert get_or_set(client, prefix + "hot", slow_query, 60, settings) in ("v1", "v2")
    assert calls[1] < expiry  # refreshed before it expired: no reader saw a miss
    assert client.get(prefix + "hot") == "v2"


def test_xfetch_refreshes_about_once_per_expiry_window(url: str, prefix: str) -> None:
    """Statistically (seeded): with reads every 100 ms of a 2 s computation and a 20 s TTL,
    every window is refreshed early exactly once, a few seconds before expiry: a read ``x``
    seconds before expiry refreshes with probability exp(-x / 2), which sums to 1 about
    2 ln 20 = 6 s before expiry, so refreshes come about 20 - 6 + 2 = 16 s apart."""
    client, clock = make_client(url, prefix)
    settings = StampedeSettings(beta=1.0)
    computed: list[float] = []

    def query() -> float:
        computed.append(clock.now)
        clock.now += 2.0
        return clock.now

    get_or_set(client, prefix + "k", query, 20, settings)
    for _ in range(2000):  # 200 s of reads
        clock.now += 0.1
        get_or_set(client, prefix + "k", query, 20, settings)
    gaps = [b - a for a, b in itertools.pairwise(computed)]
    assert 11 <= len(gaps) <= 17  # 230 s of fake time (200 of reads, 2 per computation)
    assert all(12 < gap <= 22 for gap in gaps), gaps  # early, never after expiry (22 = 20 + 2)
    assert 14 < sum(gaps) / len(gaps) < 18


def test_serve_stale_never_leaks_to_plain_get(url: str, prefix: str) -> None:
    client, clock = make_client(url, prefix)
    settings = StampedeSettings(beta=None, grace=30)
    key = prefix + "page"
    assert get_or_set(client, key, lambda: "v1", 10, settings) == "v1"
    assert 35 < client.ttl(key) <= 40  # Redis keeps it for the TTL plus the grace period
    clock.now += 15  # past the TTL, within the grace period
    assert client.get(key) is None
    assert client.get_many([key]) == {}
    assert not client.has(key)
    client.remote.set(key + LOCK_SUFFIX, "another-refresher", px=5000)
    assert get_or_set(client, key, lambda: "v2", 10, settings) == "v1"  # served stale
    client.remote.delete(key + LOCK_SUFFIX)
    assert get_or_set(client, key, lambda: "v2", 10, settings) == "v2"  # this caller refreshed
    assert client.get(key) == "v2"


def test_a_failing_refresh_serves_the_stale_copy(url: str, prefix: str) -> None:
    client, clock = make_client(url, prefix)
    settings = StampedeSettings(beta=None, grace=30)
    key = prefix + "k"
    get_or_set(client, key, lambda: "old", 10, settings)
    clock.now += 15

    def down() -> str:
        raise RuntimeError("database down")

    assert get_or_set(client, key, down, 10, settings) == "old"
    assert not client.remote.exists(key + LOCK_SUFFIX)


def test_without_grace_a_stale_copy_is_a_miss(url: str, prefix: str) -> None:
    client, clock = make_client(url, prefix)
    key = prefix + "k"
    get_or_set(client, key, lambda: "old", 10, StampedeSettings(beta=None, grace=30))
    clock.now += 15
    assert get_or_set(client, key, lambda: "new", 10, StampedeSettings(beta=None)) == "new"


def test_async_xfetch_and_serve_stale(url: str, prefix: str) -> None:
    client = AsyncRedisClient(parse_redis_settings(url, {"EVENTS": ()}), tag_prefix=prefix)
    clock = FakeClock()
    client.clock, client.rng = clock, Random(7)
    settings = StampedeSettings(beta=None, grace=30)

    async def scenario() -> list[Any]:
        first = await aget_or_set(client, prefix + "k", lambda: "v1", 10, settings)
        clock.now += 15
        plain = await client.get(prefix + "k")

        async def fresh() -> str:
            return "v2"

        refreshed = await aget_or_set(client, prefix + "k", fresh, 10, settings)
        await client.aclose()
        return [first, plain, refreshed]

    assert asyncio.run(scenario()) == ["v1", None, "v2"]


def test_64_threads_compute_once(url: str, prefix: str) -> None:
    client, _ = make_client(url, prefix)
    client.clock = __import__("time").time
    calls: list[int] = []
    gate = threading.Event()

    def compute() -> str:
        calls.append(1)
        gate.wait(0.2)  # the slow query: the others poll meanwhile
        return "v"

    results = run_threads(64, lambda i: get_or_set(client, prefix + "hot", compute, 60))
    assert results == ["v"] * 64 and calls == [1]


# ------------------------------------------------------------------ the adapters


def test_djangos_redis_backend_has_the_tag_api(url: str, prefix: str) -> None:
    from django_cachepolicy.redis_backend import RedisPolicyCache

    cache = RedisPolicyCache(
        url, {"KEY_PREFIX": prefix, "OPTIONS": {"EVENTS": (), "STALE_GRACE": 30}}
    )
    cache.set("user:1:profile", {"name": "Ada"}, 300, tags=["user:1"])
    cache.set_many({"page:/": "<html>", "page:/about": "<html>"}, 300, tags=["pages", "user:1"])
    assert cache.get_or_set("user:1:feed", lambda: ["post"], 300, tags=["user:1"]) == ["post"]
    assert cache.get_or_set("constant", 42, 300, tags=["user:1"]) == 42
    assert cache.get("user:1:feed") == ["post"]
    assert cache.client.settings.stampede.grace == 30

    cache.invalidate_tags("user:1")

    assert cache.get("user:1:profile") is None and cache.get("constant") is None
    assert cache.get_many(["page:/", "page:/about"]) == {}
    with pytest.raises(TagError):
        cache.set("k", "v", 300, tags="user:1")
    assert cache.get("k") is None

    async def scenario() -> Any:
        await cache.aset("a", 1, 300, tags=["x"])
        await cache.ainvalidate_tags("x")
        return await cache.aget("a")

    assert asyncio.run(scenario()) is None


def test_flasks_redis_backend_has_the_tag_api(url: str, prefix: str) -> None:
    from flask_cachepolicy.redis_backend import RedisPolicyCache as FlaskRedisPolicyCache

    backend = FlaskRedisPolicyCache(url, key_prefix=prefix, events=())
    backend.set("profile", "Ada", 300, tags=["user:1"])
    assert backend.get_or_set("feed", lambda: "post", 300, tags=["user:1"]) == "post"
    backend.set_many({"a": 1}, 300, tags=["user:1"])
    assert backend.get("profile") == "Ada"
    backend.invalidate_tags("user:1")
    assert backend.get("profile") is None and backend.get("feed") is None
    assert backend.get("a") is None
    with pytest.raises(TagError):
        backend.set("profile", "x", 300, tags=[3])


def test_a_refresh_done_meanwhile_is_served_not_repeated(url: str, prefix: str) -> None:
    """A caller that judged a copy stale, then took the lock just after another caller's
    refresh released it, serves that refresh instead of computing again."""
    from cachepolicy.redis.flight import _Call, _refresh

    client, clock = make_client(url, prefix)
    settings = StampedeSettings(beta=None, grace=30)
    key = prefix + "k"
    get_or_set(client, key, lambda: "old", 10, settings)
    clock.now += 15
    judged = client.entry(key)  # stale, as this caller read it
    assert judged is not None and judged.stale(clock.now)
    assert get_or_set(client, key, lambda: "refreshed", 10, settings) == "refreshed"  # another
    call = _Call(key, lambda: pytest.fail("computed twice"), 10, settings, None, None)
    assert _refresh(client, call, judged, stale=True) == "refreshed"
