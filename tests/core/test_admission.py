"""TinyLFU admission (``admission="tinylfu"``) and its frequency sketch.

The sketch is checked on its own (counting, saturation, aging, memory); the admission through
the cache: a hot working set survives a scan of one-off keys that plain LRU lets through, the
composition works over sampled, exact and user policies, and the option is validated,
reported and changeable at run time. The hit-ratio smoke test replays a shared trace.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from cachepolicy import Cache, ConfigError, Entry, ManualClock
from cachepolicy._core.judge import (
    BUDGET_SHARE,
    VERDICT_WEIGHT,
    WATCHED_MAX,
    WATCHED_MIN,
    RefusalJudge,
    judge_for,
)
from cachepolicy._core.sketch import COUNTER_MAX, MIN_WIDTH, ROWS, SAMPLE_FACTOR, FrequencySketch
from cachepolicy.eviction import AllKeysLRU, NoEviction
from cachepolicy.eviction.admission import (
    TinyLFUAdmission,
    expected_keys,
    with_admission,
)
from tests.conftest import MakeCache

TRACES = Path(__file__).resolve().parents[3] / "shared" / "traces"


# ---------------------------------------------------------------------------------- the sketch


def test_sketch_counts_saturates_and_never_undercounts() -> None:
    sketch = FrequencySketch(1000)
    # 4-bit counters, two to a byte
    assert sketch.width == 1024 and len(sketch.table) == ROWS * 1024 // 2
    assert sketch.frequency(hash("a")) == 0
    for expected in range(1, 20):  # the first access in the doorkeeper, then the counters
        sketch.increment(hash("a"))
        assert sketch.frequency(hash("a")) == min(expected, COUNTER_MAX + 1)
    for i in range(300):  # other keys only ever add (count-min): never below the truth
        sketch.increment(hash(f"other{i}"))
        sketch.increment(hash(f"other{i}"))
    assert sketch.frequency(hash("a")) == COUNTER_MAX + 1
    assert sketch.memory() >= ROWS * 1024 // 2


def test_sketch_halves_every_sample_period() -> None:
    sketch = FrequencySketch(1)
    assert sketch.width == MIN_WIDTH
    for _ in range(12):
        sketch.increment(hash("hot"))
    assert sketch.frequency(hash("hot")) == 12
    i = 0
    while sketch.resets == 0:  # one-off keys: they stop at the doorkeeper, and fill the sample
        sketch.increment(hash(f"filler{i}"))
        i += 1
    assert i <= SAMPLE_FACTOR * MIN_WIDTH
    # Aged: the counters halved (11 -> 5, one-off keys never reached them), the doorkeeper
    # forgot everyone: old popularity fades, and still ranks above a new key's.
    # (A one-off key that the doorkeeper took for a known one may have added a count or two
    # to a counter it shares with "hot": Bloom false positives, which vary with hash().)
    assert 5 <= sketch.frequency(hash("hot")) <= COUNTER_MAX // 2
    assert sketch.frequency(hash("filler0")) <= 1
    sketch.clear()
    assert sketch.frequency(hash("hot")) == 0 and sketch.additions == 0


def test_sketch_is_sized_by_the_expected_keys(make_cache: MakeCache) -> None:
    small = make_cache(maxmemory="1mb", admission="tinylfu").store.policy
    big = make_cache(maxmemory="64mb", admission="tinylfu").store.policy
    counted = make_cache(maxmemory=0, max_entries=5000, admission="tinylfu").store.policy
    assert isinstance(small, TinyLFUAdmission) and isinstance(big, TinyLFUAdmission)
    assert isinstance(counted, TinyLFUAdmission)
    assert small.sketch.width == 2048 and big.sketch.width == 131_072
    assert counted.sketch.width == 8192
    assert expected_keys(small.config) == 1024 * 1024 // 512


# ---------------------------------------------------------------------------------- admission


def _hot_set_after_a_scan(make_cache: MakeCache, admission: str, mode: str) -> int:
    cache = make_cache(maxmemory=0, max_entries=100, admission=admission, eviction_mode=mode)
    hot = [f"hot{i}" for i in range(80)]
    for _ in range(5):  # the working set, asked for again and again
        for key in hot:
            if cache.get(key) is None:
                cache.set(key, key)
    for i in range(2000):  # a scan: one-off keys, each missed then written once
        key = f"scan{i}"
        if cache.get(key) is None:
            cache.set(key, key)
    return sum(cache.has(key) for key in hot)


@pytest.mark.parametrize("mode", ["sampled", "exact"])
def test_a_scan_does_not_push_out_the_working_set(make_cache: MakeCache, mode: str) -> None:
    assert _hot_set_after_a_scan(make_cache, "none", mode) < 10  # LRU: flushed by the scan
    # str hashes differ by process, so the sketch's collisions do: nearly all, not all.
    assert _hot_set_after_a_scan(make_cache, "tinylfu", mode) >= 72


def test_refusals_are_counted_and_announced(make_cache: MakeCache) -> None:
    cache = make_cache(maxmemory=0, max_entries=10, admission="tinylfu")
    for i in range(10):
        for _ in range(3):
            cache.get(f"k{i}")
        cache.set(f"k{i}", i)
    refused: list[str] = []
    cache.subscribe(lambda event: refused.append(event.key), events=["refused"])
    assert cache.set("newcomer", 1) is False
    assert refused == ["newcomer"] and cache.info()["rejected_admissions"] == 1
    for _ in range(10):  # asked for often enough, it wins its place
        cache.get("newcomer")
    assert cache.set("newcomer", 1) is True
    assert cache.has("newcomer") and len(cache) == 10


def test_composition_serves_every_policy_through_the_port(make_cache: MakeCache) -> None:
    composed = with_admission(AllKeysLRU, "tinylfu")
    assert composed is with_admission(AllKeysLRU, "tinylfu")  # one class per policy
    assert issubclass(composed, TinyLFUAdmission) and issubclass(composed, AllKeysLRU)
    assert composed.name == "allkeys-lru"
    assert {"on_read", "on_miss", "admit", "structure_bytes"}.isdisjoint(composed.fast_hooks)
    assert with_admission(NoEviction, "tinylfu") is NoEviction  # never asks
    assert with_admission(AllKeysLRU, "none") is AllKeysLRU

    calls: list[str] = []

    class Mine(AllKeysLRU):
        name = "test-mine"

        def admit(self, key: str, size: int, victim: Entry, now: float) -> bool:
            calls.append(key)
            return True

    cache = make_cache(maxmemory=0, max_entries=5, maxmemory_policy=Mine, admission="tinylfu")
    for i in range(5):
        cache.set(f"k{i}", i)
    for _ in range(3):
        cache.get("winner")
    assert cache.set("winner", 1) is True
    assert calls == ["winner"]  # the sketch admitted it, then the user's own rule was asked


def test_admission_is_validated_reported_and_changeable(
    make_cache: MakeCache, clock: ManualClock
) -> None:
    with pytest.raises(ConfigError, match="Did you mean 'tinylfu'"):
        Cache(admission="tinyflu")
    cache = make_cache(maxmemory="1mb")
    assert cache.info()["admission"] == "none"
    cache.set("k", 1)
    cache.config_set("admission", "TinyLFU")
    assert cache.info()["admission"] == "tinylfu"
    assert isinstance(cache.store.policy, TinyLFUAdmission)
    assert cache.get("k") == 1
    assert cache.info()["used_memory"] > 4 * 2048  # the sketch is counted
    cache.config_set("admission", "none")
    assert not isinstance(cache.store.policy, TinyLFUAdmission)


@pytest.mark.skipif(not TRACES.is_dir(), reason="the shared traces are not beside the checkout")
def test_glimpse_trace_gains_from_admission() -> None:
    """lirs-gli (6,015 requests, loops) at 1,000 entries: sampled LRU 14.9 %, with TinyLFU
    admission about 47 % (the hash of str keys varies by process: a band, not a number)."""
    from benchmarks.traces import iter_keys

    keys = [str(key) for key in iter_keys(TRACES / "lirs-gli.trace.gz")]
    ratios = {}
    for admission in ("none", "tinylfu"):
        cache = Cache(maxmemory=0, max_entries=1000, admission=admission, seed=1, databases=1)
        hits = 0
        for key in keys:
            if cache.get(key) is None:
                cache.set(key, 1)
            else:
                hits += 1
        assert cache.check() == []
        ratios[admission] = hits / len(keys)
        cache.close()
    assert 0.13 < ratios["none"] < 0.17
    assert ratios["tinylfu"] > 0.40


def _recency_stream(cache: Cache, keys: int) -> list[bool]:
    """Each key asked for three times in a row, then never again (get, set on a miss)."""
    hits = []
    for i in range(keys):
        for _ in range(3):
            found = cache.get(f"k{i}") is not None
            if not found:
                cache.set(f"k{i}", 1)
            hits.append(found)
    return hits


def test_admission_learns_to_let_recency_traffic_in(make_cache: MakeCache) -> None:
    """TinyLFU alone refuses each newcomer (its victim was asked for as often), so keys read
    three times in a row would miss nearly always. The refused newcomer is asked for again
    before its victim, so the judge finds the refusals wrong and lets newcomers in: the cache
    then does what LRU does (2 hits in 3)."""
    cache = make_cache(maxmemory=0, max_entries=100, admission="tinylfu", databases=1)
    policy = cache.store.policy
    assert isinstance(policy, TinyLFUAdmission) and policy.judge.refusing
    hits = _recency_stream(cache, 3000)
    assert not policy.judge.refusing and policy.judge.wrong > 0.9
    assert sum(hits[-6000:]) / 6000 == pytest.approx(2 / 3, abs=0.01)
    cache.flushall()
    assert policy.judge.refusing and policy.judge.requests == 0  # reset with the policy


def test_a_scan_does_not_teach_admission_to_let_keys_in(make_cache: MakeCache) -> None:
    """Neither a scan key nor the hot key it was refused against is asked for during a scan:
    the decisions lapse unjudged, and the refusals go on."""
    cache = make_cache(maxmemory=0, max_entries=100, admission="tinylfu")
    policy = cache.store.policy
    assert isinstance(policy, TinyLFUAdmission)
    for _ in range(5):
        for i in range(80):
            if cache.get(f"hot{i}") is None:
                cache.set(f"hot{i}", 1)
    for i in range(20_000):
        if cache.get(f"scan{i}") is None:
            cache.set(f"scan{i}", 1)
    # (The hot keys themselves go in the end: the sketch halves its counters every sample,
    # and 20,000 one-off keys outlast the hot set's counts. The judge never voted.)
    assert policy.judge.refusing and policy.judge.wrong == 0.0


def test_the_judge_weighs_who_comes_back_first() -> None:
    judge = RefusalJudge(horizon=10, watched=2)
    judge.refused(1, 2)
    judge.refused(3, 4)
    judge.refused(5, 6)  # two watched already: not watched
    assert len(judge.order) == 2 and 5 not in judge.pending
    judge.seen(1)  # the newcomer first: refusing it was wrong
    assert judge.wrong == pytest.approx(VERDICT_WEIGHT) and 2 not in judge.pending
    judge.seen(4)  # the victim first: right
    assert judge.wrong == pytest.approx(VERDICT_WEIGHT * (1 - VERDICT_WEIGHT))
    judge.seen(2)  # already judged: nothing
    assert judge.wrong == pytest.approx(VERDICT_WEIGHT * (1 - VERDICT_WEIGHT))
    judge.refused(7, 8)
    for code in range(100, 111):  # past the horizon: the decision lapses unjudged
        judge.seen(code)
    judge.refused(9, 10)
    assert 7 not in judge.pending and 8 not in judge.pending and 9 in judge.pending
    judge.refused(9, 11)  # a key already watched is not watched twice
    assert judge.pending[9][2] == 10
    for _ in range(40):
        judge.refused(20, 21)
        judge.seen(20)
    assert not judge.refusing
    judge.clear()
    assert judge.refusing and not judge.pending and not judge.order


def test_the_judge_is_counted_in_full(make_cache: MakeCache) -> None:
    cache = make_cache(maxmemory=0, max_entries=4000, admission="tinylfu")
    policy = cache.store.policy
    assert isinstance(policy, TinyLFUAdmission) and policy.judge.watched == 64
    small = make_cache(maxmemory=0, max_entries=10, admission="tinylfu").store.policy
    assert isinstance(small, TinyLFUAdmission) and small.judge.watched == 8
    judge = policy.judge
    for code in range(0, 2 * judge.watched, 2):
        judge.refused(code, code + 1)
    used = sys.getsizeof(judge.pending) + sys.getsizeof(judge.order)
    used += sum(sys.getsizeof(record) for record in judge.order)
    used += sum(sys.getsizeof(value) for value in judge.pending.values())
    assert used <= judge.memory() == policy.structure_bytes() - policy.sketch.memory()


def test_the_judge_takes_at_most_an_eighth_of_a_byte_budget() -> None:
    assert judge_for(64, 0).watched == WATCHED_MIN  # no byte budget: by the keys alone
    assert judge_for(1 << 20, 0).watched == WATCHED_MAX
    for budget in (2_500, 10_000, 30_000, 100_000, 1 << 20):
        judge = judge_for(budget // 512, budget)
        assert judge.memory() * BUDGET_SHARE <= budget
    assert judge_for(4, 2_500).watched == 0 and judge_for(4, 2_500).memory() == 0
    blind = judge_for(4, 2_500)
    blind.refused(1, 2)  # watches nothing: the refusals stay on
    assert not blind.pending and blind.refusing
