"""Hit ratio of every allkeys policy on real traces, beside exact references and Redis itself.

Each trace key is one cache entry of size 1 (the traces have no sizes). The real
:class:`cachepolicy.Cache` is driven with ``max_entries=capacity`` (one eviction per insert,
``cull_frequency=None``) and ``maxmemory=0``; every request is a ``get`` and, on a miss, a ``set``.
Rows:

* ``allkeys-lru`` / ``allkeys-lfu`` sampled (16-slot pool, ``maxmemory-samples`` 5 and 10) and
  exact; ``allkeys-random``;
* references: exact LRU (an ``OrderedDict``) and Belady's OPT (evicts the key used furthest in
  the future, and may decline to cache a key never used again: an upper bound), both the
  shipped simulator's; ``cachetools.LFUCache``;
* ``redis-1s-clock lru``: the core's own sampler and pool with Redis's score, idle time in whole
  seconds (spec §5), at a nominal request rate. Only the score differs from our sampled LRU, so
  the gap between the two rows is the price of Redis's 1-second LRU clock;
* optionally a real ``redis-server`` (``allkeys-lru``, maxmemory sized to hold ``capacity``
  keys) driven with the same trace: one pipelined server-side get-then-set script per request.

The traces carry no timestamps: the cache's clock advances ``1/rate`` seconds per request
(``--rate``, default 1000 req/s), which only matters for LFU decay and the 1-s clock rows.

The second part ports the scenario of Redis's ``utils/lru/test-lru.rb`` as the spec (§11)
describes it, and reports its error metric for our sampled LRU at samples 3/5/10/64.

The replays are the shipped simulator's (:mod:`cachepolicy.simulate`, ``python -m
cachepolicy.simulate`` for any trace); this script adds the benchmark-only rows. Results go to
stdout, and to ``benchmarks/results/hit_ratio.md`` with ``--output benchmarks/results/hit_ratio.md``
(nothing is written into the tree unless told).
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shutil
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make ``benchmarks`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.redisproc import redis_server
from benchmarks.traces import TRACES, load_keys
from cachepolicy import Cache, Entry, SampledPolicy, register_policy
from cachepolicy.simulate import Trace, replay_engine, replay_lru, replay_opt

__all__ = ["RedisClockLRU", "Row", "TraceClock", "main", "run_test_lru"]

RESULTS = Path(__file__).resolve().parent / "results"

#: Cache sizes (entries) per trace: from "holds a sliver" to "holds most of the working set".
DEFAULT_SIZES: dict[str, tuple[int, ...]] = {
    "lirs-gli": (250, 500, 1000, 2000),
    "lirs-loop": (256, 512, 800, 1000),
    "corda-vaultservice": (32, 64, 128, 512),
    "cache2k-web07": (500, 1000, 2000, 5000),
    "arc-OLTP": (1000, 5000, 10000, 20000),
    "arc-P3": (8192, 32768, 131072),
    "cache2k-orm-busy": (1000, 5000, 10000),
    "scarab-recs": (1000, 10000, 50000),
}
#: README: the first 1M requests of the two biggest traces are a good working set.
DEFAULT_LIMITS = {"arc-P3": 1_000_000, "cache2k-orm-busy": 1_000_000}
QUICK_TRACES = ("lirs-gli", "cache2k-web07", "corda-vaultservice")
QUICK_LIMIT = 200_000
#: Traces small enough to replay through a real Redis server in a full run.
REDIS_TRACES = ("lirs-gli", "lirs-loop", "cache2k-web07", "corda-vaultservice")


class TraceClock:
    """A clock the driver sets directly (cheaper than ManualClock.advance per request)."""

    __slots__ = ("now",)

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def time(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.now


class RedisClockLRU(SampledPolicy):
    """Redis's LRU score: idle time measured on a clock of 1-second resolution (spec §5).

    Keys touched within the same second tie. Everything else (sampling, pool, ghost skipping,
    re-check on pop) is the core's sampled policy, so comparing with ``allkeys-lru`` sampled
    isolates the cost of the clock resolution.
    """

    name = "bench-redis-1s-lru"

    def on_insert(self, entry: Entry, now: float) -> None:
        entry.atime = float(int(now))

    on_read = on_insert

    def on_write(self, entry: Entry, now: float, old_size: int) -> None:
        self.on_insert(entry, now)

    def score(self, entry: Entry, now: float) -> float:
        return float(int(now)) - entry.atime


class NoPoolLRU(SampledPolicy):
    """Redis 2.8's sampler: evict the oldest of ``samples`` fresh keys, no memory across
    rounds (a pool of one slot, emptied by every eviction). Recency by access sequence."""

    name = "bench-lru-no-pool"
    pool_size = 1

    def __init__(self, config: Any, rng: Any) -> None:
        super().__init__(config, rng)
        self._sequence = 0

    def on_insert(self, entry: Entry, now: float) -> None:
        self._sequence += 1
        entry.aseq = self._sequence

    on_read = on_insert

    def on_write(self, entry: Entry, now: float, old_size: int) -> None:
        self.on_insert(entry, now)

    def score(self, entry: Entry, now: float) -> float:
        return -entry.aseq


register_policy(RedisClockLRU.name, RedisClockLRU, replace=True)
register_policy(NoPoolLRU.name, NoPoolLRU, replace=True)


# ---------------------------------------------------------------------------------- simulators


def simulate_cache(
    keys: Sequence[str],
    capacity: int,
    *,
    policy: str,
    mode: str = "sampled",
    samples: int = 5,
    rate: float = 1000.0,
    seed: int = 1,
    admission: str = "none",
) -> int:
    """Hits of the real ``cachepolicy.Cache`` over ``keys`` (get, then set on a miss): the
    shipped simulator's engine replay (:func:`cachepolicy.simulate.replay_engine`)."""
    return replay_engine(
        Trace.from_keys(keys),
        capacity,
        policy=policy,
        eviction_mode=mode,
        seed=seed,
        rate=rate,
        options={"maxmemory_samples": samples, "admission": admission},
    ).hits


