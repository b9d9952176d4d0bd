"""Reconfiguration: Redis's ``CONFIG SET maxmemory`` / ``maxmemory-policy`` on a live engine.

A new :class:`~cachepolicy._core.plan.Plan` is derived from the new configuration and adopted
by the engine under its lock, in one step for readers and writers; the keys, counters, lock and
subscribers are the engine's and stay. On a policy switch every key is re-admitted as if just
written (:func:`readmit`). The budget is then enforced at once through the eviction loop every
write uses, with ``evicted`` events and ``evicted_keys``. A limit the policy cannot reach
(``noeviction``, or ``volatile-*`` without enough TTL keys) raises
:class:`~cachepolicy.errors.ConfigError` before anything changed (:func:`refuse_unreachable`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from ..errors import ConfigError
from ..sizing import format_bytes
from .entry import Entry, stamp
from .plan import HOOK, LFU, Plan
from .ranking import lfu_init

if TYPE_CHECKING:
    from ..config import CacheConfig
    from ..eviction.base import EvictionPolicy
    from .engine import Engine

__all__ = ["readmit", "reconfigure", "refuse_unreachable"]

# A bound on the tables' bytes per key left after evictions, relative to their bytes per key
# now: 2 for the shrink hysteresis (tables are rebuilt at half their high-water mark) times 2
# for the power-of-two steps a dict's table grows in (see refuse_unreachable).
_TABLES_PER_KEY_BOUND: Final = 4


def reconfigure(engine: Engine, config: CacheConfig, policy: EvictionPolicy | None = None) -> None:
    """Adopt ``config`` (new, already validated) and, if given, switch to ``policy`` (a new
    policy object; None keeps the current one, for a change of ``maxmemory`` alone)."""
    chosen = policy if policy is not None else engine.policy
    plan = Plan(config, chosen, engine.expiry)
    engine.acquire()
    try:
        now = engine.time()
        refuse_unreachable(engine, plan)
        switching = chosen is not engine.policy
        engine.adopt(plan)
        chosen.config = config  # the policy reads its options from it
        if switching:
            readmit(engine, now)
        if engine.populated:
            engine.evictor.fit(engine.populated[0], now)
    finally:
        engine.unlock()


def refuse_unreachable(engine: Engine, plan: Plan) -> None:
    """Raise ConfigError if ``plan``'s policy could not bring ``used_memory`` under its limit
    (lock held; nothing changed yet), i.e. if evicting every candidate key would still leave
    more than the limit. Entry sizes are projected with the new plan's per-entry overheads.
    The tables shrink as keys go (a keyspace rebuilds its tables once it holds under half its
    high-water mark), so what they would hold for the keys left is bounded by
    :data:`_TABLES_PER_KEY_BOUND` times their present bytes per key (they were projected
    unevictable, which refused reachable limits: issue 19)."""
    limit = plan.limit
    if not limit or plan.evicts_any_key:
        return  # a policy that may evict any key reaches any limit (>= one entry)
    ledger = engine.ledger
    used = ledger.used_memory
    evictable = 0
    kept = 0
    policy = plan.policy
    plain = plan.plain_overhead - engine.plan.plain_overhead
    volatile = plan.volatile_overhead - engine.plan.volatile_overhead
    for keyspace in engine.populated:
        for entry in keyspace.entries:
            size = entry.size + (volatile if entry.deadline is not None else plain)
            used += size - entry.size
            if policy.is_candidate(entry):
                evictable += size
            else:
                kept += 1
    tables = ledger.structure_memory
    if ledger.key_count:
        tables_left = min(tables, _TABLES_PER_KEY_BOUND * tables * kept // ledger.key_count)
        used -= tables - tables_left
    needed = used - limit
    if needed > 0 and evictable < needed:
        raise ConfigError(
            f"Cannot set maxmemory to {limit} bytes ({format_bytes(limit)}) with policy "
            f"{policy.describe()!r}: {format_bytes(used - evictable)} would remain in use "
            f"after evicting all {format_bytes(evictable)} it may evict, so the cache "
            f"could not get under the limit. Delete or expire keys first, or choose a "
            f"policy that may evict them (e.g. 'allkeys-lru').",
            option="maxmemory",
        )


def readmit(engine: Engine, now: float) -> None:
    """After a policy switch (lock held, new plan adopted): every key is re-admitted as if
    just written.

    The new policy starts with no ranking state of the old one's: an LRU stamp is never read
    as an LFU counter (Redis reuses one 24-bit field for both, so after ``CONFIG SET
    maxmemory-policy`` from LRU to LFU it reads clock bits as counters until keys are touched
    again). LFU counters start at ``LFU_INIT_VAL`` (5) and recency stamps at ``now``; keys are
    re-admitted in their previous recency order, so the stamps' sequence keeps who was used
    last, and an LRU-to-LRU switch (sampled to exact) keeps its order. The new policy's own
    structures (exact mode) are built by its ``on_insert`` hook; the entries' sizes take the
    new policy's per-entry overhead; TTL sampling arrays are built or dropped as the new
    policy needs them. The expiry strategy's state is untouched.
    """
    plan = engine.plan
    ledger = engine.ledger
    entries = [entry for keyspace in engine.keyspaces for entry in keyspace.entries]
    entries.sort(key=_recency)
    for keyspace in engine.keyspaces:
        keyspace.set_index_volatile(plan.index_volatile)
    path = plan.insert_path
    policy = plan.policy
    for entry in entries:
        keyspace = engine.keyspaces[entry.db]
        ledger.resize(
            keyspace, entry, ledger.entry_size(entry.key, entry.payload, entry.deadline is not None)
        )
        entry.lfu = 0
        entry.ldt = 0
        entry.version += 1
        if path == LFU:
            stamp(entry, now)  # the sequence keeps the recency order for tie-breaks
            lfu_init(entry, now)
        elif path == HOOK:
            policy.on_insert(entry, now)
        else:  # STAMP, and NONE (a stamp costs nothing and keeps the order for a later switch)
            stamp(entry, now)
    ledger.recount_all()


def _recency(entry: Entry) -> tuple[float, int]:
    """Sort key of who was used last: the access time, ties broken by the access sequence."""
    return (entry.atime, entry.aseq)
