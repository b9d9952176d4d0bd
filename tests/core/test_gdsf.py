"""``allkeys-gdsf`` / ``volatile-gdsf`` against a brute-force GreedyDual-Size-Frequency model.

The model below keeps its own access counts, priorities and inflation clock, knowing only the
bytes the engine charges each key (its accounted ``size``), and before each evicting write
predicts the victims in order: the lowest priority ``L + F / size`` (``F`` the accesses since
the key was written, ``L`` the priority of the last victim), ties to the least recently used.
The exact heap must evict exactly those keys; the sampled pool, with ``maxmemory_samples``
above the key count, keys of the same lowest priority.
"""

from __future__ import annotations

import random
import threading

import pytest

from cachepolicy import Cache, ManualClock
from cachepolicy.eviction import (
    AllKeysGDSF,
    ExactAllKeysGDSF,
    GreedyDualSizeFrequency,
    Removal,
)
from tests.conftest import MakeCache


class Model:
    """GDSF by definition: dicts and a scan (the ranking, not how it is searched)."""

    def __init__(self) -> None:
        self.inflation = 0.0
        self.count: dict[str, int] = {}
        self.priority: dict[str, float] = {}
        self.used: dict[str, int] = {}  # last access, a sequence number (the tie-break)
        self.clock = 0

    def access(self, key: str, weight: int, new: bool) -> None:
        self.count[key] = 1 if new else min(self.count[key] + 1, 255)
        self.priority[key] = self.inflation + self.count[key] / weight
        self.clock += 1
        self.used[key] = self.clock

    def forget(self, key: str) -> None:
        for table in (self.count, self.priority, self.used):
            table.pop(key, None)

    def lowest(self, among: set[str]) -> str:
        return min(among, key=lambda key: (self.priority[key], self.used[key]))

    def evict(self, key: str) -> None:
        self.inflation = max(self.inflation, self.priority[key])
        self.forget(key)


def _gdsf(cache: Cache) -> GreedyDualSizeFrequency:
    policy = cache.store.engine.policy
    assert isinstance(policy, GreedyDualSizeFrequency)
    return policy


def _size(cache: Cache, key: str) -> int:
    entry = cache.store.engine.peek(0, key)
    assert entry is not None
    return entry.size


@pytest.mark.parametrize("mode", ["exact", "sampled"])
@pytest.mark.parametrize("budget", ["bytes", "entries"])
@pytest.mark.parametrize("policy", ["allkeys-gdsf", "volatile-gdsf"])
def test_each_victim_is_the_lowest_priority_of_the_moment(
    make_cache: MakeCache, clock: ManualClock, mode: str, budget: str, policy: str
) -> None:
    limits = (
        {"maxmemory": 24_000}
        if budget == "bytes"
        else {"maxmemory": 0, "max_entries": 40, "cull_frequency": None}
    )
    cache = make_cache(
        maxmemory_policy=policy,
        eviction_mode=mode,
        maxmemory_samples=64,
        seed=3,
        # The timed strategy's deadline index keeps removed keys' records until their
        # deadlines, counted: under a budget this small they would crowd the keys out.
        expiry="active",
        **limits,
    )
    volatile = policy == "volatile-gdsf"
    model = Model()
    tracked: set[str] = set()
    evicted: list[str] = []
    cache.subscribe(lambda event: evicted.append(event.key), {"evicted"})
    rng = random.Random(7)
    value_size = {f"k{i}": rng.choice((10, 40, 200, 600, 1500)) for i in range(300)}
    checked = 0

    def weight(key: str) -> int:
        return _size(cache, key) if budget == "bytes" else 1

    for step in range(5000):
        hot = rng.random() < 0.7
        key = f"k{rng.randrange(30) if hot else rng.randrange(300)}"
        if rng.random() < 0.55:
            if cache.get(key) is not None and key in model.count:
                model.access(key, weight(key), new=False)
            continue
        # Under volatile-gdsf a few keys have no TTL: never candidates, still ranked.
        ttl = None if volatile and key in ("k1", "k2", "k3") else 3600
        present = key in cache
        before = len(evicted)
        clocks = [model.inflation]  # the inflation before and after each victim of this write
        cache.set(key, b"v" * value_size[key], ttl=ttl)  # same size on overwrite: no eviction
        for victim in evicted[before:]:
            among = (tracked if volatile else set(model.count)) - {key}
            expected = model.lowest(among)
            if mode == "exact":
                assert victim == expected, step
            else:
                assert model.priority[victim] == model.priority[expected], step
            model.evict(victim)
            clocks.append(model.inflation)
            tracked.discard(victim)
            checked += 1
        model.access(key, weight(key), new=not present)
        if not present:
            # Room is made before the key is inserted, but a few bytes of table growth may be
            # evicted for after it: its priority may use the clock of any moment of its write.
            entry = cache.store.engine.peek(0, key)
            assert entry is not None
            used = entry.slot - 1 / weight(key)
            assert any(abs(used - moment) < 1e-12 for moment in clocks), step
            model.priority[key] = entry.slot
        if ttl is None:
            tracked.discard(key)
        else:
            tracked.add(key)
        assert _gdsf(cache).inflation == model.inflation
        clock.advance(0.5)
    assert checked > 300
    assert set(cache.keys()) == set(model.count)


