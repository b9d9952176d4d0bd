"""The grid: which rows (policy x eviction mode, references) at which sizes, over which seeds,
run in worker processes, gathered into one :class:`Simulation` per trace."""

from __future__ import annotations

import dataclasses
import math
import multiprocessing
import os
import time
from array import array
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from ..config import MIN_MAXMEMORY, CacheConfig
from ..errors import ConfigError, did_you_mean
from ..eviction.registry import EVICTION_MODES, policy_names, resolve_policy
from ..sizing import parse_memory
from .readers import Trace
from .replay import Counts, entry_costs, key_names, replay_engine, replay_lru, replay_opt

__all__ = [
    "Point",
    "Row",
    "Simulation",
    "auto_sizes",
    "parse_sizes",
    "policy_rows",
    "simulate",
    "working_set",
]

#: Options the simulator sets itself: ``--option`` may not override them.
_OWN_OPTIONS = frozenset(
    {"maxmemory", "max_entries", "cull_frequency", "maxmemory_policy", "eviction_mode"}
    | {"serializer", "databases"}
)


@dataclass(frozen=True)
class Row:
    """One curve: a policy in one eviction mode through the engine, or a reference."""

    kind: str  # "engine" | "lru" | "opt"
    policy: str = ""
    eviction_mode: str = "sampled"
    #: The policy has one implementation for both modes: the label omits the mode.
    single: bool = False

    @property
    def label(self) -> str:
        if self.kind == "lru":
            return "exact LRU (reference)"
        if self.kind == "opt":
            return "OPT (Belady)"
        return self.policy if self.single else f"{self.policy} {self.eviction_mode}"

    @property
    def seeded(self) -> bool:
        """Whether seeds can change its result: sampled modes draw random samples."""
        return self.kind == "engine" and self.eviction_mode == "sampled"


@dataclass
class Point:
    """One row at one size, over its seeds."""

    counts: list[Counts]
    seconds: float = 0.0

    def hit_ratios(self) -> list[float]:
        return [c.hit_ratio for c in self.counts]

    def byte_hit_ratios(self) -> list[float]:
        return [c.byte_hit_ratio for c in self.counts]

    @property
    def hit_ratio(self) -> float:
        ratios = self.hit_ratios()
        return sum(ratios) / len(ratios)

    @property
    def byte_hit_ratio(self) -> float:
        ratios = self.byte_hit_ratios()
        return sum(ratios) / len(ratios)


@dataclass
class Simulation:
    """Every row of one trace at every size."""

    trace: str
    format: str
    requests: int
    distinct: int
    by_bytes: bool
    working_set: int
    sizes: list[int]
    rows: list[Row]
    seeds: int
    options: dict[str, Any]
    points: dict[tuple[str, int], Point] = field(default_factory=dict)
    seconds: float = 0.0

    def point(self, row: Row, size: int) -> Point:
        return self.points[row.label, size]

    def curve(self, row: Row, metric: str = "hit_ratio") -> list[float]:
        return [getattr(self.point(row, size), metric) for size in self.sizes]

    def to_json(self) -> dict[str, Any]:
        rows = []
        for row in self.rows:
            for size in self.sizes:
                point = self.point(row, size)
                entry: dict[str, Any] = {
                    "label": row.label,
                    "kind": row.kind,
                    "policy": row.policy or None,
                    "eviction_mode": row.eviction_mode if row.kind == "engine" else None,
                    "size": size,
                    "hit_ratio": _summary(point.hit_ratios()),
                    "hits": [c.hits for c in point.counts],
                    "refused_writes": [c.refused for c in point.counts],
                    "seconds": round(point.seconds, 3),
                }
                if self.by_bytes:
                    entry["byte_hit_ratio"] = _summary(point.byte_hit_ratios())
                rows.append(entry)
        return {
            "trace": self.trace,
            "format": self.format,
            "requests": self.requests,
            "distinct_keys": self.distinct,
            "mode": "bytes" if self.by_bytes else "entries",
            "working_set": self.working_set,
            "sizes": self.sizes,
            "seeds": self.seeds,
            "options": {k: repr(v) for k, v in self.options.items()},
            "seconds": round(self.seconds, 2),
            "results": rows,
        }


def _summary(values: Sequence[float]) -> dict[str, float]:
    mean = sum(values) / len(values)
    return {"mean": mean, "min": min(values), "max": max(values)}


# ---------------------------------------------------------------------------------- choosing


