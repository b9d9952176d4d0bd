"""Policies selectable by name.

Built-ins are registered under their redis.conf names, each with a sampled (Redis-faithful) and
an exact implementation. Users add their own with :func:`register_policy`, or name a class by
dotted path (``"myapp.policies.SizeAwareLRU"``) without registering it.

``eviction_mode="exact"`` runs a name's exact class, and is refused for a name registered
without one: running the default class instead would be a sampled policy reported as exact.
``noeviction``, ``allkeys-random`` and ``volatile-random`` have one class for both modes: it is
already what exact mode promises (nothing ranked: no eviction, or a uniformly random key), so
each is registered as its own exact class. A class named directly (a dotted path or the class
itself) runs as it is in either mode. ``info()["eviction_class"]`` names the class that runs.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from ..dotted import import_dotted
from ..errors import ConfigError, did_you_mean
from .base import EvictionPolicy
from .exact import (
    ExactAllKeysLFU,
    ExactAllKeysLRM,
    ExactAllKeysLRU,
    ExactVolatileLFU,
    ExactVolatileLRM,
    ExactVolatileLRU,
    ExactVolatileTTL,
)
from .gdsf import AllKeysGDSF, ExactAllKeysGDSF, ExactVolatileGDSF, VolatileGDSF
from .sampled import (
    AllKeysLFU,
    AllKeysLRM,
    AllKeysLRU,
    AllKeysRandom,
    NoEviction,
    VolatileLFU,
    VolatileLRM,
    VolatileLRU,
    VolatileRandom,
    VolatileTTL,
)
from .wtinylfu import WindowTinyLFU

__all__ = [
    "BUILTIN_POLICIES",
    "EVICTION_MODES",
    "REDIS_POLICIES",
    "PolicySpec",
    "policy_names",
    "policy_spec",
    "register_policy",
    "resolve_policy",
    "unregister_policy",
]

#: "sampled" reproduces Redis (maxmemory-samples + pool); "exact" uses ordered structures.
EVICTION_MODES = ("sampled", "exact")


@dataclass(frozen=True)
class PolicySpec:
    """A named policy: the class that runs by default (``eviction_mode="sampled"``) and the
    one that runs with ``eviction_mode="exact"`` (None: exact mode is refused)."""

    name: str
    default: type[EvictionPolicy]
    exact: type[EvictionPolicy] | None = None

    def implementation(self, mode: str) -> type[EvictionPolicy]:
        if mode != "exact":
            return self.default
        if self.exact is None:
            raise ConfigError(
                f"Option 'eviction_mode' = 'exact' cannot be used with the policy "
                f"{self.name!r}: it was registered without an exact class, and running its "
                f"default class {self.default.__name__} would not be exact. Register one with "
                f"register_policy({self.name!r}, {self.default.__name__}, exact=..., "
                f"replace=True) (the same class again if it is already exact), or use "
                f"eviction_mode='sampled'.",
                option="eviction_mode",
            )
        return self.exact


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
    ``eviction_mode="exact"``; without ``exact``, exact mode is refused with a ConfigError (pass
    the same class as both if it is already exact). Registering a
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
    if name in BUILTIN_POLICIES:
        raise ConfigError(f"The built-in policy {name!r} cannot be unregistered.")
    with _LOCK:
        _REGISTRY.pop(name, None)


def policy_spec(name: str) -> PolicySpec:
    """What ``name`` is registered as (any case); a ConfigError with suggestions if nothing."""
    spec = _REGISTRY.get(name) or _REGISTRY.get(name.strip().lower())
    if spec is None:
        raise ConfigError(
            f"No eviction policy is registered as {name!r}. Registered: "
            f"{', '.join(policy_names())}.{did_you_mean(name.strip().lower(), policy_names())}",
            option="maxmemory_policy",
        )
    return spec


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


# Redis's ten policies as data: (name, default implementation, exact implementation). The
# default column is Redis's sampled algorithm; the exact column the ordered structure of the
# same rank, or the same class where that is already exact (see the module docstring).
_REDIS_TABLE: tuple[tuple[str, type[EvictionPolicy], type[EvictionPolicy]], ...] = (
    ("noeviction", NoEviction, NoEviction),
    ("allkeys-lru", AllKeysLRU, ExactAllKeysLRU),
    ("volatile-lru", VolatileLRU, ExactVolatileLRU),
    ("allkeys-lfu", AllKeysLFU, ExactAllKeysLFU),
    ("volatile-lfu", VolatileLFU, ExactVolatileLFU),
    ("allkeys-random", AllKeysRandom, AllKeysRandom),
    ("volatile-random", VolatileRandom, VolatileRandom),
    ("volatile-ttl", VolatileTTL, ExactVolatileTTL),
    # Redis 8.6: least recently *modified* (the stamp moves on writes only).
    ("allkeys-lrm", AllKeysLRM, ExactAllKeysLRM),
    ("volatile-lrm", VolatileLRM, ExactVolatileLRM),
)
for _name, _default, _exact in _REDIS_TABLE:
    _REGISTRY[_name] = PolicySpec(_name, _default, _exact)

#: The ten maxmemory-policy names of redis.conf (Redis 8.6 added the two LRM ones).
REDIS_POLICIES = tuple(_REGISTRY)

# Beyond Redis, on the same port. W-TinyLFU: one implementation (its structures are exact).
_REGISTRY["allkeys-wtinylfu"] = PolicySpec("allkeys-wtinylfu", WindowTinyLFU, WindowTinyLFU)
# GreedyDual-Size-Frequency: a ranking, like LFU, so both axes and both modes (pool or heap).
_REGISTRY["allkeys-gdsf"] = PolicySpec("allkeys-gdsf", AllKeysGDSF, ExactAllKeysGDSF)
_REGISTRY["volatile-gdsf"] = PolicySpec("volatile-gdsf", VolatileGDSF, ExactVolatileGDSF)

#: Every built-in name: Redis's ten, then ours.
BUILTIN_POLICIES = tuple(_REGISTRY)