def test_small_and_used_stays_big_and_once_goes(make_cache: MakeCache) -> None:
    """What GDSF is for: under a byte budget, a small key asked for again outlives big
    one-off values, which LRU would let push it out."""
    for mode in ("exact", "sampled"):
        cache = make_cache(maxmemory="64kb", maxmemory_policy="allkeys-gdsf", eviction_mode=mode)
        lru = make_cache(maxmemory="64kb", maxmemory_policy="allkeys-lru", eviction_mode=mode)
        for each in (cache, lru):
            each.set("icon", b"i" * 200)
            for i in range(100):
                each.set(f"video:{i}", b"v" * 8_000)
                if i % 10 == 0:
                    each.get("icon")
        assert cache.has("icon"), mode
        assert not lru.has("icon"), mode


def test_entry_budget_is_lfu_with_dynamic_aging(make_cache: MakeCache) -> None:
    """With max_entries every key weighs 1: a key read often long ago loses to keys read
    since, once the clock has moved past its count (where exact LFU would keep it forever)."""
    cache = make_cache(
        maxmemory=0,
        max_entries=4,
        cull_frequency=None,
        maxmemory_policy="allkeys-gdsf",
        eviction_mode="exact",
    )
    cache.set("old", 1)
    for _ in range(5):
        cache.get("old")  # F = 6, priority 6
    for i in range(40):
        cache.set(f"n{i}", i)
        cache.get(f"n{i}")  # F = 2, priority L + 2: L climbs by evicting these
    assert not cache.has("old")
    assert _gdsf(cache).inflation >= 6


def test_reads_push_no_record_and_take_no_lock(make_cache: MakeCache) -> None:
    cache = make_cache(maxmemory_policy="allkeys-gdsf", eviction_mode="exact")
    for i in range(100):
        cache.set(f"k{i}", i)
    engine = cache.store.engine
    policy = engine.policy
    assert isinstance(policy, ExactAllKeysGDSF)
    records = len(policy.heap.records)
    done = threading.Event()

    def read() -> None:
        for _ in range(200):
            cache.get("k1")
        done.set()

    with engine.lock:  # a writer holds the lock: reads must not wait for it
        reader = threading.Thread(target=read)
        reader.start()
        finished = done.wait(timeout=30)
    reader.join()
    assert finished
    assert len(policy.heap.records) == records
    assert cache.frequency("k1") == 201


def test_a_bigger_overwrite_lowers_the_priority_and_is_refiled(make_cache: MakeCache) -> None:
    cache = make_cache(maxmemory="1mb", maxmemory_policy="allkeys-gdsf", eviction_mode="exact")
    for i in range(10):
        cache.set(f"k{i}", b"x" * 300)
        cache.get(f"k{i}")
    cache.set("k0", b"x" * 9_000)  # read twice, but now 30 times bigger: the lowest priority
    # A budget the new key must evict for, whatever the build's per-entry overhead.
    cache.config_set("maxmemory", cache.info()["used_memory"] + 1_000)
    cache.set("new", b"x" * 3_000)
    assert not cache.has("k0")
    assert all(cache.has(f"k{i}") for i in range(1, 10))


def test_frequency_and_flushall(make_cache: MakeCache) -> None:
    cache = make_cache(maxmemory=0, max_entries=3, maxmemory_policy="allkeys-gdsf")
    cache.set("k", 1)
    assert cache.frequency("k") == 1
    cache.get("k")
    cache.set("k", 2)  # an overwrite counts as an access
    assert cache.frequency("k") == 3
    for i in range(5):
        cache.set(f"n{i}", i)
    policy = cache.store.engine.policy
    assert isinstance(policy, AllKeysGDSF)
    assert policy.inflation > 0
    cache.flushall()
    assert policy.inflation == 0.0


def test_cost_is_a_hook_for_the_byte_hit_ratio(make_cache: MakeCache) -> None:
    """``cost(entry) = entry.size`` cancels the size: the ranking becomes LFU with aging."""
    seen: list[Removal] = []

    class ByteGDSF(AllKeysGDSF):
        name = "test-gdsf-bytes"

        def cost(self, entry: object) -> float:
            return float(self.weight(entry))  # type: ignore[arg-type]

        def on_remove(self, entry: object, cause: Removal) -> None:
            seen.append(cause)
            super().on_remove(entry, cause)  # type: ignore[arg-type]

    cache = make_cache(maxmemory="40kb", maxmemory_policy=ByteGDSF, maxmemory_samples=64)
    cache.set("big", b"b" * 9_000)
    cache.get("big")
    for i in range(60):
        cache.set(f"small:{i}", b"s" * 300)
    assert cache.has("big")  # read twice: ranks above every small key read once
    assert Removal.EVICTED in seen
    assert issubclass(ByteGDSF, GreedyDualSizeFrequency)


def test_memory_is_counted_per_mode(make_cache: MakeCache) -> None:
    """The exact heap states its records; the sampled mode only the slot."""
    assert ExactAllKeysGDSF.metadata_overhead > 0
    assert AllKeysGDSF.metadata_overhead == 0
    assert AllKeysGDSF.uses_slot and ExactAllKeysGDSF.uses_slot
    exact = make_cache(maxmemory="1mb", maxmemory_policy="allkeys-gdsf", eviction_mode="exact")
    sampled = make_cache(maxmemory="1mb", maxmemory_policy="allkeys-gdsf")
    for each in (exact, sampled):
        for i in range(500):
            each.set(f"k{i}", b"v" * 100)
    per_key = (exact.info()["used_memory"] - sampled.info()["used_memory"]) / 500
    assert per_key == pytest.approx(ExactAllKeysGDSF.metadata_overhead, abs=8)
