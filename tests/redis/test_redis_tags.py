"""Tags on the Redis tier (cachepolicy.redis.tagging): generations kept in Redis, so an
invalidation is seen by every client and process at once, and by the near cache; bad tags are
the in-process tier's TagError with Redis unchanged. On the private standalone server and the
private cluster (``location``)."""

from __future__ import annotations

import asyncio
import multiprocessing
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cachepolicy.errors import TagError
from cachepolicy.redis.client import AsyncRedisClient, RedisClient
from cachepolicy.redis.flight import aget_or_set, get_or_set
from cachepolicy.redis.settings import parse_redis_settings
from cachepolicy.redis.tagging import GENERATION_INFIX
from cachepolicy.tags import MAX_TAGS_PER_ENTRY
from tests.herd import wait_until


def make_client(location: str, prefix: str, **options: Any) -> RedisClient:
    return RedisClient(parse_redis_settings(location, {"EVENTS": (), **options}), tag_prefix=prefix)


def keys_under(client: RedisClient, prefix: str) -> dict[bytes, bytes | None]:
    """Every key starting with ``prefix`` and its value (all primaries of a cluster)."""
    remote = client.remote
    return {key: remote.get(key) for key in remote.scan_iter(match=prefix + "*")}


def test_invalidating_a_tag_makes_its_entries_misses(location: str, prefix: str) -> None:
    client = make_client(location, prefix)
    client.set(prefix + "profile", {"name": "Ada"}, 300, tags=["user:1"])
    client.set_many({prefix + "a": 1, prefix + "b": "two"}, 300, tags=["pages", "user:1"])
    client.set(prefix + "other", "kept", 300, tags=["user:2"])
    client.set(prefix + "plain", "plain", 300)
    assert client.get(prefix + "profile") == {"name": "Ada"}
    assert client.get_many([prefix + "a", prefix + "b"]) == {prefix + "a": 1, prefix + "b": "two"}

    client.invalidate_tags("user:1")

    assert client.get(prefix + "profile") is None
    assert client.get_many([prefix + "a", prefix + "b", prefix + "other"]) == {
        prefix + "other": "kept"
    }
    assert not client.has(prefix + "a")
    assert client.get(prefix + "plain") == "plain" and client.get(prefix + "other") == "kept"
    # Removed lazily, when read: the keys are gone from Redis now.
    assert not client.remote.exists(prefix + "profile", prefix + "a", prefix + "b")
    # Written again after the invalidation: a hit.
    client.set(prefix + "profile", "new", 300, tags=["user:1"])
    assert client.get(prefix + "profile") == "new"


def test_a_tagged_get_or_set_is_invalidated(location: str, prefix: str) -> None:
    client = make_client(location, prefix)
    calls: list[int] = []

    def compute() -> int:
        calls.append(1)
        return len(calls)

    assert get_or_set(client, prefix + "feed", compute, 300, tags=["user:1"]) == 1
    assert get_or_set(client, prefix + "feed", compute, 300, tags=["user:1"]) == 1
    client.invalidate_tags("user:1")
    assert get_or_set(client, prefix + "feed", compute, 300, tags=["user:1"]) == 2


def test_an_invalidation_during_the_computation_makes_the_value_a_miss(
    location: str, prefix: str
) -> None:
    client = make_client(location, prefix)

    def compute() -> str:
        client.invalidate_tags("t")  # another process invalidates while we compute
        return "computed before the invalidation finished"

    assert get_or_set(client, prefix + "k", compute, 300, tags=["t"]).startswith("computed")
    assert client.get(prefix + "k") is None


def test_an_evicted_generation_never_resurrects_an_entry(location: str, prefix: str) -> None:
    client = make_client(location, prefix)
    client.set(prefix + "k", "v", 300, tags=["t"])
    client.remote.delete(prefix + GENERATION_INFIX + "t")  # what allkeys-lru may do
    assert client.get(prefix + "k") is None
    client.set(prefix + "k", "v2", 300, tags=["t"])
    assert client.get(prefix + "k") == "v2"


