"""The default configuration through Django's API beside LocMemCache, once per build (issue 10).

``bench_django.py`` measures PolicyCache in the ``MAX_ENTRIES``/cull-a-third mode only. This
program measures what a user gets without tuning: a byte ``MAXMEMORY``, the default policy
(``allkeys-lru``, sampled), one eviction per write (no ``MAX_ENTRIES``), Django's default
``TIMEOUT`` (300 s) or ``TIMEOUT: None``. The peer is ``LocMemCache`` bounded to the same number
of entries, ``MAX_ENTRIES`` = ``--entries``, by default with ``CULL_FREQUENCY`` =
``MAX_ENTRIES`` so that it also evicts exactly one entry per write and always holds
``MAX_ENTRIES`` entries (``--locmem-cull third``: Django's default of a third at once).

``MAXMEMORY`` is **measured, not guessed**: for each configuration (value, TIMEOUT, policy,
mode) a throw-away backend with the same OPTIONS and no byte bound is filled with ``--entries``
entries of the row's key width and value, its ``used_memory`` becomes ``MAXMEMORY``, and a second
backend with that bound is filled and then written ``--entries`` more new keys; if it then holds
a different number of keys the bound is corrected and measured again (an engine that evicts a
small batch below the limit makes that count move within a batch; the fit then aims at it).
Every row reports the entries both caches held when it finished. The Zipf rows reuse the
default alias; their keys (``z0`` ... ``z39999``) are shorter than the fitted 10 characters, so
PolicyCache holds about 1 % more entries there, which the held column shows.

Sections (``--sections``):

``write``     writes of new keys into a full cache, default configuration: values of 100-byte
              ``bytes`` and of a small dict, TIMEOUT 300 and None, sequential and random new keys
``policies``  the same write row (100-byte bytes, TIMEOUT 300, sequential) for every built-in
              policy in both modes; ``noeviction`` is left out (a full cache refuses writes, there
              is nothing to time); the ``volatile-*`` policies can evict because every key has a
              TIMEOUT
``reads``     default configuration: get hit, and the Zipf 90/10 cache-aside mix of
              ``bench_django.py`` from 1 and 4 threads (hit ratios in the JSON)
``core``      the core ``Cache`` (default policy and mode) beside a plain ``dict`` + ``pickle``
              loop: the floor and subject of ``bench_core.py``, run by its own code
``beyond``    issue 20's rows: ``allkeys-wtinylfu``, ``allkeys-lru`` with
              ``ADMISSION: "tinylfu"`` and ``allkeys-gdsf`` (both modes), beside
              ``allkeys-lru`` (sampled) and LocMemCache in the same run: the write row of
              ``policies``, get hit, and the Zipf mix from 1 and 4 threads (with each
              cache's 4-thread / 1-thread scaling)

Single-threaded Django rows take turns batch by batch (``benchmarks/turns.py``), best of
``--repeat`` rounds; the Zipf rows alternate whole rounds; the core rows are ``bench_core``'s
median of interleaved repetitions. Every ratio is ours / peer **from the same run**.

The build under test is detected, not assumed: ``cachepolicy._core.COMPILED`` (a mypyc build)
or ``pure``. Run once per build, each in its own environment, then render both side by side::

    python benchmarks/bench_default.py --expect-build pure   # -> results/default-pure.json
    <compiled venv>/bin/python benchmarks/bench_default.py --expect-build compiled
    python benchmarks/compare_builds.py benchmarks/results/default-pure.json \\
        benchmarks/results/default-compiled.json --output benchmarks/results/default.md

Run it as a script (not ``python -m``): the checkout is then put at the *end* of ``sys.path``,
so an installed (compiled) ``cachepolicy`` is imported instead of the checkout's source.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import gc
import importlib
import itertools
import json
import os
import pickle
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import django
from django.conf import settings
from django.utils.module_loading import import_string

if __package__ in (None, ""):  # run as a script: make ``benchmarks`` importable
    # Appended, not inserted: in the compiled build's virtualenv the installed wheel must win
    # over the checkout's pure source, which would otherwise shadow it.
    sys.path.append(str(Path(__file__).resolve().parents[1]))

import cachepolicy
from benchmarks import bench_core, compare_builds
from benchmarks.bench_django import (
    best_of,
    cache_for,
    interleaved,
    scenario_simple,
    scenario_zipf,
)
from benchmarks.turns import Batch, take_turns
from cachepolicy import DEFAULT_POLICY, REDIS_POLICIES, release_shared_store

__all__ = ["detect_build", "main"]

RESULTS = Path(__file__).resolve().parent / "results"
ROOT = Path(__file__).resolve().parents[1]
#: Bumped when the JSON's shape changes; compare_builds refuses files it does not know.
SCHEMA = 1

# Operations per turn of a write row: the same batch size bench_django uses, so timing calls
# are noise and the two caches swap often enough to see the same machine speed.
_BATCH = 2000
# New random keys are i * _MULTIPLIER mod _PRIME: a permutation of range(_PRIME), so no key is
# ever written twice (a repeat would be an overwrite, not an evicting write), spread over the
# whole range, and generated without keeping a set of the keys used.
_PRIME = 999_999_937
_MULTIPLIER = 387_420_489
# Rounds of the MAXMEMORY fit: the first guess (used_memory of a fill) is exact unless the
# per-entry accounting changes under churn; one or two corrections then settle it.
_FIT_ROUNDS = 4

# Every built-in policy but the one that cannot evict: its write rows would only time refused
# writes.
EVICTING_POLICIES = tuple(p for p in REDIS_POLICIES if p != "noeviction")
MODES = ("sampled", "exact")

#: A small record of the kind views cache (about 90 bytes pickled).
SMALL_DICT: dict[str, Any] = {"id": 4217, "user": "alice", "roles": ["editor"], "active": True}
VALUES: dict[str, Any] = {"bytes-100": b"v" * 100, "dict": SMALL_DICT}
VALUE_LABELS = {"bytes-100": "100-byte bytes", "dict": "small dict"}
#: Django's default TIMEOUT (300 s), and None: never expire.
TIMEOUTS: dict[str, int | None] = {"ttl-300": 300, "no-ttl": None}
KEY_ORDERS = ("sequential", "random")

#: Issue 10's targets for the compiled build (ours / peer); the pure build's target is to be
#: no slower than today's main, which is a comparison of runs, not a ratio.
TARGET_DEFAULT_WRITE = 1.0
TARGET_OTHER_POLICY = 0.8
TARGETS_READS = {"get-hit": 2.5, "zipf-x1": 1.5, "zipf-x4": 2.0}
#: Issue 20's targets for allkeys-wtinylfu (compiled build, ours / LocMemCache), the write
#: target of its other rows (GDSF, TinyLFU admission), and the 4-thread / 1-thread scaling of
#: Zipf reads.
TARGETS_WTINYLFU = {"write": 1.0, "get-hit": 2.5, "zipf-x1": 1.5, "zipf-x4": 2.0}
TARGET_BEYOND_WRITE = 0.8
TARGET_READ_SCALING = 0.9
TARGETS_CORE = {"get-hit": 0.7, "get-miss": None, "set": 0.6, "set-evict": 0.5}

Log = Callable[[str], None]

SECTIONS = {
    "write": "Default configuration: writes of new keys into a full cache",
    "policies": "Every built-in policy, both modes: writes of new keys into a full cache "
    "(100-byte bytes, TIMEOUT 300, sequential keys)",
    "reads": "Default configuration: reads and the cache-aside mix",
    "core": "Core API beside a plain dict + pickle loop",
    "beyond": "allkeys-wtinylfu, allkeys-gdsf and TinyLFU admission beside allkeys-lru and "
    "LocMemCache",
}


def detect_build() -> str:
    """``"compiled"`` when the engine is a mypyc build that says so, else ``"pure"``."""
    try:
        core = importlib.import_module("cachepolicy._core")
    except ImportError:
        return "pure"
    return "compiled" if getattr(core, "COMPILED", False) else "pure"


# ---------------------------------------------------------------------------------- caches


@dataclass(frozen=True)
class Config:
    """One PolicyCache configuration; ``policy``/``mode`` None means "not given" (the
    default a user gets)."""

    value: str = "bytes-100"
    timeout: str = "ttl-300"
    policy: str | None = None
    mode: str | None = None
    admission: str | None = None

    @property
    def alias(self) -> str:
        policy, mode = self.policy or "default", self.mode or "default"
        admission = f"-{self.admission}" if self.admission else ""
        return f"policy-{policy}-{mode}{admission}-{self.value}-{self.timeout}"

    @property
    def label(self) -> str:
        admission = f", ADMISSION {self.admission}" if self.admission else ""
        return f"{self.policy or 'default'} {self.mode or 'default'}{admission}"

    def params(self, maxmemory: int) -> dict[str, Any]:
        options: dict[str, Any] = {"MAXMEMORY": maxmemory}
        if self.policy is not None:
            options["MAXMEMORY_POLICY"] = self.policy
        if self.mode is not None:
            options["EVICTION_MODE"] = self.mode
        if self.admission is not None:
            options["ADMISSION"] = self.admission
        return {
            "BACKEND": "django_cachepolicy.PolicyCache",
            "LOCATION": f"bench-default-{self.alias}",
            "TIMEOUT": TIMEOUTS[self.timeout],
            "OPTIONS": options,
        }


#: The beyond section's caches: the peer policy first, then the new ones.
BEYOND = (
    Config(policy="allkeys-lru", mode="sampled"),
    Config(policy="allkeys-wtinylfu", mode="sampled"),
    Config(policy="allkeys-lru", mode="sampled", admission="tinylfu"),
    Config(policy="allkeys-gdsf", mode="sampled"),
    Config(policy="allkeys-gdsf", mode="exact"),
)


def peer_alias(timeout: str) -> str:
    return f"locmem-{timeout}"


def peer_params(timeout: str, entries: int, cull: str) -> dict[str, Any]:
    return {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": f"bench-default-{peer_alias(timeout)}",
        "TIMEOUT": TIMEOUTS[timeout],
        # CULL_FREQUENCY = MAX_ENTRIES culls len // MAX_ENTRIES = 1 entry when full.
        "OPTIONS": {"MAX_ENTRIES": entries, "CULL_FREQUENCY": entries if cull == "one" else 3},
    }


def keys(prefix: str, start: int, count: int, order: str = "sequential") -> list[str]:
    """``count`` keys of one fixed width (10 characters), so every key costs the same bytes
    and the fitted MAXMEMORY holds the same number of entries whatever the row."""
    if order == "random":
        return [f"{prefix}{i * _MULTIPLIER % _PRIME:09d}" for i in range(start, start + count)]
    return [f"{prefix}{i:09d}" for i in range(start, start + count)]


def backend(params: dict[str, Any]) -> Any:
    """A backend built from a CACHES entry exactly as ``django.core.cache.caches`` builds one."""
    params = dict(params)
    cls = import_string(params.pop("BACKEND"))
    return cls(params.pop("LOCATION", ""), params)


def held(cache: Any) -> int:
    """Entries in a PolicyCache alias's database or a LocMemCache (its private dict: Django
    gives it no public count)."""
    view = getattr(cache, "view", None)
    return len(view) if view is not None else len(cache._cache)


@contextlib.contextmanager
def filled(config: Config, maxmemory: int, entries: int, churn: bool) -> Iterator[Any]:
    """A throw-away backend of ``config`` holding ``entries`` writes (then four times as many
    new keys if ``churn``: the steady state of the write rows, where the keyspace dict has
    rebuilt its table under deletions, which ``used_memory`` counts), released afterwards."""
    params = config.params(maxmemory)
    params["LOCATION"] += "-fit"
    cache = backend(params)
    value = VALUES[config.value]
    try:
        for key in keys("c", 0, entries) + (keys("d", 0, 4 * entries) if churn else []):
            cache.set(key, value)
        yield cache
    finally:
        cache.clear()
        release_shared_store(params["LOCATION"])


def fit_maxmemory(config: Config, entries: int) -> tuple[int, int]:
    """(MAXMEMORY, entries held under churn) at which ``config`` holds ``entries`` entries."""
    with filled(config, 0, entries, churn=False) as unbounded:  # MAXMEMORY 0: no byte bound
        used = int(unbounded.info()["used_memory"])
    per_entry = max(1, used // entries)
    maxmemory, count = used, 0
    for _ in range(_FIT_ROUNDS):
        with filled(config, maxmemory, entries, churn=True) as bounded:
            count = held(bounded)
        if count == entries:
            break
        maxmemory += (entries - count) * per_entry
    return maxmemory, count


def configure(entries: int, cull: str, configs: Sequence[Config], log: Log) -> dict[str, Any]:
    """Configure Django with LocMemCache peers and one fitted PolicyCache alias per config;
    returns the fit per alias."""
    caches: dict[str, Any] = {}
    settings.configure(SECRET_KEY="benchmark", INSTALLED_APPS=["django_cachepolicy"], CACHES=caches)
    django.setup()
    for timeout in TIMEOUTS:
        caches[peer_alias(timeout)] = peer_params(timeout, entries, cull)
    fits: dict[str, Any] = {}
    for config in configs:
        maxmemory, count = fit_maxmemory(config, entries)
        log(f"  fit {config.alias}: MAXMEMORY={maxmemory:,} holds {count:,} entries")
        # Filled in before the first ``caches[...]``: the handler reads CACHES on first use.
        caches[config.alias] = config.params(maxmemory)
        fits[config.alias] = {"maxmemory": maxmemory, "held_after_fit": count}
    return fits


# ---------------------------------------------------------------------------------- rows


@dataclass
class Row:
    """One line of the report: ours / peer from the same run."""

    id: str
    section: str
    label: str
    peer: str
    ours_ops: float
    peer_ops: float
    target: float | None
    held: dict[str, int] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float:
        return self.ours_ops / self.peer_ops


def write_batch(alias: str, value: Any, order: str, entries: int) -> Batch:
    """Fill ``alias`` to ``entries`` entries, then return a batch writing ``_BATCH`` new keys;
    the keys are made before the clock starts."""
    cache = cache_for(alias)
    cache.clear()
    for key in keys("f", 0, entries):
        cache.set(key, value)
    blocks = itertools.count()

    def run() -> tuple[int, float]:
        batch = keys("s" if order == "sequential" else "r", next(blocks) * _BATCH, _BATCH, order)
        set_ = cache.set
        start = time.perf_counter()
        for key in batch:
            set_(key, value)
        return len(batch), time.perf_counter() - start

    return run


def write_round(
    aliases: Sequence[str], value: Any, order: str, entries: int, seconds: float
) -> dict[str, float]:
    """One round of a write row: every alias freshly filled, then taking turns."""
    batches = {a: write_batch(a, value, order, entries) for a in aliases}
    gc.collect()  # the previous round's garbage is not collected on one cache's time
    return take_turns(batches, seconds)


@dataclass
class Plan:
    entries: int
    seconds: float
    repeat: int
    core_reps: int
    core_seconds: float
    seed: int
    sections: Sequence[str]


def write_row(
    section: str, config: Config, order: str, plan: Plan, target: float, label: str
) -> Row:
    peer, ours = peer_alias(config.timeout), config.alias
    rates = best_of(
        plan.repeat,
        partial(write_round, (peer, ours), VALUES[config.value], order, plan.entries, plan.seconds),
    )
    counts = {"ours": held(cache_for(ours)), "peer": held(cache_for(peer))}
    cache_for(ours).clear()  # one filled store at a time, not one per row
    row_id = f"{section}/{config.policy or 'default'}/{config.mode or 'default'}/"
    row_id += f"{config.value}/{config.timeout}/{order}"
    return Row(row_id, section, label, "LocMemCache", rates[ours], rates[peer], target, counts)


def write_rows(plan: Plan, log: Log) -> list[Row]:
    rows = []
    for value, timeout, order in itertools.product(VALUES, TIMEOUTS, KEY_ORDERS):
        ttl = "TIMEOUT 300" if TIMEOUTS[timeout] else "TIMEOUT None"
        label = f"{VALUE_LABELS[value]}, {ttl}, {order} keys"
        rows.append(
            write_row("write", Config(value, timeout), order, plan, TARGET_DEFAULT_WRITE, label)
        )
        log(f"  {label}: {rows[-1].ratio:.2f}x")
    return rows


def policy_rows(plan: Plan, log: Log) -> list[Row]:
    rows = []
    for policy, mode in itertools.product(EVICTING_POLICIES, MODES):
        default = policy == DEFAULT_POLICY and mode == "sampled"
        target = TARGET_DEFAULT_WRITE if default else TARGET_OTHER_POLICY
        label = f"{policy} {mode}" + (" (the default)" if default else "")
        config = Config(policy=policy, mode=mode)
        rows.append(write_row("policies", config, "sequential", plan, target, label))
        log(f"  {label}: {rows[-1].ratio:.2f}x")
    return rows


def read_rows(plan: Plan, log: Log) -> list[Row]:
    """get hit and the Zipf mixes of bench_django, on the default configuration."""
    config = Config()
    peer, ours = peer_alias(config.timeout), config.alias
    gc.collect()
    rates = best_of(
        plan.repeat, partial(scenario_simple, "get hit", plan.entries, plan.seconds, (peer, ours))
    )
    target = TARGETS_READS["get-hit"]
    rows = [
        Row("reads/get-hit", "reads", "get hit", "LocMemCache", rates[ours], rates[peer], target)
    ]
    log(f"  get hit: {rows[-1].ratio:.2f}x")
    for threads in (1, 4):
        measure = partial(
            scenario_zipf, threads=threads, entries=plan.entries, seconds=plan.seconds
        )
        best = interleaved(plan.repeat, measure, (peer, ours))
        name = f"zipf-x{threads}"
        rows.append(
            Row(
                f"reads/{name}",
                "reads",
                f"Zipf 90/10 cache-aside, {threads} thread{'s' if threads > 1 else ''}",
                "LocMemCache",
                best[ours][0],
                best[peer][0],
                TARGETS_READS[name],
                {"ours": held(cache_for(ours)), "peer": held(cache_for(peer))},
                {"hit_ratio": {"ours": best[ours][1], "peer": best[peer][1]}},
            )
        )
        log(f"  {rows[-1].label}: {rows[-1].ratio:.2f}x")
    cache_for(ours).clear()
    return rows


def beyond_rows(plan: Plan, log: Log) -> list[Row]:
    """Issue 20's rows: every cache of :data:`BEYOND` and LocMemCache in the same rounds."""
    rows = []
    peer = peer_alias("ttl-300")
    aliases = [peer] + [config.alias for config in BEYOND]
    value = VALUES["bytes-100"]
    rates = best_of(
        plan.repeat,
        partial(write_round, aliases, value, "sequential", plan.entries, plan.seconds),
    )
    for config in BEYOND:
        target = (
            TARGETS_WTINYLFU["write"]
            if config.policy == "allkeys-wtinylfu"
            else TARGET_BEYOND_WRITE
            if config is not BEYOND[0]
            else None
        )
        rows.append(
            Row(
                f"beyond/write/{config.alias}",
                "beyond",
                f"{config.label}: evicting writes (100-byte bytes, TIMEOUT 300)",
                "LocMemCache",
                rates[config.alias],
                rates[peer],
                target,
                {"ours": held(cache_for(config.alias)), "peer": held(cache_for(peer))},
            )
        )
        log(f"  {rows[-1].label}: {rows[-1].ratio:.2f}x")
    gc.collect()
    rates = best_of(
        plan.repeat, partial(scenario_simple, "get hit", plan.entries, plan.seconds, aliases)
    )
    for config in BEYOND:
        target = TARGETS_WTINYLFU["get-hit"] if config.policy == "allkeys-wtinylfu" else None
        rows.append(
            Row(
                f"beyond/get-hit/{config.alias}",
                "beyond",
                f"{config.label}: get hit",
                "LocMemCache",
                rates[config.alias],
                rates[peer],
                target,
            )
        )
        log(f"  {rows[-1].label}: {rows[-1].ratio:.2f}x")
    single: dict[str, float] = {}
    for threads in (1, 4):
        measure = partial(
            scenario_zipf, threads=threads, entries=plan.entries, seconds=plan.seconds
        )
        best = interleaved(plan.repeat, measure, aliases)
        name = f"zipf-x{threads}"
        for config in BEYOND:
            ours = config.alias
            extra: dict[str, Any] = {"hit_ratio": {"ours": best[ours][1], "peer": best[peer][1]}}
            if threads == 1:
                single[ours] = best[ours][0]
            else:
                extra["scaling_4_over_1"] = best[ours][0] / single[ours]
            rows.append(
                Row(
                    f"beyond/{name}/{ours}",
                    "beyond",
                    f"{config.label}: Zipf 90/10 cache-aside, {threads} thread"
                    + ("s" if threads > 1 else ""),
                    "LocMemCache",
                    best[ours][0],
                    best[peer][0],
                    TARGETS_WTINYLFU[name] if config.policy == "allkeys-wtinylfu" else None,
                    {"ours": held(cache_for(ours)), "peer": held(cache_for(peer))},
                    extra,
                )
            )
            scaling = extra.get("scaling_4_over_1")
            note = f", 4/1 threads {scaling:.2f}" if scaling is not None else ""
            log(f"  {rows[-1].label}: {rows[-1].ratio:.2f}x, hit {best[ours][1]:.3f}{note}")
    for config in BEYOND:
        cache_for(config.alias).clear()
    return rows


