"""Memory under eviction churn: the heap the cache really holds, beside used_memory and maxmemory.

    python benchmarks/bench_memory.py [--quick] [--maxmemory 4mb] [--churn 6] [--json PATH]

Why: ``used_memory`` is a *model* (a per-entry cost table), and ``maxmemory`` is only a bound on
what the model counts. What a worker process pays is the Python heap the cache keeps alive, and
an index or pool that still references removed entries (records of evicted keys, spare entries,
values waiting to be freed) makes that heap grow past ``maxmemory`` while ``used_memory`` stays
put. A fill measurement cannot see it: the left-overs build up only while keys are evicted, so
this program measures *during* a long eviction churn (issue 10, items 6 and 7).

Workload, one row per scenario (policy x mode x expiry strategy x TTL kind):

* a fixed-seed :class:`~cachepolicy.ManualClock`, ``Cache(maxmemory=--maxmemory, ...)`` built
  with the public API only (so the same program measures today's store, the new engine, and a
  pure or mypyc-compiled build);
* every write is a *new* key ``"k:%d"``; values alternate between a 100-byte ``bytes`` and a
  small dict (both pickled by the cache); every key gets a TTL: 300 s (Django's default
  ``TIMEOUT``, never due during the run), none, or ``mixed`` (uniform 0.5-5 s, so keys expire
  and are evicted in the same run);
* *fill*: write until the cache is full (the first write that would evict is found by an
  untraced probe run with the same seed, so the filled cache holds exactly the keys written);
* *churn*: ``--churn`` x that many more new keys, each one evicting (or replacing an expired
  key). The clock advances so that one cache-full of writes takes ``FILL_SECONDS`` simulated
  seconds (so ``hz``-paced expiry cycles run, and mixed TTLs come due); it does not move during
  the fill.

Measured with :mod:`tracemalloc` (started before the cache is created; the baseline is taken
right before ``Cache(...)``, so the figure is everything the cache allocated and still holds,
keys and threads included), ``gc.collect()`` before every checkpoint, at the full point and at
``--checkpoints`` evenly spaced points of the churn:

* traced/max: traced heap / ``maxmemory`` (targets: <= 1.05 when full, <= 1.15 at every point);
* used/traced: ``used_memory`` / traced heap (target: within 5 % at every point);
* hwm/max: tracemalloc's high-water mark between checkpoints (before ``gc.collect()``, so it
  includes garbage the cyclic collector had not yet freed) / ``maxmemory``;
* B/entry: bytes per entry beyond key and payload, ``(traced - sum(sys.getsizeof(key) +
  sys.getsizeof(pickled value))) / keys``. At the full point the key set is known exactly;
  during the churn the live keys are taken to be the most recent writes (off by a few bytes per
  entry at most: value kinds alternate, and key lengths differ by a digit or two between the
  real live set and that window). In brackets: the same figure from ``used_memory`` (what the
  model charges);
* RSS/max: resident set growth at the end / ``maxmemory``, from a second run of the same
  workload *without* tracemalloc (whose own bookkeeping would swamp RSS), in a fresh process per
  row, with ``malloc_trim`` before the baseline so freed heap pages cannot hide growth
  (``--in-process`` skips it). Secondary: the allocator keeps partly used arenas, so RSS shows
  fragmentation and the high-water mark as well as what is live.

tracemalloc makes an evicting write about 8x slower (see DEFAULT_MAXMEMORY); the default run
(12 rows, each run twice) is estimated at under two minutes on one core. ``--quick`` (512kb, 3x
churn, 10 checkpoints) takes about 10 s.
"""

from __future__ import annotations

import argparse
import array
import datetime
import gc
import importlib
import json
import math
import multiprocessing
import os
import pickle
import platform
import random
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make ``cachepolicy`` importable from the checkout
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cachepolicy import Cache, ManualClock, format_bytes, parse_memory

__all__ = [
    "FULL_LIMIT",
    "PEAK_LIMIT",
    "SCENARIOS",
    "STRATEGIES",
    "USED_TOLERANCE",
    "Checkpoint",
    "Result",
    "Scenario",
    "build_description",
    "fill_count",
    "format_table",
    "key_payload_bytes",
    "main",
    "measure",
    "run_all",
    "violations",
]

