"""Hostile arguments and values through the core API (issue 11 test family: hostile input).

The configuration options have their own corpus (``test_hostile_config.py``), keys theirs
(``test_keys.py``). This one covers the rest of every call: TTLs and times that are the wrong
type, not finite or beyond float range; odd but valid keys (empty, control characters, lone
surrogates, huge); values that fail to pickle first, midway or after a large part; values of
sizes up to and past ``maxmemory``. Each bad case asserts a named exception whose message names
the argument, and that the cache is unchanged: same keys, same ``used_memory``, same counters,
``check() == []``.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from typing import Any

import pytest

from cachepolicy import Cache, ValueTooLargeError
from tests.conftest import MakeCache


def _state(cache: Cache) -> tuple[Any, ...]:
    info = cache.info()
    return (
        sorted(cache.keys()),
        cache.store.used_memory,
        info["keyspace_hits"],
        info["keyspace_misses"],
        cache.ttl("a"),
        pickle.loads(cache.store.keyspaces[0].data["a"].payload),  # read without counting a hit
    )


@pytest.fixture
def cache(make_cache: MakeCache) -> Cache:
    cache = make_cache(maxmemory="1mb", maxmemory_policy="allkeys-lru")
    cache.set("a", "old", ttl=100)
    return cache


BAD_TTLS: list[tuple[Any, type[Exception], str]] = [
    ("10", TypeError, "TTL"),
    (True, TypeError, "TTL"),
    ([1], TypeError, "TTL"),
    (float("nan"), ValueError, "NaN"),
]

TTL_CALLS: list[tuple[str, Callable[[Cache, Any], Any]]] = [
    ("set", lambda c, t: c.set("a", "new", ttl=t)),
    ("add", lambda c, t: c.add("b", "new", ttl=t)),
    ("replace", lambda c, t: c.replace("a", "new", ttl=t)),
    ("set_many", lambda c, t: c.set_many({"a": "new", "b": 1}, ttl=t)),
    ("touch", lambda c, t: c.touch("a", t)),
    ("expire", lambda c, t: c.expire("a", t)),
]


@pytest.mark.parametrize(("ttl", "error", "named"), BAD_TTLS, ids=repr)
@pytest.mark.parametrize(("name", "call"), TTL_CALLS, ids=[n for n, _ in TTL_CALLS])
def test_a_bad_ttl_is_a_named_error_and_changes_nothing(
    cache: Cache, name: str, call: Callable[[Cache, Any], Any], ttl: Any, error: type, named: str
) -> None:
    before = _state(cache)
    with pytest.raises(error, match=named):
        call(cache, ttl)
    assert _state(cache) == before
    assert cache.check() == []


def test_the_largest_finite_ttl_is_a_deadline(cache: Cache) -> None:
    """Infinite TTLs and ints beyond float range are refused (tests/core/test_api_edges.py:
    one rule with the adapters, issue 23); the largest finite one is just far away."""
    cache.set("k", 1, ttl=1e308)
    assert cache.get("k") == 1
    assert cache.check() == []


@pytest.mark.parametrize("ttl", [-1e308, -0.0, 0])
def test_ttls_at_or_below_zero_delete_at_once(cache: Cache, ttl: Any) -> None:
    cache.set("k", 1)
    cache.set("k", 2, ttl=ttl)
    assert "k" not in cache
    assert cache.check() == []


@pytest.mark.parametrize(
    ("when", "error"),
    [("soon", TypeError), (None, TypeError), (False, TypeError), (float("nan"), ValueError)],
    ids=repr,
)
def test_expireat_refuses_what_is_not_an_epoch_time(cache: Cache, when: Any, error: type) -> None:
    before = _state(cache)
    with pytest.raises(error, match="expireat"):
        cache.expireat("a", when)
    assert _state(cache) == before


@pytest.mark.parametrize("delta", ["1", 1.5, True, None])
def test_incr_refuses_a_delta_that_is_not_an_int(cache: Cache, delta: Any) -> None:
    cache.set("n", 1)
    before = _state(cache)
    with pytest.raises(TypeError, match="delta"):
        cache.incr("n", delta)
    assert _state(cache) == before
    assert cache.get("n") == 1


@pytest.mark.parametrize(
    "key",
    ["", "\x00", "\x00\x01\x7f\n\r\t", "\ud800", "k" * 100_000, "\U0001f600" * 10, " "],
    ids=["empty", "nul", "controls", "lone-surrogate", "100k", "emoji", "space"],
)
def test_odd_but_valid_keys_round_trip_and_are_counted(cache: Cache, key: str) -> None:
    cache.set(key, "v", ttl=10)
    assert cache.get(key) == "v"
    assert key in cache
    assert cache.ttl(key) == 10
    assert cache.check() == []  # the key's own size is in the accounting
    assert cache.delete(key) is True


class FailsAt:
    """Fails while being pickled, after ``before`` has been written (a large part or none)."""

    def __init__(self, before: Any, error: Exception) -> None:
        self.before = before
        self.error = error

    def __reduce__(self) -> Any:
        raise self.error


FAILING_VALUES = [
    FailsAt(None, pickle.PicklingError("refused")),
    FailsAt(None, ValueError("bad")),
    [b"x" * 500_000, FailsAt(None, RuntimeError("late"))],  # after half a megabyte
    {"a": 1, "b": [FailsAt(None, TypeError("deep"))]},
    lambda: None,
]


@pytest.mark.parametrize("value", FAILING_VALUES, ids=["first", "value", "late", "deep", "lambda"])
@pytest.mark.parametrize(
    "call",
    [
        lambda c, v: c.set("a", v),
        lambda c, v: c.set("a", v, keepttl=True),
        lambda c, v: c.add("b", v),
        lambda c, v: c.replace("a", v),
        lambda c, v: c.set_many({"b": 1, "a": v, "c": 2}),
        lambda c, v: c.prefixed_setter()("a", v, None),
    ],
    ids=["set", "set_keepttl", "add", "replace", "set_many", "prefixed_setter"],
)
def test_a_value_failing_to_pickle_anywhere_leaves_the_cache_unchanged(
    cache: Cache, value: Any, call: Callable[[Cache, Any], Any]
) -> None:
    before = _state(cache)
    with pytest.raises((pickle.PicklingError, ValueError, RuntimeError, TypeError, AttributeError)):
        call(cache, value)
    assert _state(cache) == before
    assert cache.check() == []


@pytest.mark.parametrize("size", [0, 1, 1000, 500_000, 1_040_000, 1_048_577, 5_000_000])
def test_values_of_any_size_are_stored_or_refused_by_name(cache: Cache, size: int) -> None:
    value = b"v" * size
    try:
        cache.set("k", value)
    except ValueTooLargeError as exc:
        assert "'k'" in str(exc) and "maxmemory" in str(exc)
        assert exc.key == "k"
        assert "k" not in cache
    else:
        assert cache.get("k") == value
    assert cache.store.used_memory <= 1024 * 1024
    assert cache.check() == []
