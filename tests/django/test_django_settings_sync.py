"""Stores follow changes of ``CACHES`` (issue 11, defect 8).

Django's suite overrides ``CACHES`` with new ``OPTIONS`` on a LOCATION already in use, and puts
aliases with different ``MAX_ENTRIES`` on one LOCATION; both used to raise "already in use with
a different configuration". ``test_django_conformance.PolicyCacheDjangoSettingsTests`` runs
Django's suite that way; these tests pin the rules down one by one.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.core.cache import caches
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings
from django_cachepolicy import PolicyCache

from cachepolicy.shared import release_shared_store, shared_store_names

BACKEND = "django_cachepolicy.PolicyCache"


def _caches(location: str, **aliases: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: {"BACKEND": BACKEND, "LOCATION": location, **params}
        for name, params in aliases.items()
    }


@pytest.fixture
def location() -> str:
    return f"sync-{uuid.uuid4().hex}"


def test_changed_options_rebuild_the_store_and_unchanged_keep_it(location: str) -> None:
    with override_settings(CACHES=_caches(location, default={})):
        caches["default"].set("k", 1)
        first = caches["default"].view.store
        with override_settings(CACHES=_caches(location, default={"OPTIONS": {"MAX_ENTRIES": 9}})):
            assert first.closed  # its options changed: released, not left to conflict
            cache = caches["default"]
            assert cache.view.store.config.max_entries == 9
            assert cache.get("k") is None
            for i in range(20):
                cache.set(f"n{i}", i)
            assert len(cache.view.keys()) <= 9
        # Back to the first options: a fresh store with them (the MAX_ENTRIES one released).
        assert caches["default"].view.store.config.max_entries is None
        caches["default"].set("k", 2)
        kept = caches["default"].view.store
        with override_settings(CACHES=_caches(location, default={}, other={"KEY_PREFIX": "p"})):
            assert caches["default"].view.store is kept  # same options: same store, same data
            assert caches["default"].get("k") == 2
            assert caches["other"].view.store is kept


def test_a_store_whose_last_alias_is_gone_is_released(location: str) -> None:
    with override_settings(CACHES=_caches(location, default={})):
        caches["default"].set("k", 1)
        store = caches["default"].view.store
        assert location in shared_store_names()
        with override_settings(CACHES=_caches(f"{location}-other", default={})):
            assert store.closed
            assert location not in shared_store_names()


def test_aliases_with_different_store_options_on_one_location_get_a_store_each(
    location: str,
) -> None:
    setting = _caches(
        location,
        default={},
        prefix={"KEY_PREFIX": "p"},
        cull={"OPTIONS": {"MAX_ENTRIES": 30}},
        zero_cull={"OPTIONS": {"MAX_ENTRIES": 30, "CULL_FREQUENCY": 0}},
    )
    with override_settings(CACHES=setting):
        aliases = ("default", "prefix", "cull", "zero_cull")
        default, prefix, cull, zero = (caches[alias] for alias in aliases)
        assert prefix.view.store is default.view.store  # same options: shared, as before
        assert cull.view.store is not default.view.store
        assert zero.view.store not in (default.view.store, cull.view.store)
        assert cull.view.store.config.max_entries == 30
        assert zero.view.store.config.cull_frequency == 0
        assert cull.location == location  # messages and signals still name the LOCATION
        for i in range(1, 50):
            cull.set(f"cull{i}", "value", 1000)
        assert sum(cull.has_key(f"cull{i}") for i in range(1, 50)) == 29  # Django's test_cull
    names = shared_store_names()
    assert not [name for name in names if name.startswith(location)], names


def test_outside_a_settings_change_a_conflict_is_still_refused(location: str) -> None:
    """A project's own CACHES never goes through a settings change: E005 and a refusal."""
    first = PolicyCache(location, {"OPTIONS": {"MAXMEMORY": "1mb"}})
    try:
        with pytest.raises(ImproperlyConfigured, match="maxmemory"):
            PolicyCache(location, {"OPTIONS": {"MAXMEMORY": "2mb"}}).get("k")
    finally:
        release_shared_store(first.location)


def test_a_settings_change_after_config_set_keeps_the_store_and_its_data(location: str) -> None:
    """Issue 23, item 7: the settings are compared with the settings, not with the runtime
    configuration that ``config_set`` changed (Redis's CONFIG SET outlives no restart either,
    but an unrelated alias added by ``override_settings`` is no restart)."""
    with override_settings(CACHES=_caches(location, default={})):
        cache = caches["default"]
        cache.set("k", 1)
        cache.config_set("maxmemory", "32mb")
        store = cache.view.store
        with override_settings(CACHES=_caches(location, default={}, other={"KEY_PREFIX": "p"})):
            assert caches["default"].view.store is store
            assert not store.closed
            assert caches["default"].get("k") == 1
            assert store.config.maxmemory == 32 * 1024 * 1024  # the runtime change stays
        assert caches["default"].get("k") == 1