# The issue's targets (issue 10, "used_memory stays within 5 % of tracemalloc ... traced heap
# <= 1.05x maxmemory when full, peak <= 1.15x"). tests/core/test_memory_churn.py asserts them.
USED_TOLERANCE = 0.05
FULL_LIMIT = 1.05
PEAK_LIMIT = 1.15

# Django's default TIMEOUT: the TTL most Django caches put on every key.
DJANGO_TIMEOUT = 300.0
# Mixed TTLs: short enough that many keys come due within a run whose clock moves FILL_SECONDS
# per cache-full of writes, long enough that many are evicted first: both removal paths run.
MIXED_TTL = (0.5, 5.0)
# Simulated seconds per cache-full of writes. 2 s: a cache that turns over every 2 s is a busy
# one, yet a 10x churn is 20 s of clock, far from Django's 300 s, so the 300 s rows never expire
# a key and every removal there is an eviction (the case whose left-overs issue 10 measured).
FILL_SECONDS = 2.0
# The clock is advanced once per this many writes: a ManualClock advance wakes the background
# thread, and waking it on every write would measure thread hand-offs instead of memory.
CLOCK_EVERY = 64
START_TIME = 1_700_000_000.0
# Default size of a run. tracemalloc makes an evicting write ~8x slower (about 100 us instead of
# 13), so 8mb with a 10x churn (178,000 writes a row, twice: traced and for RSS) took 6.5 min for
# the 12 rows; 4mb with a 6x churn is ~57,000 writes a row, under 2 min. The timed index compacts
# about once per cache-full of writes, so 6x still covers several of its grow-compact cycles.
DEFAULT_MAXMEMORY = "4mb"
DEFAULT_CHURN = 6.0
# Checkpoints in the churn (each a gc.collect() and an info(): milliseconds).
DEFAULT_CHECKPOINTS = 50
KEY_PREFIX = "k:"

_STR_BASE = sys.getsizeof("")  # sys.getsizeof of a compact ASCII str is this + its length
_PROTOCOL = pickle.HIGHEST_PROTOCOL  # the default serializer's (PickleSerializer) protocol


def _values(seed: int) -> tuple[bytes, dict[str, Any]]:
    """The two value kinds: a 100-byte bytes and a small dict (a typical session/row)."""
    rng = random.Random(seed)
    blob = rng.randbytes(100)
    record = {"id": 4242, "name": "user-4242", "active": True, "score": 0.75, "tags": ["a", "b"]}
    return blob, record


def _payload_sizes(values: tuple[bytes, dict[str, Any]]) -> tuple[int, int]:
    """sys.getsizeof of each value kind's pickled form (bytes header + length)."""
    return sys.getsizeof(pickle.dumps(values[0], _PROTOCOL)), sys.getsizeof(
        pickle.dumps(values[1], _PROTOCOL)
    )


def key_payload_bytes(lo: int, hi: int, payload_sizes: tuple[int, int]) -> int:
    """Exact ``sum(sys.getsizeof(key) + sys.getsizeof(payload))`` for writes ``lo..hi-1``.

    Write ``j`` has key ``"k:%d" % j`` and the value kind ``j % 2``. Computed by digit-count
    ranges instead of building the strings, so it allocates nothing worth mentioning.
    """
    if hi <= lo:
        return 0
    count = hi - lo
    total = count * (_STR_BASE + len(KEY_PREFIX))
    digits, start = 1, 0
    while start < hi:
        end = 10**digits
        overlap = min(hi, end) - max(lo, start)
        if overlap > 0:
            total += overlap * digits
        digits, start = digits + 1, end
    evens = (hi + 1) // 2 - (lo + 1) // 2
    return total + evens * payload_sizes[0] + (count - evens) * payload_sizes[1]


