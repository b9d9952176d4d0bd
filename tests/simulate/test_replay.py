"""The simulator's replays against brute-force references on small generated traces.

Exact equality throughout, except where the engine's own accounting legitimately differs from
the references (byte mode: the engine also charges its hash tables' growth)."""

from __future__ import annotations

import functools
import random
from array import array

import pytest

from cachepolicy.simulate import Trace, replay_engine, replay_lru, replay_opt
from cachepolicy.simulate.readers import DELETE, GET, SET
from cachepolicy.simulate.replay import entry_costs, key_names


def _trace(seed: int, length: int = 400, keys: int = 40, skew: float = 1.2) -> Trace:
    """A Zipf-ish key stream: some keys hot, most cold, so every policy has work to do."""
    rng = random.Random(seed)
    weights = [1 / (rank + 1) ** skew for rank in range(keys)]
    return Trace.from_keys(rng.choices(range(keys), weights, k=length))


def _sized(trace: Trace, seed: int) -> Trace:
    rng = random.Random(seed)
    size_of = {key: rng.choice((10, 100, 1000, 5000)) for key in range(trace.distinct)}
    trace.sizes = array("q", (size_of[key] for key in trace.keys))
    return trace


def brute_lru(keys: list[int], capacity: int) -> int:
    order: list[int] = []
    hits = 0
    for key in keys:
        if key in order:
            hits += 1
            order.remove(key)
        elif len(order) == capacity:
            order.pop(0)
        order.append(key)
    return hits


def brute_lru_bytes(keys: list[int], costs: list[int], budget: int) -> tuple[int, int]:
    """Byte-budget LRU over per-request costs: (hits, writes too large to cache)."""
    order: list[tuple[int, int]] = []
    hits = refused = 0
    for key, cost in zip(keys, costs, strict=True):
        found = [item for item in order if item[0] == key]
        if found:
            hits += 1
            order.remove(found[0])
            order.append(found[0])
            continue
        if cost > budget:
            refused += 1
            continue
        while sum(c for _, c in order) + cost > budget:
            order.pop(0)
        order.append((key, cost))
    return hits, refused


def brute_belady(keys: list[int], capacity: int) -> int:
    """Belady by scanning the future at every miss (quadratic)."""

    def next_use(key: int, start: int) -> int:
        for index in range(start, len(keys)):
            if keys[index] == key:
                return index
        return len(keys) + 1

    cached: set[int] = set()
    hits = 0
    for index, key in enumerate(keys):
        if key in cached:
            hits += 1
            continue
        if len(cached) < capacity:
            cached.add(key)
            continue
        furthest = max(cached, key=lambda k: next_use(k, index + 1))
        if next_use(furthest, index + 1) > next_use(key, index + 1):
            cached.remove(furthest)
            cached.add(key)
    return hits


def exhaustive_optimum(keys: list[int], capacity: int) -> int:
    """The true optimum over every admission and eviction choice (tiny traces only)."""

    @functools.cache
    def best(index: int, cached: frozenset[int]) -> int:
        if index == len(keys):
            return 0
        key = keys[index]
        if key in cached:
            return 1 + best(index + 1, cached)
        options = [best(index + 1, cached)]  # bypass
        if len(cached) < capacity:
            options.append(best(index + 1, cached | {key}))
        else:
            options += [best(index + 1, (cached - {out}) | {key}) for out in cached]
        return max(options)

    return best(0, frozenset())


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("capacity", [1, 3, 8, 20])
def test_exact_lru_and_the_engine_equal_brute_force_lru(seed: int, capacity: int) -> None:
    trace = _trace(seed)
    expected = brute_lru(list(trace.keys), capacity)
    assert replay_lru(trace, capacity).hits == expected
    engine = replay_engine(trace, capacity, policy="allkeys-lru", eviction_mode="exact")
    assert (engine.hits, engine.requests, engine.refused) == (expected, len(trace), 0)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("capacity", [1, 3, 8, 20])
def test_opt_equals_brute_force_belady(seed: int, capacity: int) -> None:
    trace = _trace(seed)
    assert replay_opt(trace, capacity).hits == brute_belady(list(trace.keys), capacity)


@pytest.mark.parametrize("seed", range(12))
def test_opt_is_the_true_optimum_on_tiny_traces(seed: int) -> None:
    rng = random.Random(seed)
    keys = [rng.randrange(5) for _ in range(14)]
    capacity = rng.choice((1, 2, 3))
    assert replay_opt(Trace.from_keys(keys), capacity).hits == exhaustive_optimum(keys, capacity)


