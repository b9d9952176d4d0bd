"""Throughput of the core API beside a plain dict + pickle loop and the usual peers, in one run.

Operations (each a tight ``for key in keys: op(key)`` loop, the same shape for everyone):

* ``get-hit``: read a present key (10,000 keys by default), unpickling the value;
* ``get-miss``: read an absent key;
* ``set``: overwrite a present key (no eviction), pickling the value;
* ``set-evict``: insert a new key into a full cache, so every write evicts one entry.

Subjects: the **floor** (``dict`` + ``pickle``: ``loads(d[k])``, ``d[k] = dumps(v)``, FIFO
``del d[next(iter(d))]`` for set-evict: no cache can do less); **cachepolicy** ``Cache`` with
``allkeys-lru`` sampled, ``allkeys-lru`` exact and ``allkeys-lfu`` exact; **peers**
``cachetools`` ``LRUCache``/``LFUCache`` (with pickle, for a like-for-like copy semantics, and
without), ``diskcache.Cache`` (temp dir), Django ``LocMemCache``, cachelib ``SimpleCache``
(Flask-Caching's ``SimpleCache``), and a private ``redis-server`` (maxmemory + allkeys-lru)
through redis-py, one round trip per operation, pickling like Django's Redis backend.

Every figure is the median of ``--reps`` repetitions; repetitions are interleaved (each one
visits every subject and operation in a fresh shuffled order), so a noisy minute hurts every
subject alike instead of one. A second part runs ``get-hit`` from 1 and from 4 threads on one
shared cache: the total ops/s of 4 threads divided by 1 thread shows whether reads serialize.

Results go to stdout and ``benchmarks/results/core.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import gc
import os
import pickle
import platform
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make ``benchmarks`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.redisproc import redis_server
from cachepolicy import Cache

__all__ = ["OPS", "Subject", "main", "subjects"]

RESULTS = Path(__file__).resolve().parent / "results"
OPS = ("get-hit", "get-miss", "set", "set-evict")
PROTOCOL = pickle.HIGHEST_PROTOCOL
dumps, loads = pickle.dumps, pickle.loads

#: A typical cached object: a small record with a text body (about 300 bytes pickled).
VALUE: dict[str, Any] = {
    "id": 12345,
    "title": "A cached page fragment",
    "tags": ["news", "sport", "local"],
    "body": "x" * 200,
}

Runner = Callable[[list[str]], None]
Closers = list[Callable[[], None]]
Setup = Callable[[int, Closers], dict[str, Runner]]


@dataclass(frozen=True)
class Subject:
    """One implementation under test: ``setup(size, closers)`` returns a runner per operation
    (a function looping over a list of keys) and appends clean-up callbacks to ``closers``."""

    name: str
    group: str  # "floor" | "ours" | "peer"
    setup: Setup
    note: str = ""


def _prefill(set_one: Callable[[str], Any], keys: list[str]) -> None:
    for key in keys:
        set_one(key)


# ---------------------------------------------------------------------------------- subjects


def _get_set_runners(cache: Any, full: Any) -> dict[str, Runner]:
    """The runners for a cache with ``get(key)`` / ``set(key, value)`` that copies values
    itself: reads and overwrites on ``cache``, evicting writes on ``full`` (already full)."""

    def get(batch: list[str]) -> None:
        read = cache.get
        for key in batch:
            read(key)

    def put(batch: list[str]) -> None:
        write = cache.set
        for key in batch:
            write(key, VALUE)

    def put_evict(batch: list[str]) -> None:
        write = full.set
        for key in batch:
            write(key, VALUE)

    return {"get-hit": get, "get-miss": get, "set": put, "set-evict": put_evict}


def _floor(size: int, closers: Closers) -> dict[str, Runner]:
    data: dict[str, bytes] = {}
    evicting: dict[str, bytes] = {}
    for i in range(size):
        data[f"key:{i}"] = evicting[f"key:{i}"] = dumps(VALUE, PROTOCOL)

    def get(keys: list[str]) -> None:
        lookup = data.get
        for key in keys:
            payload = lookup(key)
            if payload is not None:
                loads(payload)

    def put(keys: list[str]) -> None:
        for key in keys:
            data[key] = dumps(VALUE, PROTOCOL)

    def put_evict(keys: list[str]) -> None:
        for key in keys:
            evicting[key] = dumps(VALUE, PROTOCOL)
            del evicting[next(iter(evicting))]

    return {"get-hit": get, "get-miss": get, "set": put, "set-evict": put_evict}


def _cachepolicy(policy: str, mode: str) -> Setup:
    def setup(size: int, closers: Closers) -> dict[str, Runner]:
        keys = [f"key:{i}" for i in range(size)]
        cache = Cache(maxmemory="1gb", maxmemory_policy=policy, eviction_mode=mode, seed=1)
        _prefill(lambda k: cache.set(k, VALUE), keys)
        # A second cache whose maxmemory is exactly what `size` entries take: full, so every
        # insert of a new key evicts one entry.
        full = Cache(maxmemory="1gb", maxmemory_policy=policy, eviction_mode=mode, seed=1)
        _prefill(lambda k: full.set(k, VALUE), keys)
        used = full.info()["used_memory"]
        full = Cache(maxmemory=used, maxmemory_policy=policy, eviction_mode=mode, seed=1)
        _prefill(lambda k: full.set(k, VALUE), keys)

        return _get_set_runners(cache, full)

    return setup


def _cachetools(kind: str, pickled: bool) -> Setup:
    def setup(size: int, closers: Closers) -> dict[str, Runner]:
        import cachetools

        cls = cachetools.LRUCache if kind == "lru" else cachetools.LFUCache
        big: Any = cls(maxsize=4 * size)
        full: Any = cls(maxsize=size)
        value: Any = dumps(VALUE, PROTOCOL) if pickled else VALUE
        for i in range(size):
            big[f"key:{i}"] = full[f"key:{i}"] = value

        if pickled:

            def get(batch: list[str]) -> None:
                read = big.get
                for key in batch:
                    payload = read(key)
                    if payload is not None:
                        loads(payload)

            def put(batch: list[str]) -> None:
                for key in batch:
                    big[key] = dumps(VALUE, PROTOCOL)

            def put_evict(batch: list[str]) -> None:
                for key in batch:
                    full[key] = dumps(VALUE, PROTOCOL)

        else:

            def get(batch: list[str]) -> None:
                read = big.get
                for key in batch:
                    read(key)

            def put(batch: list[str]) -> None:
                for key in batch:
                    big[key] = VALUE

            def put_evict(batch: list[str]) -> None:
                for key in batch:
                    full[key] = VALUE

        return {"get-hit": get, "get-miss": get, "set": put, "set-evict": put_evict}

    return setup


def _locked_cachetools(size: int, closers: Closers) -> dict[str, Runner]:
    """cachetools is not thread-safe: its docs say to guard it with a lock (as @cached does)."""
    import cachetools

    cache: Any = cachetools.LRUCache(maxsize=4 * size)
    lock = threading.Lock()
    for i in range(size):
        cache[f"key:{i}"] = dumps(VALUE, PROTOCOL)

    def get(batch: list[str]) -> None:
        for key in batch:
            with lock:
                payload = cache.get(key)
            if payload is not None:
                loads(payload)

    return {"get-hit": get}


def _diskcache(size: int, closers: Closers) -> dict[str, Runner]:
    import diskcache  # type: ignore[import-untyped]

    directory = tempfile.mkdtemp(prefix="bench-diskcache-")
    closers.append(lambda: shutil.rmtree(directory, ignore_errors=True))
    cache = diskcache.Cache(os.path.join(directory, "main"))
    full = diskcache.Cache(os.path.join(directory, "full"))
    for i in range(size):
        cache.set(f"key:{i}", VALUE)
        full.set(f"key:{i}", VALUE)
    # Full: the size limit is the volume it holds now, so every write culls (up to
    # cull_limit=10 rows per write, diskcache's default).
    full.reset("size_limit", full.volume())
    closers += [cache.close, full.close]

    return _get_set_runners(cache, full)


def _django_locmem(size: int, closers: Closers) -> dict[str, Runner]:
    from django.conf import settings

    if not settings.configured:
        settings.configure()
    from django.core.cache.backends.locmem import LocMemCache

    cache = LocMemCache(f"bench-{random.random()}", {"TIMEOUT": None, "MAX_ENTRIES": 4 * size})
    # CULL_FREQUENCY=size: when full, cull len // size = 1 entry, i.e. one eviction per write
    # like everyone else here (Django's default of 3 drops a third of the cache at once).
    full = LocMemCache(
        f"bench-{random.random()}",
        {"TIMEOUT": None, "OPTIONS": {"MAX_ENTRIES": size, "CULL_FREQUENCY": size}},
    )
    for i in range(size):
        cache.set(f"key:{i}", VALUE)
        full.set(f"key:{i}", VALUE)

    return _get_set_runners(cache, full)


def _cachelib_simple(size: int, closers: Closers) -> dict[str, Runner]:
    from cachelib import SimpleCache

    # The library's default timeout (300 s): with 0 ("never expire") its prune treats every
    # item as expired and empties the cache when the threshold is passed.
    cache = SimpleCache(threshold=4 * size)
    full = SimpleCache(threshold=size)
    for i in range(size):
        cache.set(f"key:{i}", VALUE)
        full.set(f"key:{i}", VALUE)

    return _get_set_runners(cache, full)


def _redis(size: int, closers: Closers) -> dict[str, Runner]:
    stack = contextlib.ExitStack()
    closers.append(stack.close)
    client = stack.enter_context(redis_server())
    bounded = stack.enter_context(redis_server())
    for server in (client, bounded):
        server.config_set("maxmemory", 1 << 30)
        server.config_set("maxmemory-policy", "allkeys-lru")
    payload = dumps(VALUE, PROTOCOL)
    for server in (client, bounded):
        pipe = server.pipeline(transaction=False)
        for i in range(size):
            pipe.set(f"key:{i}", payload)
        pipe.execute()
    bounded.config_set("maxmemory", int(bounded.info("memory")["used_memory"]))

    def get(batch: list[str]) -> None:
        read = client.get
        for key in batch:
            found = read(key)
            if found is not None:
                loads(found)

    def put(batch: list[str]) -> None:
        write = client.set
        for key in batch:
            write(key, dumps(VALUE, PROTOCOL))

    def put_evict(batch: list[str]) -> None:
        write = bounded.set
        for key in batch:
            write(key, dumps(VALUE, PROTOCOL))

    return {"get-hit": get, "get-miss": get, "set": put, "set-evict": put_evict}


FLOOR = "dict + pickle (floor)"
OURS = (
    "cachepolicy allkeys-lru sampled",
    "cachepolicy allkeys-lru exact",
    "cachepolicy allkeys-lfu exact",
)
REDIS = "redis-server (redis-py, loopback)"


def subjects(with_redis: bool) -> list[Subject]:
    found = [
        Subject(FLOOR, "floor", _floor, "FIFO eviction `del d[next(iter(d))]`"),
        Subject(OURS[0], "ours", _cachepolicy("allkeys-lru", "sampled"), "samples 5, pool of 16"),
        Subject(OURS[1], "ours", _cachepolicy("allkeys-lru", "exact"), "OrderedDict order"),
        Subject(OURS[2], "ours", _cachepolicy("allkeys-lfu", "exact"), "heap, lock-free reads"),
        Subject("cachetools LRUCache + pickle", "peer", _cachetools("lru", True)),
        Subject("cachetools LRUCache, objects", "peer", _cachetools("lru", False), "no copy"),
        Subject("cachetools LFUCache + pickle", "peer", _cachetools("lfu", True)),
        Subject("cachetools LFUCache, objects", "peer", _cachetools("lfu", False), "no copy"),
        Subject(
            "Django LocMemCache", "peer", _django_locmem, "CULL_FREQUENCY=MAX_ENTRIES (1 per write)"
        ),
        Subject("cachelib SimpleCache", "peer", _cachelib_simple, "prune sorts all items"),
        Subject("diskcache.Cache", "peer", _diskcache, "SQLite, temp dir; culls <= 10/write"),
    ]
    if with_redis:
        found.append(Subject(REDIS, "peer", _redis, "maxmemory + allkeys-lru; 1 round trip/op"))
    return found


#: Subjects of the threaded get-hit run: shared by 4 threads as a web app would share them.
def thread_subjects() -> list[Subject]:
    return [
        Subject(FLOOR, "floor", _floor, "dict.get is atomic under the GIL"),
        Subject(OURS[0], "ours", _cachepolicy("allkeys-lru", "sampled"), "lock-free read path"),
        Subject(OURS[1], "ours", _cachepolicy("allkeys-lru", "exact"), "lock-free read path"),
        Subject(OURS[2], "ours", _cachepolicy("allkeys-lfu", "exact"), "lock-free read path"),
        Subject("Django LocMemCache", "peer", _django_locmem, "one lock for every read"),
        Subject("cachelib SimpleCache", "peer", _cachelib_simple, "one RLock for every read"),
        Subject("cachetools LRUCache + pickle + Lock", "peer", _locked_cachetools, "lock per get"),
    ]


# ---------------------------------------------------------------------------------- measuring


def _time(runner: Runner, keys: list[str]) -> float:
    gc.collect()
    started = time.perf_counter()
    runner(keys)
    return time.perf_counter() - started


def _time_threads(runner: Runner, keys: list[str], threads: int) -> float:
    """Wall time for ``threads`` threads each running ``runner(keys)`` at once."""
    gc.collect()
    barrier = threading.Barrier(threads + 1)

    def work() -> None:
        barrier.wait()
        runner(keys)

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    barrier.wait()
    started = time.perf_counter()
    for worker in workers:
        worker.join()
    return time.perf_counter() - started


@dataclass
class Settings:
    size: int
    reps: int
    seconds: float
    threads: int
    seed: int


def _op_keys(op: str, count: int, size: int, rng: random.Random, tag: str) -> list[str]:
    if op in ("get-hit", "set"):
        return [f"key:{rng.randrange(size)}" for _ in range(count)]
    if op == "get-miss":
        return [f"miss:{rng.randrange(size)}" for _ in range(count)]
    return [f"new:{tag}:{i}" for i in range(count)]  # set-evict: never seen before


def _calibrate(runner: Runner, op: str, settings: Settings, rng: random.Random) -> int:
    """Operations per measurement so that one takes about ``settings.seconds``."""
    count = 200
    while True:
        elapsed = _time(runner, _op_keys(op, count, settings.size, rng, f"warm{count}"))
        if elapsed > settings.seconds / 4 or count >= 1_000_000:
            break
        count *= 4
    return max(100, min(1_000_000, int(count * settings.seconds / max(elapsed, 1e-9))))


def run_ops(
    chosen: list[Subject], settings: Settings, log: Callable[[str], None]
) -> dict[tuple[str, str], list[float]]:
    """ops/s samples per (subject, operation); repetitions interleaved in shuffled order."""
    rng = random.Random(settings.seed)
    closers: Closers = []
    runners: dict[str, dict[str, Runner]] = {}
    counts: dict[tuple[str, str], int] = {}
    rates: dict[tuple[str, str], list[float]] = {}
    try:
        for subject in chosen:
            try:
                runners[subject.name] = subject.setup(settings.size, closers)
            except Exception as exc:  # a missing peer must not lose the whole report
                log(f"  skipped {subject.name}: {exc}")
                continue
            for op in OPS:
                counts[subject.name, op] = _calibrate(runners[subject.name][op], op, settings, rng)
        plan = [(name, op) for name in runners for op in OPS]
        for rep in range(settings.reps):
            rng.shuffle(plan)
            for name, op in plan:
                count = counts[name, op]
                keys = _op_keys(op, count, settings.size, rng, f"{rep}")
                elapsed = _time(runners[name][op], keys)
                rates.setdefault((name, op), []).append(count / elapsed)
            log(f"  repetition {rep + 1}/{settings.reps} done")
    finally:
        for close in reversed(closers):
            with contextlib.suppress(Exception):
                close()
    return rates


def run_threads(
    chosen: list[Subject], settings: Settings, log: Callable[[str], None]
) -> dict[str, tuple[list[float], list[float]]]:
    """(1-thread ops/s samples, N-thread total ops/s samples) of get-hit per subject."""
    rng = random.Random(settings.seed + 1)
    closers: Closers = []
    results: dict[str, tuple[list[float], list[float]]] = {}
    runners: dict[str, Runner] = {}
    counts: dict[str, int] = {}
    try:
        for subject in chosen:
            runners[subject.name] = subject.setup(settings.size, closers)["get-hit"]
            counts[subject.name] = _calibrate(runners[subject.name], "get-hit", settings, rng)
            results[subject.name] = ([], [])
        names = list(runners)
        for _ in range(settings.reps):
            rng.shuffle(names)
            for name in names:
                count = counts[name]
                keys = _op_keys("get-hit", count, settings.size, rng, "")
                single = count / _time(runners[name], keys)
                wall = _time_threads(runners[name], keys, settings.threads)
                results[name][0].append(single)
                results[name][1].append(settings.threads * count / wall)
        log("  threaded get-hit done")
    finally:
        for close in reversed(closers):
            with contextlib.suppress(Exception):
                close()
    return results


# ---------------------------------------------------------------------------------- report


def _fmt(rate: float) -> str:
    if rate >= 1e6:
        return f"{rate / 1e6:.2f} M"
    if rate >= 1e3:
        return f"{rate / 1e3:.0f} k"
    return f"{rate:.0f}"


def render(
    command: str,
    settings: Settings,
    chosen: list[Subject],
    rates: dict[tuple[str, str], list[float]],
    threads: dict[str, tuple[list[float], list[float]]],
    redis_note: str,
    seconds: float,
) -> str:
    median = {key: statistics.median(values) for key, values in rates.items()}
    measured = [s for s in chosen if (s.name, "get-hit") in median]
    lines = [
        "# Core throughput: cachepolicy beside a dict + pickle floor and peers",
        "",
        f"- command: `{command}`",
        f"- date: {datetime.datetime.now().isoformat(timespec='seconds')}; Python "
        f"{platform.python_version()} ({platform.python_implementation()}), "
        f"{platform.machine()}, {os.cpu_count()} CPUs; run took {seconds:.0f} s",
        f"- {settings.size:,} keys, value {len(dumps(VALUE, PROTOCOL))} B pickled; median of "
        f"{settings.reps} interleaved repetitions of ~{settings.seconds:g} s each",
        f"- Redis: {redis_note}",
        "",
        "## ops/s (median) and ratio to the dict + pickle floor",
        "",
        "| subject | " + " | ".join(OPS) + " | notes |",
        "|---|" + "---:|" * len(OPS) + "---|",
    ]
    for subject in measured:
        cells = []
        for op in OPS:
            rate = median[subject.name, op]
            floor = median.get((FLOOR, op))
            ratio = f" ({rate / floor:.2f}x)" if floor and subject.name != FLOOR else ""
            cells.append(f"{_fmt(rate)}{ratio}")
        lines.append(f"| {subject.name} | " + " | ".join(cells) + f" | {subject.note} |")
    ours = [name for name in OURS if (name, "get-hit") in median]
    if ours:
        lines += [
            "",
            "## cachepolicy vs each peer (ours / peer; > 1 means cachepolicy is faster)",
            "",
            "Cells: " + " / ".join(n.replace("cachepolicy ", "") for n in ours) + ".",
            "",
            "| peer | " + " | ".join(OPS) + " |",
            "|---|" + "---:|" * len(OPS),
        ]
        for subject in measured:
            if subject.group != "peer":
                continue
            cells = [
                " / ".join(f"{median[o, op] / median[subject.name, op]:.2f}" for o in ours)
                for op in OPS
            ]
            lines.append(f"| {subject.name} | " + " | ".join(cells) + " |")
    if threads:
        lines += [
            "",
            f"## get-hit from {settings.threads} threads on one shared cache",
            "",
            f"Total ops/s of {settings.threads} threads vs 1 thread (medians). Under the GIL "
            "1.0x is the ceiling; well below it means reads queue on a lock.",
            "",
            f"| subject | 1 thread | {settings.threads} threads, total | scaling | notes |",
            "|---|---:|---:|---:|---|",
        ]
        notes = {s.name: s.note for s in thread_subjects()}
        for name, (single, multi) in threads.items():
            one, many = statistics.median(single), statistics.median(multi)
            lines.append(
                f"| {name} | {_fmt(one)} | {_fmt(many)} | {many / one:.2f}x | "
                f"{notes.get(name, '')} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="3 short repetitions")
    parser.add_argument("--reps", type=int, help="repetitions (default 7, quick 3)")
    parser.add_argument(
        "--seconds", type=float, help="seconds per measurement (default 0.25, quick 0.05)"
    )
    parser.add_argument("--keys", type=int, default=10_000, help="keys in each cache")
    parser.add_argument("--threads", type=int, default=4, help="threads for the threaded run")
    parser.add_argument("--no-redis", action="store_true", help="leave out redis-server")
    parser.add_argument("--no-threads", action="store_true", help="skip the threaded run")
    parser.add_argument("--only", nargs="+", help="only subjects whose name contains one of these")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--output", type=Path, default=RESULTS / "core.md")
    args = parser.parse_args(argv)
    settings = Settings(
        size=args.keys,
        reps=args.reps or (3 if args.quick else 7),
        seconds=args.seconds or (0.05 if args.quick else 0.25),
        threads=args.threads,
        seed=args.seed,
    )
    started = time.perf_counter()

    redis_note = "private redis-server started on a free loopback port"
    with_redis = not args.no_redis
    if args.no_redis:
        redis_note = "skipped (--no-redis)"
    elif shutil.which("redis-server") is None:
        with_redis = False
        redis_note = "skipped: redis-server is not installed"
    else:
        with contextlib.suppress(Exception), redis_server() as probe:
            redis_note += f" (Redis {probe.info('server')['redis_version']})"
    chosen = subjects(with_redis)
    if args.only:
        chosen = [s for s in chosen if s.name == FLOOR or any(o in s.name for o in args.only)]

    print(f"core throughput: {len(chosen)} subjects, {settings.reps} repetitions")
    rates = run_ops(chosen, settings, print)
    threads: dict[str, tuple[list[float], list[float]]] = {}
    if not args.no_threads:
        pick = [
            s
            for s in thread_subjects()
            if not args.only or s.name == FLOOR or any(o in s.name for o in args.only)
        ]
        threads = run_threads(pick, settings, print)

    command = "python benchmarks/bench_core.py " + " ".join(
        argv if argv is not None else sys.argv[1:]
    )
    report = render(
        command.strip(),
        settings,
        chosen,
        rates,
        threads,
        redis_note,
        time.perf_counter() - started,
    )
    print()
    print(report)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(report + "\n")
    print(f"written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