@pytest.mark.parametrize(
    ("tags", "words"),
    [
        ("user:1", "list"),
        ([""], "non-empty"),
        ([1], "non-empty str"),
        ([None], "non-empty str"),
        (["x" * 251], "at most 250"),
        ([f"t{i}" for i in range(MAX_TAGS_PER_ENTRY + 1)], f"at most {MAX_TAGS_PER_ENTRY} tags"),
    ],
)
def test_bad_tags_are_refused_and_redis_is_unchanged(
    location: str, prefix: str, tags: Any, words: str
) -> None:
    client = make_client(location, prefix)
    client.set(prefix + "k", "old", 300)
    before = keys_under(client, prefix)
    with pytest.raises(TagError, match=words):
        client.set(prefix + "k", "new", 300, tags=tags)
    with pytest.raises(TagError, match=words):
        client.set_many({prefix + "k": "new", prefix + "j": "new"}, 300, tags=tags)
    with pytest.raises(TagError, match=words):
        get_or_set(client, prefix + "g", lambda: "new", 300, tags=tags)
    if words != f"at most {MAX_TAGS_PER_ENTRY} tags":  # invalidation takes any number of tags
        with pytest.raises(TagError):
            client.invalidate_tags(*(tags if isinstance(tags, list) else [tags, 5]))
    assert keys_under(client, prefix) == before


def _invalidate_in_process(location: str, prefix: str, tag: str) -> None:
    make_client(location, prefix).invalidate_tags(tag)


def _read_in_process(location: str, prefix: str, key: str) -> Any:
    return make_client(location, prefix).get(key)


def test_an_invalidation_is_seen_by_another_process_at_once(location: str, prefix: str) -> None:
    client = make_client(location, prefix)
    key = prefix + "shared"
    client.set(key, "v", 300, tags=["t"])
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        assert pool.apply(_read_in_process, (location, prefix, key)) == "v"
        pool.apply(_invalidate_in_process, (location, prefix, "t"))
        assert client.get(key) is None  # the other process's INCR, seen by this one
        client.set(key, "v2", 300, tags=["t"])
        client.invalidate_tags("t")
        assert pool.apply(_read_in_process, (location, prefix, key)) is None


def test_the_near_cache_never_serves_an_invalidated_entry(redis_server: Any, prefix: str) -> None:
    from cachepolicy.redis.two_tier import NearRedisClient, close_near_caches

    url = str(redis_server.url)
    near = NearRedisClient(
        parse_redis_settings(url, {"EVENTS": (), "NEAR_CACHE": {"MAXMEMORY": "1mb"}}),
        prefix=prefix,
    )
    try:
        assert near.near.wait_fresh()
        near.set(prefix + "k", "v", 300, tags=["t"])
        # Read until the L1 serves it, with its tag's generation (a loaded machine may take a
        # few reads before a fill is vouched for).
        wait_until(
            lambda: near.get(prefix + "k") == "v" and near.near.info()["near_cache_hits"] >= 2,
            "the L1 to serve the key and its tag's generation",
        )
        near.invalidate_tags("t")  # this process: forgotten locally at once
        assert near.get(prefix + "k") is None

        near.set(prefix + "k", "v2", 300, tags=["t"])
        assert near.get(prefix + "k") == "v2" and near.get(prefix + "k") == "v2"
        with multiprocessing.get_context("spawn").Pool(1) as pool:
            pool.apply(_invalidate_in_process, (url, prefix, "t"))
        # Another process: the generation key's tracking push reaches the L1.
        wait_until(lambda: near.get(prefix + "k") is None, "the generation's invalidation")
    finally:
        near.close()
        close_near_caches()


def test_the_async_client_has_the_same_tags(location: str, prefix: str) -> None:
    settings = parse_redis_settings(location, {"EVENTS": ()})
    client = AsyncRedisClient(settings, tag_prefix=prefix)
    sync = RedisClient(settings, tag_prefix=prefix)

    async def scenario() -> list[Any]:
        await client.set(prefix + "a", "A", 300, tags=["t"])
        await client.set_many({prefix + "b": "B"}, 300, tags=["t", "u"])
        value = await aget_or_set(client, prefix + "c", lambda: "C", 300, tags=["u"])
        before = await client.get_many([prefix + "a", prefix + "b", prefix + "c"])
        await client.invalidate_tags("u")
        after = await client.get_many([prefix + "a", prefix + "b", prefix + "c"])
        with pytest.raises(TagError):
            await client.set(prefix + "a", "x", 300, tags=[""])
        await client.aclose()
        return [value, before, after]

    value, before, after = asyncio.run(scenario())
    assert value == "C" and len(before) == 3
    assert after == {prefix + "a": "A"}
    assert sync.get(prefix + "b") is None  # the sync client sees the async invalidation