@dataclass(frozen=True)
class Scenario:
    """One row: the cache's configuration and the TTL every key gets."""

    expiry: str = "timed"
    ttl: str = "300"  # "300" (Django's TIMEOUT), "none", or "mixed" (0.5-5 s)
    policy: str = "allkeys-lru"
    mode: str = "sampled"
    admission: str = "none"

    @property
    def name(self) -> str:
        admission = "" if self.admission == "none" else f" admission={self.admission}"
        return f"{self.policy} {self.mode}{admission} {self.expiry} ttl={self.ttl}"

    def ttl_source(self, seed: int) -> Callable[[], float | None]:
        """A fresh TTL generator: the probe and the measured run draw the same sequence."""
        if self.ttl == "none":
            return lambda: None
        if self.ttl == "300":
            return lambda: DJANGO_TIMEOUT
        if self.ttl == "mixed":
            uniform = random.Random(seed + 1).uniform
            low, high = MIXED_TTL
            return lambda: uniform(low, high)
        raise ValueError(f"Scenario ttl must be '300', 'none' or 'mixed', got {self.ttl!r}.")

    def make_cache(self, maxmemory: int, clock: ManualClock, seed: int) -> Cache:
        return Cache(
            maxmemory=maxmemory,
            maxmemory_policy=self.policy,
            eviction_mode=self.mode,
            admission=self.admission,
            expiry=self.expiry,
            clock=clock,
            seed=seed,
        )


STRATEGIES = ("lazy", "active", "timed", "background")
SCENARIOS: tuple[Scenario, ...] = (
    *(Scenario(expiry=s) for s in STRATEGIES),
    Scenario(ttl="none"),
    *(Scenario(expiry=s, ttl="mixed") for s in STRATEGIES),
    Scenario(policy="allkeys-lfu"),
    Scenario(mode="exact"),
    Scenario(policy="allkeys-lfu", mode="exact"),
    Scenario(policy="allkeys-lrm"),
    Scenario(policy="allkeys-lrm", mode="exact"),
    Scenario(policy="allkeys-wtinylfu"),
    Scenario(policy="allkeys-wtinylfu", ttl="mixed"),
    Scenario(admission="tinylfu"),
    Scenario(policy="allkeys-gdsf"),
    Scenario(policy="allkeys-gdsf", mode="exact"),
    Scenario(policy="allkeys-gdsf", ttl="mixed"),
)


@dataclass
class Checkpoint:
    """One measurement (after ``gc.collect()``); byte figures relative to the baseline."""

    writes: int  # churn writes done (0 = the full point)
    traced: int
    used_memory: int
    keys: int
    evicted: int
    expired: int
    hwm: int  # tracemalloc high-water mark since the previous checkpoint, before gc.collect()
    rss: int | None  # RSS growth minus tracemalloc's own growth (None: not on Linux)


@dataclass
class Result:
    scenario: str
    maxmemory: int
    fill_keys: int  # keys in the cache when full (writes before the first eviction)
    churn_writes: int
    seconds: float
    payload_sizes: tuple[int, int]
    checkpoints: list[Checkpoint] = field(default_factory=list)
    #: ``cache.check()`` after the run (the store's own recount; empty = consistent).
    check: list[str] = field(default_factory=list)

    @property
    def full(self) -> Checkpoint:
        return self.checkpoints[0]

    @property
    def end(self) -> Checkpoint:
        return self.checkpoints[-1]

    def live_range(self, point: Checkpoint) -> tuple[int, int]:
        """Write indexes taken to be live at ``point``: the most recent ``point.keys`` writes."""
        written = self.fill_keys + point.writes
        return written - point.keys, written

    def overhead(self, point: Checkpoint) -> tuple[float, float]:
        """(traced, used_memory) bytes per entry beyond key and payload at ``point``."""
        lo, hi = self.live_range(point)
        kp = key_payload_bytes(lo, hi, self.payload_sizes)
        keys = max(point.keys, 1)
        return (point.traced - kp) / keys, (point.used_memory - kp) / keys

    def summary(self) -> dict[str, Any]:
        points, limit = self.checkpoints, self.maxmemory
        peak = max(points, key=lambda p: p.traced)
        worst = max(points, key=lambda p: abs(p.used_memory / p.traced - 1))
        full_b, full_used_b = self.overhead(self.full)
        end_b, end_used_b = self.overhead(self.end)
        rss = self.end.rss
        return {
            "scenario": self.scenario,
            "fill_keys": self.fill_keys,
            "churn_writes": self.churn_writes,
            "traced_max_full": self.full.traced / limit,
            "traced_max_end": self.end.traced / limit,
            "traced_max_peak": peak.traced / limit,
            "peak_at_write": peak.writes,
            "hwm_max": max(p.hwm for p in points) / limit,
            "used_traced_full": self.full.used_memory / self.full.traced,
            "used_traced_end": self.end.used_memory / self.end.traced,
            "used_traced_worst": worst.used_memory / worst.traced,
            "bytes_per_entry_full": full_b,
            "used_bytes_per_entry_full": full_used_b,
            "bytes_per_entry_end": end_b,
            "used_bytes_per_entry_end": end_used_b,
            "bytes_per_entry_peak": max(self.overhead(p)[0] for p in points),
            "rss_max_end": None if rss is None else rss / limit,
            "evicted": self.end.evicted,
            "expired": self.end.expired,
            "seconds": self.seconds,
            "violations": violations(self),
            "check": self.check,
        }


