"""The cache report both apps render: Redis ``INFO`` numbers turned into what a reader asks.

A store's ``info()`` answers with Redis's field names (``used_memory``, ``keyspace_hits``,
``evicted_keys``, ``db1: {keys, expires, avg_ttl}``...). A reader of the example wants three
answers from them: how full is the budget, how often does the cache answer, and what did it
throw away. :func:`build_report` computes those once, framework-free, so the Django page, the
Flask page, both JSON endpoints and the ``demo`` command all show the same numbers; the raw
``info_text()`` is kept alongside so the Redis words stay visible and searchable.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any, Final

__all__ = ["CacheReport", "KeyspaceLine", "build_report", "format_summary"]

_DB_FIELD: Final = re.compile(r"^db(\d+)$")


@dataclasses.dataclass(frozen=True)
class KeyspaceLine:
    """One non-empty database of the store, as Redis's ``# Keyspace`` section lists it."""

    db: int
    #: Who uses this database (e.g. ``"pages"``); empty when nobody in this app claimed it.
    label: str
    keys: int
    expires: int
    avg_ttl: int

    @property
    def redis_line(self) -> str:
        """The line exactly as ``INFO keyspace`` prints it."""
        return f"db{self.db}:keys={self.keys},expires={self.expires},avg_ttl={self.avg_ttl}"


@dataclasses.dataclass(frozen=True)
class CacheReport:
    """The answers a reader wants from one store's INFO, plus the INFO itself."""

    #: Which store this is (Django's ``LOCATION``, or a Flask backend's description).
    name: str
    used_memory: int
    used_memory_human: str
    maxmemory: int
    maxmemory_human: str
    maxmemory_policy: str
    keyspace_hits: int
    keyspace_misses: int
    evicted_keys: int
    expired_keys: int
    keyspace: tuple[KeyspaceLine, ...]
    #: The store's Redis-INFO-style text, ``\n``-separated.
    info_text: str

    @property
    def hit_ratio(self) -> float | None:
        """Hits over lookups, ``None`` before the first lookup (0% would be a false claim)."""
        lookups = self.keyspace_hits + self.keyspace_misses
        return self.keyspace_hits / lookups if lookups else None

    @property
    def hit_ratio_text(self) -> str:
        """The hit ratio as a percentage, or ``n/a`` before the first lookup."""
        ratio = self.hit_ratio
        return "n/a" if ratio is None else f"{ratio:.1%}"

    @property
    def memory_percent(self) -> float:
        """Share of ``maxmemory`` in use (0 with no limit), capped at 100 for the gauge."""
        if not self.maxmemory:
            return 0.0
        return min(100.0, 100.0 * self.used_memory / self.maxmemory)

    @property
    def total_keys(self) -> int:
        """Keys in all databases of the store: what one shared ``maxmemory`` budget holds."""
        return sum(line.keys for line in self.keyspace)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: Redis's field names, plus the derived answers."""
        data = dataclasses.asdict(self)
        data["keyspace"] = {
            f"db{line.db}": {
                "label": line.label,
                "keys": line.keys,
                "expires": line.expires,
                "avg_ttl": line.avg_ttl,
            }
            for line in self.keyspace
        }
        data["hit_ratio"] = self.hit_ratio
        data["memory_percent"] = round(self.memory_percent, 2)
        data["total_keys"] = self.total_keys
        del data["info_text"]
        return data


def build_report(
    name: str,
    info: Mapping[str, Any],
    info_text: str,
    labels: Mapping[int, str] | None = None,
) -> CacheReport:
    """Make the report of one store from its ``info()`` and ``info_text()``.

    ``labels`` names the databases an app uses (``{0: "default", 1: "pages"}``); a labelled
    database is listed even while empty, so a reader sees every alias of the shared budget.
    """
    labels = labels or {}
    found: dict[int, Mapping[str, Any]] = {}
    for field, value in info.items():
        match = _DB_FIELD.match(field)
        if match and isinstance(value, Mapping):
            found[int(match.group(1))] = value
    lines = tuple(
        KeyspaceLine(
            db=db,
            label=labels.get(db, ""),
            keys=int(found.get(db, {}).get("keys", 0)),
            expires=int(found.get(db, {}).get("expires", 0)),
            avg_ttl=int(found.get(db, {}).get("avg_ttl", 0)),
        )
        for db in sorted(set(found) | set(labels))
    )
    return CacheReport(
        name=name,
        used_memory=int(info["used_memory"]),
        used_memory_human=str(info["used_memory_human"]),
        maxmemory=int(info["maxmemory"]),
        maxmemory_human=str(info["maxmemory_human"]),
        maxmemory_policy=str(info["maxmemory_policy"]),
        keyspace_hits=int(info["keyspace_hits"]),
        keyspace_misses=int(info["keyspace_misses"]),
        evicted_keys=int(info["evicted_keys"]),
        expired_keys=int(info["expired_keys"]),
        keyspace=lines,
        info_text=info_text.replace("\r\n", "\n").rstrip("\n"),
    )


def format_summary(report: CacheReport) -> str:
    """A few plain-text lines for a terminal: the ``demo`` command prints these.

    Keeps Redis's field names at the start of each line so a reader can grep for them.
    """
    lines = [
        f"store {report.name}",
        f"  used_memory:{report.used_memory_human} of maxmemory:{report.maxmemory_human} "
        f"({report.memory_percent:.0f}%), maxmemory_policy:{report.maxmemory_policy}",
        f"  keyspace_hits:{report.keyspace_hits} keyspace_misses:{report.keyspace_misses} "
        f"-> hit ratio {report.hit_ratio_text}",
        f"  evicted_keys:{report.evicted_keys} expired_keys:{report.expired_keys}",
    ]
    for line in report.keyspace:
        label = f"  ({line.label})" if line.label else ""
        lines.append(f"  {line.redis_line}{label}")
    return "\n".join(lines)
