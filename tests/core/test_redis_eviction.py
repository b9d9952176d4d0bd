"""Eviction and access-tracking behaviours asserted by Redis's own tests (spec §10: 1-5, 12-17,
39), ported to the cache API and made deterministic with a manual clock and a seeded RNG."""

from __future__ import annotations

import random
from typing import Any

import pytest

from cachepolicy import Cache, KeyspaceEvent, ManualClock
from cachepolicy.eviction import (
    EVPOOL_SIZE,
    LFU_INIT_VAL,
    REDIS_POLICIES,
    SampledPolicy,
    lfu_decay,
    lfu_log_incr,
)
from tests.conftest import MakeCache

EVICTING = [p for p in REDIS_POLICIES if p != "noeviction"]


def _evicted(cache: Cache) -> list[str]:
    seen: list[str] = []
    cache.subscribe(lambda e: seen.append(e.key), events={"evicted"})
    return seen


# -- 1, 2: the limit is honoured; volatile policies without TTL keys answer OOM ----------------


@pytest.mark.parametrize("policy", EVICTING)
@pytest.mark.parametrize("mode", ["sampled", "exact"])
def test_limit_honoured_for_every_policy(make_cache: MakeCache, policy: str, mode: str) -> None:
    cache = make_cache(maxmemory="100kb", maxmemory_policy=policy, eviction_mode=mode)
    for i in range(2000):
        cache.set(f"key:{i}", f"value:{i}" * 3, ttl=3600)
        assert cache.info()["used_memory"] <= 100 * 1024
    assert cache.info()["evicted_keys"] > 0


# -- 3: volatile-* evict only keys with a TTL ---------------------------------------------------


@pytest.mark.parametrize("policy", [p for p in EVICTING if p.startswith("volatile-")])
def test_volatile_policies_keep_every_persistent_key(make_cache: MakeCache, policy: str) -> None:
    cache = make_cache(maxmemory="120kb", maxmemory_policy=policy)
    for i in range(100):
        cache.set(f"persistent:{i}", i)
        cache.set(f"volatile:{i}", i, ttl=3600)
    for i in range(100, 3000):
        cache.set(f"volatile:{i}", i, ttl=3600)
    assert all(cache.get(f"persistent:{i}") == i for i in range(100))
    assert cache.info()["evicted_keys"] > 0


# -- 5: fresh keys: idletime small, LFU frequency 5 ---------------------------------------------


def test_fresh_key_idletime_and_frequency(make_cache: MakeCache, clock: ManualClock) -> None:
    lru = make_cache(maxmemory_policy="allkeys-lru")
    lru.set("k", 1)
    clock.advance(1)
    assert lru.idletime("k") <= 2
    lfu = make_cache(maxmemory_policy="allkeys-lfu")
    lfu.set("k", 1)
    assert lfu.frequency("k") == LFU_INIT_VAL
    with pytest.raises(TypeError, match="LFU"):
        lru.frequency("k")


# -- 12: the evicted notification ---------------------------------------------------------------


def test_evicted_event_names_db_and_key(make_cache: MakeCache) -> None:
    cache = make_cache(maxmemory="20kb").select(2)
    events: list[KeyspaceEvent] = []
    cache.subscribe(events.append, events={"evicted"})
    for i in range(300):
        cache.set(f"k{i}", i)
    assert events
    assert all(e.name == "evicted" and e.db == 2 for e in events)


# -- 15, 16: TTL/EXISTS do not touch; TOUCH does ------------------------------------------------


def test_has_and_ttl_do_not_touch_but_touch_does(make_cache: MakeCache, clock: ManualClock) -> None:
    cache = make_cache(maxmemory_policy="allkeys-lru")
    cache.set("k", 1, ttl=100)
    clock.advance(3)
    cache.has("k")
    cache.ttl("k")
    assert cache.idletime("k") >= 2
    assert cache.touch("k") is True
    assert cache.idletime("k") < 2


# -- the pool: exact order when samples cover the keyspace ---------------------------------------


@pytest.mark.parametrize("mode", ["sampled", "exact"])
def test_lru_evicts_in_exact_recency_order(make_cache: MakeCache, mode: str) -> None:
    cache = make_cache(
        maxmemory=0,
        max_entries=40,
        maxmemory_policy="allkeys-lru",
        maxmemory_samples=64,
        eviction_mode=mode,
    )
    evicted = _evicted(cache)
    for i in range(40):
        cache.set(f"k{i}", i)
    order = list(range(40))
    random.Random(9).shuffle(order)
    for i in order:  # all keys touched within the same clock instant: no ties allowed
        assert cache.get(f"k{i}") == i
    for j in range(20):
        cache.set(f"new{j}", j)
    assert evicted == [f"k{i}" for i in order[:20]]


