"""Exact LFU leaves reads out of its heap: an access only raises a key's rank and its access
sequence, and choosing a victim re-files top entries that moved (``ExactAllKeysLFU``).

The reference below ranks every live key by (``counter * decay_time + ldt``, ``aseq``) before
each evicting write, as a heap pushed on every read would, and the cache must evict exactly
that key; reads must neither push heap records nor wait for the lock.
"""

from __future__ import annotations

import random
import threading

import pytest

from cachepolicy import Cache, ManualClock
from cachepolicy._core.entry import Entry
from cachepolicy.eviction.exact import ExactAllKeysLFU
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
def test_each_victim_is_the_lowest_ranked_key_of_the_moment(
    make_cache: MakeCache, clock: ManualClock, policy: str, decay_time: int
) -> None:
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
    rng = random.Random(11)
    checked = 0
    for step in range(6000):
        roll = rng.random()
        key = f"k{rng.randrange(40) if rng.random() < 0.7 else rng.randrange(400)}"
        if roll < 0.6:
            cache.get(key)
        elif roll < 0.97:
            # Under volatile-lfu a few keys without a TTL stay out of the ranking.
            ttl = None if policy == "volatile-lfu" and rng.random() < 0.1 else 3600
            candidates = [e for e in _live(cache) if ranked.tracks(e) and e.key != key]
            full = key not in cache and len(cache) >= SIZE
            before = len(evicted)
            cache.set(key, step, ttl=ttl)
            if full and candidates:
                expected = min(candidates, key=lambda e: (ranked.rank(e), e.aseq))
                assert evicted[before:] == [expected.key], step
                checked += 1
        else:
            clock.advance(rng.random() * 90)  # whole minutes pass: counters decay
    assert checked > 400
    assert cache.check() == []


def test_every_record_is_at_or_below_its_keys_rank(make_cache: MakeCache) -> None:
    """What lets reads skip the heap: an entry never ranks below its current record."""
    cache = make_cache(maxmemory_policy="allkeys-lfu", eviction_mode="exact", lfu_log_factor=0)
    for i in range(200):
        cache.set(f"k{i}", i)
    rng = random.Random(3)
    for _ in range(3000):
        cache.get(f"k{rng.randrange(200)}")
    ranked = _policy(cache)
    current = [r for r in ranked.heap.records if r[3].alive and r[3].version == r[2]]
    assert len(current) == 200
    assert all((r[0], r[1]) <= (ranked.rank(r[3]), r[3].aseq) for r in current)
    assert sum((r[0], r[1]) < (ranked.rank(r[3]), r[3].aseq) for r in current) > 100


def test_reads_push_no_record_and_take_no_lock(make_cache: MakeCache) -> None:
    cache = make_cache(maxmemory_policy="allkeys-lfu", eviction_mode="exact")
    for i in range(100):
        cache.set(f"k{i}", i)
    engine = cache.store.engine
    assert engine.describe_paths()["read"] == "lfu"  # the declared counter, no hook
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
