"""The herd: many threads reading one hot key that expires, through Django's ``get_or_set``.

A computation takes ``--compute-ms`` (50 ms: a slow query, simulated by sleeping), ``--threads``
(32) request threads read one key whose TIMEOUT is ``--ttl`` (1 s) through
``cache.get_or_set(key, compute)`` with ``--think-ms`` (1 ms) between requests, for
``--seconds`` (30) per configuration. Each thread uses its own backend object, as Django gives
every thread. Reported per configuration:

``computations``       how many times ``compute`` ran
``expiries``           how many values were stored in turn (each computation returns a new
                       token; the number of distinct tokens readers received)
``per expiry``         computations / expiries: 1.0 is one computation per expiry; without
                       protection up to the number of threads
``p50`` / ``p99`` / ``p99.9`` / ``max``   latency of ``get_or_set`` calls, milliseconds (hits
                       dominate: a herd of 32 in 100,000 calls is 0.03 %, so see ``stalled``)
``stalled``            calls that took at least half the computation time: the callers that
                       computed or waited for a computation
``calls``              ``get_or_set`` calls made

Configurations: Django's ``LocMemCache`` (``BaseCache.get_or_set``: get, compute, add, get),
and ``PolicyCache`` with single flight only (``XFETCH_BETA=None``), with single flight and
XFetch early refresh (``XFETCH_BETA=1.0``, the default), and with single flight and
serve-stale (``STALE_GRACE``, XFetch off). With ``--redis URL``, also Django's ``RedisCache``
and ``RedisPolicyCache`` (single flight with a lock in Redis) on that server, under a key
prefix of their own that is deleted afterwards (nothing else on the server is touched).
Targets (issue 22): at most 1.05 computations per expiry with protection, p99 below the
computation time with XFetch or serve-stale.

With ``--tasks N`` each configuration is run a second time with N asyncio tasks in one event
loop calling ``aget_or_set`` with an ``async def`` computation (Django's own backends store a
coroutine there, so for them the bench awaits it between ``aget`` and ``aadd``, as
``BaseCache.aget_or_set`` would for a value). The Redis rows add ``RedisPolicyCache`` with
XFetch and with serve-stale.

Run: ``flock /tmp/bench.lock python benchmarks/bench_herd.py --seconds 5`` (``--tasks 32``,
``--json``, ``--output FILE``). The configurations run one after the other, not interleaved:
the sleeping computation dominates, so machine speed matters little.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import django
from django.conf import settings

if __package__ in (None, ""):  # run as a script: make ``benchmarks`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

#: alias -> (what the row is called, the CACHES entry).
CONFIGURATIONS: dict[str, tuple[str, dict[str, Any]]] = {
    "locmem": (
        "Django LocMemCache (no protection)",
        {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "herd-locmem"},
    ),
    "single_flight": (
        "PolicyCache single flight",
        {
            "BACKEND": "django_cachepolicy.PolicyCache",
            "LOCATION": "herd-single-flight",
            "OPTIONS": {"XFETCH_BETA": None},
        },
    ),
    "xfetch": (
        "PolicyCache single flight + XFetch (beta 1)",
        {
            "BACKEND": "django_cachepolicy.PolicyCache",
            "LOCATION": "herd-xfetch",
            "OPTIONS": {"XFETCH_BETA": 1.0},
        },
    ),
    "stale": (
        "PolicyCache single flight + serve-stale",
        {
            "BACKEND": "django_cachepolicy.PolicyCache",
            "LOCATION": "herd-stale",
            "OPTIONS": {"XFETCH_BETA": None, "STALE_GRACE": 5},
        },
    ),
}


@dataclass
class Row:
    configuration: str
    computations: int
    expiries: int
    per_expiry: float
    p50_ms: float
    p99_ms: float
    p999_ms: float
    max_ms: float
    stalled: int
    calls: int


#: With ``--redis URL``: alias -> (row name, CACHES entry without LOCATION and KEY_PREFIX).
REDIS_CONFIGURATIONS: dict[str, tuple[str, dict[str, Any]]] = {
    "redis": (
        "Django RedisCache (no protection)",
        {"BACKEND": "django.core.cache.backends.redis.RedisCache"},
    ),
    "redis_policy": (
        "RedisPolicyCache single flight (lock in Redis)",
        {
            "BACKEND": "django_cachepolicy.RedisPolicyCache",
            "OPTIONS": {"EVENTS": (), "XFETCH_BETA": None},
        },
    ),
    "redis_xfetch": (
        "RedisPolicyCache single flight + XFetch (beta 1)",
        {
            "BACKEND": "django_cachepolicy.RedisPolicyCache",
            "OPTIONS": {"EVENTS": (), "XFETCH_BETA": 1.0},
        },
    ),
    "redis_stale": (
        "RedisPolicyCache single flight + serve-stale",
        {
            "BACKEND": "django_cachepolicy.RedisPolicyCache",
            "OPTIONS": {"EVENTS": (), "XFETCH_BETA": None, "STALE_GRACE": 5},
        },
    ),
}
#: Backends whose ``aget_or_set`` awaits an ``async def`` computation (Django's own stores
#: the coroutine: for them the bench awaits it in BaseCache's steps, aget / aadd / aget).
_AWAITING = ("django_cachepolicy.PolicyCache", "django_cachepolicy.RedisPolicyCache")


def configure(redis_url: str | None, prefix: str) -> None:
    caches = {"default": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}}
    caches.update({alias: entry for alias, (_, entry) in CONFIGURATIONS.items()})
    if redis_url:
        for alias, (name, entry) in REDIS_CONFIGURATIONS.items():
            CONFIGURATIONS[alias] = (name, entry)
            caches[alias] = {**entry, "LOCATION": redis_url, "KEY_PREFIX": f"{prefix}-{alias}"}
    settings.configure(SECRET_KEY="benchmark", INSTALLED_APPS=["django_cachepolicy"], CACHES=caches)
    django.setup()


def percentile(sorted_values: Sequence[float], share: float) -> float:
    if not sorted_values:
        return 0.0
    return sorted_values[min(len(sorted_values) - 1, int(share * len(sorted_values)))]


def run(
    alias: str, threads: int, seconds: float, compute_s: float, think_s: float, ttl: float
) -> Row:
    from django.core.cache import caches

    tokens = itertools.count(1)
    computed: list[int] = []
    lock = threading.Lock()

    def compute() -> int:
        time.sleep(compute_s)  # the slow query
        with lock:
            token = next(tokens)
            computed.append(token)
        return token

    latencies: list[list[float]] = [[] for _ in range(threads)]
    seen: list[set[int]] = [set() for _ in range(threads)]
    start = threading.Barrier(threads + 1)
    stop = threading.Event()

    def reader(i: int) -> None:
        cache = caches[alias]  # this thread's backend object
        get_or_set: Callable[..., Any] = cache.get_or_set
        mine, tokens_seen = latencies[i], seen[i]
        start.wait()
        while not stop.is_set():
            began = time.perf_counter()
            tokens_seen.add(get_or_set("hot-threads", compute, ttl))  # TIMEOUT would int() it
            mine.append(time.perf_counter() - began)
            stop.wait(think_s)

    workers = [threading.Thread(target=reader, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    start.wait()
    stop.wait(seconds)
    stop.set()
    for worker in workers:
        worker.join()
    all_latencies = list(itertools.chain.from_iterable(latencies))
    return _row(CONFIGURATIONS[alias][0], computed, seen, all_latencies, compute_s)


def run_tasks(
    alias: str, tasks: int, seconds: float, compute_s: float, think_s: float, ttl: float
) -> Row:
    """:func:`run` with ``tasks`` asyncio tasks in one event loop calling ``aget_or_set``
    with an ``async def`` computation (``asyncio.sleep``)."""
    import asyncio

    from django.core.cache import caches

    tokens = itertools.count(1)
    computed: list[int] = []
    latencies: list[float] = []
    seen: set[int] = set()
    missing = object()

    async def compute() -> int:
        await asyncio.sleep(compute_s)  # the slow query
        token = next(tokens)
        computed.append(token)
        return token

    async def django_aget_or_set(cache: Any, key: str) -> Any:
        # BaseCache.aget_or_set's steps, with the computation awaited.
        value = await cache.aget(key, missing)
        if value is missing:
            value = await compute()
            await cache.aadd(key, value, ttl)
            return await cache.aget(key, value)
        return value

    async def reader(stop: asyncio.Event) -> None:
        cache = caches[alias]
        awaiting = settings.CACHES[alias]["BACKEND"] in _AWAITING
        while not stop.is_set():
            began = time.perf_counter()
            if awaiting:
                token = await cache.aget_or_set("hot-tasks", compute, ttl)
            else:
                token = await django_aget_or_set(cache, "hot-tasks")
            latencies.append(time.perf_counter() - began)
            seen.add(token)
            await asyncio.sleep(think_s)

    async def herd() -> None:
        stop = asyncio.Event()
        readers = [asyncio.create_task(reader(stop)) for _ in range(tasks)]
        await asyncio.sleep(seconds)
        stop.set()
        await asyncio.gather(*readers)

    asyncio.run(herd())
    return _row(
        f"{CONFIGURATIONS[alias][0]}, {tasks} tasks", computed, [seen], latencies, compute_s
    )


def _row(
    name: str, computed: list[int], seen: list[set[int]], latencies: list[float], compute_s: float
) -> Row:
    ordered = sorted(latencies)
    expiries = len(set().union(*seen))
    return Row(
        configuration=name,
        computations=len(computed),
        expiries=expiries,
        per_expiry=round(len(computed) / max(expiries, 1), 2),
        p50_ms=round(percentile(ordered, 0.50) * 1000, 2),
        p99_ms=round(percentile(ordered, 0.99) * 1000, 2),
        p999_ms=round(percentile(ordered, 0.999) * 1000, 2),
        max_ms=round(ordered[-1] * 1000 if ordered else 0.0, 2),
        stalled=sum(1 for latency in ordered if latency >= compute_s / 2),
        calls=len(ordered),
    )


def _delete_prefixed(url: str, prefix: str) -> None:
    """Remove this run's keys (and only them) from the Redis server."""
    import redis

    client = redis.Redis.from_url(url)
    keys = list(client.scan_iter(match=f"{prefix}*"))
    if keys:
        client.delete(*keys)


