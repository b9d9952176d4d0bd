"""Eviction policies: Redis's ten maxmemory policies and the base classes for your own."""

from .._core.ports import Access, Ranking, Removal, Victims
from .._core.ranking import LFU_INIT_VAL, lfu_decay, lfu_log_incr
from .._core.sampler import EVPOOL_SIZE
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
from .registry import (
    BUILTIN_POLICIES,
    EVICTION_MODES,
    REDIS_POLICIES,
    PolicySpec,
    policy_names,
    policy_spec,
    register_policy,
    resolve_policy,
    unregister_policy,
)
from .sampled import (
    AllKeysLFU,
    AllKeysLRM,
    AllKeysLRU,
    AllKeysRandom,
    NoEviction,
    SampledPolicy,
    VolatileLFU,
    VolatileLRM,
    VolatileLRU,
    VolatileRandom,
    VolatileTTL,
)

__all__ = [
    "BUILTIN_POLICIES",
    "EVICTION_MODES",
    "EVPOOL_SIZE",
    "LFU_INIT_VAL",
    "REDIS_POLICIES",
    "Access",
    "AllKeysLFU",
    "AllKeysLRM",
    "AllKeysLRU",
    "AllKeysRandom",
    "EvictionPolicy",
    "ExactAllKeysLFU",
    "ExactAllKeysLRM",
    "ExactAllKeysLRU",
    "ExactVolatileLFU",
    "ExactVolatileLRM",
    "ExactVolatileLRU",
    "ExactVolatileTTL",
    "NoEviction",
    "PolicySpec",
    "Ranking",
    "Removal",
    "SampledPolicy",
    "Victims",
    "VolatileLFU",
    "VolatileLRM",
    "VolatileLRU",
    "VolatileRandom",
    "VolatileTTL",
    "lfu_decay",
    "lfu_log_incr",
    "policy_names",
    "policy_spec",
    "register_policy",
    "resolve_policy",
    "unregister_policy",
]
