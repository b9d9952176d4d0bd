"""Each benchmark entry point runs end to end in its quickest mode on tiny inputs.

These check that the benchmark code works, not how fast anything is: speed is measured by
running the benchmarks, never asserted in tests.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import bench_core, compare_builds, simulate, traces
from cachepolicy import Cache


def test_bench_core_tiny(tmp_path: Path) -> None:
    output = tmp_path / "core.md"
    args = ["--reps", "1", "--seconds", "0.002", "--keys", "50", "--no-redis", "--output"]
    assert bench_core.main([*args, str(output), "--only", "lru", "LocMem"]) == 0
    report = output.read_text()
    for needle in ("dict + pickle (floor)", "cachepolicy allkeys-lru sampled", "LocMemCache"):
        assert needle in report
    assert "| subject | get-hit | get-miss | set | set-evict | notes |" in report
    assert "4 threads" in report


@pytest.mark.skipif(not traces.TRACES_DIR.is_dir(), reason="no traces")
def test_simulate_tiny(tmp_path: Path) -> None:
    output = tmp_path / "hit_ratio.md"
    argv = ["--traces", "lirs-gli", "--sizes", "100", "--limit", "2000", "--jobs", "1"]
    argv += ["--redis", "no", "--test-lru-runs", "1", "--test-lru-maxmemory", "200000"]
    argv += ["--output", str(output)]
    assert simulate.main(argv) == 0
    report = output.read_text()
    assert "first 2,000 requests" in report
    assert "| OPT (Belady, upper bound) |" in report
    assert "allkeys-lru sampled s=64" in report


def test_references_agree_with_the_core_on_exact_lru() -> None:
    keys = [i % 7 for i in range(50)] + [i % 3 for i in range(50)]
    strs = [str(k) for k in keys]
    exact = simulate.simulate_cache(strs, 4, policy="allkeys-lru", mode="exact")
    assert exact == simulate.simulate_lru(keys, 4)
    # OPT bounds every policy from above; LRU can never beat it.
    assert simulate.simulate_opt(keys, 4) >= exact


def test_opt_on_a_known_sequence() -> None:
    # Capacity 2: a b c a b -> OPT keeps a and b (bypassing c): hits on a and b.
    assert simulate.simulate_opt([1, 2, 3, 1, 2], 2) == 2
    assert simulate.simulate_lru([1, 2, 3, 1, 2], 2) == 0


def test_redis_clock_policy_ties_within_a_second() -> None:
    clock = simulate.TraceClock(1000.0)
    cache = Cache(
        maxmemory=0,
        maxmemory_policy=simulate.RedisClockLRU.name,
        max_entries=1000,
        clock=clock,
        seed=1,
    )
    cache.set("a", 1)
    clock.now = 1000.9
    cache.set("b", 1)
    policy = cache.store.policy
    assert isinstance(policy, simulate.RedisClockLRU)
    entries = {e.key: e for e in cache.store.engine.iter_entries()}
    assert policy.score(entries["a"], 1001.5) == policy.score(entries["b"], 1001.5) == 1.0
    assert cache.check() == []


@pytest.mark.parametrize(
    ("script", "needles"),
    [
        ("bench_django.py", ("set evicting", "zipf 90/10 x4", "aset")),
        ("bench_flask.py", ("| set evicting |", "| zipf 90/10 |")),
        ("bench_recorder.py", ("| get hit |", "record 1%", "records dropped")),
    ],
)
def test_framework_benchmarks_tiny(script: str, needles: tuple[str, ...]) -> None:
    """Each configures its framework globally, so it runs in a process of its own."""
    path = Path(__file__).resolve().parents[2] / "benchmarks" / script
    argv = [sys.executable, str(path), "--entries", "100", "--seconds", "0.005", "--repeat", "1"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    for needle in needles:
        assert needle in done.stdout


def test_bench_default_quick_then_compare_builds(tmp_path: Path) -> None:
    """bench_default configures Django globally, so it runs in a process of its own; its JSON
    then goes through compare_builds twice, once labelled as each build."""
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_default.py"
    first = tmp_path / "first.json"
    argv = [sys.executable, str(path), "--quick", "--entries", "1000", "--seconds", "0.005"]
    argv += ["--core-reps", "1", "--core-seconds", "0.005", "--output", str(first)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert "| 100-byte bytes, TIMEOUT 300, sequential keys | LocMemCache |" in done.stdout
    report = json.loads(first.read_text())
    assert report["environment"]["build"] in ("pure", "compiled")
    rows = {row["id"]: row for row in report["rows"]}
    # 8 write rows, 9 evicting policies x 2 modes, get hit + 2 Zipf mixes, 4 core operations,
    # and the beyond section: 5 caches x (write, get hit, Zipf from 1 and 4 threads).
    assert len(rows) == 8 + 18 + 3 + 4 + 5 * 4
    assert "beyond/write/policy-allkeys-wtinylfu-sampled" in rows or any(
        row_id.startswith("beyond/write/") and "wtinylfu" in row_id for row_id in rows
    )
    assert any(row_id.startswith("beyond/write/") and "gdsf-exact" in row_id for row_id in rows)
    assert "write/default/default/dict/no-ttl/random" in rows
    assert "policies/volatile-ttl/exact/bytes-100/ttl-300/sequential" in rows
    assert not any("noeviction" in row_id for row_id in rows)
    for row in rows.values():
        assert row["ours_ops"] > 0 and row["peer_ops"] > 0
        if row["section"] in ("write", "policies"):
            # The fitted MAXMEMORY holds what LocMemCache's MAX_ENTRIES holds (an engine that
            # evicts small batches below the limit may hold a few fewer).
            assert row["held"]["peer"] == 1000
            assert 900 <= row["held"]["ours"] <= 1100, row

    runs = []
    for build in ("pure", "compiled"):
        report["environment"].update(build=build, label=f"{build} build")
        runs.append(tmp_path / f"{build}.json")
        runs[-1].write_text(json.dumps(report))
    output = tmp_path / "default.md"
    assert compare_builds.main([*map(str, runs), "--output", str(output)]) == 0
    table = output.read_text()
    assert "| row | peer | pure build | compiled build | target (compiled) |" in table
    assert "| allkeys-lfu exact | LocMemCache |" in table
    assert "Zipf 90/10 cache-aside, 4 threads" in table
    assert "noeviction is left out" in table


def test_bench_herd_tiny() -> None:
    """The herd benchmark in a subprocess (it configures Django settings for itself)."""
    root = Path(__file__).resolve().parents[2]
    argv = ["--seconds", "0.3", "--threads", "4", "--compute-ms", "5", "--ttl", "0.1", "--json"]
    done = subprocess.run(
        [sys.executable, str(root / "benchmarks" / "bench_herd.py"), *argv],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    rows = json.loads(done.stdout)
    assert rows[0]["configuration"].startswith("Django LocMemCache")
    assert all(row["calls"] > 0 for row in rows)