@pytest.mark.parametrize("policy", ["allkeys-lru", "allkeys-lfu", "allkeys-random"])
@pytest.mark.parametrize("mode", ["sampled", "exact"])
def test_opt_bounds_every_engine_policy(policy: str, mode: str) -> None:
    trace = _trace(7, length=1500, keys=120)
    for capacity in (5, 30):
        got = replay_engine(trace, capacity, policy=policy, eviction_mode=mode).hits
        assert got <= replay_opt(trace, capacity).hits


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("budget", [800, 3000, 9000, 30000])
def test_byte_lru_equals_brute_force_byte_budget_lru(seed: int, budget: int) -> None:
    trace = _sized(_trace(seed), seed)
    costs = entry_costs(trace, key_names(trace))
    hits, refused = brute_lru_bytes(list(trace.keys), list(costs), budget)
    counts = replay_lru(trace, budget, costs)
    assert (counts.hits, counts.refused) == (hits, refused)
    assert counts.requests == len(trace)
    assert trace.sizes is not None
    assert counts.request_bytes == sum(trace.sizes)


@pytest.mark.parametrize("seed", range(4))
def test_engine_byte_mode_tracks_the_byte_budget_lru(seed: int) -> None:
    """The engine charges what the references charge per entry, plus its tables' growth: at
    one budget it holds at most a few entries fewer, so its hit ratio sits at or just below."""
    trace = _sized(_trace(seed, length=2000, keys=150), seed)
    costs = entry_costs(trace, key_names(trace))
    for budget in (20_000, 60_000, 150_000):
        reference = replay_lru(trace, budget, costs)
        engine = replay_engine(
            trace, budget, policy="allkeys-lru", eviction_mode="exact", by_bytes=True
        )
        assert engine.requests == reference.requests
        assert engine.request_bytes == reference.request_bytes
        assert reference.hit_ratio - 0.03 <= engine.hit_ratio <= reference.hit_ratio
        assert engine.byte_hit_ratio <= reference.byte_hit_ratio + 1e-12


def test_size_aware_opt_beats_lru_in_byte_mode() -> None:
    trace = _sized(_trace(3, length=2000, keys=150), 3)
    costs = entry_costs(trace, key_names(trace))
    for budget in (5_000, 20_000, 60_000):
        assert replay_opt(trace, budget, costs).hits >= replay_lru(trace, budget, costs).hits


def _operations(seed: int) -> Trace:
    """Gets, sets and deletes as an application makes them: a miss is followed by its set."""
    rng = random.Random(seed)
    keys, ops = array("q"), bytearray()
    cached: set[int] = set()
    for _ in range(600):
        key = rng.randrange(30)
        if rng.random() < 0.1:
            keys.append(key)
            ops.append(DELETE)
            cached.discard(key)
            continue
        keys.append(key)
        ops.append(GET)
        if key not in cached or rng.random() < 0.2:
            keys.append(key)
            ops.append(SET)
            cached.add(key)
    return Trace("ops", "csv", keys, ops=bytes(ops), distinct=30)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("capacity", [2, 6, 15])
def test_operations_replay_the_same_in_the_engine_and_exact_lru(seed: int, capacity: int) -> None:
    trace = _operations(seed)
    reference = replay_lru(trace, capacity)
    engine = replay_engine(trace, capacity, policy="allkeys-lru", eviction_mode="exact")
    assert (engine.hits, engine.requests) == (reference.hits, reference.requests)
    assert reference.requests == trace.ops.count(GET)  # type: ignore[union-attr]
    assert replay_opt(trace, capacity).hits >= reference.hits


def test_a_get_followed_by_its_set_is_not_filled_twice() -> None:
    ops = bytes([GET, SET, GET, GET])
    trace = Trace("t", "csv", array("q", [0, 0, 1, 1]), ops=ops, distinct=2)
    assert trace.fills() == bytes([0, 0, 1, 1])
    counts = replay_lru(trace, 5)
    assert (counts.hits, counts.requests) == (1, 3)  # key 1: miss, filled, then a hit


def test_unknown_sizes_take_the_next_written_size() -> None:
    trace = Trace(
        "t", "csv", array("q", [0, 0, 1]), sizes=array("q", [0, 70, 0]), ops=bytes([0, 1, 0])
    )
    trace.complete_sizes()
    assert list(trace.sizes or []) == [70, 70, 1]
