"""The Redis backend beside Django's own ``RedisCache`` and ``django-redis``, same server.

One private ``redis-server`` (``benchmarks/redisproc.py``: a free loopback port, no
persistence) serves every subject, each under its own ``KEY_PREFIX``; all are driven through
``django.core.cache.caches[alias]`` as an application would. In every scenario the subjects take
turns batch by batch (``benchmarks/turns.py``), so ratios are measured in one run on the same
machine speed.

``get hit``           ``get`` of present keys (100-byte values)
``set``               ``set`` of present keys
``get_many 10``       ``get_many`` of 10 present keys (ops/s counts calls)
``set_many 10``       ``set_many`` of 10 keys (ops/s counts calls)
``zipf 90/10 xN``     Zipf (s=1.0) keys over 10,000, 90% reads (a miss is followed by a set),
                      10% writes; N threads, each with its own backend object (as Django does);
                      ``benchmarks/workloads.py``'s loop, after an untimed warm-up of 10,000
                      operations per thread
``zipf 99/1 xN``      the same with 1% writes: the read-heavy mix a near cache is for
``aget x100`` /       100 concurrent tasks on one event loop, each awaiting 5 calls; Django's
``aset x100``         ``RedisCache`` and ``django-redis`` go through ``sync_to_async``

Run: ``python benchmarks/bench_redis.py`` (``--seconds`` per subject per scenario, default 0.5;
``--output``). :data:`CONFIGURATIONS` is the list of subjects, among them this backend with the
near cache (``NEAR_CACHE``: an in-process L1 kept coherent by ``CLIENT TRACKING``); its L1 hit
ratio (``near_cache_hits`` / L1 lookups, from ``info()``) is reported per scenario. Targets
(issue 12): without L1 >= 1.0x Django's ``RedisCache`` on every row; with L1 >= 10x on the
read-heavy Zipf mix (``zipf 99/1``); async >= 3x.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path[:0] = [
    str(Path(__file__).resolve().parents[1]),
    str(Path(__file__).resolve().parents[1] / "integrations"),
]

from benchmarks.redisproc import redis_server  # noqa: E402
from benchmarks.turns import Batch, take_turns  # noqa: E402
from benchmarks.workloads import Mix, mixes, read_hit_ratio  # noqa: E402

RESULTS = Path(__file__).with_name("results") / "redis.md"

#: (label, CACHES entry without LOCATION). Every subject whose label starts with "cachepolicy"
#: gets a ratio column against :data:`BASELINE`.
CONFIGURATIONS: list[tuple[str, dict[str, Any]]] = [
    (
        "cachepolicy RedisPolicyCache (no L1)",
        {"BACKEND": "django_cachepolicy.RedisPolicyCache", "OPTIONS": {"EVENTS": ()}},
    ),
    (
        "cachepolicy RedisPolicyCache + L1",
        {
            "BACKEND": "django_cachepolicy.RedisPolicyCache",
            # The default L1 budget (16 MiB holds the 10,000-key universe) and staleness bound.
            "OPTIONS": {"EVENTS": (), "NEAR_CACHE": {"MAXMEMORY": "16mb"}},
        },
    ),
    ("Django RedisCache", {"BACKEND": "django.core.cache.backends.redis.RedisCache"}),
    (
        "django-redis",
        {
            "BACKEND": "django_redis.cache.RedisCache",
            "OPTIONS": {"CLIENT_CLASS": "django_redis.client.DefaultClient"},
        },
    ),
]
BASELINE = "Django RedisCache"

_VALUE = b"v" * 100
_KEYS = [f"k{i}" for i in range(1000)]
_UNIVERSE = 10_000


def configure(url: str) -> dict[str, str]:
    """Django settings with one alias per configuration; returns label -> alias."""
    import django
    from django.conf import settings

    caches = {}
    aliases = {}
    for number, (label, entry) in enumerate(CONFIGURATIONS):
        alias = f"subject{number}"
        caches[alias] = {**entry, "LOCATION": url, "KEY_PREFIX": alias, "TIMEOUT": 300}
        aliases[label] = alias
    caches["default"] = caches["subject0"]
    settings.configure(
        CACHES=caches, INSTALLED_APPS=["django_cachepolicy"], USE_TZ=True, SECRET_KEY="bench"
    )
    django.setup()
    return aliases


def cache_for(alias: str) -> Any:
    from django.core.cache import caches

    return caches[alias]


#: The near-cache counters reported for the Zipf rows (``near_cache_<name>`` in ``info()``):
#: what the L1 did with its misses, which is what bounds its hit ratio.
L1_COUNTERS = ("fills", "fills_refused", "own_echoes", "invalidations", "stale_flushes")


def l1_counts(alias: str) -> dict[str, int] | None:
    """The L1 counters so far (``hits``, ``lookups`` and :data:`L1_COUNTERS`) of the alias's
    near caches (sync and this thread's async loops are separate L1s: they are summed), or
    None without a near cache."""
    from cachepolicy.redis import two_tier

    client = getattr(cache_for(alias), "client", None)
    if not isinstance(client, two_tier.NearRedisClient):
        return None
    counts = dict.fromkeys(("hits", "lookups", *L1_COUNTERS), 0)
    for core in two_tier._LOCAL.get(client._key, ()):
        report = core.info()
        counts["hits"] += report["near_cache_hits"]
        counts["lookups"] += report["near_cache_hits"] + report["near_cache_misses"]
        for name in L1_COUNTERS:
            counts[name] += report[f"near_cache_{name}"]
    return counts


def wait_for_l1(alias: str) -> None:
    """Let a near cache's tracker connect before timing (reads bypass the L1 until then)."""
    from cachepolicy.redis import two_tier

    cache = cache_for(alias)
    client = getattr(cache, "client", None)  # Django's and django-redis's have other shapes
    if isinstance(client, two_tier.NearRedisClient) and not client.near.wait_fresh(10.0):
        raise RuntimeError(f"{alias}: the near cache's tracker did not connect")


def timed(work: Callable[[], int]) -> Callable[[], tuple[int, float]]:
    def batch() -> tuple[int, float]:
        start = time.perf_counter()
        ops = work()
        return ops, time.perf_counter() - start

    return batch


def simple(alias: str, scenario: str) -> Callable[[], tuple[int, float]]:
    cache = cache_for(alias)
    cache.set_many(dict.fromkeys(_KEYS, _VALUE))
    groups = [_KEYS[i : i + 10] for i in range(0, len(_KEYS), 10)]
    if scenario.startswith("get"):
        # One untimed pass for every subject: the timed reads are then L1 hits for the L1
        # subject ("get hit" is a steady state, not the first read after a write).
        for key in _KEYS[:300]:
            cache.get(key)

    def work() -> int:
        if scenario == "get hit":
            for key in _KEYS[:300]:
                cache.get(key)
            return 300
        if scenario == "set":
            for key in _KEYS[:300]:
                cache.set(key, _VALUE)
            return 300
        if scenario == "get_many 10":
            for group in groups[:30]:
                cache.get_many(group)
            return 30
        for group in groups[:30]:
            cache.set_many(dict.fromkeys(group, _VALUE))
        return 30

    return timed(work)


#: The Zipf rows: (name, share of writes). 90/10 is the usual web mix (a write every 10 ops
#: bounds an L1's speed-up near 10x even at a 100 % L1 hit ratio); 99/1 is the read-heavy mix
#: a near cache is for.
ZIPF_MIXES = (("zipf 90/10", 0.10), ("zipf 99/1", 0.01))
#: Operations of each thread's stream run untimed before a Zipf row (every subject, the same
#: keys), so the row measures the steady state, not the cold start of a 10,000-key universe.
ZIPF_WARM = 10_000


def zipf(alias: str, streams: list[Mix], pool: ThreadPoolExecutor) -> Batch:
    """Cache-aside Zipf mix on long-lived threads (a WSGI server's pool), one stream each:
    each thread keeps its backend object, as Django gives every thread its own."""
    per_batch = 200

    def worker(t: int) -> None:
        cache = cache_for(alias)
        streams[t].run((cache.get, cache.set), per_batch)

    def warm(t: int) -> None:
        cache = cache_for(alias)
        streams[t].warm((cache.get, cache.set), ZIPF_WARM)

    for future in [pool.submit(warm, t) for t in range(len(streams))]:
        future.result()
    wait_for_l1(alias)  # a write-heavy warm-up may have outrun the tracker's heartbeat

    def batch() -> tuple[int, float]:
        start = time.perf_counter()
        for future in [pool.submit(worker, t) for t in range(len(streams))]:
            future.result()
        return len(streams) * per_batch, time.perf_counter() - start

    return batch


def concurrent(
    alias: str, name: str, loop: asyncio.AbstractEventLoop
) -> Callable[[], tuple[int, float]]:
    cache = cache_for(alias)
    cache.set_many(dict.fromkeys(_KEYS, _VALUE))
    from cachepolicy.redis.two_tier import AsyncNearRedisClient

    if isinstance(getattr(cache, "async_client", None), AsyncNearRedisClient):

        async def tracking() -> None:  # this loop's near cache: let its tracker connect
            if not await cache.async_client.near.wait_fresh(10.0):
                raise RuntimeError(f"{alias}: the async near cache's tracker did not connect")

        loop.run_until_complete(tracking())

    async def warm() -> None:  # one untimed pass, as for the sync reads
        for key in _KEYS[:500]:
            await cache.aget(key)

    if name == "aget":
        loop.run_until_complete(warm())

    async def task(n: int) -> None:
        for j in range(5):
            key = _KEYS[(n * 5 + j) % len(_KEYS)]
            if name == "aget":
                await cache.aget(key)
            else:
                await cache.aset(key, _VALUE)

    async def gather() -> None:
        await asyncio.gather(*(task(n) for n in range(100)))

    def work() -> int:
        loop.run_until_complete(gather())
        return 500

    return timed(work)


def run(seconds: float) -> tuple[list[str], dict[str, dict[str, float]], dict[str, float]]:
    with redis_server() as server:
        port = server.connection_pool.connection_kwargs["port"]
        aliases = configure(f"redis://127.0.0.1:{port}/0")
        labels = list(aliases)
        for alias in aliases.values():
            wait_for_l1(alias)
        rows: dict[str, dict[str, float]] = {}
        l1_ratio: dict[str, float] = {}
        l1_detail: dict[str, dict[str, int]] = {}

        def measure(scenario: str, batches: dict[str, Callable[[], tuple[int, float]]]) -> None:
            before = {label: l1_counts(aliases[label]) for label in labels}
            rows[scenario] = take_turns(batches, seconds)
            for label in labels:
                after, start = l1_counts(aliases[label]), before[label]
                if after is not None and start is not None:
                    delta = {name: after[name] - start[name] for name in after}
                    if delta["lookups"]:  # set / set_many look nothing up
                        l1_ratio[scenario] = delta["hits"] / delta["lookups"]
                    if scenario.startswith("zipf"):
                        l1_detail[scenario] = delta

        for scenario in ("get hit", "set", "get_many 10", "set_many 10"):
            measure(scenario, {label: simple(aliases[label], scenario) for label in labels})
        hit_ratio: dict[str, float] = {}
        for name, write_share in ZIPF_MIXES:
            for threads in (1, 4):
                # Every subject replays the same streams (the same seeds), from the start.
                streams = {
                    label: mixes(
                        threads,
                        length=40_000,
                        universe=_UNIVERSE,
                        write_share=write_share,
                        value=_VALUE,
                        key_seed=100,
                        write_seed=200,
                    )
                    for label in labels
                }
                pools = {label: ThreadPoolExecutor(threads) for label in labels}
                measure(
                    f"{name} x{threads}",
                    {label: zipf(aliases[label], streams[label], pools[label]) for label in labels},
                )
                for pool in pools.values():
                    pool.shutdown()
                for label in labels:
                    hit_ratio[f"{label} {name} x{threads}"] = read_hit_ratio(streams[label])
        loop = asyncio.new_event_loop()
        try:
            for name in ("aget", "aset"):
                measure(
                    f"{name} x100 tasks",
                    {label: concurrent(aliases[label], name, loop) for label in labels},
                )
            # The async near caches' trackers are tasks of this loop: stop them with it.
            for alias in aliases.values():
                client = getattr(cache_for(alias), "async_client", None)
                if client is not None:
                    loop.run_until_complete(client.aclose())
        finally:
            loop.close()
        from cachepolicy.redis.two_tier import close_near_caches

        close_near_caches()
        server.flushdb()
    return labels, rows, hit_ratio, l1_ratio, l1_detail


def table(labels: list[str], rows: dict[str, dict[str, float]], l1_ratio: dict[str, float]) -> str:
    ours = [label for label in labels if label.startswith("cachepolicy")]
    head = (
        "| scenario | "
        + " | ".join(labels)
        + " | "
        + " | ".join(f"{label.removeprefix('cachepolicy RedisPolicyCache ')} / {BASELINE}"
                     for label in ours)
        + " | L1 hit ratio |"
    )  # fmt: skip
    lines = [head, "|---|" + "---:|" * (len(labels) + len(ours) + 1)]
    for scenario, result in rows.items():
        cells = " | ".join(f"{result[label]:,.0f}" for label in labels)
        ratios = " | ".join(f"{result[label] / result[BASELINE]:.2f}x" for label in ours)
        hit = f"{l1_ratio[scenario]:.1%}" if scenario in l1_ratio else "-"
        lines.append(f"| {scenario} | {cells} | {ratios} | {hit} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=0.5)
    parser.add_argument("--output", type=Path, default=RESULTS)
    arguments = parser.parse_args(argv)
    import platform

    import django
    import redis

    labels, rows, hit_ratio, l1_ratio, l1_detail = run(arguments.seconds)
    report = [
        "# Redis backends through the Django cache API",
        "",
        f"`python benchmarks/bench_redis.py --seconds {arguments.seconds}`: ops/s (calls/s for "
        "the `*_many` rows), subjects taking turns batch by batch against one private "
        f"redis-server on loopback. Python {platform.python_version()}, Django "
        f"{django.get_version()}, redis-py {redis.__version__} (hiredis "
        f"{'on' if redis.utils.HIREDIS_AVAILABLE else 'off'}); a shared 2-core VM, so absolute "
        "numbers are noisy, the ratios in one run less so.",
        "",
        table(labels, rows, l1_ratio),
        "",
        "L1 hit ratio: the share of the L1 subject's lookups its near cache answered during "
        "the timed batches, after the Zipf rows' untimed warm-up (`-`: the scenario reads "
        "nothing).",
        "",
        "Zipf cache-aside hit ratios (all subjects see the same key streams): "
        + ", ".join(f"{name} {ratio:.3f}" for name, ratio in hit_ratio.items()),
        "",
        "The L1 subject's near-cache counters in the timed part of each Zipf row (what it did "
        "with its misses; `own_echoes`: pushes of its own SETs that spared the copy read "
        "after them): "
        + "; ".join(
            f"{scenario}: " + ", ".join(f"{name} {counts[name]}" for name in L1_COUNTERS)
            for scenario, counts in l1_detail.items()
        ),
        "",
    ]
    text = "\n".join(report)
    arguments.output.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