def violations(result: Result) -> list[str]:
    """The issue's targets that ``result`` misses, one sentence each (empty: all met)."""
    problems: list[str] = []
    limit = result.maxmemory
    if result.full.traced > FULL_LIMIT * limit:
        problems.append(
            f"when full, traced heap {result.full.traced} B = {result.full.traced / limit:.3f}x "
            f"maxmemory > {FULL_LIMIT}x."
        )
    for point in result.checkpoints:
        where = "when full" if point.writes == 0 else f"after {point.writes} churn writes"
        ratio = point.used_memory / point.traced
        if abs(ratio - 1) > USED_TOLERANCE:
            problems.append(
                f"{where}, used_memory {point.used_memory} B / traced {point.traced} B = "
                f"{ratio:.3f}, outside 1 +- {USED_TOLERANCE}."
            )
        if point.traced > PEAK_LIMIT * limit:
            problems.append(
                f"{where}, traced heap {point.traced} B = {point.traced / limit:.3f}x "
                f"maxmemory > {PEAK_LIMIT}x."
            )
    return problems


def _trim_heap() -> None:
    """Give freed C-heap pages back to the OS (glibc ``malloc_trim``), so that memory freed
    before an RSS baseline (imports, the spawn bootstrap) is not reused unseen by the cache."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass  # not glibc: RSS growth may then under-read by what was free at the baseline


def _rss() -> int | None:
    """Resident set size in bytes (Linux /proc), None elsewhere."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError, AttributeError):
        return None


# The fill probe asks info() for evicted_keys only every this many writes, then replays the last
# stride write by write: info() costs O(keys) (it averages TTLs), so asking after every write
# made the probe quadratic in the cache size (1.2 s for a 2mb cache, ~18 s for 8mb).
_PROBE_STRIDE = 256


def _first_eviction(scenario: Scenario, maxmemory: int, seed: int, exact_from: int) -> int:
    """Index of the write after which evicted_keys (or rejected_admissions) was first seen
    > 0, checking after every
    write from ``exact_from`` on and after every ``_PROBE_STRIDE``-th write before that."""
    values = _values(seed)
    next_ttl = scenario.ttl_source(seed)
    cache = scenario.make_cache(maxmemory, ManualClock(START_TIME), seed)
    try:
        put, info = cache.set, cache.info
        for i in range(1 << 40):
            put(f"{KEY_PREFIX}{i}", values[i & 1], ttl=next_ttl())
            if i >= exact_from or (i + 1) % _PROBE_STRIDE == 0:
                stats = info()
                # Under admission a full cache may refuse the new key instead of evicting.
                if stats["evicted_keys"] or stats.get("rejected_admissions"):
                    return i
    finally:
        cache.close()
    raise AssertionError("unreachable")  # pragma: no cover