def test_ttl_policy_evicts_soonest_deadline_first(make_cache: MakeCache) -> None:
    for mode in ("sampled", "exact"):
        cache = make_cache(
            maxmemory=0,
            max_entries=30,
            maxmemory_policy="volatile-ttl",
            maxmemory_samples=64,
            eviction_mode=mode,
        )
        evicted = _evicted(cache)
        ttls = list(range(100, 130))
        random.Random(4).shuffle(ttls)
        for ttl in ttls:
            cache.set(f"t{ttl}", ttl, ttl=ttl)
        for j in range(10):
            cache.set(f"late{j}", j, ttl=10_000)
        assert evicted == [f"t{ttl}" for ttl in range(100, 110)], mode


def test_lfu_evicts_least_frequent_first(make_cache: MakeCache) -> None:
    for mode in ("sampled", "exact"):
        cache = make_cache(
            maxmemory=0,
            max_entries=20,
            maxmemory_policy="allkeys-lfu",
            maxmemory_samples=64,
            eviction_mode=mode,
            lfu_log_factor=0,
        )
        evicted = _evicted(cache)
        for i in range(20):
            cache.set(f"k{i}", i)
            for _ in range(i):  # key i gets i hits: counter 5 + i with log factor 0
                cache.get(f"k{i}")
        for j in range(5):
            cache.set(f"new{j}", j)
            for _ in range(50):
                cache.get(f"new{j}")
        assert evicted == [f"k{i}" for i in range(5)], mode


def test_pool_compares_candidates_across_databases(make_cache: MakeCache) -> None:
    cache = make_cache(
        maxmemory=0, max_entries=32, maxmemory_policy="allkeys-lru", maxmemory_samples=64
    )
    evicted = _evicted(cache)
    cold, hot = cache.select(1), cache.select(0)
    for i in range(16):
        cold.set(f"cold{i}", i)
    for i in range(16):
        hot.set(f"hot{i}", i)
    for j in range(16):
        hot.set(f"newer{j}", j)
    assert sorted(evicted) == sorted(f"cold{i}" for i in range(16))


def test_random_policy_rotates_databases(make_cache: MakeCache) -> None:
    cache = make_cache(maxmemory=0, max_entries=30, maxmemory_policy="allkeys-random")
    events: list[KeyspaceEvent] = []
    cache.subscribe(events.append, events={"evicted"})
    for db in range(3):
        for i in range(10):
            cache.select(db).set(f"k{i}", i)
    for i in range(10, 16):
        cache.select(5).set(f"k{i}", i)
    assert [e.db for e in events[:3]] == [0, 1, 2]


class _PoolProbe(SampledPolicy):
    """Scores are the integer key suffix: lets the test drive the pool directly."""

    name = "probe"

    def score(self, entry: Any, now: float) -> float:
        return float(entry.key[1:])


def test_pool_insert_and_shift_rules(make_cache: MakeCache) -> None:
    cache = make_cache(maxmemory_policy=__name__ + "._PoolProbe")
    policy = cache.store.policy
    assert isinstance(policy, _PoolProbe)
    for i in range(EVPOOL_SIZE):
        cache.set(f"k{i + 10}", i)
    entries = {e.key: e for e in cache.store.engine.iter_entries()}
    for key, entry in entries.items():
        policy.offer(float(key[1:]), entry)
    assert [s for s, _ in policy.pool] == [float(i + 10) for i in range(EVPOOL_SIZE)]
    cache.set("k1", 0)
    policy.offer(1.0, cache.store.keyspaces[0].data["k1"])  # worse than all in a full pool
    assert len(policy.pool) == EVPOOL_SIZE and policy.pool[0][0] == 10.0
    cache.set("k99", 0)
    policy.offer(99.0, cache.store.keyspaces[0].data["k99"])  # full pool drops its worst
    assert policy.pool[0][0] == 11.0 and policy.pool[-1][0] == 99.0
    cache.delete("k99")  # ghost: skipped when popped
    victim = policy.select_victim(cache.store.keyspaces, 0.0)
    assert victim is not None and victim.key == f"k{EVPOOL_SIZE + 9}"


def test_pooled_candidate_touched_since_is_rescored(make_cache: MakeCache) -> None:
    cache = make_cache(
        maxmemory=0, max_entries=17, maxmemory_policy="allkeys-lru", maxmemory_samples=64
    )
    evicted = _evicted(cache)
    for i in range(17):
        cache.set(f"k{i}", i)
    cache.set("extra", 0)  # evicts k0 and leaves k1..k16 pooled with their old scores
    assert evicted == ["k0"]
    cache.get("k1")  # k1 is now the most recent key, but its pooled score says "oldest"
    cache.set("extra2", 0)
    assert evicted == ["k0", "k2"]


