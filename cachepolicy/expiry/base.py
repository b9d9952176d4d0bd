"""The expiry strategy interface.

Lazy expiry is not a choice: every lookup checks the deadline (``now > deadline``, as Redis's
``keyIsExpired``) and deletes an expired entry on the spot. An :class:`ExpiryStrategy` decides
what *else* reclaims expired entries that nobody reads again: nothing (``lazy``), Redis's
active cycle, a deadline-ordered index, or a background thread.

Hooks ``on_ttl_set``/``on_delete``/``reset`` run under the store lock and must not call the public
cache API. ``reclaim`` and the thread a strategy may start take the lock themselves through
``store.locked()``, in short slices.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any, ClassVar

from ..keyspace import Entry

if TYPE_CHECKING:
    from ..config import CacheConfig
    from ..store import CacheStore

__all__ = ["ExpiryStrategy", "LazyExpiry"]


class ExpiryStrategy:
    """Base class: reclaims nothing beyond lazy expiry. Subclass to add active reclamation."""

    name: ClassVar[str] = ""
    #: Bytes per volatile entry this strategy's own index costs (counted in ``used_memory``).
    metadata_overhead: ClassVar[int] = 0
    #: Whether the strategy samples keys that have a TTL (``keyspace.volatile_entries()`` as
    #: a live array, ``sample(..., volatile=True)``): the store then keeps the TTL sampling
    #: arrays (an append and a swap-remove per write and removal of a key with a TTL).
    uses_ttl_index: ClassVar[bool] = False
    #: Whether the strategy keeps references to removed entries (left-over index records).
    #: The store then leaves the reuse of evicted TTL entries to the strategy, which hands
    #: them to :func:`cachepolicy.keyspace.keep_spares` when it drops their last record.
    retains_removed_entries: ClassVar[bool] = False

    def __init__(self, config: CacheConfig) -> None:
        self.config = config
        self._store_ref: weakref.ReferenceType[CacheStore] | None = None

    def attach(self, store: CacheStore) -> None:
        """Called once by the store. Only a weak reference is kept, so a strategy's thread
        never keeps an otherwise unreachable cache alive."""
        self._store_ref = weakref.ref(store)

    @property
    def store(self) -> CacheStore | None:
        return self._store_ref() if self._store_ref is not None else None

    def on_ttl_set(self, entry: Entry, previous: float | None) -> None:
        """``entry.deadline`` was set or changed (``previous`` is the old one, or None)."""

    def on_ttl_cleared(self, entry: Entry) -> None:
        """``entry`` lost its deadline (persist, or overwritten without TTL)."""

    def on_delete(self, entry: Entry) -> None:
        """``entry`` left the cache for any reason."""

    def reset(self) -> None:
        """All databases were flushed."""

    def start(self) -> None:
        """Start background work (threads). Called by the store after construction."""

    def stop(self) -> None:
        """Stop background work; must be idempotent."""

    def after_operation(self, now: float) -> None:
        """Called after each write outside the lock: lets a strategy piggy-back its work."""

    def reclaim(self, now: float, budget: float) -> int:
        """Reclaim expired entries for at most ``budget`` seconds; returns how many."""
        return 0

    def check(self) -> list[str]:
        return []

    def info(self) -> dict[str, Any]:
        return {}


class LazyExpiry(ExpiryStrategy):
    """``lazy``: expired entries are removed only when accessed (Redis with active expire off).

    Zero overhead, but an expired key nobody reads stays in memory (and counts in
    ``used_memory``) until eviction picks it. Choose ``active`` or ``timed`` for web caches.
    """

    name = "lazy"