def fill_count(scenario: Scenario, maxmemory: int, seed: int) -> int:
    """Writes before the first eviction, found by untraced runs with the same seed and TTLs.

    The measured run then fills with exactly this many writes, so the full cache holds every key
    written, and bytes per entry at the full point need no guess about which keys are live.
    """
    coarse = _first_eviction(scenario, maxmemory, seed, exact_from=1 << 40)
    return _first_eviction(scenario, maxmemory, seed, exact_from=coarse - _PROBE_STRIDE + 1)


# Fields of one checkpoint in the preallocated sample array (see measure()).
_FIELDS = 8


def _drive(
    scenario: Scenario,
    limit: int,
    fill: int,
    per_checkpoint: int,
    checkpoints: int,
    seed: int,
    *,
    trace: bool,
) -> tuple[array.array[float], list[str]]:
    """Run the workload once; return the checkpoint samples and ``cache.check()``.

    ``trace``: measure the heap with tracemalloc (RSS is then not sampled: tracemalloc's own
    bookkeeping would swamp it). Otherwise sample only RSS growth, without tracemalloc's cost.
    """
    values = _values(seed)
    next_ttl = scenario.ttl_source(seed)
    tick = FILL_SECONDS / fill * CLOCK_EVERY
    clock = ManualClock(START_TIME)
    # Samples go into an array allocated before the baseline: storing a number in it allocates
    # nothing, so the measurements never count themselves.
    samples = array.array("d", bytes(8 * _FIELDS * (checkpoints + 1)))
    stop_tracing = trace and not tracemalloc.is_tracing()
    gc.collect()
    if stop_tracing:
        tracemalloc.start()
    try:
        gc.collect()
        if not trace:
            _trim_heap()
        rss0 = None if trace else _rss()
        base = tracemalloc.get_traced_memory()[0] if trace else 0
        if trace:
            tracemalloc.reset_peak()
        cache = scenario.make_cache(limit, clock, seed)
        try:
            put, info = cache.set, cache.info

            def checkpoint(slot: int, writes: int) -> None:
                gc.collect()
                o = slot * _FIELDS
                if trace:
                    traced, hwm = tracemalloc.get_traced_memory()
                    tracemalloc.reset_peak()
                    samples[o + 1] = traced - base
                    samples[o + 6] = hwm - base
                    samples[o + 7] = math.nan
                else:
                    rss = _rss()
                    samples[o + 7] = math.nan if rss is None or rss0 is None else rss - rss0
                stats = info()
                samples[o] = writes
                samples[o + 2] = stats["used_memory"]
                samples[o + 3] = stats["total_keys"]
                samples[o + 4] = stats["evicted_keys"]
                samples[o + 5] = stats["expired_keys"]

            for i in range(fill):  # the clock stands still: every key written is still there
                put(f"{KEY_PREFIX}{i}", values[i & 1], ttl=next_ttl())
            checkpoint(0, 0)
            i = fill
            for slot in range(1, checkpoints + 1):
                for _ in range(per_checkpoint):
                    if i % CLOCK_EVERY == 0:
                        clock.advance(tick)
                    put(f"{KEY_PREFIX}{i}", values[i & 1], ttl=next_ttl())
                    i += 1
                checkpoint(slot, i - fill)
            check = getattr(cache, "check", None)  # after the last measurement: not counted
            problems = list(check()) if check is not None else []
        finally:
            cache.close()
    finally:
        if stop_tracing:
            tracemalloc.stop()
    return samples, problems


