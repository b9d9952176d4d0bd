"""The near cache (L1 in front of Redis) beside plain redis-py, on one private server, one run.

Rows (ops/s; ratio = near cache / plain redis-py, measured in alternating rounds of the same
run, so both see the same machine):

``get hit``        ``GET`` of 1,000 present keys (100-byte values); the near cache serves them
                   from its L1 after the first read
``zipf 90/10 xN``  the cache-aside mix of ``bench_django.py``: Zipf(s=1.0) keys over 40,000
                   distinct keys, 90 % reads (a miss is followed by a ``SET``), 10 % writes,
                   N threads sharing one client (one near cache per process, as the backend
                   wires it); the L1 hit ratio is reported

Then the **invalidation delay**: a spawned reader process with its own near cache reads one key
while this process writes new versions with plain redis-py; the delay is the time from the
write's acknowledgement to the reader's first read of the new value (CLOCK_MONOTONIC is
system-wide, so both processes read the same clock). Two readers: *busy* (reads in a tight
loop, so the tracker thread waits for the GIL: CPython hands it over every
``sys.getswitchinterval()`` = 5 ms) and *idle* (a read every 0.2 ms, a worker waiting on I/O).

The subjects talk payload bytes on full Redis keys, the near cache's own interface
(``cachepolicy.redis.near``); the Django row (this backend with and without L1 beside Django's
``RedisCache``) belongs to the backend benchmark.

Run: ``python benchmarks/bench_near.py`` (about 40 s; ``--quick`` about 8 s). Writes
``benchmarks/results/near.md`` (``--output``). Starts its own ``redis-server`` on a free
loopback port (``benchmarks/redisproc.py``) and stops it afterwards.
"""

from __future__ import annotations

import argparse
import datetime
import multiprocessing
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))

import redis  # noqa: E402

from benchmarks.redisproc import redis_server  # noqa: E402
from benchmarks.workloads import mixes, run_threads, totals  # noqa: E402
from cachepolicy.redis.near import NearCache, NearCacheConfig, RedisRemote  # noqa: E402

VALUE = b"z" * 100
UNIVERSE = 40_000
PREFIX = "bench:near:"


class Plain:
    """The peer: plain redis-py GET/SET."""

    name = "redis-py"

    def __init__(self, client: Any) -> None:
        self.get = client.get
        self.set = lambda key, payload: client.set(key, payload)

    def close(self) -> None:
        pass


class Near:
    """The subject: the near cache over the same client."""

    name = "near cache"
    l1_hit_ratio = 0.0  # of the last Zipf round

    def __init__(self, client: Any, staleness: float) -> None:
        self.cache = NearCache(
            RedisRemote(client), prefix=PREFIX, config=NearCacheConfig(staleness=staleness)
        )
        if not self.cache.wait_fresh(10):
            raise RuntimeError("the near cache's tracking connection did not come up")
        self.get = self.cache.get
        self.set = lambda key, payload: self.cache.set(key, payload)

    def close(self) -> None:
        self.cache.close()


def timed(run: Callable[[], int], seconds: float) -> float:
    """ops/s of ``run`` (which returns how many operations it did) for about ``seconds``."""
    done = 0
    start = time.perf_counter()
    while True:
        done += run()
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return done / elapsed


def get_hit_round(subject: Any, seconds: float) -> float:
    keys = [f"{PREFIX}h{i}" for i in range(1000)]
    get = subject.get
    for key in keys:
        get(key)

    def batch() -> int:
        for key in keys:
            get(key)
        return len(keys)

    return timed(batch, seconds)


def zipf_round(subject: Any, threads: int, seconds: float) -> tuple[float, float]:
    """Total ops/s of the cache-aside mix over ``threads`` threads, and its read hit ratio."""
    streams = mixes(
        threads, length=50_000, universe=UNIVERSE, write_share=0.10, value=VALUE, prefix=PREFIX
    )
    ops = (subject.get, subject.set)
    streams[0].warm(ops, 20_000)  # untimed: both subjects start in steady state
    streams[0].position = 0  # ... and the timed part starts from the stream's beginning
    cache = getattr(subject, "cache", None)
    before = cache.info() if cache is not None else None
    elapsed = run_threads(streams, lambda t: ops, seconds, 500)
    if cache is not None and before is not None:
        after = cache.info()
        l1_hits = after["near_cache_hits"] - before["near_cache_hits"]
        l1_lookups = l1_hits + after["near_cache_misses"] - before["near_cache_misses"]
        subject.l1_hit_ratio = l1_hits / max(1, l1_lookups)
    return totals(streams, elapsed)


def reader_process(conn: Connection, port: int, key: str, idle: bool) -> None:
    client = redis.Redis(host="127.0.0.1", port=port)
    near = NearCache(RedisRemote(client), prefix=PREFIX, config=NearCacheConfig(staleness=1.0))
    near.wait_fresh(10)
    last = near.get(key)  # before "ready": the first write must come after this read
    conn.send("ready")
    seen: list[tuple[bytes | None, float]] = []
    while not conn.poll():
        payload = near.get(key)
        if payload != last:
            seen.append((payload, time.monotonic()))
            last = payload
            conn.send(payload)
        if idle:
            time.sleep(0.0002)
    conn.recv()
    conn.send(seen)
    near.close()