def simulate_lru(keys: Sequence[int], capacity: int) -> int:
    """Exact LRU: the shipped simulator's reference (:func:`cachepolicy.simulate.replay_lru`)."""
    return replay_lru(Trace.from_keys(keys), capacity).hits


def simulate_opt(keys: Sequence[int], capacity: int) -> int:
    """Belady's OPT (:func:`cachepolicy.simulate.replay_opt`): evict the key whose next use is
    furthest away, or skip caching the incoming key if its own next use is the furthest."""
    return replay_opt(Trace.from_keys(keys), capacity).hits


def simulate_cachetools_lfu(keys: Sequence[int], capacity: int) -> int:
    from cachetools import LFUCache

    cache: LFUCache[int, int] = LFUCache(maxsize=capacity)
    hits = 0
    for key in keys:
        if cache.get(key) is None:
            cache[key] = 1
        else:
            hits += 1
    return hits


# ---------------------------------------------------------------------------------- real Redis

# One request: GET, and SET on a miss, server-side so the run can be pipelined. The value is
# 4000 bytes so that the keys' memory dominates Redis's used_memory: with tiny values the
# client buffers (tens of KB, resized by Redis as it pleases) swamp a cache of a few hundred keys
# and no maxmemory holds a stable number of keys. It is built server-side (string.rep) so the
# query buffer stays small.
_GET_OR_SET = (
    "if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('GET', KEYS[1]) return 1 end "
    "redis.call('SET', KEYS[1], string.rep('x', 4000)) return 0"
)