def measure(
    scenario: Scenario,
    *,
    maxmemory: int | str = DEFAULT_MAXMEMORY,
    churn: float = DEFAULT_CHURN,
    checkpoints: int = DEFAULT_CHECKPOINTS,
    seed: int = 1234,
    fill: int | None = None,
    rss: bool = False,
) -> Result:
    """Fill, then churn ``churn`` x the fill with new keys, measuring at ``checkpoints`` points.

    Only public API: ``Cache(...)``, ``set``, ``info``, ``close`` (and ``check`` if there is
    one). Safe to call from tests (tracemalloc is left running if it already was). ``fill``:
    :func:`fill_count` for these arguments, if already known. ``rss``: first run the workload
    once more without tracemalloc to sample RSS growth (only meaningful in a fresh process
    whose heap holds no freed arenas, see :func:`run_all`).
    """
    limit = parse_memory(maxmemory)
    if fill is None:
        fill = fill_count(scenario, limit, seed)
    checkpoints = max(1, checkpoints)
    per_checkpoint = max(1, round(churn * fill)) // checkpoints or 1
    started = time.perf_counter()
    rss_samples = None
    if rss:  # first: the traced run's freed memory would otherwise be reused by this one
        rss_samples, _ = _drive(
            scenario, limit, fill, per_checkpoint, checkpoints, seed, trace=False
        )
    samples, problems = _drive(scenario, limit, fill, per_checkpoint, checkpoints, seed, trace=True)
    seconds = time.perf_counter() - started
    points = []
    for slot in range(checkpoints + 1):
        o = slot * _FIELDS
        writes, traced, used, keys, evicted, expired, hwm = (int(x) for x in samples[o : o + 7])
        growth = math.nan if rss_samples is None else rss_samples[o + 7]
        rss_growth = None if math.isnan(growth) else int(growth)
        points.append(Checkpoint(writes, traced, used, keys, evicted, expired, hwm, rss_growth))
    sizes = _payload_sizes(_values(seed))
    churn_writes = per_checkpoint * checkpoints
    return Result(scenario.name, limit, fill, churn_writes, seconds, sizes, points, problems)


def build_description() -> str:
    """Which engine build is imported: ``cachepolicy._core.COMPILED`` if that module exists."""
    try:
        core = importlib.import_module("cachepolicy._core")
    except ModuleNotFoundError as exc:
        if exc.name not in ("cachepolicy._core", "cachepolicy"):
            raise  # _core exists but is broken: say so instead of reporting "pure"
        return "pure (no _core)"
    compiled = getattr(core, "COMPILED", None)
    if compiled is None:
        return "_core present without a COMPILED flag"
    return "compiled (_core.COMPILED = True)" if compiled else "pure (_core.COMPILED = False)"


def _measure_to_dict(job: tuple[Scenario, dict[str, Any]]) -> dict[str, Any]:
    """Child-process entry point: one row, returned as plain data."""
    scenario, options = job
    return asdict(measure(scenario, **options))


def _from_dict(data: dict[str, Any]) -> Result:
    points = [Checkpoint(**p) for p in data.pop("checkpoints")]
    data["payload_sizes"] = tuple(data["payload_sizes"])
    return Result(**data, checkpoints=points)


def run_all(
    scenarios: Sequence[Scenario], options: dict[str, Any], *, isolate: bool
) -> Iterable[Result]:
    """Rows in order, each in a fresh spawned process when ``isolate`` (one at a time)."""
    if not isolate:
        for scenario in scenarios:
            yield measure(scenario, **options)
        return
    context = multiprocessing.get_context("spawn")
    with context.Pool(1, maxtasksperchild=1) as pool:
        # The probe runs here, so the child's RSS baseline holds no arenas freed by it.
        limit, seed = parse_memory(options["maxmemory"]), options["seed"]
        jobs = [
            (s, {**options, "fill": fill_count(s, limit, seed), "rss": True}) for s in scenarios
        ]
        for data in pool.imap(_measure_to_dict, jobs):
            yield _from_dict(data)


def _ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def _verdict(summary: dict[str, Any]) -> str:
    verdict = f"MISSED ({len(summary['violations'])})" if summary["violations"] else "met"
    return verdict + (" check() FAILED" if summary["check"] else "")