def policy_rows(
    policies: Sequence[str] | str = "all",
    modes: Sequence[str] = EVICTION_MODES,
    *,
    has_ttls: bool = False,
    skipped: list[str] | None = None,
) -> list[Row]:
    """Engine rows for ``policies`` (names, dotted paths, ``name:mode``, or ``"all"``: every
    registered policy) in ``modes``. ``"all"`` leaves out the policies that can evict only keys
    with a TTL (``volatile-*``, and ``noeviction``) when the trace has none, noting them in
    ``skipped``. A bad name or mode raises :class:`ConfigError` with a suggestion."""
    for mode in modes:
        if mode not in EVICTION_MODES:
            raise ConfigError(
                f"Unknown eviction mode {mode!r}; modes: {', '.join(EVICTION_MODES)}."
                f"{did_you_mean(mode, EVICTION_MODES)}",
                option="eviction_mode",
            )
    if isinstance(policies, str):
        policies = [policies]
    names: list[str] = []
    for spec in policies:
        if spec == "all":
            for name in policy_names():
                if not has_ttls and (name == "noeviction" or name.startswith("volatile-")):
                    if skipped is not None:
                        skipped.append(name)
                    continue
                names.append(name)
        else:
            names.append(spec)
    rows: list[Row] = []
    for spec in dict.fromkeys(names):
        name, _, only = spec.partition(":")
        wanted = [only] if only else list(modes)
        if only and only not in EVICTION_MODES:
            raise ConfigError(
                f"Unknown eviction mode {only!r} in {spec!r}; modes: "
                f"{', '.join(EVICTION_MODES)}.{did_you_mean(only, EVICTION_MODES)}",
                option="eviction_mode",
            )
        implementations = {mode: resolve_policy(name, mode) for mode in EVICTION_MODES}
        single = implementations["sampled"] is implementations["exact"]
        if single:
            rows.append(Row("engine", name, "sampled", single=True))
            continue
        rows += [Row("engine", name, mode) for mode in wanted]
    return rows


def check_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """Validate pass-through cache options (``--option name=value``) by building a config."""
    clean = {}
    for raw, value in options.items():
        name = raw.strip().lower().replace("-", "_")
        if name in _OWN_OPTIONS:
            raise ConfigError(
                f"Option {raw!r} is set by the simulator itself (sizes, policies, modes); "
                f"use --sizes, --policies or --modes instead.",
                option=name,
            )
        clean[name] = value
    CacheConfig.from_options(clean)  # raises ConfigError naming a bad one
    return clean


def working_set(trace: Trace, by_bytes: bool, costs: Sequence[int] | None = None) -> int:
    """Distinct keys, or the bytes of every distinct key at its last cost; of the whole
    traffic, for a sampled recording (the sample's divided by its rate)."""
    if not by_bytes:
        return round(trace.distinct / trace.sample_rate)
    assert costs is not None
    last: dict[int, int] = {}
    for key, cost in zip(trace.keys, costs, strict=True):
        last[key] = cost
    return round(sum(last.values()) / trace.sample_rate)


def scaled(size: int, rate: float) -> int:
    """The size simulated on a sample taken at ``rate`` to stand for ``size`` (SHARDS: a
    cache ``rate`` times as large sees the sample's reuse distances as the full one sees the
    full trace's)."""
    return size if rate >= 1 else max(1, round(size * rate))


def auto_sizes(working: int, points: int = 8, low: float = 0.01) -> list[int]:
    """``points`` sizes log-spaced from ``low`` x to 1 x the working set."""
    if points < 2:
        return [max(1, working)]
    start = math.log(max(1.0, working * low))
    stop = math.log(max(1, working))
    sizes = {
        max(1, round(math.exp(start + (stop - start) * i / (points - 1)))) for i in range(points)
    }
    return sorted(sizes)


def parse_sizes(texts: Iterable[str], working: int, by_bytes: bool) -> list[int]:
    """``"1000"``, ``"10%"`` (of the working set), and in byte mode ``"64mb"``, ``"1.5gb"``."""
    sizes: set[int] = set()
    for text in texts:
        for item in str(text).split(","):
            item = item.strip()
            if not item:
                continue
            try:
                if item.endswith("%"):
                    size = round(working * float(item[:-1]) / 100)
                elif by_bytes:
                    size = parse_memory(item, option="sizes")
                else:
                    size = int(item)
            except (ValueError, ConfigError):
                unit = "bytes ('64mb', '500k')" if by_bytes else "entries"
                raise ConfigError(
                    f"Option 'sizes' has {item!r}: give {unit} or a percentage of the working "
                    f"set ('10%').",
                    option="sizes",
                ) from None
            if size < 1:
                raise ConfigError(f"Option 'sizes' has {item!r}: sizes must be at least 1.")
            sizes.add(size)
    return sorted(sizes)


# ---------------------------------------------------------------------------------- running

# The traces of the run, set in the parent before workers fork (inherited, not pickled) and by
# the pool's initializer where processes are spawned.
_TRACES: list[tuple[Trace, list[str], array[int] | None]] = []


def _install(traces: list[tuple[Trace, list[str], array[int] | None]]) -> None:
    _TRACES[:] = traces


Job = tuple[int, Row, int, int, float, dict[str, Any]]


