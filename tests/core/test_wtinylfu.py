"""``allkeys-wtinylfu``: victims against a brute-force model, the intrusive lists, memory, hooks.

The contract, state-machine and hook suites run the policy with every other registered one
(they are generated from the registry); this file checks what is W-TinyLFU's own: which key it
evicts, victim by victim, against a model written with OrderedDicts; the linked lists threaded
through the entries (order, renumbering, weights under a byte budget); the bytes it counts per
key; and that a subclass's hook overrides are called while the others run natively.
"""

from __future__ import annotations

import random
import sys
from collections import OrderedDict, deque

import pytest

from cachepolicy import Cache, Entry
from cachepolicy._core.sketch import FrequencySketch
from cachepolicy._core.wtinylfu import PROBATION, PROTECTED, WINDOW
from cachepolicy.eviction.wtinylfu import (
    DOOR_BYTES,
    PROTECTED_SHARE,
    SAMPLE_PER_KEY,
    SKETCH_COLUMNS_PER_KEY,
    STEP_DECAY,
    STEP_START,
    WINDOW_START,
    WindowTinyLFU,
)
from tests.conftest import MakeCache


class Model:
    """W-TinyLFU with an entry bound, written plainly: three OrderedDicts of keys, the same
    sketch, candidates judged against probation's LRU key once the cache has been full.
    Reads are applied at once (the policy buffers them until the next write: the same result,
    because nothing else happens in between). No climber: the runs stay below one sample."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.sketch = FrequencySketch(SKETCH_COLUMNS_PER_KEY * capacity, DOOR_BYTES)
        self.window: OrderedDict[str, None] = OrderedDict()
        self.probation: OrderedDict[str, None] = OrderedDict()
        self.protected: OrderedDict[str, None] = OrderedDict()
        self.candidates: deque[str] = deque()
        #: Candidates promoted to protected since they left the window: no longer candidates
        #: (a demotion back to probation does not make them one again).
        self.promoted: set[str] = set()
        self.full = False
        self.window_max = max(capacity * WINDOW_START, 1.0)
        self.protected_max = (capacity - self.window_max) * PROTECTED_SHARE

    def __contains__(self, key: str) -> bool:
        return key in self.window or key in self.probation or key in self.protected

    def get(self, key: str) -> None:
        self.sketch.increment(hash(key))
        if key in self.window:
            self.window.move_to_end(key)
        elif key in self.protected:
            self.protected.move_to_end(key)
        elif key in self.probation:
            del self.probation[key]
            self.promoted.add(key)
            self.protected[key] = None
            while len(self.protected) > self.protected_max and len(self.protected) > 1:
                demoted, _ = self.protected.popitem(last=False)
                self.probation[demoted] = None

    def victim(self) -> str:
        self.full = True
        while self.candidates:
            candidate = self.candidates[0]
            if candidate not in self.probation or candidate in self.promoted:
                self.candidates.popleft()
                continue
            victim = next(iter(self.probation))
            if victim == candidate:
                # Probation holds candidates only: the oldest is admitted unjudged, and the
                # next one is judged against it.
                self.candidates.popleft()
                continue
            frequency = self.sketch.frequency
            if frequency(hash(candidate)) > frequency(hash(victim)):
                self.candidates.popleft()
                return victim
            return candidate
        for region in (self.probation, self.protected, self.window):
            if region:
                return next(iter(region))
        raise AssertionError("empty")

    def set(self, key: str) -> str | None:
        evicted = None
        if len(self.window) + len(self.probation) + len(self.protected) >= self.capacity:
            evicted = self.victim()
            for region in (self.window, self.probation, self.protected):
                region.pop(evicted, None)
        self.sketch.increment(hash(key))
        self.window[key] = None
        while len(self.window) > self.window_max and len(self.window) > 1:
            moved, _ = self.window.popitem(last=False)
            self.probation[moved] = None
            self.promoted.discard(moved)
            if self.full:
                self.candidates.append(moved)
        return evicted


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_victims_match_the_brute_force_model(make_cache: MakeCache, seed: int) -> None:
    capacity = 40
    cache = make_cache(maxmemory=0, max_entries=capacity, maxmemory_policy="allkeys-wtinylfu")
    evicted: list[str] = []
    cache.subscribe(lambda event: evicted.append(event.key), events=["evicted"])
    model = Model(capacity)
    rng = random.Random(seed)
    expected: list[str] = []
    for _ in range(600):  # below one climber sample (10 x 64 requests)
        # A skewed working set of 120 keys and a stream of one-off keys.
        key = f"k{int(rng.paretovariate(1.2)) % 120}" if rng.random() < 0.8 else f"s{rng.random()}"
        assert (cache.get(key) is not None) == (key in model)
        if key in model:
            model.get(key)
        else:
            model.sketch.increment(hash(key))  # the miss
            cache.set(key, 1)
            victim = model.set(key)
            if victim is not None:
                expected.append(victim)
            assert evicted == expected, f"after {len(expected)} evictions"
    assert len(expected) > 100
    policy = cache.store.policy
    assert isinstance(policy, WindowTinyLFU)
    policy.core.drain()  # the reads since the last write
    window, probation, protected = policy.regions()
    assert [e.key for e in window] == list(model.window)
    assert [e.key for e in probation] == list(model.probation)
    assert [e.key for e in protected] == list(model.protected)


def test_a_loop_larger_than_the_cache_refills_the_main_region(make_cache: MakeCache) -> None:
    """A loop a little larger than the cache, after the window grew and shrank back (as the
    climber moves it): the keys it hands to probation are all candidates. Every key is as
    frequent as any other, so the main region should fill up again with keys that stay and
    hit. The old rule evicted the oldest candidate unjudged whenever probation held
    candidates only: probation stayed a FIFO of misses, at 139 hits a cycle for good."""
    capacity = 200
    cache = make_cache(maxmemory=0, max_entries=capacity, maxmemory_policy="allkeys-wtinylfu")
    policy = cache.store.policy
    assert isinstance(policy, WindowTinyLFU)
    core = policy.core
    per_cycle: list[int] = []
    for cycle in range(9):  # below one climber sample (10 x 200 requests) once full
        if cycle == 2:
            core.window_share = 0.3  # the window grows as new keys come in
        if cycle == 4:
            core.window_share = WINDOW_START  # and hands 60 keys to probation at once
            core.shrink_window()
        hits = 0
        for i in range(capacity + 10):
            if cache.get(f"k{i}") is not None:
                hits += 1
            else:
                cache.set(f"k{i}", 1)
        per_cycle.append(hits)
    assert per_cycle[-1] >= per_cycle[4] + 10, per_cycle
    assert core.window_share == WINDOW_START  # the climber did not move


def test_regions_are_linked_lists_through_the_entries(make_cache: MakeCache) -> None:
    cache = make_cache(maxmemory=0, max_entries=200, maxmemory_policy="allkeys-wtinylfu")
    for i in range(200):
        cache.set(f"k{i}", i)
    policy = cache.store.policy
    assert isinstance(policy, WindowTinyLFU)
    core = policy.core
    window, probation, protected = policy.regions()
    assert len(window) == 2 and len(probation) == 198 and not protected  # 1 % window
    assert [e.key for e in window] == ["k198", "k199"]
    for _ in range(2):
        cache.get("k5")
    cache.set("new", 0)  # a write applies the buffered reads
    assert [e.key for e in policy.regions()[PROTECTED]] == ["k5"]
    assert core.counts == [len(region) for region in policy.regions()]
    for region, entries in enumerate(policy.regions()):
        for entry in entries:
            assert int(entry.slot) & 3 == region and core.nodes[entry.version] is entry
    # A mass delete frees most node numbers: the live keys are renumbered, the list shrinks.
    for i in range(190):
        cache.delete(f"k{i}")
    assert len(core.nodes) < 64 + 2 * len(cache) and cache.check() == []
    keys = {e.key for region in policy.regions() for e in region}
    assert keys == set(cache.keys())
    # Renumbered (the list shrank below the 201 numbers handed out); live and free numbers
    # partition it.
    live = sorted(e.version for region in policy.regions() for e in region)
    assert len(core.nodes) < 64 + len(cache)
    assert sorted(live + core.free) == list(range(len(core.nodes)))


def test_byte_budget_weighs_sizes_and_ttl_changes(make_cache: MakeCache) -> None:
    cache = make_cache(maxmemory="200kb", maxmemory_policy="allkeys-wtinylfu")
    rng = random.Random(7)
    for i in range(3000):
        key = f"k{rng.randrange(1500)}"
        if cache.get(key) is None:
            cache.set(key, b"x" * rng.randrange(10, 600), ttl=rng.choice([None, 100.0]))
        elif i % 7 == 0:
            cache.expire(key, 50)
        elif i % 11 == 0:
            cache.persist(key)
        elif i % 13 == 0:
            cache.set(key, b"y" * rng.randrange(10, 2000))  # an overwrite changes the weight
    policy = cache.store.policy
    assert isinstance(policy, WindowTinyLFU)
    assert policy.core.by_bytes and cache.info()["evicted_keys"] > 0
    assert cache.check() == []


def test_counted_bytes_per_key(make_cache: MakeCache) -> None:
    """One pointer per key plus the sketch (2 to 4 columns of 4 half-byte counters and a
    byte of doorkeeper per expected key) and the judge of its refusals (at most 25 kB, 6 B a
    key at 4,096 keys, less above): at most 24 B per key (measured: 20.2 at 4,096, 23.2 at
    5,000, 17.3 at 8,191)."""
    for keys in (4096, 5000, 8191):
        cache = make_cache(maxmemory=0, max_entries=keys, maxmemory_policy="allkeys-wtinylfu")
        for i in range(keys):
            cache.set(f"k{i}", i)
        policy = cache.store.policy
        assert isinstance(policy, WindowTinyLFU)
        per_key = (policy.structure_bytes() - sys.getsizeof([]) * 3) / keys
        assert policy.core.judge_bytes / keys <= 6.2
        assert per_key <= 24, (keys, per_key)  # list growth, sketch, headers, judge


def test_hooks_run_natively_unless_overridden(make_cache: MakeCache) -> None:
    cache = make_cache(maxmemory=0, max_entries=10, maxmemory_policy="allkeys-wtinylfu")
    policy = cache.store.policy
    assert isinstance(policy, WindowTinyLFU)
    assert policy.on_read.__self__ is policy.core  # type: ignore[attr-defined]
    assert policy.on_insert.__self__ is policy.core  # type: ignore[attr-defined]
    assert not cache.store.engine.plan.read_locked  # reads take no lock

    reads: list[str] = []

    class Counting(WindowTinyLFU):
        name = "test-counting-wtinylfu"

        def on_read(self, entry: Entry, now: float) -> None:
            reads.append(entry.key)
            super().on_read(entry, now)

    counting = make_cache(maxmemory=0, max_entries=10, maxmemory_policy=Counting)
    mine = counting.store.policy
    assert isinstance(mine, Counting)
    assert mine.on_insert.__self__ is mine.core  # type: ignore[attr-defined]
    assert mine.on_read.__func__ is Counting.on_read  # type: ignore[attr-defined]
    for i in range(10):
        counting.set(f"k{i}", i)
    for _ in range(3):
        counting.get("k3")
    counting.set("k10", 10)
    assert reads == ["k3"] * 3
    assert [e.key for e in mine.regions()[PROTECTED]] == ["k3"]  # super() still counted them


def test_lfu_access_is_refused() -> None:
    from cachepolicy.eviction import Access

    class Broken(WindowTinyLFU):
        name = "test-broken-wtinylfu"
        read_access = Access.LFU

    with pytest.raises(TypeError, match="LFU"):
        Cache(maxmemory=0, max_entries=10, maxmemory_policy=Broken)


def test_flush_and_policy_switch_start_clean(make_cache: MakeCache) -> None:
    cache = make_cache(maxmemory=0, max_entries=50, maxmemory_policy="allkeys-wtinylfu")
    for i in range(80):
        cache.set(f"k{i}", i)
        cache.get(f"k{i // 2}")
    cache.flushall()
    policy = cache.store.policy
    assert isinstance(policy, WindowTinyLFU)
    assert policy.core.size() == 0 and policy.core.nodes == [] and cache.check() == []
    for i in range(60):
        cache.set(f"j{i}", i)
    cache.config_set("maxmemory-policy", "allkeys-lru")
    cache.config_set("maxmemory-policy", "allkeys-wtinylfu")
    assert cache.check() == [] and len(cache) == 50
    assert WINDOW == 0 and PROBATION == 1


def test_climber_turns_decays_and_restarts(make_cache: MakeCache) -> None:
    """Samples fed by hand: a better hit ratio keeps the direction and the step decays; a
    worse one turns; a change of 5 points or more restarts the step at its first size."""
    cache = make_cache(maxmemory=0, max_entries=1000, maxmemory_policy="allkeys-wtinylfu")
    policy = cache.store.policy
    assert isinstance(policy, WindowTinyLFU)
    core = policy.core
    sample = SAMPLE_PER_KEY * 64  # requests per sample of an empty cache (the 64-key floor)

    def feed(ratio: float) -> None:
        core.sample_hits = round(sample * ratio)
        core.sample_misses = sample - core.sample_hits
        core.climb()

    feed(0.50)  # the first sample: moves by the first step
    assert core.window_share == pytest.approx(WINDOW_START + STEP_START)
    feed(0.52)  # better, by less than 5 points: same way, a decayed step
    assert core.window_share == pytest.approx(WINDOW_START + STEP_START * (1 + STEP_DECAY))
    share = core.window_share
    feed(0.51)  # worse: turns
    assert core.window_share == pytest.approx(share - STEP_START * STEP_DECAY**2)
    feed(0.60)  # 9 points better: the step starts again at its first size (still shrinking)
    assert core.step == pytest.approx(-STEP_START)
