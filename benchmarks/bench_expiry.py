"""Expiry lag, stale memory, reclaim CPU and request latency, per expiry strategy.

    python benchmarks/bench_expiry.py [--quick] [--seconds S] [--populations 10000,100000]

Workload (spec §12.8, after redis PR #15620): a population of N long-TTL keys (1 hour, never due
during the run) is written first; then, for ``--seconds`` of real time, one thread writes short-TTL
keys (TTL uniform in 0.2-1.0 s, ``--set-rate`` per second) and reads random long keys in between
as fast as it can. Nobody reads the short keys, so only the expiry strategy can reclaim them.

Reported per strategy and N:

* lag p50/p99: ``expired`` event time minus the key's deadline, over short keys whose deadline
  passed at least 1 s before the end (a key never reclaimed counts as infinitely late: "inf");
* reclaimed: share of those keys reclaimed by the end;
* stale max/mean: bytes of expired-but-unreclaimed keys / used_memory, sampled every 100 ms;
* cpu: ``expire_cycle_cpu_milliseconds`` / wall time (share of time spent reclaiming);
* get/set p99: per-call latency of the timed loop, next to ``lazy`` (expiry off: nothing but the
  lookups reclaims).

Targets (issue 3): timed/background lag p99 < 2/hz s at 1M not-yet-due keys; stale share at or
below acceptable-stale (10 %); get p99 within 20 % of ``lazy``.
"""

from __future__ import annotations

import argparse
import gc
import math
import pickle
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cachepolicy import CacheStore, KeyspaceEvent

STRATEGIES = ["lazy", "active", "timed", "background"]
LONG_TTL = 3600.0
SHORT_TTL = (0.2, 1.0)
# Only keys whose deadline passed this long before the end are judged for lag: the slowest
# strategy that meets the target needs 2/hz = 0.2 s; 1 s leaves a margin without hiding lag.
JUDGE_MARGIN = 1.0
SAMPLE_EVERY = 0.1


@dataclass
class Result:
    strategy: str
    population: int
    lag_p50: float
    lag_p99: float
    reclaimed: float
    stale_max: float
    stale_mean: float
    cpu: float
    get_p99_us: float
    set_p99_us: float
    sets: int
    gets: int


