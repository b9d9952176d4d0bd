"""``used_memory`` stays honest during a long eviction churn with a TTL on every key (issue 10).

A fill measurement (``test_sizing.py``) cannot see memory that an index or pool keeps for keys
that were already removed: it builds up only while keys are evicted. These tests drive the
workload of ``benchmarks/bench_memory.py`` (one place for the measurement: new key on every
write, a TTL on every key, tracemalloc baseline before ``Cache(...)``, ``gc.collect()`` before
every checkpoint) and assert the issue's targets at *every* checkpoint:

* ``|used_memory - traced| / traced <= 5 %``;
* traced heap ``<= 1.15 x maxmemory``, and ``<= 1.05 x maxmemory`` once the cache is first full.

Only the public API is used, so the same tests judge today's store and the new engine, pure or
compiled. Small budgets (1-2 MB) keep each test to a few seconds with tracemalloc on; the
compaction slack of an index (a constant number of records) weighs more in a small cache than
in a large one, so these budgets are, if anything, the stricter case.
"""

from __future__ import annotations

import pickle
import sys
from pathlib import Path

import pytest

from benchmarks import bench_memory
from benchmarks.bench_memory import (
    FULL_LIMIT,
    PEAK_LIMIT,
    STRATEGIES,
    USED_TOLERANCE,
    Result,
    Scenario,
    key_payload_bytes,
    measure,
    violations,
)

# tracemalloc measurements, not line coverage: the coverage tracer on top made them the pure
# run's slowest 400 s (tests/conftest.py, _untraced).
pytestmark = pytest.mark.untraced


def _assert_targets(result: Result, churn: float) -> None:
    # The workload really churned (otherwise the test is vacuous): the full cache held every key
    # written, and every churn write, a new key, was matched by a removal (evicted, or expired
    # and reclaimed) except for the keys the cache holds fewer than when full.
    end, full = result.end, result.full
    assert full.evicted == full.expired == 0 and full.keys == result.fill_keys, full
    assert result.churn_writes >= churn * result.fill_keys * 0.99
    assert end.evicted + end.expired == result.churn_writes + full.keys - end.keys, end
    assert result.check == [], result.check
    problems = violations(result)
    figures = result.summary()
    assert not problems, (
        f"{result.scenario} at {result.maxmemory} B: {len(problems)} misses of the targets "
        f"(used/traced within {USED_TOLERANCE}, traced/max <= {FULL_LIMIT} full, <= "
        f"{PEAK_LIMIT} always). traced/max full {figures['traced_max_full']:.3f}, peak "
        f"{figures['traced_max_peak']:.3f}; used/traced worst {figures['used_traced_worst']:.3f}; "
        f"B/entry beyond key+payload full {figures['bytes_per_entry_full']:.0f}, end "
        f"{figures['bytes_per_entry_end']:.0f}. First misses: {problems[:3]}"
    )


def test_key_and_payload_sizes_are_computed_exactly() -> None:
    """The bytes subtracted for B/entry equal sys.getsizeof of the real objects."""
    values = bench_memory._values(7)
    sizes = bench_memory._payload_sizes(values)
    for lo, hi in [(0, 0), (0, 1), (0, 12), (7, 113), (95, 1005), (9_990, 100_010)]:
        expected = sum(
            sys.getsizeof(f"{bench_memory.KEY_PREFIX}{j}")
            + sys.getsizeof(pickle.dumps(values[j % 2], pickle.HIGHEST_PROTOCOL))
            for j in range(lo, hi)
        )
        assert key_payload_bytes(lo, hi, sizes) == expected, (lo, hi)


@pytest.mark.parametrize("expiry", STRATEGIES)
def test_heap_tracks_used_memory_under_churn_with_django_timeout(expiry: str) -> None:
    """Django's TIMEOUT on every key, the default policy, 5x churn: about a second each."""
    result = measure(Scenario(expiry=expiry), maxmemory="1mb", churn=5, checkpoints=25, seed=11)
    _assert_targets(result, churn=5)


@pytest.mark.slow
@pytest.mark.parametrize("expiry", STRATEGIES)
def test_heap_tracks_used_memory_under_churn_with_mixed_short_ttls(expiry: str) -> None:
    """TTLs of 0.5-5 s with the clock moving: keys are both evicted and expired."""
    scenario = Scenario(expiry=expiry, ttl="mixed")
    result = measure(scenario, maxmemory="2mb", churn=10, checkpoints=50, seed=12)
    if expiry != "lazy":  # lazy reclaims on access only, and this workload reads nothing
        assert result.end.expired > 0  # the expiry path ran, not only eviction
    _assert_targets(result, churn=10)


@pytest.mark.slow
@pytest.mark.parametrize(
    "scenario",
    [
        Scenario(),  # the default configuration, longer than the quick variant above
        Scenario(ttl="none"),
        Scenario(policy="allkeys-lfu"),
        Scenario(mode="exact"),
        Scenario(policy="allkeys-lfu", mode="exact"),
        Scenario(policy="allkeys-lrm", mode="exact"),  # the heap by last write
        Scenario(policy="allkeys-gdsf"),  # the slot
        Scenario(policy="allkeys-gdsf", mode="exact"),  # the slot and the priority heap
    ],
    ids=lambda s: s.name.replace(" ", "-"),
)
def test_heap_tracks_used_memory_under_long_churn(scenario: Scenario) -> None:
    result = measure(scenario, maxmemory="2mb", churn=10, checkpoints=50, seed=13)
    _assert_targets(result, churn=10)


def test_benchmark_quick_mode_prints_the_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The entry point works end to end (one row, in this process, tiny budget)."""
    output = tmp_path / "memory.json"
    argv = ["--quick", "--in-process", "--maxmemory", "128kb", "--only", "lazy ttl=300"]
    assert bench_memory.main([*argv, "--json", str(output)]) == 0
    printed = capsys.readouterr().out
    assert "| allkeys-lru sampled lazy ttl=300 |" in printed
    assert "build: " in printed and "gc.collect() before every checkpoint" in printed
    assert '"traced_max_peak"' in output.read_text()