def test_pool_keeps_one_slot_per_key(make_cache: MakeCache) -> None:
    """A key drawn again with an unchanged score is not pooled twice: a duplicate would only
    crowd out another candidate (and come up later as a ghost)."""
    cache = make_cache(maxmemory_policy=__name__ + "._PoolProbe")
    policy = cache.store.policy
    assert isinstance(policy, _PoolProbe)
    cache.set("a", 1)
    cache.set("b", 1)
    entries = {e.key: e for e in cache.store.engine.iter_entries()}
    for _ in range(3):
        policy.offer(5.0, entries["a"])
    policy.offer(5.0, entries["b"])  # the same score, another key: pooled beside it
    assert sorted(e.key for _, e in policy.pool) == ["a", "b"]


def test_one_at_a_time_cull_uses_the_eviction_pool(make_cache: MakeCache) -> None:
    """max_entries with cull_frequency=None evicts one key per insert through the same pool
    as a byte-budget eviction (a one-victim batch would rank one round of samples alone:
    the pool-less accuracy of Redis 2.8)."""
    cache = make_cache(maxmemory=0, max_entries=100, cull_frequency=None, seed=3)
    for i in range(300):
        cache.set(f"k{i}", i)
    sampler = cache.store.engine.plan.sampler
    assert sampler is not None and sampler.entries  # candidates remembered across rounds
    assert len(cache) == 100


# -- LFU counter math (spec §4) ----------------------------------------------------------------


def test_lfu_new_keys_always_increment_then_slow_down() -> None:
    rng = random.Random(1)
    assert lfu_log_incr(4, 10, rng) == 5
    assert lfu_log_incr(5, 10, rng) == 6
    assert lfu_log_incr(255, 10, rng) == 255


@pytest.mark.parametrize(
    ("factor", "hits", "low", "high"),
    [
        (10, 100, 9, 11),
        (10, 1000, 16, 20),
        (1, 1000, 44, 54),
        (100, 1000, 9, 12),
        (0, 300, 255, 255),
    ],
)
def test_lfu_counter_matches_redis_table(factor: int, hits: int, low: int, high: int) -> None:
    rng = random.Random(2)
    counter = LFU_INIT_VAL
    for _ in range(hits):
        counter = lfu_log_incr(counter, factor, rng)
    assert low <= counter <= high


def test_lfu_decay_is_linear_per_period() -> None:
    assert lfu_decay(10, 1000, 1003, 1) == 7
    assert lfu_decay(10, 1000, 1003, 2) == 9
    assert lfu_decay(10, 1000, 2000, 1) == 0
    assert lfu_decay(10, 1000, 2000, 0) == 10


def test_lfu_decay_through_the_cache(make_cache: MakeCache, clock: ManualClock) -> None:
    cache = make_cache(maxmemory_policy="allkeys-lfu", lfu_log_factor=0)
    cache.set("k", 1)
    for _ in range(5):
        cache.get("k")
    assert cache.frequency("k") == 10
    clock.advance(3 * 60)
    assert cache.frequency("k") == 7  # decayed view, not stored
    cache.get("k")  # access makes the decay permanent, then increments
    assert cache.frequency("k") == 8


@pytest.mark.parametrize("mode", ["sampled", "exact"])
def test_cull_batch_takes_the_least_recent_keys(make_cache: MakeCache, mode: str) -> None:
    cache = make_cache(
        maxmemory=0,
        max_entries=30,
        cull_frequency=3,
        maxmemory_policy="allkeys-lru",
        eviction_mode=mode,
    )
    evicted = _evicted(cache)
    for i in range(30):
        cache.set(f"k{i}", i)
    for i in range(0, 30, 2):  # even keys become the most recent
        cache.get(f"k{i}")
    cache.set("new", 0)  # 30 keys: cull 10 (Django's CULL_FREQUENCY arithmetic), then insert
    assert sorted(evicted) == sorted(f"k{i}" for i in range(1, 21, 2))
    assert len(cache) == 21


# -- 17: CLIENT NO-TOUCH -------------------------------------------------------------------------


def test_no_touch_view_reads_without_refreshing(make_cache: MakeCache, clock: ManualClock) -> None:
    cache = make_cache(maxmemory_policy="allkeys-lru")
    cache.set("k", 1)
    quiet = cache.no_touch()
    clock.advance(5)
    assert quiet.get("k") == 1
    assert quiet.get_many(["k"]) == {"k": 1}
    assert cache.idletime("k") >= 5
    assert quiet.select(0).get("k") == 1 and cache.idletime("k") >= 5
    assert quiet.touch("k") is True  # TOUCH still touches, as in Redis
    assert cache.idletime("k") < 1
    cache.get("k")
    assert cache.info()["keyspace_hits"] == 4
