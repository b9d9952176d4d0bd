"""An expiry strategy that reclaims on the write path, written against the public API.

No thread and no timer: at most once per ``interval`` seconds, a write (``set``, ``delete``,
``expire``...) sweeps up to ``limit`` keys with a TTL, continuing where the previous sweep
stopped, and deletes those whose deadline has passed. A cache nobody writes to reclaims
nothing; reads never see an expired key anyway (lazy expiry is always on).
``docs/expiry/custom.md`` walks through it; ``tests/expiry/test_custom_strategy.py`` runs it.
"""

from __future__ import annotations

from typing import Any

from cachepolicy import Cache, ExpiryStrategy, ManualClock, register_expiry
from cachepolicy.config import CacheConfig
from cachepolicy.expiry import expiry_names


class SweepOnWrite(ExpiryStrategy):
    """Sweep up to ``limit`` TTL keys after a write, at most every ``interval`` seconds."""

    name = "sweep-on-write"
    #: Keep each database's array of keys with a TTL, which the sweep walks.
    uses_ttl_index = True
    #: Re-declared, so the engine still skips ``after_operation`` (overridden below) until the
    #: time published with ``publish_due``, without a Python call per write.
    fast_hooks = ExpiryStrategy.fast_hooks
    interval = 1.0
    limit = 200

    def __init__(self, config: CacheConfig) -> None:
        super().__init__(config)
        self.cursors: dict[int, int] = {}  # per database: where the next sweep starts
        self.reclaimed = 0
        self.due_at = 0.0  # the first write sweeps (attach() publishes it)

    def after_operation(self, now: float) -> None:
        self.publish_due(now + self.interval)
        self.reclaim(now, budget=0.001)

    def reclaim(self, now: float, budget: float) -> int:
        context = self.context
        if context is None:  # the cache is gone
            return 0
        removed = 0
        with context.locked():  # hooks never call the cache API: this takes the lock itself
            for keyspace in context.keyspaces:
                volatile = keyspace.volatile_entries()  # live: collect first, then delete
                if not volatile:
                    continue
                start = self.cursors.get(keyspace.db, 0) % len(volatile)
                seen = [
                    volatile[(start + i) % len(volatile)]
                    for i in range(min(self.limit, len(volatile)))
                ]
                self.cursors[keyspace.db] = start + len(seen)
                for entry in seen:
                    if entry.deadline is not None and now > entry.deadline:
                        context.delete_expired(entry)  # counted in expired_keys, "expired" event
                        removed += 1
        self.reclaimed += removed
        return removed

    def info(self) -> dict[str, Any]:
        return {"sweep_reclaimed_keys": self.reclaimed}


def build_cache(clock: ManualClock) -> Cache:
    """Register the strategy once, then select it by name like a built-in."""
    if "sweep-on-write" not in expiry_names():
        register_expiry("sweep-on-write", SweepOnWrite)
    return Cache(maxmemory="1mb", expiry="sweep-on-write", clock=clock)


if __name__ == "__main__":
    clock = ManualClock(1_700_000_000.0)
    cache = build_cache(clock)
    for i in range(100):
        cache.set(f"session:{i}", i, ttl=30)
    clock.advance(31)
    cache.set("trigger", 1)  # a write: the sweep runs
    print("expired_keys:", cache.info()["expired_keys"], "| keys left:", len(cache))
