"""The eviction policy interface.

Redis's eight ``maxmemory-policy`` values are two axes, not eight algorithms: *which keys may be
evicted* (all keys, or only keys with a TTL: ``volatile``) times *how candidates are ranked*
(LRU, LFU, TTL, random), plus ``noeviction``. A policy object holds the ranking state; the store
(:class:`cachepolicy.store.CacheStore`) owns the keyspaces, the lock and the accounting, and asks
the policy for one victim at a time until the incoming write fits.

Hook contract:

* ``on_insert``/``on_delete``/``on_ttl_change``/``reset``/``select_victim`` run under the store
  lock and must never call the public cache API.
* ``on_access`` runs on the read path. When :attr:`EvictionPolicy.lock_free_access` is true it
  runs *without* the lock, so it may only perform operations that are atomic under CPython's GIL
  (attribute stores, ``next()`` on an ``itertools.count``, one C-level container call). A policy
  whose access hook mutates a shared structure in several steps sets it to False and the store
  then takes the lock around the hook.
"""

from __future__ import annotations

import abc
from collections.abc import Iterator, Sequence
from random import Random
from typing import TYPE_CHECKING, ClassVar

from ..keyspace import Entry, Keyspace

if TYPE_CHECKING:
    from ..config import CacheConfig

__all__ = ["EvictionPolicy"]


class EvictionPolicy(abc.ABC):
    """Decides which key leaves the cache when a write needs room.

    Subclass it (or :class:`~cachepolicy.eviction.sampled.SampledPolicy`, which only needs a
    ``score``), then make it selectable by name with
    :func:`~cachepolicy.eviction.registry.register_policy` or by its dotted path.
    """

    #: The name users write in settings; for built-ins the exact redis.conf spelling.
    name: ClassVar[str] = ""
    #: True for ``volatile-*`` policies: only keys with a TTL are candidates.
    volatile_only: ClassVar[bool] = False
    #: False only for ``noeviction``: writes that need room fail with OutOfMemoryError.
    evicts: ClassVar[bool] = True
    #: Whether :meth:`on_access` is safe to call without the store lock (see module docstring).
    lock_free_access: ClassVar[bool] = True
    #: Bytes per entry this policy's own structures cost (counted in ``used_memory``).
    metadata_overhead: ClassVar[int] = 0
    #: Extra bytes per entry *with a TTL* (for structures that index volatile keys only).
    volatile_metadata_overhead: ClassVar[int] = 0
    #: Whether the policy samples keys that have a TTL (``keyspace.candidates(True)``,
    #: ``random_entry(rng, True)``) although it is not ``volatile_only``: the store then keeps
    #: the TTL sampling arrays, which it otherwise builds only for ``volatile_only`` policies
    #: and expiry strategies that ask for them.
    uses_ttl_index: ClassVar[bool] = False

    def __init__(self, config: CacheConfig, rng: Random) -> None:
        self.config = config
        self.rng = rng

    def on_insert(self, entry: Entry, now: float) -> None:
        """A new key was added (its deadline, if any, is already set)."""

    def on_access(self, entry: Entry, now: float) -> None:
        """A key was read or overwritten (Redis touches the LRU/LFU field on both)."""

    def on_delete(self, entry: Entry) -> None:
        """A key left the cache (deleted, expired, evicted or overwritten by a flush)."""

    def on_ttl_change(self, entry: Entry, previous: float | None) -> None:
        """``entry.deadline`` changed from ``previous`` (set, changed or cleared)."""

    def reset(self) -> None:
        """Every key of every database was removed: drop all state."""

    @abc.abstractmethod
    def select_victim(self, keyspaces: Sequence[Keyspace], now: float) -> Entry | None:
        """Return a live entry to evict, or None if no key may be evicted (Redis's EVICT_FAIL).

        ``keyspaces`` are the store's *non-empty* databases in db order. Must not remove the
        entry: the store does that and then calls :meth:`on_delete`. An entry is live while
        ``entry.pos >= 0`` (a removed entry object is never reinserted).
        """

    def select_victims(
        self, keyspaces: Sequence[Keyspace], now: float, count: int
    ) -> Iterator[Entry]:
        """Yield up to ``count`` victims for a batch eviction (an entry-count cull).

        The store evicts each victim before asking for the next, so the default simply repeats
        :meth:`select_victim`. Policies whose per-victim cost is high may choose the whole
        batch at once.
        """
        for _ in range(count):
            victim = self.select_victim(keyspaces, now)
            if victim is None:
                return
            yield victim

    def check(self, keyspaces: Sequence[Keyspace]) -> list[str]:
        """Return descriptions of internal inconsistencies (empty when healthy)."""
        return []

    def candidate_bytes(self, keyspaces: Sequence[Keyspace]) -> int:
        """Bytes that this policy could free by evicting every candidate."""
        if not self.evicts:
            return 0
        if self.volatile_only:
            return sum(ks.volatile_memory for ks in keyspaces)
        return sum(ks.memory for ks in keyspaces)

    def candidate_count(self, keyspaces: Sequence[Keyspace]) -> int:
        """Number of keys this policy could evict."""
        if not self.evicts:
            return 0
        if self.volatile_only:
            return sum(ks.volatile_count for ks in keyspaces)
        return sum(len(ks) for ks in keyspaces)

    def is_candidate(self, entry: Entry) -> bool:
        """Whether ``entry`` belongs to this policy's candidate keyspace."""
        return self.evicts and (not self.volatile_only or entry.deadline is not None)

    def describe(self) -> str:
        """One line for INFO and error messages."""
        return self.name or type(self).__qualname__

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.describe()!r}>"
