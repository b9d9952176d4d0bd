"""The client layer on a real server and a real 3-primary cluster: semantics and cross-slot ops."""

from __future__ import annotations

from typing import Any

import pytest

from cachepolicy.redis.client import RedisClient, glob_prefix, ttl_to_px
from cachepolicy.redis.settings import parse_redis_settings


@pytest.fixture
def client(location: str) -> RedisClient:
    return RedisClient(parse_redis_settings(location, {"EVENTS": ()}))


def test_ttl_to_px_is_milliseconds() -> None:
    assert ttl_to_px(None) is None
    assert ttl_to_px(0.5) == 500
    assert ttl_to_px(0.0001) == 1  # a positive TTL never becomes "no TTL" or "now"
    assert glob_prefix("a*b?[c]\\") == "a\\*b\\?\\[c\\]\\\\*"


def test_set_get_ttl_in_milliseconds(client: RedisClient, prefix: str) -> None:
    client.set(prefix + "a", {"v": 1}, 1.5)
    assert client.get(prefix + "a") == {"v": 1}
    left = client.ttl(prefix + "a")
    assert left is not None and 1.0 < left <= 1.5
    client.set(prefix + "forever", "x", None)
    assert client.ttl(prefix + "forever") is None
    client.set(prefix + "forever", "gone", 0)  # ttl <= 0: expire now
    assert client.get(prefix + "forever", "missing") == "missing"
    with pytest.raises(KeyError):
        client.ttl(prefix + "forever")
    client.clear(prefix)


def test_add_touch_has(client: RedisClient, prefix: str) -> None:
    key = prefix + "k"
    assert client.add(key, 1, None) is True
    assert client.add(key, 2, None) is False
    assert client.get(key) == 1
    assert client.touch(key, None) is True  # no TTL to remove, but the key was touched
    assert client.touch(key, 10) is True and client.ttl(key) == pytest.approx(10, abs=0.5)
    assert client.touch(key, None) is True and client.ttl(key) is None
    assert client.touch(prefix + "missing", 10) is False
    assert client.add(prefix + "zero", 1, 0) is True and not client.has(prefix + "zero")
    assert client.touch(key, 0) is True and not client.has(key)
    client.clear(prefix)


def test_incr_is_atomic_keeps_ttl_and_refuses_missing_or_non_integers(
    client: RedisClient, prefix: str
) -> None:
    key = prefix + "n"
    with pytest.raises(KeyError):
        client.incr(key)
    assert not client.has(key)  # a failed incr must not create the counter
    client.set(key, 10, 100)
    assert client.incr(key, 5) == 15 and client.incr(key, -20) == -5
    assert client.get(key) == -5
    left = client.ttl(key)
    assert left is not None and left > 90
    client.set(prefix + "s", "text", None)
    with pytest.raises(TypeError, match="not an integer"):
        client.incr(prefix + "s")
    client.set(prefix + "big", 2**63 - 1, None)
    with pytest.raises(OverflowError):
        client.incr(prefix + "big")
    client.clear(prefix)


def _nodes_of(client: RedisClient, keys: list[str]) -> set[Any]:
    remote = client.remote
    return {remote.get_node_from_key(k).name for k in keys}


def test_multi_key_ops_across_slots(client: RedisClient, prefix: str) -> None:
    keys = [f"{prefix}{i}" for i in range(40)]
    if client.settings.cluster:
        assert len(_nodes_of(client, keys)) == 3  # really spread over every primary
    client.set_many({k: i for i, k in enumerate(keys)}, 60)
    found = client.get_many([*keys, prefix + "absent", keys[0]])
    assert found == {k: i for i, k in enumerate(keys)}
    assert all(client.ttl(k) is not None for k in keys[:3])
    assert client.delete_many(keys[:10]) == 10
    assert client.get_many(keys[:10]) == {}
    client.set_many(dict.fromkeys(keys[10:20], 1), 0)  # expire now: deleted
    assert client.get_many(keys[10:20]) == {}
    assert client.clear(prefix) == 20


def test_clear_deletes_only_its_prefix_on_every_primary(client: RedisClient, prefix: str) -> None:
    mine = [f"{prefix}mine:{i}" for i in range(30)]
    theirs = [f"{prefix}theirs:{i}" for i in range(30)]
    client.set_many(dict.fromkeys(mine + theirs, "v"), None)
    # Glob characters in a prefix are literal.
    client.set(prefix + "m*", "star", None)
    assert client.clear(prefix + "m*") == 1
    assert client.clear(prefix + "mine:") == 30
    assert client.get_many(mine) == {}
    assert len(client.get_many(theirs)) == 30
    client.clear(prefix)


def test_flush_on_clear_is_opt_in(location: str, prefix: str) -> None:
    flushing = RedisClient(parse_redis_settings(location, {"FLUSH_ON_CLEAR": True, "EVENTS": ()}))
    flushing.set(prefix + "a", 1, None)
    flushing.set("cptest-unprefixed", 1, None)
    flushing.clear(prefix)
    assert flushing.get("cptest-unprefixed") is None  # the whole database went


def test_the_shared_server_is_only_touched_under_a_prefix(shared_6379: str, prefix: str) -> None:
    client = RedisClient(parse_redis_settings(shared_6379, {"EVENTS": ()}))
    client.set_many({prefix + str(i): i for i in range(5)}, 30)
    assert len(client.get_many([prefix + str(i) for i in range(5)])) == 5
    assert client.clear(prefix) == 5