def simulate_redis(
    client: Any, keys: Sequence[str], capacity: int, batch: int = 256
) -> tuple[int, float]:
    """Hits of a real Redis (allkeys-lru, samples 5) and the mean DBSIZE while it ran.

    Redis bounds bytes, not keys, and its ``used_memory`` includes a baseline and client
    buffers, so ``maxmemory`` is calibrated by bisection: the smallest limit at which replaying
    ``2 * capacity`` distinct keys of the trace's shape leaves ``capacity`` keys."""
    client.config_set("maxmemory", 0)
    client.config_set("maxmemory-policy", "allkeys-lru")
    client.config_set("maxmemory-samples", 5)
    sha = client.script_load(_GET_OR_SET)
    distinct = list(dict.fromkeys(keys))
    top = max(int(k) for k in distinct)
    filler = distinct + [str(top + 1 + i) for i in range(max(0, 2 * capacity - len(distinct)))]
    filler = filler[: 2 * capacity]
    # Warm up: the first replay grows buffers and allocator state that stay, moving the
    # baseline; calibrating after it keeps the limit right for the measured run.
    client.flushall()
    _replay(client, sha, keys, batch)
    client.flushall()
    low = int(client.info("memory")["used_memory"])
    _replay(client, sha, filler[:capacity], batch)
    high = int(client.info("memory")["used_memory"]) * 2 - low

    def held_at(limit: int) -> int:
        client.config_set("maxmemory", 0)
        client.flushall()
        client.config_set("maxmemory", limit)
        _replay(client, sha, filler, batch)
        return int(client.dbsize())

    while held_at(high) < capacity:
        high += high - low
    while high - low > 64:
        middle = (low + high) // 2
        if held_at(middle) >= capacity:
            high = middle
        else:
            low = middle
    client.config_set("maxmemory", 0)
    client.flushall()
    client.config_set("maxmemory", high)
    client.config_resetstat()
    hits, sizes = _replay(client, sha, keys, batch)
    client.config_set("maxmemory", 0)
    client.flushall()
    return hits, sum(sizes) / max(1, len(sizes))


def _replay(client: Any, sha: str, keys: Sequence[str], batch: int) -> tuple[int, list[int]]:
    """Run the get-or-set script per key, pipelined; an OOM reply counts as a miss."""
    hits = 0
    sizes: list[int] = []
    for start in range(0, len(keys), batch):
        pipe = client.pipeline(transaction=False)
        for key in keys[start : start + batch]:
            pipe.evalsha(sha, 1, key)
        pipe.dbsize()
        replies = pipe.execute(raise_on_error=False)
        sizes.append(replies.pop())
        hits += sum(1 for reply in replies if reply == 1)
    return hits, sizes


# ---------------------------------------------------------------------------------- the grid


@dataclass(frozen=True)
class Row:
    """One policy line of the hit-ratio table."""

    label: str
    kind: str  # "cache" | "lru" | "opt" | "cachetools-lfu"
    policy: str = ""
    mode: str = "sampled"
    samples: int = 5
    rate: float | None = None  # None: the run's --rate
    admission: str = "none"


def rows_for(rates: Sequence[float]) -> list[Row]:
    rows = [
        Row("OPT (Belady, upper bound)", "opt"),
        Row("exact LRU (OrderedDict reference)", "lru"),
        Row("allkeys-lru exact", "cache", "allkeys-lru", "exact"),
        Row("allkeys-lru sampled s=10", "cache", "allkeys-lru", samples=10),
        Row("allkeys-lru sampled s=5", "cache", "allkeys-lru", samples=5),
    ]
    rows += [
        Row(f"redis-1s-clock lru s=5 @{rate:g} req/s", "cache", RedisClockLRU.name, rate=rate)
        for rate in rates
    ]
    rows += [
        Row("allkeys-lfu exact", "cache", "allkeys-lfu", "exact"),
        Row("allkeys-lfu sampled s=10", "cache", "allkeys-lfu", samples=10),
        Row("allkeys-lfu sampled s=5", "cache", "allkeys-lfu", samples=5),
        Row("cachetools LFUCache", "cachetools-lfu"),
        Row("allkeys-random", "cache", "allkeys-random"),
        # Beyond Redis (issue 20): entry-count bound, so GDSF is LFU with dynamic aging.
        Row("allkeys-wtinylfu", "cache", "allkeys-wtinylfu"),
        Row(
            "allkeys-lru sampled s=5 + admission tinylfu",
            "cache",
            "allkeys-lru",
            admission="tinylfu",
        ),
        Row("allkeys-gdsf exact", "cache", "allkeys-gdsf", "exact"),
        Row("allkeys-gdsf sampled s=5", "cache", "allkeys-gdsf"),
    ]
    return rows


# Loaded once in the parent; worker processes are forked and inherit it (no pickling).
_TRACE_DATA: dict[str, tuple[list[int], list[str]]] = {}


def _load(name: str, limit: int | None) -> tuple[list[int], list[str]]:
    ints = load_keys(name, limit)
    names = {key: str(key) for key in set(ints)}  # one str object per distinct key
    strs = [names[key] for key in ints]
    return ints, strs


