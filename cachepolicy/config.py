"""Validated, immutable cache configuration.

A :class:`CacheConfig` is a frozen value (``replace(**changes)`` makes a modified copy); runtime
state lives in the store. Option names are Redis's with underscores: ``maxmemory``,
``maxmemory_policy``, ``maxmemory_samples``, ``lfu_log_factor``, ``lfu_decay_time``,
``active_expire_effort``, ``hz``. :meth:`CacheConfig.from_options` also accepts them in upper case
or with dashes (``"maxmemory-policy"``, ``"MAXMEMORY_POLICY"``), so Django ``OPTIONS`` and Flask
``CACHE_*`` keys map directly. Unknown names are errors with a suggestion, never ignored.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

from .errors import ConfigError, did_you_mean
from .serializers import Serializer
from .sizing import parse_memory

__all__ = ["DEFAULT_MAXMEMORY", "DEFAULT_POLICY", "CacheConfig", "normalize_option_name"]

# Safe defaults (unlike Redis's unbounded noeviction): a web cache that grows without bound is
# exactly the failure LocMemCache/SimpleCache users report. 64 MiB holds ~100k typical
# fragments and is small next to a worker's memory; LRU is the least surprising ranking.
DEFAULT_MAXMEMORY = 64 * 1024 * 1024
DEFAULT_POLICY = "allkeys-lru"


def normalize_option_name(name: str) -> str:
    """``"MAXMEMORY-POLICY"`` -> ``"maxmemory_policy"``."""
    return name.strip().lower().replace("-", "_")


@dataclasses.dataclass(frozen=True)
class CacheConfig:
    """Everything that shapes a cache store. All fields are validated on construction."""

    #: Byte budget; 0 means unlimited (then nothing is ever evicted for memory).
    maxmemory: int = DEFAULT_MAXMEMORY
    #: One of the eight redis.conf names, a registered custom name, or a dotted path.
    maxmemory_policy: str = DEFAULT_POLICY
    #: Keys sampled per database per eviction round (Redis: 5; 10 is close to true LRU).
    maxmemory_samples: int = 5
    #: "sampled" (Redis's pool approximation) or "exact" (ordered structures, more memory).
    eviction_mode: str = "sampled"
    #: LFU counter growth: higher = more hits needed per increment (Redis default 10).
    lfu_log_factor: int = 10
    #: Minutes of idleness per LFU counter decrement; 0 = never decay (Redis default 1).
    lfu_decay_time: int = 1
    #: Expiry strategy name or dotted path (lazy expiry on access is always on).
    #: "timed": expired keys nobody reads are reclaimed within 1/hz s of writes, O(due keys), with
    #: no thread (safe under forking servers); "active" lags with many long-TTL keys (§12.8).
    expiry: str = "timed"
    #: Active expiry cycles per second (Redis's hz, 1..500).
    hz: int = 10
    #: 1..10: more effort reclaims expired keys sooner at more CPU (Redis's active-expire-effort).
    active_expire_effort: int = 1
    #: Number of databases sharing the one memory budget.
    databases: int = 16
    #: Optional bound on the number of keys, alongside the byte bound.
    max_entries: int | None = None
    #: When max_entries is reached: evict count // cull_frequency keys (0 = all, None = one).
    cull_frequency: int | None = None
    #: Values at least this many bytes are released off the request path (0 = never).
    lazyfree_threshold: int = 1024 * 1024
    #: "pickle", a dotted path, or a serializer object.
    serializer: str | Serializer = "pickle"

    def __post_init__(self) -> None:
        object.__setattr__(self, "maxmemory", parse_memory(self.maxmemory))
        _check_int(self, "maxmemory_samples", 1, 64)
        _check_int(self, "lfu_log_factor", 0, None)
        _check_int(self, "lfu_decay_time", 0, None)
        _check_int(self, "hz", 1, 500)
        _check_int(self, "active_expire_effort", 1, 10)
        _check_int(self, "databases", 1, 1024)
        object.__setattr__(
            self,
            "lazyfree_threshold",
            parse_memory(self.lazyfree_threshold, option="lazyfree_threshold"),
        )
        if self.max_entries is not None:
            _check_int(self, "max_entries", 1, None)
        if self.cull_frequency is not None:
            _check_int(self, "cull_frequency", 0, None)
        # Imported here: the registries import config for type hints only.
        from .eviction.registry import resolve_policy
        from .expiry.registry import resolve_expiry
        from .serializers import resolve_serializer

        resolve_policy(self.maxmemory_policy, self.eviction_mode)
        resolve_expiry(self.expiry)
        resolve_serializer(self.serializer)

    @classmethod
    def option_names(cls) -> list[str]:
        return [field.name for field in dataclasses.fields(cls)]

    @classmethod
    def from_options(cls, options: Mapping[str, Any] | None = None, **more: Any) -> CacheConfig:
        """Build from a mapping whose keys may be upper case or use dashes."""
        merged: dict[str, Any] = {}
        valid = cls.option_names()
        for raw_name, value in {**(options or {}), **more}.items():
            name = normalize_option_name(str(raw_name))
            if name not in valid:
                raise ConfigError(
                    f"Unknown cache option {raw_name!r}. Valid options: {', '.join(valid)}."
                    f"{did_you_mean(name, valid)}",
                    option=str(raw_name),
                )
            if name in merged:
                raise ConfigError(f"Cache option {name!r} is given twice.", option=name)
            merged[name] = value
        return cls(**merged)

    def replace(self, **changes: Any) -> CacheConfig:
        """A copy with some options changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def differences(self, other: CacheConfig) -> dict[str, tuple[Any, Any]]:
        """Options whose values differ: name -> (self's value, other's value)."""
        return {
            name: (getattr(self, name), getattr(other, name))
            for name in self.option_names()
            if getattr(self, name) != getattr(other, name)
        }


def _check_int(config: CacheConfig, name: str, low: int, high: int | None) -> None:
    value = getattr(config, name)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value)
        object.__setattr__(config, name, value)
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
        object.__setattr__(config, name, value)
    bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(
            f"Option {name!r} must be an integer {bounds}, got {type(value).__name__} {value!r}.",
            option=name,
        )
    if value < low or (high is not None and value > high):
        raise ConfigError(f"Option {name!r} must be {bounds}, got {value!r}.", option=name)
