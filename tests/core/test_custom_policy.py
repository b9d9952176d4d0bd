"""User-defined policies: a score function on the sampled base, registered by name or dotted
path, get the same machinery (pool, accounting, events) as the built-ins."""

from __future__ import annotations

import pytest

from cachepolicy import Cache, ConfigError, Entry, SampledPolicy, register_policy
from cachepolicy.eviction import policy_names, unregister_policy
from tests.conftest import MakeCache


class LargestFirst(SampledPolicy):
    """Evict the biggest entry first (a size-aware policy Redis does not have)."""

    name = "allkeys-largest"

    def score(self, entry: Entry, now: float) -> float:
        return float(entry.size)


def test_registered_by_name(make_cache: MakeCache) -> None:
    register_policy("allkeys-largest", LargestFirst)
    try:
        assert "allkeys-largest" in policy_names()
        cache = make_cache(
            maxmemory="40kb", maxmemory_policy="allkeys-largest", maxmemory_samples=64
        )
        cache.set("big", "x" * 5000)
        for i in range(200):
            cache.set(f"small{i}", i)
        assert not cache.has("big")
        assert cache.has("small199")
        with pytest.raises(ConfigError, match="already registered"):
            register_policy("allkeys-largest", LargestFirst)
    finally:
        unregister_policy("allkeys-largest")


def test_selected_by_dotted_path(make_cache: MakeCache) -> None:
    cache = make_cache(maxmemory_policy=f"{__name__}.LargestFirst")
    assert isinstance(cache.store.policy, LargestFirst)
    assert cache.info()["maxmemory_policy"] == "allkeys-largest"


def test_builtins_cannot_be_unregistered() -> None:
    with pytest.raises(ConfigError):
        unregister_policy("allkeys-lru")


def test_register_rejects_non_policies() -> None:
    with pytest.raises(TypeError):
        register_policy("bad", dict)  # type: ignore[arg-type]


def test_docs_example_runs() -> None:
    from docs.examples.size_aware import build_cache

    cache: Cache = build_cache()
    assert cache.info()["maxmemory_policy"] == "allkeys-gdsf"
    assert cache.check() == []
