"""Eviction policies: Redis's ten maxmemory policies, ours beyond them (W-TinyLFU, GDSF), and
the base classes for your own."""

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
from .gdsf import (
    AllKeysGDSF,
    ExactAllKeysGDSF,
    ExactVolatileGDSF,
    GreedyDualSizeFrequency,
    VolatileGDSF,
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
    "AllKeysGDSF",
    "AllKeysLFU",
    "AllKeysLRM",
    "AllKeysLRU",
    "AllKeysRandom",
    "EvictionPolicy",
    "ExactAllKeysGDSF",
    "ExactAllKeysLFU",
    "ExactAllKeysLRM",
    "ExactAllKeysLRU",
    "ExactVolatileGDSF",
    "ExactVolatileLFU",
    "ExactVolatileLRM",
    "ExactVolatileLRU",
    "ExactVolatileTTL",
    "GreedyDualSizeFrequency",
    "NoEviction",
    "PolicySpec",
    "Ranking",
    "Removal",
    "SampledPolicy",
    "Victims",
    "VolatileGDSF",
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