def _run_job(job: tuple[str, int, Row, float, int]) -> tuple[str, int, str, int, float]:
    trace, capacity, row, rate, seed = job
    ints, strs = _TRACE_DATA[trace]
    started = time.perf_counter()
    if row.kind == "lru":
        hits = simulate_lru(ints, capacity)
    elif row.kind == "opt":
        hits = simulate_opt(ints, capacity)
    elif row.kind == "cachetools-lfu":
        hits = simulate_cachetools_lfu(ints, capacity)
    else:
        hits = simulate_cache(
            strs,
            capacity,
            policy=row.policy,
            mode=row.mode,
            samples=row.samples,
            rate=row.rate or rate,
            seed=seed,
            admission=row.admission,
        )
    return trace, capacity, row.label, hits, time.perf_counter() - started


def run_grid(
    traces: Sequence[str],
    sizes: dict[str, Sequence[int]],
    rows: Sequence[Row],
    *,
    limit: int | None,
    rate: float,
    seed: int,
    jobs: int,
    progress: Callable[[str], None] = print,
) -> dict[tuple[str, int, str], int]:
    jobs_list = []
    for trace in traces:
        trace_limit = limit if limit is not None else DEFAULT_LIMITS.get(trace)
        _TRACE_DATA[trace] = _load(trace, trace_limit)
        jobs_list += [(trace, size, row, rate, seed) for size in sizes[trace] for row in rows]
    # Slowest first, so the pool does not end on one long straggler.
    jobs_list.sort(key=lambda j: -len(_TRACE_DATA[j[0]][0]))
    results: dict[tuple[str, int, str], int] = {}
    runner: Callable[..., Iterator[tuple[str, int, str, int, float]]]
    if jobs > 1:
        executor = ProcessPoolExecutor(jobs, mp_context=_fork_context())
        runner = executor.map
    else:
        executor = None
        runner = map
    try:
        for trace, size, label, hits, seconds in runner(_run_job, jobs_list):
            results[trace, size, label] = hits
            requests = len(_TRACE_DATA[trace][0])
            progress(
                f"  {trace:<20} {size:>7} {label:<40} {100 * hits / requests:6.2f} %"
                f"  ({seconds:.1f} s)"
            )
    finally:
        if executor is not None:
            executor.shutdown()
    return results


def _fork_context() -> Any:
    import multiprocessing

    return multiprocessing.get_context("fork")


# ---------------------------------------------------------------------------------- test-lru


@dataclass(frozen=True)
class LruTestResult:
    label: str
    errors: list[float]
    old_present: list[float]
    keys: int


def run_test_lru(
    label: str,
    *,
    samples: int,
    policy: str = "allkeys-lru",
    mode: str = "sampled",
    maxmemory: int = 2_000_000,
    runs: int = 5,
) -> LruTestResult:
    """The test-lru.rb scenario (spec §11), written from its description.

    Fill with ``SET i foo`` until the first eviction (N keys); read keys 1..N in order, 1 ms
    apart, so key 1 is the least recently used; insert new keys (the first 100 into db 1) until
    N/2 keys were evicted. Perfect LRU evicts exactly keys 1..N/2. Error: every surviving key of
    the older half weighs (N/2 - i) / (N/2), falling from ~1 for the oldest to 0 at the middle;
    the sum is divided by its maximum (every old key surviving) and shown as a percentage.
    """
    errors: list[float] = []
    present: list[float] = []
    count = 0
    for run in range(runs):
        clock = TraceClock()
        cache = Cache(
            maxmemory=maxmemory,
            maxmemory_policy=policy,
            eviction_mode=mode,
            maxmemory_samples=samples,
            clock=clock,
            seed=1000 + run,
        )
        other_db = cache.select(1)
        stats = cache.store.stats

        count = 0
        while stats.evicted_keys == 0:
            count += 1
            clock.now += 0.001
            cache.set(str(count), "foo")
        for i in range(1, count + 1):
            clock.now += 0.001
            cache.get(str(i))
        new = 0
        while stats.evicted_keys < count // 2:
            new += 1
            clock.now += 0.001
            (other_db if new <= 100 else cache).set(f"new:{new}", "foo")
        half = count // 2
        weight = survived = 0.0
        total = 0.0
        for i in range(1, half + 1):
            w = (half - i) / half
            total += w
            if cache.has(str(i)):
                weight += w
                survived += 1
        errors.append(100 * weight / total)
        present.append(100 * survived / half)
        cache.close()
    return LruTestResult(label, errors, present, count)


