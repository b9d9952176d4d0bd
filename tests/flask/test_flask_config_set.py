"""``PolicyCache.config_set``: Redis's CONFIG SET on the store behind a Flask-Caching backend."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from flask_caching import Cache

from cachepolicy import ConfigError

MakeApp = Callable[..., tuple[Flask, Cache]]


def test_config_set_on_a_private_store(make_app: MakeApp) -> None:
    app, cache = make_app(CACHE_MAXMEMORY="1mb", CACHE_THRESHOLD=0)
    with app.app_context():
        for i in range(600):
            cache.set(f"k{i}", b"x" * 1000)
        cache.cache.config_set("maxmemory-policy", "allkeys-lfu")
        cache.cache.config_set("maxmemory", "200kb")
        info = cache.cache.info()
    assert info["maxmemory_policy"] == "allkeys-lfu" and info["maxmemory"] == 200 * 1024
    assert info["used_memory"] <= 200 * 1024 and info["evicted_keys"] > 0


def test_shared_store_is_still_found_after_config_set(make_app: MakeApp, location: str) -> None:
    app1, cache1 = make_app(CACHE_CACHEPOLICY_LOCATION=location, CACHE_MAXMEMORY="1mb")
    with app1.app_context():
        cache1.cache.config_set("maxmemory", "2mb")
    app2, cache2 = make_app(CACHE_CACHEPOLICY_LOCATION=location, CACHE_MAXMEMORY="1mb")
    first, second = app1.extensions["cache"][cache1], app2.extensions["cache"][cache2]
    assert second.core.store is first.core.store
    assert second.info()["maxmemory"] == 2 * 1024 * 1024


def test_config_set_refuses_bad_values(make_app: MakeApp) -> None:
    app, cache = make_app(CACHE_MAXMEMORY="1mb")
    with app.app_context(), pytest.raises(ConfigError) as error:
        cache.cache.config_set("maxmemory_samples", 100)
    assert error.value.option == "maxmemory_samples"


@pytest.mark.parametrize("name", [None, 5, b"maxmemory"])
def test_config_set_with_a_name_that_is_not_a_str_is_a_config_error(
    make_app: MakeApp, name: object
) -> None:
    app, cache = make_app(CACHE_MAXMEMORY="1mb")
    with app.app_context(), pytest.raises(ConfigError, match="option name"):
        cache.cache.config_set(name, "2mb")  # type: ignore[arg-type]
    assert cache.cache.info()["maxmemory"] == 1024 * 1024
