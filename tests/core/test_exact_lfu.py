"""Exact LFU (``ExactAllKeysLFU``): a window of the newest keys (a quarter to start with, then
as its climber says), then a heap by Redis's decayed counter, ties broken by a random number
drawn per key, that reads leave alone (an access only raises a key's rank and its
access sequence; choosing a victim re-files top entries that moved).

The model below keeps its own window and ranks the other keys before each evicting write, and
the cache must evict exactly that key; reads must neither push heap records nor wait for the
lock; and exact LFU no longer collapses on recency-heavy traces (the shared traces' prefixes).
"""

from __future__ import annotations

import random
import threading

import pytest

from benchmarks.traces import TRACES_DIR, load_keys
from cachepolicy import Cache, ManualClock
from cachepolicy._core.entry import Entry
from cachepolicy.eviction.exact import ExactAllKeysLFU
from cachepolicy.simulate import Trace, replay_engine
from tests.conftest import MakeCache

SIZE = 60


def _policy(cache: Cache) -> ExactAllKeysLFU:
    policy = cache.store.engine.policy
    assert isinstance(policy, ExactAllKeysLFU)
    return policy


def _live(cache: Cache) -> list[Entry]:
    return list(cache.store.engine.iter_entries())


@pytest.mark.parametrize("policy", ["allkeys-lfu", "volatile-lfu"])
@pytest.mark.parametrize("decay_time", [1, 0])
def test_each_victim_is_the_lowest_ranked_key_outside_the_window(
    make_cache: MakeCache, clock: ManualClock, policy: str, decay_time: int
) -> None:
    """The model keeps its own window (the newest keys, by insertion, up to the policy's
    current share of the ranked keys) and ranks the other keys by (``counter * decay_time +
    ldt`` + the key's tie-break draw, ``aseq``), Redis's counter and the draw read from the
    entries, before each evicting write."""
    cache = make_cache(
        maxmemory=0,
        max_entries=SIZE,
        maxmemory_policy=policy,
        eviction_mode="exact",
        lfu_log_factor=1,
        lfu_decay_time=decay_time,
        seed=5,
    )
    ranked = _policy(cache)
    evicted: list[str] = []
    cache.subscribe(lambda event: evicted.append(event.key), events={"evicted"})
    window: list[str] = []  # oldest first
    heap: set[str] = set()

    def rank(key: str) -> tuple[float, int]:
        entry = cache.store.engine.peek(0, key)
        assert entry is not None
        assert 0.0 <= entry.slot < 1.0
        lfu = entry.lfu * decay_time + entry.ldt if decay_time else entry.lfu
        return (lfu + entry.slot, entry.aseq)

    rng = random.Random(11)
    checked = 0
    for step in range(6000):
        roll = rng.random()
        key = f"k{rng.randrange(40) if rng.random() < 0.7 else rng.randrange(400)}"
        if roll < 0.6:
            cache.get(key)
        elif roll < 0.97:
            # Under volatile-lfu a few keys without a TTL are never ranked.
            ttl = None if policy == "volatile-lfu" and key in ("k1", "k2") else 10**7
            present = key in cache
            expected = min(heap - {key}, key=rank, default=None)
            before = len(evicted)
            cache.set(key, step, ttl=ttl)
            gone = evicted[before:]
            if gone:
                assert gone == [expected], step
                heap.discard(gone[0])
                checked += 1
            if not present and ttl is not None:
                window.append(key)
                while len(window) > int((len(heap) + len(window)) * ranked.window_share):
                    heap.add(window.pop(0))
            assert list(ranked.window) == [cache.store.engine.peek(0, k) for k in window]
        else:
            clock.advance(rng.random() * 90)  # whole minutes pass: counters decay
    assert checked > 400
    assert ranked.climber.samples >= 3  # the share moved while the model followed it
    assert cache.check() == []


def test_a_newcomer_lives_through_a_quarter_of_the_inserts(make_cache: MakeCache) -> None:
    """The collapse of plain exact LFU: every key read twice outranked a new one, so each
    insert evicted the previous newcomer. Now a newcomer outlives the next quarter-cache of
    inserts, however popular the older keys."""
    cache = make_cache(
        maxmemory=0,
        max_entries=100,
        cull_frequency=None,
        maxmemory_policy="allkeys-lfu",
        eviction_mode="exact",
    )
    for i in range(100):
        cache.set(f"hot{i}", i)
        for _ in range(3):
            cache.get(f"hot{i}")  # every older key outranks a newcomer
    for i in range(60):
        cache.set(f"new{i}", i)
    newest = [f"new{i}" for i in range(60) if cache.has(f"new{i}")]
    assert newest == [f"new{i}" for i in range(60 - len(newest), 60)]
    assert len(newest) >= 24  # the window: a quarter of the keys
    assert sum(cache.has(f"hot{i}") for i in range(100)) >= 100 - 60