def format_table(summaries: Sequence[dict[str, Any]]) -> str:
    head = (
        "| scenario | keys full | traced/max full | end | peak | hwm/max | used/traced full "
        "| end | worst | B/entry full (used) | B/entry end (used) | RSS/max end | evicted "
        "| expired | targets | s |"
    )
    lines = [head, "|" + "---|" * 16]
    for s in summaries:
        lines.append(
            f"| {s['scenario']} | {s['fill_keys']:,} | {s['traced_max_full']:.3f} "
            f"| {s['traced_max_end']:.3f} | {s['traced_max_peak']:.3f} | {s['hwm_max']:.3f} "
            f"| {s['used_traced_full']:.3f} | {s['used_traced_end']:.3f} "
            f"| {s['used_traced_worst']:.3f} "
            f"| {s['bytes_per_entry_full']:.0f} ({s['used_bytes_per_entry_full']:.0f}) "
            f"| {s['bytes_per_entry_end']:.0f} ({s['used_bytes_per_entry_end']:.0f}) "
            f"| {_ratio(s['rss_max_end'])} | {s['evicted']:,} | {s['expired']:,} "
            f"| {_verdict(s)} | {s['seconds']:.1f} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--maxmemory", default=None, help="byte budget (4mb; quick 512kb)")
    parser.add_argument("--churn", type=float, default=None, help="churn writes / fill (6)")
    parser.add_argument("--checkpoints", type=int, default=None, help="points in the churn (50)")
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--quick", action="store_true", help="CI smoke: 512kb, churn 3, 10 pts")
    parser.add_argument("--only", nargs="+", default=None, help="rows whose name has any of these")
    parser.add_argument("--in-process", action="store_true", help="no fresh process per row")
    parser.add_argument("--json", default=None, help="also write every figure here ('-': stdout)")
    args = parser.parse_args(argv)
    maxmemory = args.maxmemory or ("512kb" if args.quick else DEFAULT_MAXMEMORY)
    options: dict[str, Any] = {
        "maxmemory": parse_memory(maxmemory),
        "churn": args.churn if args.churn is not None else (3.0 if args.quick else DEFAULT_CHURN),
        "checkpoints": args.checkpoints or (10 if args.quick else DEFAULT_CHECKPOINTS),
        "seed": args.seed,
    }
    scenarios = [
        s for s in SCENARIOS if not args.only or any(needle in s.name for needle in args.only)
    ]
    if not scenarios:
        parser.error(f"--only {' '.join(args.only)} matches no scenario.")
    build = build_description()
    command = "python3 benchmarks/bench_memory.py " + " ".join(argv or sys.argv[1:])
    print(f"# Memory under eviction churn ({datetime.date.today().isoformat()})\n")
    print(f"- command: `{command.strip()}`")
    print(f"- Python {platform.python_version()} ({platform.machine()}), build: {build}")
    print(
        f"- maxmemory {format_bytes(options['maxmemory'])}, churn {options['churn']:g}x the fill, "
        f"{options['checkpoints']} checkpoints + the full point, seed {options['seed']}; new key "
        f"on every write, values alternate 100-byte bytes / small dict"
    )
    print(
        f"- ManualClock: still during the fill, then {FILL_SECONDS:g} s per cache-full of writes; "
        f"ttl=300: Django's TIMEOUT (never due), mixed: uniform {MIXED_TTL[0]}-{MIXED_TTL[1]} s"
    )
    print(
        "- tracemalloc baseline right before Cache(...); gc.collect() before every checkpoint; "
        f"targets: used/traced within {USED_TOLERANCE:.0%} and traced/max <= {PEAK_LIMIT} at "
        f"every point, <= {FULL_LIMIT} when full"
    )
    print(f"- rows run {'in this process' if args.in_process else 'each in a fresh process'}\n")
    summaries = []
    for result in run_all(scenarios, options, isolate=not args.in_process):
        summaries.append(result.summary())
        if args.json is not None:
            summaries[-1]["checkpoints"] = [asdict(p) for p in result.checkpoints]
        print(f"  measured {result.scenario} in {result.seconds:.1f} s", file=sys.stderr)
    print(format_table(summaries))
    print(
        "\ntraced/max: traced heap / maxmemory (full, end, peak over checkpoints); hwm: "
        "tracemalloc peak between checkpoints, before gc.collect(). B/entry: traced bytes per "
        "entry beyond sys.getsizeof(key) + sys.getsizeof(pickled value); in brackets the same "
        "from used_memory; 'end' takes the live keys to be the latest writes."
    )
    if args.json is not None:
        payload = {"build": build, "python": platform.python_version(), "options": options}
        text = json.dumps({**payload, "rows": summaries}, indent=1)
        if args.json == "-":
            print(text)
        else:
            Path(args.json).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
