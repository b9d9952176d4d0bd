"""The three reproductions of issue 10 ("What is wrong today", items 1-3), as written there.

1. An override of a built-in policy's hook is silently ignored (the built-ins assigned their
   hooks as instance attributes and the store inlined the recency stamp).
2. A ``TimedExpiry`` subclass's ``on_ttl_set`` is skipped for in-order deadlines (the write path
   appended to the strategy's lane itself).
3. ``Cache.frequency()`` refuses under the documented custom LFU example, because the store
   looked for "lfu" in the policy's name.

The full contracts are in ``test_hooks.py`` and ``tests/expiry/test_expiry_hooks.py``.
"""

from __future__ import annotations

from typing import Any

from cachepolicy import Cache, register_policy
from cachepolicy.eviction import LFU_INIT_VAL, AllKeysLRU
from cachepolicy.eviction.registry import policy_names, unregister_policy
from cachepolicy.expiry import TimedExpiry
from docs.examples.size_aware import SizeAwareLFU
from tests.conftest import MakeCache


def test_override_of_a_builtin_policy_hook_is_called() -> None:
    calls: list[str] = []

    class Mine(AllKeysLRU):
        name = "mine-lru"

        def on_read(self, entry: Any, now: float) -> None:
            calls.append(entry.key)
            super().on_read(entry, now)

        def on_insert(self, entry: Any, now: float) -> None:
            calls.append(entry.key)
            super().on_insert(entry, now)

    c = Cache(maxmemory="1mb", maxmemory_policy=Mine)
    try:
        c.set("a", 1)
        c.get("a")
        c.get("a")
        assert calls == ["a", "a", "a"]  # issue 10: calls == []
        assert c.check() == []
    finally:
        c.close()


def test_timed_expiry_subclass_on_ttl_set_is_reached_for_every_ttl(make_cache: MakeCache) -> None:
    seen: list[str] = []

    class CountingTimed(TimedExpiry):
        name = "counting-timed"

        def on_ttl_set(self, entry: Any, previous: float | None) -> None:
            seen.append(entry.key)
            super().on_ttl_set(entry, previous)

    cache = make_cache(expiry=CountingTimed)
    for i in range(5):
        cache.set(f"k{i}", i, ttl=10 + i)
    assert seen == [f"k{i}" for i in range(5)]  # issue 10: reached once, for k0


def test_frequency_under_the_documented_size_aware_lfu(make_cache: MakeCache) -> None:
    # As docs/custom-policies.md: register the example under its name, select it by name.
    registered = "allkeys-size-lfu" not in policy_names()
    if registered:
        register_policy("allkeys-size-lfu", SizeAwareLFU)
    try:
        cache = make_cache(maxmemory="256mb", maxmemory_policy="allkeys-size-lfu")
        assert isinstance(cache.store.policy, SizeAwareLFU)
        cache.set("report.pdf", b"%" * 1000)
        assert cache.frequency("report.pdf") == LFU_INIT_VAL  # issue 10: TypeError
        cache.get("report.pdf")  # the first hit always counts (counter at LFU_INIT_VAL)
        assert cache.frequency("report.pdf") == LFU_INIT_VAL + 1
    finally:
        if registered:
            unregister_policy("allkeys-size-lfu")


def test_frequency_under_the_size_aware_lfu_class_passed_directly(make_cache: MakeCache) -> None:
    cache = make_cache(maxmemory_policy=SizeAwareLFU)
    cache.set("k", 1)
    assert cache.frequency("k") == LFU_INIT_VAL