def test_lru_rows(runs: int, maxmemory: int = 2_000_000) -> list[LruTestResult]:
    def run(label: str, samples: int, **kw: str) -> LruTestResult:
        return run_test_lru(label, samples=samples, maxmemory=maxmemory, runs=runs, **kw)

    results = [run(f"allkeys-lru sampled s={s}", s) for s in (3, 5, 10, 64)]
    results.append(run("allkeys-lru exact", 5, mode="exact"))
    results += [run(f"no pool (Redis 2.8) s={s}", s, policy=NoPoolLRU.name) for s in (3, 5)]
    results.append(run("redis-1s-clock s=5 (1 ms/op)", 5, policy=RedisClockLRU.name))
    results.append(run("allkeys-random", 5, policy="allkeys-random"))
    return results


# ---------------------------------------------------------------------------------- report


def _spread(values: list[float]) -> str:
    mean = sum(values) / len(values)
    if len(values) == 1:
        return f"{mean:.2f} %"
    return f"{mean:.2f} % ({min(values):.2f}-{max(values):.2f})"


def render(
    command: str,
    traces: Sequence[str],
    sizes: dict[str, Sequence[int]],
    rows: Sequence[Row],
    results: dict[tuple[str, int, str], int],
    redis_results: dict[tuple[str, int], tuple[int, float]],
    lru_tests: list[LruTestResult],
    rate: float,
    seconds: float,
    lru_maxmemory: int = 2_000_000,
) -> str:
    out = [
        "# Hit ratio on real traces",
        "",
        f"- command: `{command}`",
        f"- date: {datetime.datetime.now().isoformat(timespec='seconds')}, "
        f"Python {platform.python_version()}, {platform.machine()}, {seconds:.0f} s",
        f"- every key is one entry of size 1; get, then set on a miss; cache clock advances "
        f"1/{rate:g} s per request (LFU decay: 1 point per {60 * rate:,.0f} idle requests)",
        "- cachepolicy rows drive the real `Cache(max_entries=capacity, cull_frequency=None, "
        "maxmemory=0)`; seed 1",
        "",
    ]
    for trace in traces:
        requests = len(_TRACE_DATA[trace][0])
        distinct = len(set(_TRACE_DATA[trace][0]))
        spec = TRACES[trace]
        scope = "full trace" if requests == spec.requests else f"first {requests:,} requests"
        out.append(f"## {trace}: {spec.workload}")
        out.append("")
        out.append(f"{scope}, {distinct:,} distinct keys. Hit ratio in %, by cache size (entries).")
        out.append("")
        out.append("| policy | " + " | ".join(f"{s:,}" for s in sizes[trace]) + " |")
        out.append("|---|" + "---:|" * len(sizes[trace]))
        for row in rows:
            cells = []
            for size in sizes[trace]:
                hits = results.get((trace, size, row.label))
                cells.append("" if hits is None else f"{100 * hits / requests:.2f}")
            out.append(f"| {row.label} | " + " | ".join(cells) + " |")
        if any(t == trace for t, _ in redis_results):
            cells = []
            for size in sizes[trace]:
                got = redis_results.get((trace, size))
                cells.append(
                    "" if got is None else f"{100 * got[0] / requests:.2f} ({got[1] / size:.2f}x)"
                )
            out.append(
                "| real redis-server allkeys-lru s=5 (keys held / size) | "
                + " | ".join(cells)
                + " |"
            )
        out.append("")
    if lru_tests:
        out += [
            "## test-lru scenario (spec §11), our sampled allkeys-lru",
            "",
            f"maxmemory {lru_maxmemory:,} bytes (N = {lru_tests[0].keys:,} keys before the first "
            f"eviction), {len(lru_tests[0].errors)} runs each, mean (min-max). Redis's numbers "
            "from spec §11 for comparison.",
            "",
            "| policy | weighted error | oldest half still present | Redis (spec §11) |",
            "|---|---:|---:|---|",
        ]
        redis_ref = {
            "allkeys-lru sampled s=3": "23.2 % / 24.8 %",
            "allkeys-lru sampled s=5": "10.7 % / 14.4 %",
            "allkeys-lru sampled s=10": "2.95 % / 6.4 %",
            "allkeys-lru sampled s=64": "0.02 % / 0.4 %",
            "no pool (Redis 2.8) s=3": "29 % (Python sim)",
            "no pool (Redis 2.8) s=5": "16.8 % (Python sim)",
            "allkeys-lru exact": "0 %",
        }
        for result in lru_tests:
            out.append(
                f"| {result.label} | {_spread(result.errors)} | {_spread(result.old_present)} | "
                f"{redis_ref.get(result.label, '')} |"
            )
        out.append("")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"first {QUICK_LIMIT:,} requests of {', '.join(QUICK_TRACES)}; two sizes each",
    )
    parser.add_argument("--traces", nargs="+", choices=sorted(TRACES), help="traces to run")
    parser.add_argument(
        "--sizes", nargs="+", type=int, help="cache sizes (entries) for every trace"
    )
    parser.add_argument("--limit", type=int, help="use only the first N requests of each trace")
    parser.add_argument(
        "--rate", type=float, default=1000.0, help="nominal requests per second (cache clock)"
    )
    parser.add_argument(
        "--redis-clock-rates", nargs="+", type=float, help="request rates for the 1-s clock rows"
    )
    parser.add_argument(
        "--redis",
        choices=("auto", "yes", "no"),
        default="auto",
        help="replay small traces through a private redis-server "
        "(auto: in full runs, if installed)",
    )
    parser.add_argument("--no-test-lru", action="store_true", help="skip the test-lru scenario")
    parser.add_argument(
        "--test-lru-runs", type=int, help="runs per test-lru row (default 5, quick 3)"
    )
    parser.add_argument(
        "--test-lru-maxmemory", type=int, default=2_000_000, help="test-lru's maxmemory (bytes)"
    )
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="worker processes")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--output", type=Path, help=f"write the report there too (e.g. {RESULTS / 'hit_ratio.md'})"
    )
    args = parser.parse_args(argv)

    started = time.perf_counter()
    traces = list(args.traces or (QUICK_TRACES if args.quick else TRACES))
    limit = args.limit if args.limit is not None else (QUICK_LIMIT if args.quick else None)
    sizes: dict[str, Sequence[int]]
    if args.sizes:
        sizes = {t: tuple(args.sizes) for t in traces}
    elif args.quick:
        sizes = {t: (DEFAULT_SIZES[t][0], DEFAULT_SIZES[t][2]) for t in traces}
    else:
        sizes = {t: DEFAULT_SIZES[t] for t in traces}
    clock_rates = args.redis_clock_rates or ([1000.0] if args.quick else [100.0, 1000.0, 10000.0])
    rows = rows_for(clock_rates)
    print(f"hit ratio: traces {', '.join(traces)}; {args.jobs} worker(s)")
    results = run_grid(
        traces, sizes, rows, limit=limit, rate=args.rate, seed=args.seed, jobs=args.jobs
    )

    redis_results: dict[tuple[str, int], tuple[int, float]] = {}
    want_redis = args.redis == "yes" or (
        args.redis == "auto" and not args.quick and shutil.which("redis-server") is not None
    )
    if want_redis:
        try:
            with redis_server() as client:
                for trace in traces:
                    if args.redis == "auto" and trace not in REDIS_TRACES:
                        continue
                    strs = _TRACE_DATA[trace][1]
                    for size in sizes[trace]:
                        redis_results[trace, size] = simulate_redis(client, strs, size)
                        hits, held = redis_results[trace, size]
                        print(
                            f"  {trace:<20} {size:>7} real redis-server "
                            f"{100 * hits / len(strs):6.2f} %  (mean keys held {held:,.0f})"
                        )
        except Exception as exc:  # a missing server must not lose the rest of the report
            print(f"real Redis skipped: {exc}")

    lru_tests: list[LruTestResult] = []
    if not args.no_test_lru:
        runs = args.test_lru_runs or (3 if args.quick else 5)
        print("test-lru scenario ...")
        lru_tests = test_lru_rows(runs, args.test_lru_maxmemory)

    command = "python benchmarks/simulate.py " + " ".join(
        argv if argv is not None else sys.argv[1:]
    )
    report = render(
        command.strip(),
        traces,
        sizes,
        rows,
        results,
        redis_results,
        lru_tests,
        args.rate,
        time.perf_counter() - started,
        args.test_lru_maxmemory,
    )
    print()
    print(report)
    if args.output is not None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(report + "\n")
        print(f"written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
