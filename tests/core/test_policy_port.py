"""The policy port: read/write access, misses, admission, removal causes, the policy's slot,
and the engine defects of issue 19 that lived at that seam.

Each defect test failed on the engine before the port (see the issue's reproductions):

* exact LRU with ``maxmemory`` lowered emptied the cache and stayed above the limit, because
  the recency list never gave its table back;
* a write whose value fitted alone but not with the table growth its own insertion caused was
  acknowledged and then evicted by itself (``evicted`` before ``new``), or raised
  ``OutOfMemoryError`` under ``noeviction`` where the value is simply too large.
"""

from __future__ import annotations

from random import Random
from typing import Any

import pytest

from cachepolicy import (
    Cache,
    CacheConfig,
    ConfigError,
    Entry,
    KeyspaceEvent,
    ManualClock,
    OutOfMemoryError,
    ValueTooLargeError,
)
from cachepolicy._core.entry import SLOT_OVERHEAD
from cachepolicy.eviction import AllKeysLRU, EvictionPolicy, Removal, SampledPolicy
from tests.conftest import MakeCache


def _events(cache: Cache) -> list[tuple[str, str]]:
    seen: list[tuple[str, str]] = []

    def listen(event: KeyspaceEvent) -> None:
        seen.append((event.name, event.key))

    cache.subscribe(listen)
    return seen


# ---------------------------------------------------------------------------------- defects


def test_exact_lru_lowering_maxmemory_keeps_keys_and_the_bound(make_cache: MakeCache) -> None:
    cache = make_cache(maxmemory="64mb", eviction_mode="exact")
    for i in range(10_000):
        cache.set(f"key:{i}", b"x" * 100)
    cache.config_set("maxmemory", "64kb")
    info = cache.info()
    assert info["used_memory"] <= 65_536
    assert len(cache) > 100  # the sampled mode keeps ~167; the exact one kept 0
    assert cache.check() == []
    cache.set("after", b"y" * 100)  # writes work again at once
    assert cache.get("after") == b"y" * 100


@pytest.mark.parametrize("policy", ["allkeys-lru", "noeviction", "volatile-lru"])
def test_a_write_either_stores_its_value_or_raises(make_cache: MakeCache, policy: str) -> None:
    """Values around the limit: each write into an empty 10,000-byte cache is stored, or
    refused with ValueTooLargeError (nothing else is in the cache to make room from). Never
    acknowledged and gone, never OutOfMemoryError."""
    outcomes = set()
    for size in range(9_000, 9_800, 5):
        cache = make_cache(maxmemory=10_000, maxmemory_policy=policy)
        events = _events(cache)
        try:
            cache.set("k", b"x" * size, ttl=60)
        except ValueTooLargeError:
            outcomes.add("refused")
            assert len(cache) == 0 and events == []
        else:
            outcomes.add("stored")
            assert cache.get("k") == b"x" * size
            assert [name for name, _ in events] == ["new", "set", "expire"]
        assert cache.info()["evicted_keys"] == 0
    assert outcomes == {"stored", "refused"}  # the range crosses the table-growth step


@pytest.mark.parametrize("mode", ["sampled", "exact"])
def test_volatile_policy_accepts_a_reachable_lower_limit(make_cache: MakeCache, mode: str) -> None:
    """5,000 keys with TTLs under volatile-lru, limit lowered to 170 kB: reachable (a fresh
    170 kB cache holds hundreds of these keys), so accepted and met. It was refused: the
    tables were projected as unevictable although they shrink as keys go."""
    cache = make_cache(maxmemory="64mb", maxmemory_policy="volatile-lru", eviction_mode=mode)
    for i in range(5_000):
        cache.set(f"k{i}", b"x" * 100, ttl=3600)
    cache.config_set("maxmemory", "170kb")
    assert cache.info()["used_memory"] <= 170 * 1024
    assert len(cache) > 100
    assert cache.check() == []


def test_volatile_policy_still_refuses_an_unreachable_limit(make_cache: MakeCache) -> None:
    cache = make_cache(maxmemory="64mb", maxmemory_policy="volatile-lru")
    for i in range(5_000):
        cache.set(f"k{i}", b"x" * 100, ttl=3600 if i % 2 else None)  # half may never go
    before = cache.info()["used_memory"]
    with pytest.raises(ConfigError, match="would remain in use"):
        cache.config_set("maxmemory", "170kb")
    assert cache.info()["used_memory"] == before and len(cache) == 5_000


# ---------------------------------------------------------------------------------- atomicity


