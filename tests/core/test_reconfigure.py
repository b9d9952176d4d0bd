"""Runtime reconfiguration (Redis's CONFIG SET maxmemory / maxmemory-policy) on a live cache.

Every built-in policy in both eviction modes is switched to every other one on a filled cache
(fake clock, seeded RNG); the keys stay, the ranking state restarts, ``check()`` passes, and a
lowered ``maxmemory`` is enforced at once through the engine's eviction loop.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any

import pytest

from cachepolicy import Cache, ConfigError, ManualClock, OutOfMemoryError
from cachepolicy._core.entry import Entry
from cachepolicy._core.ranking import LFU_INIT_VAL
from cachepolicy.eviction.registry import REDIS_POLICIES, register_policy, unregister_policy
from cachepolicy.eviction.sampled import AllKeysLRU
from cachepolicy.store import RUNTIME_OPTIONS
from tests.conftest import MakeCache

MODES = ("sampled", "exact")
VALUE = b"x" * 200


def _fill(cache: Cache, clock: ManualClock, keys: int = 200) -> None:
    """Keys with and without TTLs, some read more than others, at distinct times."""
    for i in range(keys):
        cache.set(f"k{i}", VALUE, ttl=3600 if i % 2 else None)
        clock.advance(0.5)
    for _ in range(20):
        for i in range(0, keys, 10):
            cache.get(f"k{i}")
        clock.advance(1)


def _entries(cache: Cache) -> list[Entry]:
    return list(cache.store.engine.iter_entries())


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("target", REDIS_POLICIES)
@pytest.mark.parametrize("source", REDIS_POLICIES)
def test_switching_policy_keeps_every_key_and_restarts_ranking(
    make_cache: MakeCache, clock: ManualClock, source: str, target: str, mode: str
) -> None:
    cache = make_cache(maxmemory="1mb", maxmemory_policy=source, eviction_mode=mode)
    _fill(cache, clock)
    before = {key: cache.get(key) for key in cache.keys()}  # noqa: SIM118
    clock.advance(10)
    ttls = {key: cache.ttl(key) for key in before}
    cache.config_set("maxmemory-policy", target)
    assert cache.check() == []
    assert cache.store.policy.name == target
    assert cache.config.maxmemory_policy == target
    assert cache.config_get("maxmemory_policy") == target
    assert cache.store.info()["maxmemory_policy"] == target
    assert cache.store.engine.describe_paths() == _fresh_paths(target, mode)
    now = clock.time()
    for entry in _entries(cache) if source != target else []:  # same policy: a no-op
        assert entry.atime == now  # stamps restart at now: nothing reads an old stamp
        if cache.store.policy.write_access.name == "LFU":
            assert entry.lfu == LFU_INIT_VAL  # never an LRU stamp read as a counter
    assert {key: cache.get(key) for key in cache.keys()}  # noqa: SIM118 == before
    assert {key: cache.ttl(key) for key in before} == ttls
    # The new policy evicts and ranks: fill past the budget and recount. (Refused TTL writes
    # under noeviction are left to test_noeviction_refusals_with_ttls_stay_within_the_limit.)
    ttl = None if target == "noeviction" else 60
    for i in range(3000):
        # noeviction and volatile-* refuse what they cannot make room for
        with contextlib.suppress(OutOfMemoryError):
            cache.set(f"n{i}", VALUE, ttl=ttl if i % 3 else None)
        clock.advance(0.01)
    assert cache.check() == []


def test_noeviction_refusals_with_ttls_stay_within_the_limit(clock: ManualClock) -> None:
    cache = Cache(maxmemory="1mb", maxmemory_policy="noeviction", clock=clock, seed=1234)
    for i in range(200):
        cache.set(f"k{i}", VALUE, ttl=3600 if i % 2 else None)
        clock.advance(0.5)
    for i in range(3000):
        with contextlib.suppress(OutOfMemoryError):
            cache.set(f"n{i}", VALUE, ttl=60 if i % 3 else None)
        clock.advance(0.01)
    cache.close()
    assert cache.check() == []


def _fresh_paths(policy: str, mode: str) -> dict[str, Any]:
    fresh = Cache(maxmemory="1mb", maxmemory_policy=policy, eviction_mode=mode)
    try:
        return fresh.store.engine.describe_paths()
    finally:
        fresh.close()


@pytest.mark.parametrize("mode", MODES)
def test_switch_between_sampled_and_exact_rebuilds_the_exact_structures(
    make_cache: MakeCache, clock: ManualClock, mode: str
) -> None:
    other = "exact" if mode == "sampled" else "sampled"
    cache = make_cache(maxmemory="1mb", maxmemory_policy="allkeys-lru", eviction_mode=mode)
    _fill(cache, clock, 100)
    cache.get("k0")  # the most recently used key
    cache.config_set("eviction_mode", other)
    assert cache.check() == []
    policy: Any = cache.store.policy
    if other == "exact":
        assert len(policy.order) == 100
        # Re-admitted in recency order: the exact list's MRU end is the last key read.
        assert list(policy.order)[-1].key == "k0"
    assert type(policy).__module__.endswith(other)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("policy", [p for p in REDIS_POLICIES if p != "noeviction"])
def test_lowering_maxmemory_evicts_at_once(
    make_cache: MakeCache, clock: ManualClock, policy: str, mode: str
) -> None:
    cache = make_cache(maxmemory="1mb", maxmemory_policy=policy, eviction_mode=mode)
    for i in range(800):
        cache.set(f"k{i}", VALUE, ttl=3600)  # every key has a TTL: every policy may evict
        clock.advance(0.1)
    evicted: list[str] = []
    cache.store.subscribe(lambda event: evicted.append(event.key), ["evicted"])
    used = cache.store.used_memory
    keys = len(cache)
    cache.config_set("maxmemory", used // 2)
    info = cache.store.info()
    assert info["maxmemory"] == used // 2
    assert info["used_memory"] <= used // 2
    assert len(cache) < keys
    assert info["evicted_keys"] == keys - len(cache) == len(evicted)
    assert cache.check() == []


def test_lowering_maxmemory_keeps_the_ranking(make_cache: MakeCache, clock: ManualClock) -> None:
    cache = make_cache(maxmemory="1mb", maxmemory_samples=64)
    for i in range(100):
        cache.set(f"k{i}", VALUE)
        clock.advance(1)
    cache.get("k0")
    cache.config_set("maxmemory", cache.store.used_memory - 2000)
    assert "k0" in cache  # the most recently used survives; the least recent went
    assert "k1" not in cache
    assert cache.check() == []


def test_raising_maxmemory_and_unlimited(make_cache: MakeCache, clock: ManualClock) -> None:
    cache = make_cache(maxmemory="100kb", maxmemory_policy="noeviction")
    with pytest.raises(Exception, match="OOM"):
        for i in range(10_000):
            cache.set(f"k{i}", VALUE)
    keys = len(cache)
    cache.config_set("maxmemory", "1mb")
    cache.set("more", VALUE)
    assert len(cache) == keys + 1
    cache.config_set("maxmemory", 0)
    assert cache.store.info()["maxmemory"] == 0
    assert cache.check() == []


@pytest.mark.parametrize("policy", ["noeviction", "volatile-lru", "volatile-ttl"])
def test_a_limit_the_policy_cannot_reach_is_refused_and_nothing_changes(
    make_cache: MakeCache, clock: ManualClock, policy: str
) -> None:
    cache = make_cache(maxmemory="1mb", maxmemory_policy=policy)
    for i in range(500):
        cache.set(f"k{i}", VALUE)  # no TTLs: a volatile-* policy may evict none of them
    used = cache.store.used_memory
    with pytest.raises(ConfigError, match="maxmemory") as error:
        cache.config_set("maxmemory", used // 2)
    assert error.value.option == "maxmemory"
    assert cache.config.maxmemory == 1024 * 1024
    assert len(cache) == 500
    assert cache.store.used_memory == used
    # Switching to a policy that may evict makes the same limit reachable, in one call.
    cache.store.reconfigure(maxmemory=used // 2, maxmemory_policy="allkeys-lru")
    assert cache.store.used_memory <= used // 2
    assert cache.check() == []


def test_switch_to_noeviction_then_writes_that_need_room_fail(
    make_cache: MakeCache, clock: ManualClock
) -> None:
    cache = make_cache(maxmemory="200kb")
    for i in range(2000):
        cache.set(f"k{i}", VALUE)
    cache.config_set("maxmemory_policy", "noeviction")
    with pytest.raises(Exception, match="noeviction"):
        for i in range(2000):
            cache.set(f"n{i}", VALUE)
    assert cache.store.info()["evicted_keys"] > 0  # from before the switch only
    evicted = cache.store.info()["evicted_keys"]
    cache.config_set("maxmemory_policy", "allkeys-lfu")
    for i in range(200):
        cache.set(f"m{i}", VALUE)
    assert cache.store.info()["evicted_keys"] > evicted
    assert cache.check() == []


class _BiggestFirst(AllKeysLRU):
    """A subclassed policy: evict the biggest value first (its own score, called by the pool)."""

    name = "test-biggest-first"

    def score(self, entry: Entry, now: float) -> float:
        return float(entry.size)


@pytest.fixture
def biggest_first() -> Any:
    register_policy(_BiggestFirst.name, _BiggestFirst)
    yield _BiggestFirst.name
    unregister_policy(_BiggestFirst.name)


def test_switch_to_and_from_a_subclassed_policy(
    make_cache: MakeCache, clock: ManualClock, biggest_first: str
) -> None:
    cache = make_cache(maxmemory="1mb", maxmemory_samples=64)
    for i in range(50):
        cache.set(f"small{i}", b"s" * 10)
    cache.set("big", b"b" * 5000)
    cache.config_set("maxmemory-policy", biggest_first)
    assert cache.store.info()["maxmemory_policy"] == biggest_first
    cache.config_set("maxmemory", cache.store.used_memory - 100)
    assert "big" not in cache  # the subclass's score chose it
    assert len(cache) == 50
    cache.config_set("maxmemory-policy", "allkeys-lfu")
    assert cache.check() == []


def test_bad_values_and_names_are_named_errors(make_cache: MakeCache) -> None:
    cache = make_cache(maxmemory="1mb")
    with pytest.raises(ConfigError, match="allkeys-lru") as error:
        cache.config_set("maxmemory-policy", "allkeys-lur")
    assert error.value.option == "maxmemory_policy"
    with pytest.raises(ConfigError, match="maxmemory_samples"):
        cache.config_set("maxmemory_samples", 0)
    with pytest.raises(ConfigError, match="Did you mean 'maxmemory'"):
        cache.config_set("maxmemroy", "1mb")
    with pytest.raises(ConfigError, match="cannot be changed on a live cache") as error:
        cache.config_set("databases", 4)
    assert error.value.option == "databases"
    with pytest.raises(ConfigError, match="Unknown cache option"):
        cache.config_get("nope")
    assert cache.config.maxmemory == 1024 * 1024
    assert cache.config_get("MAXMEMORY") == 1024 * 1024


def test_every_runtime_option_changes_and_reports(
    make_cache: MakeCache, clock: ManualClock
) -> None:
    cache = make_cache(maxmemory="1mb", maxmemory_policy="allkeys-lfu")
    _fill(cache, clock, 50)
    values = {
        "maxmemory": 900_000,
        "maxmemory_policy": "volatile-lfu",
        "maxmemory_samples": 10,
        "eviction_mode": "exact",
        "admission": "tinylfu",
        "lfu_log_factor": 5,
        "lfu_decay_time": 3,
    }
    assert set(values) == set(RUNTIME_OPTIONS)
    for name, value in values.items():
        cache.config_set(name, value)
        assert cache.config_get(name) == value
        assert cache.store.info()[name] == value
        assert cache.check() == []
    # A shared store is still found by the configuration it was built with.
    assert cache.store.base_config.maxmemory == 1024 * 1024


def test_reconfigure_adopts_a_new_plan_and_keeps_the_state(
    make_cache: MakeCache, clock: ManualClock
) -> None:
    """Reconfiguration derives a new plan and the engine's rooms adopt it; nothing else is
    replaced (the keys, counters, lock, subscribers and rooms are the engine's), and a no-op
    reconfiguration derives a plan equal to the old one, attribute by attribute."""
    cache = make_cache(maxmemory="1mb")
    _fill(cache, clock, 100)
    engine = cache.store.engine
    plan = engine.plan
    state = (engine.lock, engine.stats, engine.hits, engine.keyspaces, engine.ledger)
    rooms = (engine.evictor, engine.events, engine.pending, engine.policy, engine.expiry)
    used, keys = engine.used_memory, engine.key_count
    engine.reconfigure(cache.config)
    assert engine.plan is not plan
    assert engine.ledger.plan is engine.plan
    assert engine.evictor.plan is engine.plan
    after = (engine.lock, engine.stats, engine.hits, engine.keyspaces, engine.ledger)
    assert all(a is b for a, b in zip(state, after, strict=True))
    after_rooms = (engine.evictor, engine.events, engine.pending, engine.policy, engine.expiry)
    assert all(a is b for a, b in zip(rooms, after_rooms, strict=True))
    assert (engine.used_memory, engine.key_count) == (used, keys)
    names = getattr(type(plan), "__mypyc_attrs__", None) or tuple(vars(plan))
    assert {n: getattr(plan, n) for n in names} == {n: getattr(engine.plan, n) for n in names}
    assert cache.check() == []


def test_events_and_stats_of_a_reconfiguration(make_cache: MakeCache, clock: ManualClock) -> None:
    cache = make_cache(maxmemory="1mb")
    for i in range(1000):
        cache.set(f"k{i}", VALUE)
    hits_before = cache.store.info()["keyspace_hits"]
    cache.get("k999")
    events: list[tuple[str, str]] = []
    cache.store.subscribe(lambda event: events.append((event.name, event.key)))
    cache.config_set("maxmemory-policy", "allkeys-lfu")
    assert events == []  # a switch alone removes nothing
    cache.config_set("maxmemory", "100kb")
    assert events and {name for name, _ in events} == {"evicted"}
    info = cache.store.info()
    assert info["evicted_keys"] == len(events)
    assert info["keyspace_hits"] == hits_before + 1  # counters survive a reconfiguration


@pytest.mark.parametrize("mode", MODES)
def test_thread_hammer_during_reconfiguration(mode: str) -> None:
    """Readers and writers run while the budget and the policy change under them; after
    each call returns, used_memory is within the limit then in force, and check() passes."""
    cache = Cache(maxmemory="400kb", eviction_mode=mode, seed=5)
    stop = threading.Event()
    errors: list[BaseException] = []
    over: list[tuple[int, int]] = []

    def worker(seed: int) -> None:
        import random

        rng = random.Random(seed)
        try:
            while not stop.is_set():
                key = f"k{int(rng.paretovariate(1.0)) % 3000}"
                if rng.random() < 0.5:
                    with contextlib.suppress(OutOfMemoryError):  # volatile-*: no TTL key left
                        cache.set(key, VALUE, ttl=rng.choice([None, 30.0]))
                else:
                    cache.get(key)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(seed,)) for seed in range(3)]
    for thread in threads:
        thread.start()
    steps = [
        {"maxmemory": "300kb"},
        {"maxmemory_policy": "allkeys-lfu"},
        {"maxmemory": "150kb", "maxmemory_policy": "allkeys-random"},
        {"maxmemory_policy": "volatile-lru"},
        {"maxmemory": "500kb", "maxmemory_policy": "allkeys-lru"},
        {"maxmemory": "120kb"},
        {"maxmemory_samples": 10, "maxmemory_policy": "volatile-ttl"},
        {"maxmemory": "200kb", "maxmemory_policy": "allkeys-lru"},
    ]
    try:
        for _ in range(3):
            for step in steps:
                try:
                    cache.store.reconfigure(**step)
                except ConfigError:
                    continue  # volatile-* with too few TTL keys: refused, nothing changed
                limit = cache.config.maxmemory
                for _ in range(50):
                    used = cache.store.used_memory
                    if used > limit:
                        over.append((used, limit))
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert errors == []
    assert over == []
    assert cache.check() == []
    cache.close()
