"""Policies selectable by name.

Built-ins are registered under their redis.conf names, each with a sampled (Redis-faithful) and
an exact implementation. Users add their own with :func:`register_policy`, or name a class by
dotted path (``"myapp.policies.SizeAwareLRU"``) without registering it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from ..dotted import import_dotted
from ..errors import ConfigError, did_you_mean
from .base import EvictionPolicy
from .exact import (
    ExactAllKeysLFU,
    ExactAllKeysLRU,
    ExactVolatileLFU,
    ExactVolatileLRU,
    ExactVolatileTTL,
)
from .sampled import (
    AllKeysLFU,
    AllKeysLRU,
    AllKeysRandom,
    NoEviction,
    VolatileLFU,
    VolatileLRU,
    VolatileRandom,
    VolatileTTL,
)

__all__ = [
    "EVICTION_MODES",
    "REDIS_POLICIES",
    "PolicySpec",
    "policy_names",
    "register_policy",
    "resolve_policy",
    "unregister_policy",
]

#: "sampled" reproduces Redis (maxmemory-samples + pool); "exact" uses ordered structures.
EVICTION_MODES = ("sampled", "exact")


@dataclass(frozen=True)
class PolicySpec:
    """A named policy: the class that runs by default (``eviction_mode="sampled"``) and,
    optionally, the one that runs with ``eviction_mode="exact"``."""

    name: str
    default: type[EvictionPolicy]
    exact: type[EvictionPolicy] | None = None

    def implementation(self, mode: str) -> type[EvictionPolicy]:
        if mode == "exact" and self.exact is not None:
            return self.exact
        return self.default


_REGISTRY: dict[str, PolicySpec] = {}
_LOCK = threading.Lock()


def register_policy(
    name: str,
    default: type[EvictionPolicy],
    exact: type[EvictionPolicy] | None = None,
    *,
    replace: bool = False,
) -> PolicySpec:
    """Make a policy selectable as ``maxmemory_policy=name``.

    ``default`` runs with ``eviction_mode="sampled"`` (the default mode), ``exact`` with
    ``eviction_mode="exact"``; without ``exact`` both modes run ``default``. Registering a
    taken name raises unless ``replace=True``, so two libraries cannot silently shadow each
    other's policy.
    """
    for cls in (default, exact):
        if cls is not None and not (isinstance(cls, type) and issubclass(cls, EvictionPolicy)):
            raise TypeError(
                f"register_policy({name!r}) needs EvictionPolicy subclasses, got {cls!r}."
            )
    spec = PolicySpec(name, default, exact)
    with _LOCK:
        if name in _REGISTRY and not replace:
            raise ConfigError(
                f"An eviction policy named {name!r} is already registered; pass replace=True "
                f"to override it.",
                option="maxmemory_policy",
            )
        _REGISTRY[name] = spec
    return spec


def unregister_policy(name: str) -> None:
    """Remove a user policy (built-ins cannot be removed)."""
    if name in REDIS_POLICIES:
        raise ConfigError(f"The built-in policy {name!r} cannot be unregistered.")
    with _LOCK:
        _REGISTRY.pop(name, None)


def policy_names() -> list[str]:
    """Every registered name, built-ins first in redis.conf order."""
    return list(_REGISTRY)


def resolve_policy(spec: str | type[EvictionPolicy], mode: str = "sampled") -> type[EvictionPolicy]:
    """Turn a name, dotted path or class into the implementation class for ``mode``."""
    if isinstance(mode, str) and mode.strip().lower() in EVICTION_MODES:
        mode = mode.strip().lower()
    if mode not in EVICTION_MODES:
        raise ConfigError(
            f"Option 'eviction_mode' must be one of {', '.join(map(repr, EVICTION_MODES))}, "
            f"got {mode!r}.{did_you_mean(str(mode).lower(), EVICTION_MODES)}",
            option="eviction_mode",
        )
    if isinstance(spec, type):
        if issubclass(spec, EvictionPolicy):
            return spec
        raise ConfigError(
            f"Option 'maxmemory_policy' must name an EvictionPolicy subclass, got {spec!r}.",
            option="maxmemory_policy",
        )
    if not isinstance(spec, str):
        raise ConfigError(
            f"Option 'maxmemory_policy' must be a policy name or dotted path, got {spec!r}.",
            option="maxmemory_policy",
        )
    registered = _REGISTRY.get(spec) or _REGISTRY.get(spec.strip().lower())
    if registered is not None:
        return registered.implementation(mode)
    if "." in spec:
        return _import_policy(spec)
    raise ConfigError(
        f"Option 'maxmemory_policy' has unknown policy {spec!r}. Valid policies: "
        f"{', '.join(policy_names())}, or the dotted path of an EvictionPolicy subclass."
        f"{did_you_mean(spec.lower(), policy_names())}",
        option="maxmemory_policy",
    )


def _import_policy(path: str) -> type[EvictionPolicy]:
    target = import_dotted(
        path, option="maxmemory_policy", accepted="a registered policy name", names=policy_names()
    )
    if not (isinstance(target, type) and issubclass(target, EvictionPolicy)):
        raise ConfigError(
            f"Option 'maxmemory_policy' = {path!r} is {target!r}, not an EvictionPolicy subclass.",
            option="maxmemory_policy",
        )
    return target


# Redis's eight policies as data: (name, default implementation, exact implementation). The
# default column is Redis's sampled algorithm; the exact column the ordered structure of the
# same rank.
_REDIS_TABLE: tuple[tuple[str, type[EvictionPolicy], type[EvictionPolicy] | None], ...] = (
    ("noeviction", NoEviction, None),
    ("allkeys-lru", AllKeysLRU, ExactAllKeysLRU),
    ("volatile-lru", VolatileLRU, ExactVolatileLRU),
    ("allkeys-lfu", AllKeysLFU, ExactAllKeysLFU),
    ("volatile-lfu", VolatileLFU, ExactVolatileLFU),
    ("allkeys-random", AllKeysRandom, None),
    ("volatile-random", VolatileRandom, None),
    ("volatile-ttl", VolatileTTL, ExactVolatileTTL),
)
for _name, _default, _exact in _REDIS_TABLE:
    _REGISTRY[_name] = PolicySpec(_name, _default, _exact)

#: The eight maxmemory-policy names of redis.conf.
REDIS_POLICIES = tuple(_REGISTRY)
