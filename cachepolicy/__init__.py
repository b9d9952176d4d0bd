"""cachepolicy: Redis-grade memory management for in-process Python caches.

A byte budget (``maxmemory``), Redis's ten eviction policies (sampled with the 16-slot pool,
or exact), the logarithmic LFU counter with decay, lazy and active expiry, INFO statistics and
keyspace events. No Django or Flask import here: the adapters live in ``django_cachepolicy``
and ``flask_cachepolicy``.
"""

from . import forksafety  # noqa: F401  (first: registers the fork hooks before the threads')
from ._core.entry import Entry
from .clock import Clock, ManualClock, SystemClock
from .config import DEFAULT_MAXMEMORY, DEFAULT_POLICY, CacheConfig
from .errors import CachePolicyError, ConfigError, OutOfMemoryError, ValueTooLargeError
from .events import EVENT_NAMES, KeyspaceEvent
from .eviction import (
    REDIS_POLICIES,
    EvictionPolicy,
    SampledPolicy,
    policy_names,
    register_policy,
)
from .expiry import ExpiryStrategy, register_expiry
from .shared import get_shared_store, release_shared_store
from .sizing import format_bytes, parse_memory
from .store import CacheStore
from .view import KEEP_TTL, Cache

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_MAXMEMORY",
    "DEFAULT_POLICY",
    "EVENT_NAMES",
    "KEEP_TTL",
    "REDIS_POLICIES",
    "Cache",
    "CacheConfig",
    "CachePolicyError",
    "CacheStore",
    "Clock",
    "ConfigError",
    "Entry",
    "EvictionPolicy",
    "ExpiryStrategy",
    "KeyspaceEvent",
    "ManualClock",
    "OutOfMemoryError",
    "SampledPolicy",
    "SystemClock",
    "ValueTooLargeError",
    "__version__",
    "format_bytes",
    "get_shared_store",
    "parse_memory",
    "policy_names",
    "register_expiry",
    "register_policy",
    "release_shared_store",
]
