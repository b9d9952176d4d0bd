"""Eviction policies: Redis's eight maxmemory policies and the base classes for your own."""

from .base import EvictionPolicy
from .frequency import (
    LFU_INIT_VAL,
    AllKeysLFU,
    ExactAllKeysLFU,
    ExactVolatileLFU,
    VolatileLFU,
    lfu_decay,
    lfu_log_incr,
)
from .random import AllKeysRandom, NoEviction, VolatileRandom
from .recency import AllKeysLRU, ExactAllKeysLRU, ExactVolatileLRU, VolatileLRU
from .registry import (
    EVICTION_MODES,
    REDIS_POLICIES,
    PolicySpec,
    policy_names,
    register_policy,
    resolve_policy,
    unregister_policy,
)
from .sampled import EVPOOL_SIZE, SampledPolicy
from .ttl import ExactVolatileTTL, VolatileTTL

__all__ = [
    "EVICTION_MODES",
    "EVPOOL_SIZE",
    "LFU_INIT_VAL",
    "REDIS_POLICIES",
    "AllKeysLFU",
    "AllKeysLRU",
    "AllKeysRandom",
    "EvictionPolicy",
    "ExactAllKeysLFU",
    "ExactAllKeysLRU",
    "ExactVolatileLFU",
    "ExactVolatileLRU",
    "ExactVolatileTTL",
    "NoEviction",
    "PolicySpec",
    "SampledPolicy",
    "VolatileLFU",
    "VolatileLRU",
    "VolatileRandom",
    "VolatileTTL",
    "lfu_decay",
    "lfu_log_incr",
    "policy_names",
    "register_policy",
    "resolve_policy",
    "unregister_policy",
]