def _pct(values: list[float], q: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run_one(
    strategy: str, population: int, seconds: float, set_rate: float, hz: int, seed: int
) -> Result:
    rng = random.Random(seed)
    store = CacheStore(maxmemory=0, expiry=strategy, hz=hz, lazyfree_threshold=0)
    payload = pickle.dumps("v" * 20)
    write = store.write
    for i in range(population):
        write(0, f"long:{i}", payload, LONG_TTL)
    reclaimed_at: dict[str, float] = {}
    now_fn = time.time

    def on_expired(event: KeyspaceEvent) -> None:
        reclaimed_at[event.key] = now_fn()

    store.subscribe(on_expired, events={"expired"})
    deadlines: dict[str, float] = {}
    outstanding: dict[str, float] = {}
    entry_bytes = store.entry_size("short:0000000", payload, True)
    get_lat: list[int] = []
    set_lat: list[int] = []
    stale: list[float] = []
    lookup = store.lookup
    perf = time.perf_counter_ns
    cpu_before = store.stats.expire_cycle_cpu_milliseconds
    gc.collect()
    start = now_fn()
    end = start + seconds
    next_set = start
    next_sample = start + SAMPLE_EVERY
    set_interval = 1.0 / set_rate
    n = 0
    long_keys = [f"long:{rng.randrange(population)}" for _ in range(4096)]
    while True:
        now = now_fn()
        if now >= end:
            break
        key = long_keys[n & 4095]
        t0 = perf()
        lookup(0, key)
        get_lat.append(perf() - t0)
        n += 1
        if now >= next_set:
            next_set += set_interval
            short = f"short:{len(deadlines):07d}"
            ttl = rng.uniform(*SHORT_TTL)
            t0 = perf()
            write(0, short, payload, ttl)
            set_lat.append(perf() - t0)
            deadlines[short] = outstanding[short] = now + ttl
        if now >= next_sample:
            next_sample += SAMPLE_EVERY
            for k in [k for k in outstanding if k in reclaimed_at]:
                del outstanding[k]
            stale_keys = sum(1 for d in outstanding.values() if d < now)
            stale.append(stale_keys * entry_bytes / max(1, store.used_memory))
    wall = now_fn() - start
    cpu_ms = store.stats.expire_cycle_cpu_milliseconds - cpu_before
    judged = [k for k, d in deadlines.items() if d <= end - JUDGE_MARGIN]
    lags = [reclaimed_at[k] - deadlines[k] if k in reclaimed_at else math.inf for k in judged]
    store.close()
    result = Result(
        strategy=strategy,
        population=population,
        lag_p50=_pct(lags, 0.50),
        lag_p99=_pct(lags, 0.99),
        reclaimed=sum(1 for k in judged if k in reclaimed_at) / max(1, len(judged)),
        stale_max=max(stale, default=0.0),
        stale_mean=sum(stale) / len(stale) if stale else 0.0,
        cpu=cpu_ms / 1000 / wall,
        get_p99_us=_pct([float(x) for x in get_lat], 0.99) / 1000,
        set_p99_us=_pct([float(x) for x in set_lat], 0.99) / 1000,
        sets=len(set_lat),
        gets=len(get_lat),
    )
    del store
    gc.collect()
    return result


def _fmt_lag(value: float) -> str:
    if math.isinf(value):
        return "inf"
    return f"{value * 1000:.0f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="10k and 100k keys, 4 s each")
    parser.add_argument("--seconds", type=float, default=None, help="workload seconds per run")
    parser.add_argument("--populations", default=None, help="comma-separated key counts")
    parser.add_argument("--set-rate", type=float, default=2000.0, help="short-TTL writes/s")
    parser.add_argument("--hz", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if args.populations:
        populations = [int(p) for p in args.populations.split(",")]
    else:
        populations = [10_000, 100_000] if args.quick else [10_000, 100_000, 1_000_000]
    seconds = args.seconds or (4.0 if args.quick else 6.0)
    target = 2 / args.hz
    print(
        f"# expiry benchmark: {seconds:g} s per run, {args.set_rate:g} short-TTL sets/s, "
        f"hz={args.hz}, Python {sys.version.split()[0]}"
    )
    header = (
        f"{'N not due':>10} {'strategy':<11} {'lag p50':>8} {'lag p99':>8} {'reclaimed':>9} "
        f"{'stale max':>9} {'stale avg':>9} {'cpu':>6} {'get p99':>9} {'set p99':>9}"
    )
    print(header)
    print("-" * len(header))
    verdicts: list[str] = []
    for population in populations:
        baseline_get = math.nan
        for strategy in STRATEGIES:
            r = run_one(strategy, population, seconds, args.set_rate, args.hz, args.seed)
            if strategy == "lazy":
                baseline_get = r.get_p99_us
            print(
                f"{population:>10,} {strategy:<11} {_fmt_lag(r.lag_p50):>8} "
                f"{_fmt_lag(r.lag_p99):>8} {r.reclaimed:>8.1%} {r.stale_max:>8.2%} "
                f"{r.stale_mean:>8.2%} {r.cpu:>5.1%} {r.get_p99_us:>7.2f}us {r.set_p99_us:>7.2f}us",
                flush=True,
            )
            if strategy in ("timed", "background"):
                ok_lag = r.lag_p99 < target
                ok_get = r.get_p99_us <= 1.2 * baseline_get
                verdicts.append(
                    f"N={population:,} {strategy}: lag p99 {'<' if ok_lag else '>='} "
                    f"{target * 1000:.0f} ms {'OK' if ok_lag else 'MISS'}; stale max "
                    f"{r.stale_max:.2%} {'OK' if r.stale_max <= 0.10 else 'MISS'}; get p99 "
                    f"{r.get_p99_us / baseline_get - 1:+.0%} vs lazy "
                    f"{'OK' if ok_get else 'MISS'}"
                )
    print()
    print("\n".join(verdicts))


if __name__ == "__main__":
    main()
