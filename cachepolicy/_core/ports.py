"""What the engine and the strategies know of each other.

A policy or expiry strategy *declares* how the engine should serve it (class attributes whose
values are these enums), and the engine picks its code path once, at construction, from those
declarations. The engine never recognises a class: a subclass that overrides a hook without
re-declaring is downgraded to "call my hook" by the base classes' ``__init_subclass__``
(:func:`overridden_hooks`), so every override is honoured.

Expiry strategies reach the cache through :class:`ReclaimContext`, a narrow view of the engine
(the lock, the keyspaces, the clock, and one way to delete an expired entry), never the store.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import threading

    from ..clock import Clock
    from .entry import Entry
    from .keyspace import Keyspace
    from .stats import Stats

__all__ = [
    "Access",
    "Locked",
    "Ranking",
    "ReclaimContext",
    "Removal",
    "Victims",
    "overridden_hooks",
]


class Access(enum.IntEnum):
    """What a policy records on a read (``read_access``) or on a write (``write_access``:
    a new key, an overwrite, INCR/DECR). Redis's LRU and LFU record on both; LRM (least
    recently *modified*, Redis 8.6) records on writes only."""

    #: Nothing (the engine calls no hook).
    NONE = 0
    #: The recency stamp (:func:`~cachepolicy._core.entry.stamp`): LRU, LRM, random, TTL.
    STAMP = 1
    #: Redis's logarithmic LFU counter with decay (:func:`~cachepolicy._core.ranking.lfu_touch`).
    LFU = 2
    #: Call the policy's ``on_insert`` / ``on_read`` / ``on_write`` (set for overrides).
    HOOK = 3


class Removal(enum.IntEnum):
    """Why an entry left the cache: the ``cause`` a policy's ``on_remove`` receives (and, for
    the first three, the event announced and the counter moved)."""

    #: DEL, ``delete()``, a write with a TTL already in the past.
    DELETED = 0
    #: Its deadline passed (lazy or active expiry).
    EXPIRED = 1
    #: Chosen as an eviction victim (``maxmemory`` or ``max_entries``).
    EVICTED = 2
    #: Taken out as part of the command that wrote it: the policy chose the old version of a
    #: key being overwritten as its victim, or a new key whose write was refused.
    REPLACED = 3
    #: ``flushdb()`` of one database (``flushall()`` calls ``reset()`` instead).
    FLUSHED = 4


class Ranking(enum.IntEnum):
    """How the built-in sampler scores a candidate (higher score = better victim)."""

    #: Least recently used: ``-aseq``.
    LRU = 1
    #: Least frequently used: ``255 - decayed counter`` plus an idle-time tie-break below 1.
    LFU = 2
    #: Soonest to expire: ``-deadline``.
    TTL = 3
    #: The policy's own ``score(entry, now)`` method (any override of ``score``).
    SCORE = 4


class Victims(enum.IntEnum):
    """Where the engine gets eviction victims from."""

    #: Never evicts (``noeviction``).
    NONE = 0
    #: Redis's sampler with the 16-slot eviction pool, scored by the policy's :class:`Ranking`.
    POOL = 1
    #: One uniformly random candidate, databases visited round-robin (``*-random``).
    RANDOM = 2
    #: The policy's ``select_victim`` / ``select_victims`` methods.
    HOOK = 3


def overridden_hooks(cls: type, base: type, hooks: Sequence[str]) -> frozenset[str]:
    """The names in ``hooks`` whose implementation in ``cls`` is not ``base``'s own."""
    return frozenset(name for name in hooks if getattr(cls, name) is not getattr(base, name))


class Locked(Protocol):
    """``with context.locked():`` holds the cache lock and delivers queued events on exit."""

    def __enter__(self) -> None: ...

    def __exit__(self, *exc: object) -> None: ...


class ReclaimContext(Protocol):
    """The part of the engine an expiry strategy may use."""

    #: Every database, in db order (read their TTL arrays; never mutate them).
    keyspaces: list[Keyspace]
    #: Counters a strategy updates under the lock (``expired_stale_perc``, cycle time, ...).
    stats: Stats
    #: The cache's clock: ``monotonic()`` for deadlines, schedules and budgets (never ``time()``).
    clock: Clock
    #: When writes should next call the strategy's ``after_operation``.
    expiry_due_at: float

    @property
    def lock(self) -> threading.Lock: ...

    def locked(self) -> Locked: ...

    def delete_expired(self, entry: Entry) -> None:
        """Delete ``entry``, whose deadline passed (lock held): counted and announced."""
