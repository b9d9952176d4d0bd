"""Runs the contract mixins against every registered policy in both eviction modes.

Classes are generated from the registry, so a newly registered built-in policy is covered
without touching this file.
"""

from __future__ import annotations

from typing import Any

from cachepolicy.eviction import REDIS_POLICIES

from .contract import (
    AllKeysContract,
    BasicContract,
    EvictingContract,
    ExpiryContract,
    MaxEntriesContract,
    MemoryContract,
    NoEvictionContract,
    VolatileContract,
)


def _mixins_for(policy: str) -> tuple[type, ...]:
    mixins: list[type] = [BasicContract, ExpiryContract, MemoryContract]
    if policy == "noeviction":
        mixins.append(NoEvictionContract)
    else:
        mixins += [EvictingContract, MaxEntriesContract]
        mixins.append(VolatileContract if policy.startswith("volatile-") else AllKeysContract)
    return tuple(mixins)


def _class_name(policy: str, mode: str) -> str:
    words = policy.replace("-", " ").title().replace(" ", "")
    return f"Test{words}{mode.title()}"


for _policy in REDIS_POLICIES:
    for _mode in ("sampled", "exact"):
        _options: dict[str, Any] = {"maxmemory_policy": _policy, "eviction_mode": _mode}
        _name = _class_name(_policy, _mode)
        globals()[_name] = type(_name, _mixins_for(_policy), {"options": _options})