class PinsKeys(EvictionPolicy):
    """Evicts unpinned keys oldest first and never a ``pinned:*`` one, without declaring so
    (its candidate_bytes says every key may go): it runs out of victims part-way through a
    write that needs more than the unpinned keys hold."""

    name = "test-pins-keys"

    def __init__(self, config: CacheConfig, rng: Random) -> None:
        super().__init__(config, rng)
        self.order: dict[Entry, None] = {}

    def on_insert(self, entry: Entry, now: float) -> None:
        if "pinned:" not in entry.key:
            self.order[entry] = None

    def on_remove(self, entry: Entry, cause: Removal) -> None:
        self.order.pop(entry, None)

    def reset(self) -> None:
        self.order.clear()

    def select_victim(self, keyspaces: Any, now: float) -> Entry | None:
        return next(iter(self.order), None)


@pytest.mark.parametrize("ttl", [None, 60])
def test_a_policy_that_runs_out_part_way_leaves_the_cache_as_it_was(
    make_cache: MakeCache, ttl: int | None
) -> None:
    cache = make_cache(maxmemory="32kb", maxmemory_policy=PinsKeys)
    for i in range(20):
        cache.set(f"pinned:{i}", "p" * 900, ttl=ttl)
    for i in range(5):
        cache.set(f"free:{i}", "f" * 300, ttl=ttl)
    cache.get("free:3")
    before, info_before = _snapshot(cache), cache.info()
    events = _events(cache)
    with pytest.raises(OutOfMemoryError):
        cache.set("big", "b" * 9_000)  # needs more than the five free keys hold
    assert _snapshot(cache) == before
    info = cache.info()
    assert info["rejected_writes"] == info_before["rejected_writes"] + 1
    for name in ("evicted_keys", "evicted_bytes", "keys"):
        assert info.get(name) == info_before.get(name), name
    # The same, or less: the removed versions' deadline-index records were compacted away.
    assert info["used_memory"] <= info_before["used_memory"]
    assert events == []  # no "evicted" for keys that are back
    assert cache.check() == []
    room = 32 * 1024 - cache.info()["used_memory"]
    cache.set("mid", "m" * (room + 200))  # the restored keys are evictable as before
    assert cache.has("mid") and cache.info()["evicted_keys"] > 0
    assert cache.check() == []


# ---------------------------------------------------------------------------------- admission


class RefuseScans(AllKeysLRU):
    """Admission for the docs' scan-resistance example: keys named ``scan:*`` never displace
    anything (they are stored only while there is room)."""

    name = "test-refuse-scans"

    def admit(self, key: str, size: int, victim: Entry, now: float) -> bool:
        return "scan:" not in key  # Django stores ":1:scan:..." (prefix, version)


def _snapshot(cache: Cache) -> dict[str, Any]:
    return {key: (cache.no_touch().get(key), cache.ttl(key)) for key in sorted(cache.keys())}


def test_a_refused_admission_changes_nothing(make_cache: MakeCache) -> None:
    cache = make_cache(maxmemory="16kb", maxmemory_policy=RefuseScans)
    for i in range(200):
        cache.set(f"hot:{i}", "v" * 300, ttl=100 + i)
    assert cache.info()["evicted_keys"] > 0  # full, and evicting for ordinary keys
    before = _snapshot(cache)
    info_before = cache.info()
    events = _events(cache)
    assert cache.set("scan:1", "v" * 300) is False  # refused: nothing stored
    assert cache.add("scan:2", "v" * 300) is False  # add says it stored nothing
    assert not cache.has("scan:1") and not cache.has("scan:2")
    assert _snapshot(cache) == before
    info = cache.info()
    assert info["rejected_admissions"] == info_before["rejected_admissions"] + 2
    for name in ("evicted_keys", "used_memory", "keys", "rejected_writes"):
        assert info.get(name) == info_before.get(name), name
    assert events == [("refused", "scan:1"), ("refused", "scan:2")]
    cache.set("hot:new", "v" * 300)  # admitted: evicts as before
    assert cache.has("hot:new")


def test_admission_is_not_asked_while_there_is_room(make_cache: MakeCache) -> None:
    cache = make_cache(maxmemory="1mb", maxmemory_policy=RefuseScans)
    cache.set("scan:1", "v")
    assert cache.get("scan:1") == "v"
    assert cache.info()["rejected_admissions"] == 0


# ---------------------------------------------------------------------------------- the slot


