"""Bad configuration gets a full-sentence error naming the option, with valid choices."""

from __future__ import annotations

from typing import Any

import pytest

from cachepolicy import Cache, CacheConfig, ConfigError, get_shared_store, release_shared_store
from cachepolicy.eviction import AllKeysLRU, ExactAllKeysLRU
from cachepolicy.expiry import TimedExpiry
from cachepolicy.serializers import PickleSerializer

#: Every lookup of ``CountedLRU`` in this module, by dotted path (see ``__getattr__``).
_LOOKUPS: list[str] = []


def __getattr__(name: str) -> Any:
    """``tests.core.test_config.CountedLRU`` is AllKeysLRU, and each resolution is counted."""
    if name == "CountedLRU":
        _LOOKUPS.append(name)
        return AllKeysLRU
    raise AttributeError(name)


@pytest.mark.parametrize(
    ("options", "pattern"),
    [
        (
            {"maxmemory_policy": "allkeys-lr"},
            r"unknown policy 'allkeys-lr'.*Did you mean 'allkeys-lru'",
        ),
        ({"maxmemory_policy": "lru"}, r"Valid policies: noeviction, allkeys-lru"),
        ({"maxmemory_policy": "nowhere.Policy"}, r"could not be imported"),
        ({"maxmemory_policy": "collections.OrderedDict"}, r"not an EvictionPolicy subclass"),
        ({"maxmemory": "lots"}, r"'maxmemory' has a malformed memory size 'lots'"),
        ({"maxmemory": -5}, r"must not be negative"),
        ({"maxmemory_samples": 0}, r"'maxmemory_samples' must be between 1 and 64, got 0"),
        ({"maxmemory_samples": 65}, r"between 1 and 64"),
        ({"maxmemory_samples": "five"}, r"must be an integer"),
        ({"active_expire_effort": 11}, r"'active_expire_effort' must be between 1 and 10"),
        ({"hz": 0}, r"'hz' must be between 1 and 500"),
        ({"lfu_log_factor": -1}, r"'lfu_log_factor' must be between 0 and 2147483647, got -1"),
        ({"eviction_mode": "exakt"}, r"Did you mean 'exact'"),
        ({"expiry": "lazzy"}, r"unknown strategy 'lazzy'.*Did you mean 'lazy'"),
        ({"max_entries": 0}, r"'max_entries' must be between 1 and"),
        (
            {"maxmemory_sample": 5},
            r"Unknown cache option 'maxmemory_sample'.*Did you mean 'maxmemory_samples'",
        ),
        ({"serializer": "json_nope"}, r"serializer"),
    ],
)
def test_errors_name_the_option(options: dict[str, Any], pattern: str) -> None:
    with pytest.raises(ConfigError, match=pattern):
        CacheConfig.from_options(options)


def test_option_names_in_any_case_and_dashes() -> None:
    config = CacheConfig.from_options(
        {"MAXMEMORY": "1mb", "maxmemory-policy": "volatile-lfu", "Maxmemory_Samples": "10"}
    )
    assert (config.maxmemory, config.maxmemory_policy, config.maxmemory_samples) == (
        1024**2,
        "volatile-lfu",
        10,
    )


def test_same_option_twice_is_an_error() -> None:
    with pytest.raises(ConfigError, match="given twice"):
        CacheConfig.from_options({"MAXMEMORY": 1, "maxmemory": 2})


def test_defaults_are_bounded_and_evicting() -> None:
    config = CacheConfig()
    assert config.maxmemory == 64 * 1024 * 1024
    assert config.maxmemory_policy == "allkeys-lru"


def test_config_is_an_immutable_value() -> None:
    config = CacheConfig()
    with pytest.raises(AttributeError):
        config.maxmemory = 5  # type: ignore[misc]
    smaller = config.replace(maxmemory="1mb")
    assert smaller.maxmemory == 1024**2 and config.maxmemory == 64 * 1024**2
    with pytest.raises(ConfigError):
        config.replace(maxmemory="huge")


def test_cache_rejects_unknown_keyword() -> None:
    with pytest.raises(ConfigError, match="Unknown cache option 'maxmemroy'"):
        Cache(maxmemroy="1mb")


def test_database_index_checked() -> None:
    with pytest.raises(ValueError, match="out of range"):
        Cache(databases=2).select(2)


def test_shared_store_conflicts_are_errors() -> None:
    try:
        first = get_shared_store("conflict-test", CacheConfig(maxmemory="1mb"))
        assert get_shared_store("conflict-test", CacheConfig(maxmemory="1mb")) is first
        with pytest.raises(ConfigError, match=r"'conflict-test'.*maxmemory"):
            get_shared_store("conflict-test", CacheConfig(maxmemory="2mb"))
    finally:
        release_shared_store("conflict-test")


def test_names_are_resolved_once_by_the_configuration() -> None:
    config = CacheConfig(eviction_mode="EXACT", expiry="timed")
    assert config.policy_class is ExactAllKeysLRU
    assert config.expiry_class is TimedExpiry
    assert config.serializer_object == PickleSerializer()
    # Derived values, not options: not listed, not compared, not arguments.
    assert "policy_class" not in CacheConfig.option_names()
    assert config == CacheConfig(eviction_mode="exact", expiry="timed")


def test_a_store_builds_from_the_names_its_configuration_resolved() -> None:
    """One resolution per configuration; the store does not look the name up again (it did:
    CacheConfig validated by resolving, then CacheStore resolved the same name)."""
    _LOOKUPS.clear()
    config = CacheConfig(maxmemory_policy=f"{__name__}.CountedLRU")
    cache = Cache(config=config)
    assert _LOOKUPS == ["CountedLRU"]
    assert type(cache.store.policy) is AllKeysLRU
    cache.store.config_set("maxmemory-samples", 7)  # a new configuration: resolved once more
    assert _LOOKUPS == ["CountedLRU", "CountedLRU"]
