"""Reports on a store: Redis's INFO fields and the ``check()`` recount.

INFO holds the lock once to read a consistent snapshot; ``check()`` holds it while every
structure (keyspaces, engine counters, the policy's and the strategy's own) is recounted.
"""

from __future__ import annotations

from random import Random
from typing import TYPE_CHECKING, Any

from ._core.keyspace import Keyspace
from .sizing import format_bytes

if TYPE_CHECKING:
    from .store import CacheStore

__all__ = ["BUILD_NOTES", "build", "check", "info", "info_text"]

# Above this many TTL keys, info() estimates avg_ttl from a random sample instead of a full scan,
# so INFO stays O(1) on big caches (Redis keeps a running estimate for the same reason).
_AVG_TTL_SAMPLE = 1000

_MEMORY_FIELDS = (
    "used_memory",
    "used_memory_human",
    "used_memory_peak",
    "used_memory_peak_human",
    "used_memory_overhead",
    "used_memory_dataset",
    "maxmemory",
    "maxmemory_human",
    "maxmemory_policy",
    "lazyfree_pending_objects",
    "lazyfree_pending_bytes",
    "lazyfreed_objects",
)
_CONFIG_FIELDS = (
    "maxmemory_samples",
    "eviction_mode",
    "admission",
    "eviction_class",
    "lfu_log_factor",
    "lfu_decay_time",
    "expiry",
    "hz",
    "active_expire_effort",
    "build",
)


#: What each build means to a user (``python -m cachepolicy``, the example's banner). The
#: factor: compiled vs pure writes in benchmarks/results (3-4x on the machines measured).
BUILD_NOTES = {
    "compiled": "the mypyc-compiled engine",
    "pure": (
        "the pure Python engine: editable installs and CACHEPOLICY_PURE=1 are never compiled; "
        "a regular `pip install .` builds the compiled one, 3-4x faster writes"
    ),
}


def build() -> str:
    """Which build of the engine (``cachepolicy._core``) runs: ``"compiled"`` (mypyc; what a
    regular ``pip install`` builds) or ``"pure"`` (its Python sources: an editable install,
    ``CACHEPOLICY_PURE=1``, or no C compiler at install time). INFO's ``build`` field."""
    from ._core import COMPILED

    return "compiled" if COMPILED else "pure"


def info(store: CacheStore) -> dict[str, Any]:
    """Redis INFO fields (memory, stats, keyspace) as a dict."""
    engine = store.engine
    hits, misses = engine.hits.totals()
    now = engine.time()
    with engine.lock:
        config = engine.config  # read under the lock: reconfigure() changes it under it too
        ledger = engine.ledger
        ledger.sync_retained()
        stats = engine.stats
        used = engine.used_memory
        peak = max(stats.used_memory_peak, used)
        report: dict[str, Any] = {
            "used_memory": used,
            "used_memory_human": format_bytes(used),
            "used_memory_peak": peak,
            # Redis's split: the containers and left-over index records vs. the entries.
            "used_memory_overhead": ledger.structure_memory + ledger.index_retained,
            "used_memory_dataset": used - ledger.structure_memory - ledger.index_retained,
            "used_memory_peak_human": format_bytes(peak),
            "maxmemory": config.maxmemory,
            "maxmemory_human": format_bytes(config.maxmemory),
            "maxmemory_policy": store.policy.describe(),
            "maxmemory_samples": config.maxmemory_samples,
            "eviction_mode": config.eviction_mode,
            "admission": config.admission,
            # The class that runs (for a built-in without an exact variant, the same in both
            # modes; for a class named by dotted path, that class).
            "eviction_class": type(store.policy).__qualname__,
            "lfu_log_factor": config.lfu_log_factor,
            "lfu_decay_time": config.lfu_decay_time,
            "expiry": store.expiry.name or type(store.expiry).__qualname__,
            "hz": config.hz,
            "active_expire_effort": config.active_expire_effort,
            "build": build(),
            "keyspace_hits": hits,
            "keyspace_misses": misses,
            "expired_keys": stats.expired_keys,
            "evicted_keys": stats.evicted_keys,
            "evicted_bytes": stats.evicted_bytes,
            "rejected_writes": stats.rejected_writes,
            "rejected_admissions": stats.rejected_admissions,
            "expired_stale_perc": round(stats.expired_stale_perc * 100, 2),
            "expired_time_cap_reached_count": stats.expired_time_cap_reached_count,
            "expire_cycle_cpu_milliseconds": int(stats.expire_cycle_cpu_milliseconds),
            "lazyfree_pending_objects": stats.lazyfree_pending_objects,
            "lazyfree_pending_bytes": stats.lazyfree_pending_bytes,
            "lazyfreed_objects": stats.lazyfreed_objects,
            "total_keys": engine.key_count,
        }
        report.update(stats.extra)
        report.update(store.expiry.info())
        for keyspace in engine.keyspaces:
            if len(keyspace):
                report[f"db{keyspace.db}"] = {
                    "keys": len(keyspace),
                    "expires": keyspace.volatile_count,
                    "avg_ttl": _avg_ttl_ms(keyspace, now),
                }
    report.update(store.flights.counters())  # single flight (cachepolicy.flight)
    report.update(store.tags.counters())  # cachepolicy.tags
    return report


def _avg_ttl_ms(keyspace: Keyspace, now: float) -> int:
    if not keyspace.volatile_count:
        return 0
    if keyspace.volatile_count <= _AVG_TTL_SAMPLE:
        sample = keyspace.volatile_entries()
    elif keyspace.index_volatile:
        sample = keyspace.sample(Random(0), _AVG_TTL_SAMPLE, True)
    else:
        # No TTL index: sample all keys and keep those with a TTL (enough of them when they
        # are a fair share; the estimate is Redis's kind of approximation anyway).
        sample = keyspace.sample(Random(0), 4 * _AVG_TTL_SAMPLE, False)
    remaining = [max(0.0, e.deadline - now) for e in sample if e.deadline is not None]
    return int(1000 * sum(remaining) / len(remaining)) if remaining else 0


def info_text(report: dict[str, Any]) -> str:
    """INFO as Redis-style text (``# Section`` + ``field:value`` lines): memory fields first,
    then configuration, then every counter (a strategy's own land in ``# Stats`` too), then one
    ``dbN:`` line per database."""
    scalars = {k: v for k, v in report.items() if not isinstance(v, dict)}
    stats = [name for name in scalars if name not in _MEMORY_FIELDS + _CONFIG_FIELDS]
    lines: list[str] = []
    for title, names in (
        ("Memory", _MEMORY_FIELDS),
        ("Config", _CONFIG_FIELDS),
        ("Stats", tuple(stats)),
    ):
        lines.append(f"# {title}")
        lines.extend(f"{name}:{scalars[name]}" for name in names if name in scalars)
        lines.append("")
    lines.append("# Keyspace")
    for name, value in report.items():
        if isinstance(value, dict):
            lines.append(f"{name}:" + ",".join(f"{k}={v}" for k, v in value.items()))
    return "\n".join(lines) + "\n"


def check(store: CacheStore) -> list[str]:
    """Recount everything and return every inconsistency found (empty when healthy)."""
    engine = store.engine
    with engine.lock:
        problems = engine.check()
        problems.extend(store.policy.check(engine.populated))
        problems.extend(store.expiry.check())
    return problems