class SizeAware(SampledPolicy):
    """A GreedyDual-Size-like score kept in the policy's slot: big values that were not
    rewritten recently go first. on_write sees the size change of an overwrite."""

    name = "test-size-aware"
    uses_slot = True

    def __init__(self, config: CacheConfig, rng: Random) -> None:
        super().__init__(config, rng)
        self.clock = 0.0
        self.size_changes: list[tuple[str, int, int]] = []
        self.causes: list[Removal] = []

    def on_insert(self, entry: Entry, now: float) -> None:
        super().on_insert(entry, now)
        entry.slot = self.clock + 1000.0 / entry.size

    def on_write(self, entry: Entry, now: float, old_size: int) -> None:
        super().on_write(entry, now, old_size)
        self.size_changes.append((entry.key, old_size, entry.size))
        entry.slot = self.clock + 1000.0 / entry.size

    def on_remove(self, entry: Entry, cause: Removal) -> None:
        self.causes.append(cause)
        if cause is Removal.EVICTED:
            self.clock = max(self.clock, entry.slot)

    def score(self, entry: Entry, now: float) -> float:
        return -entry.slot


def test_a_policy_owned_slot_is_kept_counted_and_ranked(make_cache: MakeCache) -> None:
    cache = make_cache(maxmemory="40kb", maxmemory_policy=SizeAware, maxmemory_samples=64)
    engine = cache.store.engine
    plain = make_cache(maxmemory="40kb").store.engine
    assert engine.plan.plain_overhead == plain.plan.plain_overhead + SLOT_OVERHEAD
    cache.set("small", "s")
    cache.set("small", "s" * 10)
    policy = cache.store.engine.policy
    assert policy.size_changes and policy.size_changes[0][0] == "small"
    _key, old, new = policy.size_changes[0]
    assert new - old == 9
    for i in range(100):
        cache.set(f"big:{i}", "b" * 2000)
    assert cache.has("small")  # the small key's priority keeps it
    assert Removal.EVICTED in policy.causes
    assert cache.check() == []


# ---------------------------------------------------------------------------------- the port


@pytest.mark.parametrize(
    ("name", "replacement"),
    [
        ("on_access", "on_read(entry, now) and on_write"),
        ("on_delete", "on_remove(entry, cause)"),
        ("lock_free_access", "on_read_needs_lock"),
    ],
)
def test_hooks_of_the_first_port_are_refused_by_name(name: str, replacement: str) -> None:
    body: dict[str, Any] = {name: (lambda self, *args: None) if name.startswith("on_") else True}
    with pytest.raises(TypeError, match=replacement.split("(")[0]):
        type("Old", (AllKeysLRU,), body)


def test_a_read_hook_that_needs_the_lock_gets_it(make_cache: MakeCache, clock: ManualClock) -> None:
    held: list[bool] = []

    class Locked(AllKeysLRU):
        name = "test-locked-read"
        on_read_needs_lock = True

        def on_read(self, entry: Entry, now: float) -> None:
            held.append(engine.lock.locked())
            super().on_read(entry, now)

        def on_miss(self, key: str, db: int) -> None:
            held.append(engine.lock.locked())

    cache = make_cache(maxmemory_policy=Locked)
    engine = cache.store.engine
    cache.set("k", 1)
    cache.get("k")
    cache.get("missing")
    assert held == [True, True]


def test_the_base_policy_serves_reads_and_writes_from_declarations() -> None:
    names = {"on_read", "on_write", "on_miss", "on_remove", "admit", "on_insert"}
    assert names <= EvictionPolicy.fast_hooks
    assert names <= AllKeysLRU.fast_hooks
    assert "admit" not in RefuseScans.fast_hooks


def test_an_override_in_a_second_base_is_called(make_cache: MakeCache) -> None:
    """With two policy bases, a hook the *second* one overrides is not served from the
    first one's declarations: the class it resolves to decides (the MRO, not ``__bases__[0]``)."""
    removed: list[str] = []

    class Counts(EvictionPolicy):
        def on_insert(self, entry: Entry, now: float) -> None:
            super().on_insert(entry, now)

    class Remembers(AllKeysLRU):
        def on_remove(self, entry: Entry, cause: Removal) -> None:
            removed.append(entry.key)

    class Both(Counts, Remembers):
        name = "test-two-bases"

    assert "on_remove" not in Both.fast_hooks and "on_insert" not in Both.fast_hooks
    assert "on_read" in Both.fast_hooks  # nobody overrides it: still served natively

    class Mixin:  # not a policy: whatever it defines is an override
        def on_read(self, entry: Entry, now: float) -> None:
            pass

    class Mixed(Mixin, AllKeysLRU):
        name = "test-mixin"

    assert "on_read" not in Mixed.fast_hooks
    cache = make_cache(maxmemory_policy=Both)
    cache.set("k", 1)
    cache.delete("k")
    assert removed == ["k"]