def invalidation_delays(port: int, samples: int, idle: bool) -> list[float]:
    key = PREFIX + "delay"
    writer = redis.Redis(host="127.0.0.1", port=port)
    writer.set(key, b"0")
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    child = context.Process(target=reader_process, args=(theirs, port, key, idle))
    child.start()
    if not ours.poll(60) or ours.recv() != "ready":
        raise RuntimeError("the reader process did not start")
    acknowledged: dict[bytes, float] = {}
    for version in range(1, samples + 1):
        payload = str(version).encode()
        writer.set(key, payload)
        acknowledged[payload] = time.monotonic()
        while True:  # the next write only once the reader saw this one
            if not ours.poll(10):
                raise RuntimeError(f"the reader never saw version {version}")
            if ours.recv() == payload:
                break
    ours.send("stop")
    seen = ours.recv()
    child.join(10)
    writer.close()
    return [max(0.0, t - acknowledged[p]) for p, t in seen if p in acknowledged]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=1.5, help="per subject per round")
    parser.add_argument("--repeat", type=int, default=3, help="alternating rounds, best taken")
    parser.add_argument("--samples", type=int, default=1000, help="invalidation-delay writes")
    parser.add_argument("--quick", action="store_true", help="short rounds (a smoke run)")
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks/results/near.md")
    args = parser.parse_args(argv)
    if args.quick:
        args.seconds, args.repeat, args.samples = 0.3, 1, 100
    began = time.monotonic()
    rows: list[tuple[str, float, float, str]] = []
    with redis_server() as client:
        port = client.connection_pool.connection_kwargs["port"]
        client.mset({f"{PREFIX}h{i}": VALUE for i in range(1000)})
        plain, near = Plain(client), Near(client, staleness=1.0)
        try:
            scenarios: list[tuple[str, Callable[[Any], tuple[float, float | None]]]] = [
                ("get hit", lambda s: (get_hit_round(s, args.seconds), None)),
                ("zipf 90/10 x1", lambda s: zipf_round(s, 1, args.seconds)),
                ("zipf 90/10 x4", lambda s: zipf_round(s, 4, args.seconds)),
            ]
            for name, scenario in scenarios:
                best = {plain.name: 0.0, near.name: 0.0}
                hit_ratio = {plain.name: 0.0, near.name: 0.0}
                l1_ratio = 0.0
                for _ in range(args.repeat):
                    for subject in (plain, near):
                        ops, ratio = scenario(subject)
                        if ops > best[subject.name]:
                            best[subject.name] = ops
                            hit_ratio[subject.name] = ratio or 0.0
                            if subject is near:
                                l1_ratio = near.l1_hit_ratio
                note = ""
                if name.startswith("zipf"):
                    note = (
                        f"L1 hit ratio {l1_ratio:.1%}; cache-aside hit ratio "
                        f"{hit_ratio[near.name]:.1%} (redis-py {hit_ratio[plain.name]:.1%})"
                    )
                rows.append((name, best[plain.name], best[near.name], note))
                print(f"{name}: redis-py {best[plain.name]:,.0f}/s, near {best[near.name]:,.0f}/s")
            info = near.cache.info()
        finally:
            plain.close()
            near.close()
        l1_hit_ratio = info["near_cache_hits"] / max(
            1, info["near_cache_hits"] + info["near_cache_misses"]
        )
        delays = {
            "busy reader": invalidation_delays(port, args.samples, idle=False),
            "idle reader": invalidation_delays(port, args.samples, idle=True),
        }
    took = time.monotonic() - began
    lines = [
        "# Near cache vs plain redis-py (core API, payload bytes)",
        "",
        f"- {datetime.datetime.now().isoformat(timespec='seconds')}; Python "
        f"{platform.python_version()}, redis-py {redis.__version__}, "
        f"{platform.machine()}, {os.cpu_count()} CPUs; private redis-server on loopback; "
        f"`python benchmarks/bench_near.py{' --quick' if args.quick else ''}`; best of "
        f"{args.repeat} alternating rounds x {args.seconds} s; run took {took:.0f} s",
        "- L1: 16 MiB, allkeys-lru, staleness bound 1 s, BCAST tracking on the key prefix",
        "",
        "| row | redis-py ops/s | near cache ops/s | near / redis-py | notes |",
        "|---|---:|---:|---:|---|",
    ]
    for name, peer, ours, note in rows:
        lines.append(f"| {name} | {peer:,.0f} | {ours:,.0f} | {ours / peer:.1f}x | {note} |")
    lines += [
        "",
        "Every write (10 % of the Zipf mix, on the same Zipf-hot keys) costs a Redis round trip "
        "and invalidates the key in every L1, so the next read of it misses the L1: the ratio "
        "is bounded by about 1 / (write share + L1 miss share).",
        "",
        f"L1 hit ratio over the whole run (L1 hits / L1 lookups): {l1_hit_ratio:.1%}; "
        f"invalidations received {info['near_cache_invalidations']:,}, fills refused because "
        f"an invalidation raced them {info['near_cache_fills_refused']:,}.",
        "",
        "## Invalidation delay (write acknowledged -> other process reads the new value)",
        "",
        "| reader | samples | p50 ms | p99 ms | max ms |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, values in delays.items():
        lines.append(
            f"| {name} | {len(values)} | {statistics.median(values) * 1e3:.3f} | "
            f"{percentile(values, 0.99) * 1e3:.3f} | {max(values) * 1e3:.3f} |"
        )
    lines.append("")
    report = "\n".join(lines)
    print(report)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
