"""The Redis server's INFO, in the shape of the in-process ``info()``.

The same field names (``used_memory``, ``maxmemory``, ``maxmemory_policy``, ``keyspace_hits``,
``keyspace_misses``, ``expired_keys``, ``evicted_keys``, ``dbN: {keys, expires, avg_ttl}``,
...), read from the server's ``INFO`` and ``CONFIG GET``, so dashboards and ``cacheinfo`` read
one backend like the other. On a cluster, ``nodes`` holds one such report per primary and the
top-level fields are the totals (sums; ``maxmemory_policy`` is the primaries' common value, or
``"mixed"``).
"""

from __future__ import annotations

from typing import Any

from ..introspection import info_text
from ..sizing import format_bytes

__all__ = ["node_report", "redis_info", "redis_info_text"]

# INFO fields reported as-is (Redis's names are the in-process report's names).
_INFO_FIELDS = (
    "used_memory",
    "used_memory_peak",
    "used_memory_overhead",
    "used_memory_dataset",
    "maxmemory",
    "maxmemory_policy",
    "keyspace_hits",
    "keyspace_misses",
    "expired_keys",
    "evicted_keys",
    "expired_stale_perc",
    "expired_time_cap_reached_count",
    "expire_cycle_cpu_milliseconds",
    "lazyfree_pending_objects",
    "lazyfreed_objects",
    "hz",
)
_CONFIG_FIELDS = ("maxmemory-samples", "lfu-log-factor", "lfu-decay-time", "active-expire-effort")
# Totals over primaries: counters and sizes add up; the rest is per node only.
_SUMMED = (
    "used_memory",
    "used_memory_peak",
    "used_memory_overhead",
    "used_memory_dataset",
    "maxmemory",
    "keyspace_hits",
    "keyspace_misses",
    "expired_keys",
    "evicted_keys",
    "expired_time_cap_reached_count",
    "expire_cycle_cpu_milliseconds",
    "lazyfree_pending_objects",
    "lazyfreed_objects",
    "total_keys",
)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def node_report(server: Any) -> dict[str, Any]:
    """One server's report: INFO fields, a few CONFIG values, and its keyspace."""
    raw = server.info()
    report: dict[str, Any] = {name: raw[name] for name in _INFO_FIELDS if name in raw}
    for parameter in _CONFIG_FIELDS:
        for name, value in server.config_get(parameter).items():
            text = _text(value)
            report[_text(name).replace("-", "_")] = int(text) if text.isdigit() else text
    report["used_memory_human"] = format_bytes(int(report.get("used_memory", 0)))
    report["used_memory_peak_human"] = format_bytes(int(report.get("used_memory_peak", 0)))
    report["maxmemory_human"] = format_bytes(int(report.get("maxmemory", 0)))
    report["eviction_mode"] = "sampled"
    report["expiry"] = "redis"
    report["redis_version"] = raw.get("redis_version", "")
    total = 0
    for name, value in raw.items():
        if name.startswith("db") and name[2:].isdigit() and isinstance(value, dict):
            report[name] = {
                "keys": int(value.get("keys", 0)),
                "expires": int(value.get("expires", 0)),
                "avg_ttl": int(value.get("avg_ttl", 0)),
            }
            total += int(value.get("keys", 0))
    report["total_keys"] = total
    return report


def redis_info(
    servers: list[tuple[str, Any]], *, cluster: bool, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The report for one server, or the cluster totals with ``nodes`` per primary."""
    reports = {name: node_report(server) for name, server in servers}
    if not cluster:
        report = next(iter(reports.values()))
    else:
        report = {name: sum(int(r.get(name, 0)) for r in reports.values()) for name in _SUMMED}
        policies = {r.get("maxmemory_policy") for r in reports.values()}
        report["maxmemory_policy"] = policies.pop() if len(policies) == 1 else "mixed"
        report["used_memory_human"] = format_bytes(report["used_memory"])
        report["used_memory_peak_human"] = format_bytes(report["used_memory_peak"])
        report["maxmemory_human"] = format_bytes(report["maxmemory"])
        keyspace: dict[str, dict[str, int]] = {}
        for node in reports.values():
            for name, value in node.items():
                if name.startswith("db") and isinstance(value, dict):
                    into = keyspace.setdefault(name, {"keys": 0, "expires": 0, "ttl_sum": 0})
                    into["keys"] += value["keys"]
                    into["expires"] += value["expires"]
                    into["ttl_sum"] += value["avg_ttl"] * value["expires"]
        for name, value in sorted(keyspace.items()):
            expires = value["expires"]
            report[name] = {
                "keys": value["keys"],
                "expires": expires,
                "avg_ttl": value["ttl_sum"] // expires if expires else 0,
            }
        report["nodes"] = reports
    report["topology"] = "cluster" if cluster else "standalone"
    report.update(extra or {})
    return report


def redis_info_text(report: dict[str, Any]) -> str:
    """Redis-style text: the totals, then a ``# Node`` block per cluster primary."""
    top = {name: value for name, value in report.items() if name != "nodes"}
    parts = [info_text(top)]
    for name, node in report.get("nodes", {}).items():
        parts.append(f"# Node {name}\n" + info_text(node))
    return "\n".join(parts)