def test_a_loop_larger_than_the_cache_is_not_all_misses(make_cache: MakeCache) -> None:
    """130 keys in a loop through 100 entries: with least-recently-used ties every request
    missed (the key evicted is always the next one asked for). Random ties let some keys
    survive a lap and earn a higher counter, and the climber shrinks the window, which a
    loop only wastes (OPT: 100 - 30 misses a lap, 77 %)."""
    cache = make_cache(
        maxmemory=0,
        max_entries=100,
        cull_frequency=None,
        maxmemory_policy="allkeys-lfu",
        eviction_mode="exact",
        databases=1,
    )
    hits = requests = 0
    for _ in range(60):
        for i in range(130):
            requests += 1
            if cache.get(f"k{i}") is None:
                cache.set(f"k{i}", i)
            else:
                hits += 1
    policy = _policy(cache)
    assert hits / requests > 0.5
    assert policy.climber.samples >= 5 and policy.window_share < 0.25


def test_every_record_is_at_or_below_its_keys_rank(make_cache: MakeCache) -> None:
    """What lets reads skip the heap: an entry never ranks below its current record."""
    cache = make_cache(
        maxmemory=0,
        max_entries=200,
        cull_frequency=None,
        maxmemory_policy="allkeys-lfu",
        eviction_mode="exact",
        lfu_log_factor=0,
    )
    for i in range(200):
        cache.set(f"k{i}", i)
    rng = random.Random(3)
    for _ in range(3000):
        cache.get(f"k{rng.randrange(200)}")
    ranked = _policy(cache)
    for i in range(200, 300):
        cache.set(f"k{i}", i)  # evictions: the window moves keys into the heap
    for _ in range(3000):
        cache.get(f"k{rng.randrange(100, 300)}")
    current = [r for r in ranked.heap.records if r[3].alive and r[3].version == r[2]]
    assert len(current) == 200 - len(ranked.window)
    assert all((r[0], r[1]) <= (ranked.rank(r[3]), r[3].aseq) for r in current)
    assert sum((r[0], r[1]) < (ranked.rank(r[3]), r[3].aseq) for r in current) > 50


def test_reads_push_no_record_and_take_no_lock(make_cache: MakeCache) -> None:
    cache = make_cache(maxmemory_policy="allkeys-lfu", eviction_mode="exact")
    for i in range(100):
        cache.set(f"k{i}", i)
    engine = cache.store.engine
    # The declared counter, then a hook that counts the hit for the window's climber; neither
    # takes the lock.
    assert engine.describe_paths()["read"] == "hook"
    records = len(_policy(cache).heap.records)
    frequency = cache.frequency("k1")
    done = threading.Event()

    def read() -> None:
        for _ in range(500):
            cache.get("k1")
        done.set()

    with engine.lock:  # a writer holds the lock: reads must not wait for it
        reader = threading.Thread(target=read)
        reader.start()
        finished = done.wait(timeout=30)
    reader.join()
    assert finished
    assert len(_policy(cache).heap.records) == records
    assert cache.frequency("k1") > frequency


@pytest.mark.skipif(not TRACES_DIR.is_dir(), reason=f"no traces at {TRACES_DIR}")
@pytest.mark.parametrize(
    ("trace", "limit", "capacity", "floor"),
    [
        # Recency-heavy: plain exact LFU had 38 % on the first million requests, where sampled
        # LFU has 71 % and LRU 80 % (issue 20); this prefix is small enough for CI.
        ("cache2k-orm-busy", 100_000, 1000, 0.55),
        # Pure recency (every key read once or twice, 32 requests apart): plain exact LFU had
        # 0.2 % on the whole trace (0.3 % on this prefix), sampled LFU 9 %, LRU 33 %.
        ("corda-vaultservice", 30_000, 100, 0.12),
    ],
)
def test_exact_lfu_does_not_collapse_on_recency_heavy_traces(
    trace: str, limit: int, capacity: int, floor: float
) -> None:
    keys = Trace.from_keys(load_keys(trace, limit), name=trace)
    exact = replay_engine(keys, capacity, policy="allkeys-lfu", eviction_mode="exact")
    sampled = replay_engine(keys, capacity, policy="allkeys-lfu", eviction_mode="sampled")
    assert exact.hit_ratio >= floor
    assert exact.hit_ratio >= sampled.hit_ratio - 0.01