def _run(job: Job) -> tuple[int, str, int, Counts, float]:
    index, row, size, seed, rate, options = job
    trace, names, costs = _TRACES[index]
    started = time.perf_counter()
    reported = size  # the full traffic's size; a sample is simulated at its share of it
    size = scaled(size, trace.sample_rate)
    if costs is not None:  # a sampled byte budget below one entry is one entry's budget
        size = max(size, MIN_MAXMEMORY)
    if row.kind == "lru":
        counts = replay_lru(trace, size, costs)
    elif row.kind == "opt":
        counts = replay_opt(trace, size, costs)
    else:
        counts = replay_engine(
            trace,
            size,
            policy=row.policy,
            eviction_mode=row.eviction_mode,
            by_bytes=costs is not None,
            seed=seed,
            rate=rate,
            options=options,
            names=names,
        )
    if trace.sample_rate < 1 and trace.total_reads:
        # SHARDS_adj: the sample holds more or fewer gets than the traffic's share, mostly
        # because a few hot keys fell in or out of it; their reads hit at any size.
        counts = dataclasses.replace(counts, expected=trace.total_reads * trace.sample_rate)
    return index, row.label, reported, counts, time.perf_counter() - started


def simulate(
    traces: Sequence[Trace],
    *,
    rows: Sequence[Row],
    sizes: Sequence[str] | None = None,
    points: int = 8,
    by_bytes: bool | None = None,
    seeds: int = 1,
    rate: float = 1000.0,
    options: Mapping[str, Any] | None = None,
    jobs: int = 1,
    references: bool = True,
    current_size: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[Simulation]:
    """Replay every trace through every row at every size; one :class:`Simulation` each.

    ``by_bytes`` None: byte mode when the trace has sizes. ``sizes`` as :func:`parse_sizes`
    reads them, else :func:`auto_sizes` with ``points``. ``progress(done, total)`` is called
    as jobs finish. ``current_size`` is simulated besides, and its double (to mark it on the
    plot and say what doubling it gains)."""
    options = check_options(options or {})
    all_rows = list(rows)
    if references:
        all_rows = [Row("opt"), Row("lru"), *all_rows]
    prepared: list[tuple[Trace, list[str], array[int] | None]] = []
    simulations: list[Simulation] = []
    jobs_list: list[Job] = []
    for index, trace in enumerate(traces):
        bytes_mode = trace.sizes is not None if by_bytes is None else by_bytes
        if bytes_mode and trace.sizes is None:
            raise ConfigError(
                f"Trace {trace.name!r} has no sizes, so it cannot be replayed in byte mode; "
                f"use entry mode.",
                option="mode",
            )
        names = key_names(trace)
        costs = entry_costs(trace, names) if bytes_mode else None
        working = working_set(trace, bytes_mode, costs)
        chosen = parse_sizes(sizes, working, bytes_mode) if sizes else auto_sizes(working, points)
        if current_size is not None:
            [current] = parse_sizes([current_size], working, bytes_mode)
            chosen = sorted({*chosen, current, 2 * current})
        prepared.append((trace, names, costs))
        simulations.append(
            Simulation(
                trace.name,
                trace.format,
                trace.requests,
                trace.distinct,
                bytes_mode,
                working,
                chosen,
                all_rows,
                seeds,
                dict(options),
            )
        )
        for size in chosen:
            for row in all_rows:
                for seed in range(1, (seeds if row.seeded else 1) + 1):
                    jobs_list.append((index, row, size, seed, rate, dict(options)))
    # Largest traces first, so the pool does not end on one long straggler.
    jobs_list.sort(key=lambda job: -len(prepared[job[0]][0]))
    started = time.perf_counter()
    gathered: dict[tuple[int, str, int], list[tuple[Counts, float]]] = {}
    _install(prepared)
    executor: Executor | None = None
    try:
        if jobs > 1 and len(jobs_list) > 1:
            executor = _pool(jobs, prepared)
            results: Iterable[tuple[int, str, int, Counts, float]] = executor.map(_run, jobs_list)
        else:
            results = map(_run, jobs_list)
        for done, (index, label, size, counts, seconds) in enumerate(results, 1):
            gathered.setdefault((index, label, size), []).append((counts, seconds))
            if progress is not None:
                progress(done, len(jobs_list))
    finally:
        if executor is not None:
            executor.shutdown(cancel_futures=True)
        _install([])
    for (index, label, size), found in gathered.items():
        simulations[index].points[label, size] = Point(
            [counts for counts, _ in found], sum(seconds for _, seconds in found)
        )
    for simulation in simulations:
        simulation.seconds = time.perf_counter() - started
    return simulations


def _pool(jobs: int, prepared: list[tuple[Trace, list[str], array[int] | None]]) -> Executor:
    """Worker processes. Forked where the platform can (they inherit the loaded traces);
    elsewhere each worker gets them once, pickled, through its initializer."""
    if "fork" in multiprocessing.get_all_start_methods():
        return ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("fork"))
    return ProcessPoolExecutor(jobs, initializer=_install, initargs=(prepared,))


def default_jobs() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)
