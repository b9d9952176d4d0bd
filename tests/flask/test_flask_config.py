"""Reading CACHE_* keys and CACHE_OPTIONS; errors name the Flask key and fail at startup."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask_cachepolicy import PolicyCache
from flask_cachepolicy.settings import CORE_KEYS
from flask_caching import Cache

from cachepolicy import CacheConfig, ConfigError

MakeApp = Callable[..., tuple[Flask, Cache]]


def _backend(app: Flask, cache: Cache) -> PolicyCache:
    backend = app.extensions["cache"][cache]
    assert isinstance(backend, PolicyCache)
    return backend


def test_every_core_option_has_a_flask_key() -> None:
    """max_entries is CACHE_THRESHOLD; serializer collides with Flask-Caching's CACHE_SERIALIZER."""
    assert set(CacheConfig.option_names()) - set(CORE_KEYS) == {"max_entries", "serializer"}
    assert all(key == "CACHE_" + name.upper() for name, key in CORE_KEYS.items())


def test_top_level_keys(make_app: MakeApp) -> None:
    app, cache = make_app(
        CACHE_MAXMEMORY="1mb",
        CACHE_MAXMEMORY_POLICY="allkeys-lfu",
        CACHE_MAXMEMORY_SAMPLES=10,
        CACHE_EVICTION_MODE="exact",
        CACHE_THRESHOLD=1234,
        CACHE_DEFAULT_TIMEOUT=42,
        CACHE_KEY_PREFIX="p_",
    )
    backend = _backend(app, cache)
    config = backend.core.config
    assert (config.maxmemory, config.maxmemory_policy) == (1024 * 1024, "allkeys-lfu")
    assert (config.maxmemory_samples, config.eviction_mode) == (10, "exact")
    assert config.max_entries == 1234
    assert (backend.default_timeout, backend.key_prefix) == (42, "p_")


def test_flask_caching_default_threshold_is_the_entry_bound(make_app: MakeApp) -> None:
    app, cache = make_app()
    assert _backend(app, cache).core.config.max_entries == 500  # Flask-Caching's default


def test_cache_options(make_app: MakeApp) -> None:
    app, cache = make_app(
        CACHE_OPTIONS={"maxmemory-policy": "volatile-ttl", "MAXMEMORY": "2mb", "db": 3}
    )
    backend = _backend(app, cache)
    assert backend.core.config.maxmemory_policy == "volatile-ttl"
    assert backend.core.config.maxmemory == 2 * 1024 * 1024
    assert backend.db == 3


def test_same_value_given_twice_is_accepted(make_app: MakeApp) -> None:
    app, cache = make_app(CACHE_MAXMEMORY="1kb", CACHE_OPTIONS={"maxmemory": 1024})
    assert _backend(app, cache).core.config.maxmemory == 1024


@pytest.mark.parametrize(
    ("config", "fragments"),
    [
        (
            {"CACHE_MAXMEMORY_POLICY": "allkeys-lr"},
            ["CACHE_MAXMEMORY_POLICY", "Did you mean 'allkeys-lru'?"],
        ),
        ({"CACHE_MAXMEMORY": "lots"}, ["CACHE_MAXMEMORY", "'64mb'"]),
        ({"CACHE_MAXMEMORY_SAMPLES": 0}, ["CACHE_MAXMEMORY_SAMPLES"]),
        ({"CACHE_EXPIRY": "eager"}, ["CACHE_EXPIRY"]),
        (
            {"CACHE_OPTIONS": {"maxmemory_polcy": "allkeys-lru"}},
            ["CACHE_OPTIONS['maxmemory_polcy']", "Did you mean 'maxmemory_policy'?"],
        ),
        (
            {"CACHE_MAXMEMORY_POLCY": "allkeys-lru"},
            ["CACHE_MAXMEMORY_POLCY", "Did you mean CACHE_MAXMEMORY_POLICY?"],
        ),
        (
            {"CACHE_MAXMEMORY": "1kb", "CACHE_OPTIONS": {"maxmemory": "2kb"}},
            ["CACHE_MAXMEMORY='1kb'", "CACHE_OPTIONS['maxmemory']='2kb'"],
        ),
        ({"CACHE_THRESHOLD": -5}, ["CACHE_THRESHOLD", "-5"]),
        ({"CACHE_OPTIONS": {"threshold": 7}}, ["CACHE_OPTIONS['threshold']", "CACHE_THRESHOLD"]),
        ({"CACHE_OPTIONS": {"key_prefix": "x"}}, ["CACHE_KEY_PREFIX"]),
        ({"CACHE_DEFAULT_TIMEOUT": None}, ["CACHE_DEFAULT_TIMEOUT", "None"]),
        ({"CACHE_KEY_PREFIX": 5}, ["CACHE_KEY_PREFIX"]),
        ({"CACHE_ARGS": [1]}, ["CACHE_ARGS", "CACHE_OPTIONS"]),
        ({"CACHE_CACHEPOLICY_DB": 16}, ["CACHE_CACHEPOLICY_DB", "0 to 15"]),
        ({"CACHE_CACHEPOLICY_LOCATION": ""}, ["CACHE_CACHEPOLICY_LOCATION"]),
        (
            {"CACHE_CACHEPOLICY_SIGNALS": ["evictd"]},
            ["CACHE_CACHEPOLICY_SIGNALS", "Did you mean 'evicted'?"],
        ),
    ],
)
def test_bad_settings_fail_at_startup_naming_the_key(
    config: dict[str, Any], fragments: list[str]
) -> None:
    app = Flask(__name__)
    app.config.update(CACHE_TYPE="flask_cachepolicy.PolicyCache", **config)
    with pytest.raises(ConfigError) as caught:
        Cache(app)
    for fragment in fragments:
        assert fragment in str(caught.value)
    assert "cache" not in app.extensions or not app.extensions["cache"]


def test_other_extensions_cache_keys_are_not_typos(make_app: MakeApp) -> None:
    make_app(CACHE_REDIS_HOST="localhost", CACHE_SOMETHING_ELSE=1)


def test_conflicting_shared_configs_name_the_location(make_app: MakeApp, location: str) -> None:
    make_app(CACHE_CACHEPOLICY_LOCATION=location, CACHE_MAXMEMORY="1mb")
    with pytest.raises(ConfigError, match=r"CACHE_CACHEPOLICY_LOCATION.*maxmemory"):
        make_app(CACHE_CACHEPOLICY_LOCATION=location, CACHE_MAXMEMORY="2mb")


def test_exact_mode_of_a_policy_without_an_exact_class_fails_at_startup() -> None:
    """Issue 23 item 13: a policy registered without an exact class, in exact mode."""
    from cachepolicy import SampledPolicy, register_policy
    from cachepolicy.eviction import unregister_policy

    class Biggest(SampledPolicy):
        name = "allkeys-biggest"

    register_policy("allkeys-biggest", Biggest)
    try:
        app = Flask(__name__)
        app.config.update(
            CACHE_TYPE="flask_cachepolicy.PolicyCache",
            CACHE_MAXMEMORY_POLICY="allkeys-biggest",
            CACHE_EVICTION_MODE="exact",
        )
        with pytest.raises(ConfigError, match=r"'allkeys-biggest'.*without an exact class") as e:
            Cache(app)
        assert "register_policy('allkeys-biggest', Biggest, exact=" in str(e.value)
    finally:
        unregister_policy("allkeys-biggest")