def table(rows: list[Row], args: argparse.Namespace) -> str:
    lines = [
        f"Herd: {args.threads} threads, computation {args.compute_ms:g} ms, TTL {args.ttl:g} s, "
        f"think {args.think_ms:g} ms, {args.seconds:g} s per configuration "
        f"(Python {platform.python_version()}, Django {django.get_version()}).",
        "",
        "| configuration | computations | expiries | per expiry | p50 ms | p99 ms | p99.9 ms "
        "| max ms | stalled | calls |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r.configuration} | {r.computations} | {r.expiries} | {r.per_expiry} | "
        f"{r.p50_ms} | {r.p99_ms} | {r.p999_ms} | {r.max_ms} | {r.stalled} | {r.calls} |"
        for r in rows
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="A herd on one expiring key: get_or_set.")
    parser.add_argument("--threads", type=int, default=32)
    parser.add_argument(
        "--tasks", type=int, default=0, help="also run each configuration with N asyncio tasks"
    )
    parser.add_argument("--compute-ms", type=float, default=50.0)
    parser.add_argument("--ttl", type=float, default=1.0, help="TIMEOUT of the hot key, seconds")
    parser.add_argument("--think-ms", type=float, default=1.0, help="pause between requests")
    parser.add_argument("--seconds", type=float, default=30.0, help="per configuration")
    parser.add_argument(
        "--only", nargs="*", choices=[*CONFIGURATIONS, *REDIS_CONFIGURATIONS], default=None
    )
    parser.add_argument("--redis", metavar="URL", help="also Django RedisCache vs RedisPolicyCache")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--output", type=Path, help="also write the table to this file")
    args = parser.parse_args(argv)
    prefix = f"bench-herd-{os.getpid()}"
    configure(args.redis, prefix)
    timing = (args.seconds, args.compute_ms / 1000, args.think_ms / 1000, args.ttl)
    try:
        rows = []
        for alias in args.only or CONFIGURATIONS:
            rows.append(run(alias, args.threads, *timing))
            if args.tasks:
                rows.append(run_tasks(alias, args.tasks, *timing))
    finally:
        if args.redis:
            _delete_prefixed(args.redis, prefix)
    report = json.dumps([asdict(r) for r in rows], indent=2) if args.json else table(rows, args)
    print(report)
    if args.output:
        args.output.write_text(report, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
