"""Keys are exact ``str`` at every entry point (issue 11, defect 2).

A non-``str`` key is refused with a TypeError before the lock is taken, by reads as well as
writes, and leaves the cache exactly as it was: same keys, same ``used_memory``, same hit and
miss counters, ``check() == []``. That includes keys whose ``__hash__``/``__eq__`` raise, which
used to reach the keyspace's dicts half way through an update.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest

from cachepolicy import Cache
from tests.conftest import MakeCache


class HashRaises:
    def __hash__(self) -> int:
        raise RuntimeError("hash exploded")


class EqRaises:
    def __hash__(self) -> int:
        return hash("a")

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("eq exploded")


class HostileStr(str):
    """A str subclass with a lying hash and eq: stored as its plain text."""

    __slots__ = ()

    def __hash__(self) -> int:
        raise RuntimeError("hash exploded")

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("eq exploded")


class Pairs(Mapping[Any, Any]):
    """A mapping that never hashes its keys (set_many only iterates ``items()``), so keys that
    cannot be dict keys reach the cache too."""

    def __init__(self, pairs: list[tuple[Any, Any]]) -> None:
        self.pairs = pairs

    def items(self) -> Any:
        return list(self.pairs)

    def __getitem__(self, key: Any) -> Any:
        raise NotImplementedError

    def __iter__(self) -> Iterator[Any]:
        return iter([k for k, _ in self.pairs])

    def __len__(self) -> int:
        return len(self.pairs)


BAD_KEYS: list[Any] = [
    1,
    True,
    1.0,
    None,
    b"a",
    bytearray(b"a"),
    ("a", "b"),
    ("x" * 1_000_000,),  # counted as a few bytes before, while holding 1 MB
    frozenset({"a"}),
    HashRaises(),
    EqRaises(),
]

#: Every public call that takes a key, as (name, call(cache, key)).
CALLS: list[tuple[str, Callable[[Cache, Any], Any]]] = [
    ("get", lambda c, k: c.get(k)),
    ("get_many", lambda c, k: c.get_many(["a", k])),
    ("has", lambda c, k: c.has(k)),
    ("in", lambda c, k: k in c),
    ("ttl", lambda c, k: c.ttl(k)),
    ("expiretime", lambda c, k: c.expiretime(k)),
    ("idletime", lambda c, k: c.idletime(k)),
    ("frequency", lambda c, k: c.frequency(k)),
    ("set", lambda c, k: c.set(k, 1)),
    ("set_keepttl", lambda c, k: c.set(k, 1, keepttl=True)),
    ("set_ttl", lambda c, k: c.set(k, 1, ttl=10)),
    ("add", lambda c, k: c.add(k, 1)),
    ("replace", lambda c, k: c.replace(k, 1)),
    ("set_many", lambda c, k: c.set_many(Pairs([("fresh", 1), (k, 2)]))),
    ("delete", lambda c, k: c.delete(k)),
    ("delete_many", lambda c, k: c.delete_many(["a", k])),
    ("touch", lambda c, k: c.touch(k)),
    ("touch_ttl", lambda c, k: c.touch(k, 10)),
    ("expire", lambda c, k: c.expire(k, 10)),
    ("expireat", lambda c, k: c.expireat(k, 2_000_000_000)),
    ("persist", lambda c, k: c.persist(k)),
    ("incr", lambda c, k: c.incr(k, default=0)),
    ("decr", lambda c, k: c.decr(k, default=0)),
    ("prefixed_getter", lambda c, k: c.prefixed_getter()(k)),
    ("prefixed_setter", lambda c, k: c.prefixed_setter()(k, 1, None)),
    ("accessor_get_payload", lambda c, k: c.accessor().get_payload(k)),
]


def _state(cache: Cache) -> tuple[Any, ...]:
    info = cache.info()
    return (
        sorted(cache.keys()),
        cache.store.used_memory,
        info["keyspace_hits"],
        info["keyspace_misses"],
        cache.ttl("a"),
    )


@pytest.mark.parametrize("key", BAD_KEYS, ids=lambda k: type(k).__name__)
@pytest.mark.parametrize(("name", "call"), CALLS, ids=[name for name, _ in CALLS])
def test_non_str_key_is_refused_and_changes_nothing(
    make_cache: MakeCache, name: str, call: Callable[[Cache, Any], Any], key: Any
) -> None:
    cache = make_cache(maxmemory="1mb", maxmemory_policy="allkeys-lfu")
    cache.set("a", 1, ttl=100)
    before = _state(cache)
    with pytest.raises(TypeError, match=r"Cache keys must be str, got "):
        call(cache, key)
    assert _state(cache) == before
    assert cache.check() == []


def test_the_message_is_short_for_a_huge_key(make_cache: MakeCache) -> None:
    cache = make_cache()
    with pytest.raises(TypeError) as raised:
        cache.get(("x" * 2_000_000,))
    assert len(str(raised.value)) < 200


def test_one_true_and_one_point_zero_no_longer_collide(make_cache: MakeCache) -> None:
    cache = make_cache()
    for key in (1, True, 1.0):
        with pytest.raises(TypeError, match="got " + type(key).__name__):
            cache.set(key, key)
    assert len(cache) == 0


def test_a_str_subclass_is_stored_as_its_plain_text(make_cache: MakeCache) -> None:
    cache = make_cache()
    hostile = HostileStr("k")
    cache.set(hostile, 1)
    assert cache.get("k") == 1
    assert cache.get(hostile) == 1
    assert cache.has(hostile)
    assert type(cache.keys()[0]) is str
    assert cache.set_many(Pairs([(HostileStr("m"), 2)])) == []
    assert cache.get_many([HostileStr("m")]) == {"m": 2}
    assert cache.delete(hostile) is True
    assert sorted(cache.keys()) == ["m"]


def test_keepttl_with_a_ttl_is_an_error(make_cache: MakeCache) -> None:
    """Redis's SET rejects EX together with KEEPTTL; so does set() (it used to keep the TTL)."""
    cache = make_cache()
    cache.set("k", 1, ttl=50)
    for ttl in (-1, 0, 10):
        with pytest.raises(ValueError, match="not both"):
            cache.set("k", 2, ttl=ttl, keepttl=True)
    assert cache.get("k") == 1
    assert cache.ttl("k") == 50
    cache.set("k", 3, keepttl=True)  # without a ttl it is what it always was
    assert (cache.get("k"), cache.ttl("k")) == (3, 50)
