"""``PolicyCache.config_set``: Redis's CONFIG SET on the store behind a Django alias."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from django_cachepolicy import PolicyCache

from cachepolicy import ConfigError, release_shared_store


@pytest.fixture
def location() -> Iterator[str]:
    name = f"config-set-{uuid.uuid4().hex}"
    yield name
    release_shared_store(name)


def test_config_set_changes_every_alias_of_the_location(location: str) -> None:
    options = {"MAXMEMORY": "1mb", "MAXMEMORY_POLICY": "allkeys-lru"}
    pages = PolicyCache(location, {"OPTIONS": {**options, "DATABASE": 1}})
    sessions = PolicyCache(location, {"OPTIONS": {**options, "DATABASE": 0}})
    for i in range(600):
        pages.set(f"page{i}", b"x" * 1000, None)
    sessions.set("session", "kept", None)
    pages.config_set("MAXMEMORY_POLICY", "allkeys-lfu")  # Django's spelling works too
    pages.config_set("maxmemory", "200kb")
    info = sessions.info()
    assert info["maxmemory_policy"] == "allkeys-lfu" and info["maxmemory"] == 200 * 1024
    assert info["used_memory"] <= 200 * 1024 and info["evicted_keys"] > 0
    # A backend made afterwards (Django makes one per thread) still attaches to the store,
    # which is matched by the configuration it was built with, not by the one in force.
    later = PolicyCache(location, {"OPTIONS": {**options, "DATABASE": 1}})
    assert later.view.store is pages.view.store
    assert later.info()["maxmemory_policy"] == "allkeys-lfu"
    assert pages.view.check() == []


def test_config_set_refuses_bad_input_naming_the_option(location: str) -> None:
    cache = PolicyCache(location, {"OPTIONS": {"MAXMEMORY": "1mb"}})
    with pytest.raises(ConfigError, match="Did you mean 'allkeys-lru'") as error:
        cache.config_set("maxmemory-policy", "allkeys-lur")
    assert error.value.option == "maxmemory_policy"
    with pytest.raises(ConfigError, match="cannot be changed on a live cache"):
        cache.config_set("DATABASES", 4)
    assert cache.info()["maxmemory_policy"] == "allkeys-lru"


@pytest.mark.parametrize("name", [None, 5, b"maxmemory"])
def test_config_set_with_a_name_that_is_not_a_str_is_a_config_error(
    location: str, name: object
) -> None:
    cache = PolicyCache(location, {"OPTIONS": {"MAXMEMORY": "1mb"}})
    with pytest.raises(ConfigError, match="option name"):
        cache.config_set(name, "2mb")  # type: ignore[arg-type]
    assert cache.info()["maxmemory"] == 1024 * 1024
