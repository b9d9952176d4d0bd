"""The plan: what the engine does for each hook, and what an entry costs, derived once.

Policies and expiry strategies are interpreted Python that users subclass. They *declare* how
the engine may serve them (:mod:`~cachepolicy._core.ports`): what a policy records on a read
and on a write (``read_access``, ``write_access``), where its victims come from (``victims``),
whether a strategy owns a deadline index the engine may file TTLs into, and which hooks the
engine may serve from those declarations (``fast_hooks``; a hook a subclass overrides leaves
that set by itself, so the engine calls it). This module is the one place that reads those
declarations: :class:`Plan` turns them into the code path of every hook and the per-entry
costs, and the engine and its rooms only read the plan. The engine never looks at a class's
identity.

A plan is immutable once built. Reconfiguration (``CONFIG SET``) derives a new plan from the
new configuration and the engine adopts it (:mod:`~cachepolicy._core.reconfigure`).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, Final

from .entry import ENTRY_OVERHEAD, LFU_OVERHEAD, SLOT_OVERHEAD, TTL_OVERHEAD, TTL_SLOT_OVERHEAD
from .ports import Access, Victims

if TYPE_CHECKING:
    from random import Random

    from ..config import CacheConfig
    from ..eviction.base import EvictionPolicy
    from ..expiry.base import ExpiryStrategy
    from .deadlines import DeadlineIndex
    from .sampler import Sampler

__all__ = ["HOOK", "LFU", "NONE", "POOL", "RANDOM", "STAMP", "Plan"]

#: Access paths (how a read, a write or an insert is recorded), as ints for the hot paths.
NONE: Final = int(Access.NONE)
STAMP: Final = int(Access.STAMP)
LFU: Final = int(Access.LFU)
HOOK: Final = int(Access.HOOK)
#: Victim paths (where victims come from); HOOK: the policy's ``select_victim``.
POOL: Final = int(Victims.POOL)
RANDOM: Final = int(Victims.RANDOM)

_GIL_ENABLED: Final = bool(getattr(sys, "_is_gil_enabled", lambda: True)())
_ACCESS_NAMES: Final = {NONE: "none", STAMP: "stamp", LFU: "lfu", HOOK: "hook"}
_VICTIM_NAMES: Final = {int(Victims.NONE): "none", POOL: "pool", RANDOM: "random", HOOK: "hook"}


class Plan:
    """Every decision the engine takes from the configuration, the policy's declarations and
    the expiry strategy's, taken once."""

    def __init__(self, config: CacheConfig, policy: EvictionPolicy, expiry: ExpiryStrategy) -> None:
        self.config = config
        self.policy = policy
        self.expiry = expiry
        # ---- limits
        self.limit: int = config.maxmemory
        self.max_entries: int = config.max_entries if config.max_entries is not None else -1
        self.cull_frequency: int = (
            config.cull_frequency if config.cull_frequency is not None else -1
        )
        self.lazyfree_threshold: int = config.lazyfree_threshold
        self.lfu_log_factor: int = config.lfu_log_factor
        self.lfu_decay_time: int = config.lfu_decay_time
        # ---- what an entry costs. The TTL sampling arrays cost an append and a swap-remove
        # per write and removal of a key with a TTL: kept only when something samples TTL keys.
        self.index_volatile: bool = (
            policy.volatile_only or policy.uses_ttl_index or expiry.uses_ttl_index
        )
        lfu = LFU_OVERHEAD if Access.LFU in (policy.read_access, policy.write_access) else 0
        slot = SLOT_OVERHEAD if policy.uses_slot else 0
        self.plain_overhead: int = ENTRY_OVERHEAD + lfu + slot + policy.metadata_overhead
        ttl_slot = 0 if self.index_volatile else TTL_SLOT_OVERHEAD
        self.volatile_overhead: int = (
            self.plain_overhead
            + TTL_OVERHEAD
            - ttl_slot
            + expiry.metadata_overhead
            + policy.volatile_metadata_overhead
        )
        # ---- the policy's hooks: served from a declaration, or called.
        fast = policy.fast_hooks
        read = int(policy.read_access)
        write = int(policy.write_access)
        self.insert_path: int = write if "on_insert" in fast else HOOK
        self.read_path: int = read if "on_read" in fast else HOOK
        self.write_path: int = write if "on_write" in fast else HOOK
        #: A read hook that needs the lock (or no GIL to make lock-free reads safe).
        self.read_locked: bool = self.read_path == HOOK and not (
            _GIL_ENABLED and not policy.on_read_needs_lock
        )
        self.policy_on_miss: bool = "on_miss" not in fast
        self.policy_on_remove: bool = "on_remove" not in fast
        self.policy_admits: bool = "admit" not in fast
        self.policy_on_ttl: bool = "on_ttl_change" not in fast
        #: The policy measures structures of its own (re-measured as they grow and shrink).
        self.policy_structures: bool = "structure_bytes" not in fast
        self.evicts: bool = policy.evicts
        victims = int(policy.victims) if policy.evicts else int(Victims.NONE)
        self.victim_path: int = victims if "select_victim" in fast else HOOK
        self.batch_path: int = victims if "select_victims" in fast else HOOK
        self.sampler: Sampler | None = policy.sampler if victims in (POOL, RANDOM) else None
        self.policy_rng: Random = policy.rng
        #: Whether any key may be evicted: only restricted policies pay for counting their
        #: candidates' bytes before evicting.
        self.evicts_any_key: bool = (
            policy.evicts and not policy.volatile_only and "candidate_bytes" in fast
        )
        #: Victims are the policy's own choice (not the sampler's): the evictions of a write
        #: are kept restorable until it has room, since such a policy may run out part-way.
        self.restorable_evictions: bool = self.victim_path == HOOK
        # ---- the expiry strategy's hooks.
        fast_expiry = expiry.fast_hooks
        self.index: DeadlineIndex | None = expiry.index if expiry.deadline_index else None
        self.expiry_on_ttl_set: bool = "on_ttl_set" not in fast_expiry
        self.expiry_on_ttl_cleared: bool = "on_ttl_cleared" not in fast_expiry
        self.expiry_on_delete: bool = "on_delete" not in fast_expiry
        #: ``after_operation`` may be skipped until the strategy's ``due_at``.
        self.after_gated: bool = "after_operation" in fast_expiry

    def entry_overhead(self, has_ttl: bool) -> int:
        """An entry's fixed cost beyond its key and value."""
        return self.volatile_overhead if has_ttl else self.plain_overhead

    def describe(self) -> dict[str, Any]:
        """The code path chosen for each hook (for tests and ``info()``)."""
        return {
            "insert": _ACCESS_NAMES[self.insert_path],
            "read": _ACCESS_NAMES[self.read_path],
            "write": _ACCESS_NAMES[self.write_path],
            "victims": _VICTIM_NAMES[self.victim_path],
            "batch": _VICTIM_NAMES[self.batch_path],
            "deadline_index": self.index is not None,
        }
