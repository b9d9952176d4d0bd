"""The expiry strategy interface.

Lazy expiry is not a choice: every lookup checks the deadline (``now > deadline``, as Redis's
``keyIsExpired``) and deletes an expired entry on the spot. An :class:`ExpiryStrategy` decides
what *else* reclaims expired entries that nobody reads again: nothing (``lazy``), Redis's
active cycle, a deadline-ordered index, or a background thread.

Declarations, as for policies (:mod:`cachepolicy._core.ports`): a strategy that owns a
:class:`~cachepolicy._core.deadlines.DeadlineIndex` sets ``deadline_index = True`` and the
engine files TTLs into it and forgets removed keys itself; ``fast_hooks`` names the hooks the
engine may serve that way (or skip, for the base class's no-ops). A subclass that overrides one
without re-declaring ``fast_hooks`` has it called. ``after_operation`` is in ``fast_hooks`` when
the engine may skip the call until the strategy's :attr:`ExpiryStrategy.due_at`.

Hooks ``on_ttl_set``/``on_ttl_cleared``/``on_delete``/``reset`` run under the lock and must not
call the public cache API. A strategy's own work (``after_operation``, its thread) takes the lock
itself through the :class:`~cachepolicy._core.ports.ReclaimContext` (``context.locked()``), in
short slices, and deletes what is due with ``context.delete_expired(entry)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

from .._core.entry import Entry

if TYPE_CHECKING:
    from .._core.deadlines import DeadlineIndex
    from .._core.ports import ReclaimContext
    from ..config import CacheConfig

__all__ = ["HOOKS", "ExpiryStrategy", "LazyExpiry"]

#: Every hook the engine may call, i.e. every name ``fast_hooks`` may hold.
HOOKS = ("on_ttl_set", "on_ttl_cleared", "on_delete", "after_operation")


class ExpiryStrategy:
    """Base class: reclaims nothing beyond lazy expiry. Subclass to add active reclamation."""

    name: ClassVar[str] = ""
    #: Bytes per volatile entry this strategy's own index costs (counted in ``used_memory``).
    metadata_overhead: ClassVar[int] = 0
    #: Whether the strategy samples keys that have a TTL (``keyspace.volatile_entries()`` as
    #: a live array): the engine then keeps the TTL sampling arrays.
    uses_ttl_index: ClassVar[bool] = False
    #: Whether the strategy owns a deadline index (``self.index``) the engine may file into.
    deadline_index: ClassVar[bool] = False
    #: Hooks the engine may serve from the declarations instead of calling them.
    fast_hooks: ClassVar[frozenset[str]] = frozenset(HOOKS)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "fast_hooks" not in cls.__dict__:
            cls.fast_hooks = frozenset(name for name in cls.fast_hooks if name not in cls.__dict__)

    def __init__(self, config: CacheConfig) -> None:
        self.config = config
        self._context_ref: Callable[[], ReclaimContext | None] | None = None
        #: The deadline index, for strategies that declare ``deadline_index``.
        self.index: DeadlineIndex | None = None
        #: Clock time before which ``after_operation`` has nothing to do (the engine does not
        #: call it before then while ``after_operation`` is in ``fast_hooks``).
        self.due_at = math.inf

    def attach(self, context: Callable[[], ReclaimContext | None]) -> None:
        """Called once by the store with a function returning the cache's context, or None
        once the cache is gone: it holds the cache weakly, so a strategy's thread never keeps
        an otherwise unreachable cache alive."""
        self._context_ref = context
        self.publish_due(self.due_at)

    def publish_due(self, when: float) -> None:
        """Writes need not call ``after_operation`` before clock time ``when``."""
        self.due_at = when
        context = self.context
        if context is not None:
            context.expiry_due_at = when

    @property
    def context(self) -> ReclaimContext | None:
        """The cache this strategy reclaims for (None once it was garbage-collected)."""
        return self._context_ref() if self._context_ref is not None else None

    def on_ttl_set(self, entry: Entry, previous: float | None) -> None:
        """``entry.deadline`` was set or changed (``previous`` is the old one, or None)."""
        if self.index is not None:
            self.index.file(entry, previous)

    def on_ttl_cleared(self, entry: Entry) -> None:
        """``entry`` lost its deadline (persist, or overwritten without TTL)."""
        if self.index is not None:
            self.index.forget(entry)

    def on_delete(self, entry: Entry) -> None:
        """``entry``, which had a TTL, left the cache for any reason."""
        if self.index is not None:
            self.index.forget(entry)

    def reset(self) -> None:
        """All databases were flushed."""
        if self.index is not None:
            self.index.clear()

    def start(self) -> None:
        """Start background work (threads). Called by the store after construction."""

    def stop(self) -> None:
        """Stop background work; must be idempotent."""

    def after_operation(self, now: float) -> None:
        """Called after each write-like command, outside the lock: lets a strategy piggy-back
        its work (skipped before :attr:`due_at` unless overridden)."""

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
