"""Keyspace events (Redis's keyspace notifications), delivered to in-process subscribers.

Event names are Redis's: ``new``, ``set``, ``del``, ``expire``, ``persist``, ``expired``,
``evicted``, ``incrby``, ``keymiss``; plus ``refused``, ours: a new key the policy's admission
refused (nothing stored, nothing evicted). Unlike Redis pub/sub, delivery is a direct callback, so
nothing is lost; callbacks run after the operation that caused them, outside the store lock, so a
callback may use the cache. A callback that raises is logged and does not fail the operation.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

__all__ = ["EVENT_NAMES", "EventBus", "KeyspaceEvent", "Subscriber"]

logger = logging.getLogger("cachepolicy.events")

EVENT_NAMES = frozenset(
    {
        "new",
        "set",
        "del",
        "expire",
        "persist",
        "expired",
        "evicted",
        "incrby",
        "keymiss",
        "refused",
    }
)


@dataclass(frozen=True, slots=True)
class KeyspaceEvent:
    """One notification: ``name`` happened to ``key`` in database ``db``."""

    name: str
    key: str
    db: int


Subscriber = Callable[[KeyspaceEvent], None]


class EventBus:
    """Subscriber list; the store queues events under its lock and calls :meth:`publish` after."""

    def __init__(self) -> None:
        #: [callback, event names or None], one list per subscription.
        self._subscribers: tuple[list[Any], ...] = ()
        self._lock = threading.Lock()
        #: True while anyone listens: a plain attribute, so the hot paths test it for free.
        self.active = False
        #: Names somebody listens to: the store queues only these (a miss is not slowed down
        #: to build a ``keymiss`` event that only an ``evicted`` listener would discard).
        self.wanted: frozenset[str] = frozenset()

    def subscribe(
        self, callback: Subscriber, events: Collection[str] | None = None
    ) -> Callable[[], None]:
        """Call ``callback`` for every event (or only those named); returns an unsubscriber."""
        wanted = None if events is None else frozenset(events)
        if wanted is not None and not wanted <= EVENT_NAMES:
            unknown = ", ".join(sorted(wanted - EVENT_NAMES))
            raise ValueError(
                f"Unknown keyspace event name(s): {unknown}. "
                f"Valid: {', '.join(sorted(EVENT_NAMES))}."
            )
        # A list, compared by identity: a tuple would be rebuilt (a new object) by the compiled
        # build each time it crosses into Python, so ``is`` would never match.
        record: list[Any] = [callback, wanted]
        with self._lock:
            self._subscribers = (*self._subscribers, record)
            self._update_wanted()

        def unsubscribe() -> None:
            with self._lock:
                self._subscribers = tuple(s for s in self._subscribers if s is not record)
                self._update_wanted()

        return unsubscribe

    def _update_wanted(self) -> None:
        wanted: set[str] = set()
        for _, names in self._subscribers:
            wanted |= EVENT_NAMES if names is None else names
        self.wanted = frozenset(wanted)
        self.active = bool(self._subscribers)

    def publish(self, events: list[KeyspaceEvent]) -> None:
        subscribers = self._subscribers
        for event in events:
            for callback, wanted in subscribers:
                if wanted is not None and event.name not in wanted:
                    continue
                try:
                    callback(event)
                except Exception:
                    logger.exception("Keyspace event subscriber %r failed on %r", callback, event)
