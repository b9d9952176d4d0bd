"""User-defined policies: a score function on the sampled base, registered by name or dotted
path, get the same machinery (pool, accounting, events) as the built-ins."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cachepolicy import (
    REDIS_POLICIES,
    Cache,
    CacheConfig,
    ConfigError,
    Entry,
    EvictionPolicy,
    SampledPolicy,
    register_policy,
)
from cachepolicy.eviction import (
    EVICTION_MODES,
    AllKeysRandom,
    NoEviction,
    VolatileRandom,
    policy_names,
    policy_spec,
    unregister_policy,
)
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
    assert cache.info()["maxmemory_policy"] == "allkeys-size-lfu"
    assert cache.check() == []


@pytest.fixture
def largest_first() -> Iterator[str]:
    """``allkeys-largest`` registered without an exact class."""
    register_policy("allkeys-largest", LargestFirst)
    yield "allkeys-largest"
    unregister_policy("allkeys-largest")


def test_exact_mode_is_refused_without_an_exact_class(largest_first: str) -> None:
    """Issue 23 item 13: it ran the sampled class while INFO said ``exact``."""
    with pytest.raises(ConfigError, match=r"policy 'allkeys-largest'") as caught:
        CacheConfig(maxmemory_policy=largest_first, eviction_mode="exact")
    assert caught.value.option == "eviction_mode"
    assert "register_policy('allkeys-largest', LargestFirst, exact=" in str(caught.value)
    with pytest.raises(ConfigError, match="without an exact class"):
        Cache(maxmemory_policy=largest_first, eviction_mode="EXACT")
    assert CacheConfig(maxmemory_policy=largest_first).policy_class is LargestFirst


def test_switching_to_exact_mode_is_refused_and_changes_nothing(
    make_cache: MakeCache, largest_first: str
) -> None:
    cache = make_cache(maxmemory_policy=largest_first)
    cache.set("a", 1)
    policy = cache.store.policy
    with pytest.raises(ConfigError, match="without an exact class"):
        cache.store.config_set("eviction-mode", "exact")
    assert cache.store.policy is policy and cache.store.config.eviction_mode == "sampled"
    assert cache.info()["eviction_class"] == "LargestFirst" and cache.get("a") == 1


def test_a_class_registered_as_its_own_exact_class_runs_in_exact_mode(
    make_cache: MakeCache,
) -> None:
    register_policy("allkeys-largest", LargestFirst, exact=LargestFirst)
    try:
        cache = make_cache(maxmemory_policy="allkeys-largest", eviction_mode="exact")
        assert type(cache.store.policy) is LargestFirst
        assert cache.info()["eviction_mode"] == "exact"
        assert cache.info()["eviction_class"] == "LargestFirst"
    finally:
        unregister_policy("allkeys-largest")


@pytest.mark.parametrize(
    ("name", "single"),
    [
        ("noeviction", NoEviction),
        ("allkeys-random", AllKeysRandom),
        ("volatile-random", VolatileRandom),
    ],
)
def test_builtins_with_one_class_run_it_in_both_modes(
    make_cache: MakeCache, name: str, single: type[EvictionPolicy]
) -> None:
    """Nothing to rank, so the one class is already exact; INFO names what runs."""
    for mode in EVICTION_MODES:
        cache = make_cache(maxmemory_policy=name, eviction_mode=mode)
        assert type(cache.store.policy) is single
        assert cache.info()["eviction_class"] == single.__qualname__
    assert policy_spec(name).exact is single


@pytest.mark.parametrize(
    "name", [n for n in REDIS_POLICIES if n.endswith(("-lru", "-lfu", "-ttl"))]
)
def test_info_names_the_exact_class_of_a_ranked_builtin(make_cache: MakeCache, name: str) -> None:
    exact = make_cache(maxmemory_policy=name, eviction_mode="exact")
    sampled = make_cache(maxmemory_policy=name)
    assert exact.info()["eviction_class"].startswith("Exact")
    assert not sampled.info()["eviction_class"].startswith("Exact")