# ------------------------------------------------------------------ the property


_KEYS = st.sampled_from(["k0", "k1", "k2"])
_TAGS = st.sampled_from(["t0", "t1", "t2"])
_OPS = st.lists(
    st.one_of(
        st.tuples(st.just("set"), _KEYS, st.lists(_TAGS, max_size=2, unique=True)),
        st.tuples(st.just("get_or_set"), _KEYS, st.lists(_TAGS, max_size=2, unique=True)),
        st.tuples(st.just("invalidate"), _TAGS, st.just([])),
        st.tuples(st.just("get"), _KEYS, st.just([])),
        st.tuples(st.just("get_many"), _KEYS, st.just([])),
    ),
    max_size=25,
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops=_OPS)
def test_a_read_never_returns_a_value_invalidated_after_it_was_written(
    redis_server: Any, ops: list[tuple[str, str, list[str]]]
) -> None:
    import uuid

    prefix = f"cptest-prop-{uuid.uuid4().hex[:8]}:"
    client = make_client(str(redis_server.url), prefix)
    # key -> (value, tags, the step it was written at); tag -> steps it was invalidated at.
    written: dict[str, tuple[int, list[str]]] = {}
    invalidated: dict[str, list[int]] = {}

    def allowed(key: str, found: Any) -> bool:
        if found is None:
            return True
        step, tags = written[key]
        return found == step and not any(
            later > step for tag in tags for later in invalidated.get(tag, [])
        )

    for step, (op, name, tags) in enumerate(ops):
        key = prefix + name
        if op == "set":
            client.set(key, step, 300, tags=tags)
            written[name] = (step, tags)
        elif op == "get_or_set":
            value = get_or_set(client, key, lambda step=step: step, 300, tags=tags)
            if value == step:
                written[name] = (step, tags)
            assert allowed(name, value), (op, name, value)
        elif op == "invalidate":
            client.invalidate_tags(name)
            invalidated.setdefault(name, []).append(step)
        elif op == "get":
            assert allowed(name, client.get(key)), (op, name)
        else:
            found = client.get_many([key])
            assert allowed(name, found.get(key)), (op, name)
    client.remote.delete(*client.remote.keys(prefix + "*") or [prefix])


def test_the_django_near_cache_drops_invalidated_entries_sync_and_async(
    location: str, prefix: str
) -> None:
    """Django's RedisPolicyCache with NEAR_CACHE (standalone and cluster): an invalidation by
    another client of the server reaches both the sync and the async near cache."""
    from django_cachepolicy.redis_backend import RedisPolicyCache

    from cachepolicy.redis.two_tier import close_near_caches

    options = {"EVENTS": (), "NEAR_CACHE": {"MAXMEMORY": "1mb"}, "NEAR_CACHE_STALENESS": 0.05}
    cache = RedisPolicyCache(location, {"KEY_PREFIX": prefix, "OPTIONS": options})
    other = make_client(location, f"{prefix}:")  # the tag prefix Django's key function makes
    try:
        cache.set("k", "v", 300, tags=["t"])
        assert cache.get("k") == "v" and cache.get("k") == "v"
        other.invalidate_tags("t")  # not through this process's near cache
        wait_until(lambda: cache.get("k") is None, "the sync near cache to drop it")

        async def scenario() -> None:
            await cache.aset("a", "A", 300, tags=["u"])
            assert await cache.aget("a") == "A" and await cache.aget("a") == "A"
            other.invalidate_tags("u")
            for _ in range(5000):
                if await cache.aget("a") is None:
                    return
                await asyncio.sleep(0.001)
            raise AssertionError("the async near cache served an invalidated entry")

        asyncio.run(scenario())
    finally:
        close_near_caches()