def core_rows(plan: Plan, log: Log) -> list[Row]:
    """bench_core's floor and default subject, measured by bench_core itself."""
    ours_name = bench_core.OURS[0]  # allkeys-lru sampled: the core's default
    chosen = [s for s in bench_core.subjects(False) if s.name in (bench_core.FLOOR, ours_name)]
    core_settings = bench_core.Settings(
        size=plan.entries, reps=plan.core_reps, seconds=plan.core_seconds, threads=1, seed=plan.seed
    )
    rates = bench_core.run_ops(chosen, core_settings, log)
    rows = []
    for op in bench_core.OPS:
        ours = statistics.median(rates[ours_name, op])
        floor = statistics.median(rates[bench_core.FLOOR, op])
        rows.append(Row(f"core/{op}", "core", op, "dict + pickle", ours, floor, TARGETS_CORE[op]))
    return rows


# ---------------------------------------------------------------------------------- report


def _git_describe() -> str | None:
    try:
        done = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except OSError:
        return None
    return done.stdout.strip() or None


def environment(build: str, label: str | None, command: str) -> dict[str, Any]:
    return {
        "build": build,
        "label": label or build,
        "cachepolicy_version": getattr(cachepolicy, "__version__", None),
        "cachepolicy_file": cachepolicy.__file__,
        "checkout": _git_describe(),
        "python": f"{platform.python_version()} ({platform.python_implementation()})",
        "django": django.get_version(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "command": command,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="short rounds, 1 repetition")
    # Quick runs keep the full size: eviction and the floor's FIFO dict both cost more in a
    # 10,000-entry cache than in a small one, so a smaller quick run would show other ratios.
    parser.add_argument("--entries", type=int, default=10_000, help="entries each cache holds")
    parser.add_argument("--seconds", type=float, help="time per cache per round (0.5; quick 0.03)")
    parser.add_argument("--repeat", type=int, help="rounds per row, best kept (3; quick 1)")
    parser.add_argument("--core-reps", type=int, help="bench_core repetitions (7; quick 3)")
    parser.add_argument(
        "--core-seconds", type=float, help="bench_core seconds per measurement (0.25; quick 0.05)"
    )
    parser.add_argument(
        "--locmem-cull",
        choices=("one", "third"),
        default="one",
        help="LocMemCache CULL_FREQUENCY: MAX_ENTRIES (one per write, default) or Django's 3",
    )
    parser.add_argument(
        "--sections", nargs="+", choices=list(SECTIONS), default=list(SECTIONS), metavar="NAME"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--label", help="column name in compare_builds (default: the build)")
    parser.add_argument(
        "--expect-build", choices=("pure", "compiled"), help="fail unless this build is imported"
    )
    parser.add_argument("--output", type=Path, help="JSON file (results/default-<build>.json)")
    parser.add_argument("--json", action="store_true", help="print the JSON, not the table")
    args = parser.parse_args(argv)

    build = detect_build()
    if args.expect_build and build != args.expect_build:
        message = f"expected the {args.expect_build} build, imported {build} from "
        parser.exit(2, f"{message}{cachepolicy.__file__}\n")
    quick = args.quick
    plan = Plan(
        entries=args.entries,
        seconds=args.seconds or (0.03 if quick else 0.5),
        repeat=args.repeat or (1 if quick else 3),
        core_reps=args.core_reps or (3 if quick else 7),
        core_seconds=args.core_seconds or (0.05 if quick else 0.25),  # bench_core --quick
        seed=args.seed,
        sections=args.sections,
    )
    out = sys.stderr if args.json else sys.stdout

    def log(line: str) -> None:
        print(line, file=out, flush=True)

    started = time.perf_counter()
    configs: list[Config] = []
    if "write" in plan.sections:
        configs += [Config(v, t) for v, t in itertools.product(VALUES, TIMEOUTS)]
    if "beyond" in plan.sections:
        configs += [config for config in BEYOND if config not in configs]
    django_sections = {"write", "policies", "reads", "beyond"} & set(plan.sections)
    if django_sections and Config() not in configs:  # the reads rows and the warm-up use it
        configs.append(Config())
    if "policies" in plan.sections:
        configs += [
            Config(policy=p, mode=m) for p, m in itertools.product(EVICTING_POLICIES, MODES)
        ]
    log(f"bench_default: {build} build, {plan.entries:,} entries; fitting MAXMEMORY")
    fits = configure(plan.entries, args.locmem_cull, configs, log)

    if django_sections:
        # Warm-up, discarded: the first round of a fresh process also pays for growing the heap
        # and the interpreter's specialisation, whichever cache runs first.
        warm = Config()
        peer, ours = peer_alias(warm.timeout), warm.alias
        write_round((peer, ours), VALUES[warm.value], "sequential", plan.entries, plan.seconds)
    rows: list[Row] = []
    for section, measure in (
        ("write", write_rows),
        ("policies", policy_rows),
        ("reads", read_rows),
        ("core", core_rows),
        ("beyond", beyond_rows),
    ):
        if section in plan.sections:
            log(f"{section}:")
            rows += measure(plan, log)

    command = "python benchmarks/bench_default.py " + " ".join(
        argv if argv is not None else sys.argv[1:]
    )
    report = {
        "schema": SCHEMA,
        "environment": environment(build, args.label, command.strip()),
        "settings": {
            **{k: v for k, v in asdict(plan).items() if k != "sections"},
            "quick": quick,
            "locmem_cull_frequency": plan.entries if args.locmem_cull == "one" else 3,
            "value_sizes": {
                k: len(pickle.dumps(v, pickle.HIGHEST_PROTOCOL)) for k, v in VALUES.items()
            },
            "seconds_taken": round(time.perf_counter() - started, 1),
        },
        "sections": {k: v for k, v in SECTIONS.items() if k in plan.sections},
        "notes": [
            "noeviction is left out of the write rows: a full cache refuses writes.",
            "Policy rows use TIMEOUT 300: the volatile-* policies may evict every key.",
        ],
        "fits": fits,
        "rows": [{**asdict(row), "ratio": row.ratio} for row in rows],
    }
    output = args.output or RESULTS / f"default-{build}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=2) + "\n")
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print()
        print(compare_builds.render([report]))
    log(f"written to {output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
