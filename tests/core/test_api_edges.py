"""API edges of the core (issue 23, items 8 and 9): each bad call is a clear, named error that
names what was wrong (with a did-you-mean where there is a name), and changes nothing.

The rule for huge TTLs, the same in the core, Django and Flask: a TTL is a finite number of
seconds. NaN, infinity and ints beyond float range raise ``ValueError`` naming the TTL; "never
expires" is said with ``None`` (Flask: ``0``), never with a very large number.
"""

from __future__ import annotations

from typing import Any

import pytest

from cachepolicy import Cache, CacheConfig, ConfigError
from cachepolicy.errors import short_repr
from tests.conftest import MakeCache


def _state(cache: Cache) -> tuple[Any, ...]:
    return (sorted(cache.keys()), cache.store.used_memory, cache.ttl("a"), cache.store.config)


@pytest.fixture
def cache(make_cache: MakeCache) -> Cache:
    cache = make_cache(maxmemory="1mb")
    cache.set("a", 1, ttl=100)
    return cache


# ---------------------------------------------------------------- item 8: names and shapes


@pytest.mark.parametrize("name", [None, 5, b"maxmemory", ("maxmemory",)])
def test_config_set_with_a_name_that_is_not_a_str_is_a_config_error(
    cache: Cache, name: Any
) -> None:
    before = _state(cache)
    with pytest.raises(ConfigError, match="option name") as error:
        cache.config_set(name, "2mb")
    assert "keywords must be strings" not in str(error.value)
    assert _state(cache) == before


def test_config_set_with_bytes_suggests_the_str_name(cache: Cache) -> None:
    with pytest.raises(ConfigError, match="Did you mean 'maxmemory'"):
        cache.config_set(b"maxmemory", "2mb")


def test_cache_with_config_and_a_mistyped_option_suggests_the_name() -> None:
    with pytest.raises(ConfigError, match="Did you mean 'maxmemory_policy'") as error:
        Cache(config=CacheConfig(), maxmemory_polcy="allkeys-lru")
    assert error.value.option == "maxmemory_polcy"


@pytest.mark.parametrize(
    ("changes", "suggestion"),
    [({"foo": 1}, ""), ({"maxmemory_polcy": "allkeys-lfu"}, "maxmemory_policy")],
)
def test_config_replace_with_an_unknown_option_is_a_config_error(
    changes: dict[str, Any], suggestion: str
) -> None:
    config = CacheConfig()
    with pytest.raises(ConfigError, match="Unknown cache option") as error:
        config.replace(**changes)
    assert error.value.option == next(iter(changes))
    assert (f"Did you mean {suggestion!r}" in str(error.value)) == bool(suggestion)


def test_config_replace_still_validates_known_options() -> None:
    assert CacheConfig().replace(maxmemory="2mb").maxmemory == 2 * 1024 * 1024
    with pytest.raises(ConfigError):
        CacheConfig().replace(maxmemory_samples=10**9)


@pytest.mark.parametrize("items", [[("a", 2)], (("b", 1),), "ab", 5])
def test_set_many_with_anything_but_a_mapping_is_a_type_error(cache: Cache, items: Any) -> None:
    before = _state(cache)
    with pytest.raises(TypeError, match=r"set_many\(\) takes a mapping"):
        cache.set_many(items)
    assert _state(cache) == before


# ---------------------------------------------------------------- item 9: huge numbers


@pytest.mark.parametrize(
    "when", [10**400, -(10**400), 10**5000, float("inf"), float("nan")], ids=short_repr
)
def test_expireat_beyond_float_range_is_a_value_error_naming_the_time(
    cache: Cache, when: Any
) -> None:
    before = _state(cache)
    with pytest.raises(ValueError, match="expireat") as error:
        cache.expireat("a", when)
    assert len(str(error.value)) < 300
    assert _state(cache) == before


@pytest.mark.parametrize(
    "ttl", [10**400, 10**5000, -(10**5000), float("inf"), float("-inf")], ids=short_repr
)
def test_expire_with_a_huge_ttl_is_a_value_error_with_a_short_message(
    cache: Cache, ttl: Any
) -> None:
    before = _state(cache)
    with pytest.raises(ValueError, match="finite") as error:
        cache.expire("a", ttl)
    assert len(str(error.value)) < 300
    assert _state(cache) == before


@pytest.mark.parametrize(
    "ttl", [10**400, 10**5000, float("inf"), float("-inf"), -(10**400)], ids=short_repr
)
@pytest.mark.parametrize("call", ["set", "add", "replace", "set_many", "touch"])
def test_a_ttl_beyond_float_range_is_refused_by_every_write(
    cache: Cache, ttl: Any, call: str
) -> None:
    """One rule with the adapters (Django and Flask refuse it too): use None for no TTL."""
    before = _state(cache)
    with pytest.raises(ValueError, match="finite") as error:
        if call == "set_many":
            cache.set_many({"a": 2, "b": 2}, ttl=ttl)
        elif call == "touch":
            cache.touch("a", ttl)
        else:
            getattr(cache, call)("a", 2, ttl=ttl)
    assert len(str(error.value)) < 300
    assert _state(cache) == before


def test_a_large_finite_ttl_is_kept(cache: Cache) -> None:
    cache.set("far", 1, ttl=10**20)
    assert cache.ttl("far") == pytest.approx(1e20)


@pytest.mark.parametrize("default", ["5", 5.0, b"5", True])
def test_incr_with_a_default_that_is_not_an_int_blames_the_default(
    cache: Cache, default: Any
) -> None:
    before = _state(cache)
    with pytest.raises(TypeError, match="default") as error:
        cache.incr("missing", default=default)
    assert "'missing'" not in str(error.value).split("default")[0]
    assert _state(cache) == before
    with pytest.raises(TypeError, match="default"):
        cache.decr("missing", default=default)
