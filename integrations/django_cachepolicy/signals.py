"""Django signals for the store's keyspace events (Redis's keyspace notifications).

Connect a receiver to learn when the cache evicts or expires a key::

    from django.dispatch import receiver
    from django_cachepolicy.signals import evicted

    @receiver(evicted)
    def log_eviction(sender, *, key, location, database, event, **kwargs):
        logger.info("%s evicted %s", location, key)

Every signal is sent with ``sender=PolicyCache`` and the keyword arguments ``event`` (Redis's
event name), ``key`` (the stored key: Django's made key, e.g. ``":1:user:42"``), ``location``
(the store's ``LOCATION``) and ``database`` (the store database, ``OPTIONS["DATABASE"]``).
``keyspace_event`` receives every event; the others one event each:

=================  ==========  =======================================================
signal             event       sent when
=================  ==========  =======================================================
``evicted``        evicted     a key was removed to honour MAXMEMORY / MAX_ENTRIES
``expired``        expired     a key's TTL ran out and the key was reclaimed
``deleted``        del         a key was deleted
``stored``         set         a key was written (new or overwritten)
``created``        new         a key that did not exist was written
``expire_set``     expire      a key was given a TTL
``persisted``      persist     a key's TTL was removed
``incremented``    incrby      ``incr`` / ``decr`` changed a key
``missed``         keymiss     a read found no key
=================  ==========  =======================================================

and, for ``get_or_set`` (:mod:`cachepolicy.flight`), ``computed`` (a value was computed and
stored), ``stale_served`` (a stale copy was served while another caller refreshed it),
``refreshed_early`` (XFetch recomputed a value before it expired) and ``tag_invalidated``
(``invalidate_tags``; ``key`` is the tag), each sent for the event of the same name.

``RedisPolicyCache`` sends the same four signals (``sender=RedisPolicyCache``) for the
``get_or_set`` calls and ``invalidate_tags`` of this process's callers; its keyspace signals
come from Redis's keyspace notifications (``OPTIONS["EVENTS"]``).

Cost: the bridge subscribes to the store only for events whose signal has receivers (it
re-subscribes when receivers connect or disconnect), so unobserved events cost nothing, and a
busy ``stored`` receiver does not slow down an app that only listens to ``evicted``. Receivers
run after the cache operation, outside the store lock, in the thread that caused the event, so
they may use the cache; an exception in a receiver is logged by the core and does not fail the
cache operation. Signals need ``"django_cachepolicy"`` in ``INSTALLED_APPS`` (its ``ready()``
turns the bridge on).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection
from typing import Any, Protocol

from django.dispatch import Signal

from cachepolicy import Cache, CacheStore, KeyspaceEvent

__all__ = [
    "SIGNAL_BY_EVENT",
    "computed",
    "created",
    "deleted",
    "evicted",
    "expire_set",
    "expired",
    "incremented",
    "keyspace_event",
    "missed",
    "persisted",
    "refreshed_early",
    "stale_served",
    "stored",
    "tag_invalidated",
]


class KeyspaceSignal(Signal):
    """A ``Signal`` that tells the bridges to (un)subscribe when its receivers change."""

    def connect(
        self,
        receiver: Callable[..., Any],
        sender: object | None = None,
        weak: bool = True,
        dispatch_uid: str | None = None,
    ) -> None:
        super().connect(receiver, sender, weak, dispatch_uid)
        _refresh_bridges()

    def disconnect(
        self,
        receiver: Callable[..., Any] | None = None,
        sender: object | None = None,
        dispatch_uid: str | None = None,
    ) -> bool:
        removed = super().disconnect(receiver, sender, dispatch_uid)
        _refresh_bridges()
        return removed


keyspace_event = KeyspaceSignal()
evicted = KeyspaceSignal()
expired = KeyspaceSignal()
deleted = KeyspaceSignal()
stored = KeyspaceSignal()
created = KeyspaceSignal()
expire_set = KeyspaceSignal()
persisted = KeyspaceSignal()
incremented = KeyspaceSignal()
missed = KeyspaceSignal()
computed = KeyspaceSignal()
stale_served = KeyspaceSignal()
refreshed_early = KeyspaceSignal()
tag_invalidated = KeyspaceSignal()

#: Redis's event name -> the Django signal sent for it.
SIGNAL_BY_EVENT: dict[str, KeyspaceSignal] = {
    "evicted": evicted,
    "expired": expired,
    "del": deleted,
    "set": stored,
    "new": created,
    "expire": expire_set,
    "persist": persisted,
    "incrby": incremented,
    "keymiss": missed,
    "computed": computed,
    "stale_served": stale_served,
    "refreshed_early": refreshed_early,
    "tag_invalidated": tag_invalidated,
}


class EventSource(Protocol):
    """What a bridge subscribes to: a :class:`~cachepolicy.Cache` view, or a Redis-tier
    backend's :class:`~cachepolicy.flight.StampedeHub`."""

    def subscribe(
        self, callback: Callable[[KeyspaceEvent], None], names: Collection[str] | None = None
    ) -> Callable[[], None]: ...


class _Bridge:
    """Forwards one store database's keyspace events to the Django signals."""

    def __init__(
        self,
        store: CacheStore | None,
        view: EventSource,
        location: str,
        database: int,
        sender: type,
        events: Collection[str],
    ) -> None:
        # Holding the store keeps id(store) unique for as long as this bridge is registered.
        self.store = store
        self.view = view
        self.location = location
        self.database = database
        self.sender = sender
        #: The events ``view`` can deliver (a Redis tier's hub: the stampede events only).
        self.events = frozenset(events)
        self._subscribed: frozenset[str] = frozenset()
        self._unsubscribe: Callable[[], None] | None = None

    def refresh(self) -> None:
        """Subscribe to exactly the events that some receiver is listening for."""
        if keyspace_event.receivers:
            wanted = self.events
        else:
            wanted = frozenset(name for name in self.events if SIGNAL_BY_EVENT[name].receivers)
        if wanted == self._subscribed:
            return
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if wanted:
            self._unsubscribe = self.view.subscribe(self, wanted)
        self._subscribed = wanted

    def detach(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self._subscribed = frozenset()

    def __call__(self, event: KeyspaceEvent) -> None:
        if event.db != self.database:
            return
        arguments = {
            "event": event.name,
            "key": event.key,
            "location": self.location,
            "database": self.database,
        }
        signal = SIGNAL_BY_EVENT.get(event.name)
        if signal is not None and signal.receivers:
            signal.send(sender=self.sender, **arguments)
        if keyspace_event.receivers:
            keyspace_event.send(sender=self.sender, **arguments)


_BRIDGES: dict[tuple[int, int], _Bridge] = {}
_LOCK = threading.RLock()
_enabled = False


def attach_bridge(
    store: CacheStore | None,
    view: Cache | EventSource,
    location: str,
    database: int,
    sender: type,
    *,
    events: Collection[str] = tuple(SIGNAL_BY_EVENT),
) -> None:
    """Make sure events of ``database`` in ``store`` reach the signals (once per pair).

    Called by every backend object; Django makes one per thread, so this is a dictionary
    lookup after the first call. ``store`` None: ``view`` is a Redis-tier backend's
    :class:`~cachepolicy.flight.StampedeHub` (never closed), delivering ``events``.
    """
    key = (id(view if store is None else store), database)
    if key in _BRIDGES:
        return
    with _LOCK:
        if key in _BRIDGES:
            return
        _forget_closed_stores()
        bridge = _Bridge(store, view, location, database, sender, events)
        _BRIDGES[key] = bridge
        if _enabled:
            bridge.refresh()


def enable() -> None:
    """Turn the bridge on (``AppConfig.ready()``); idempotent."""
    global _enabled
    with _LOCK:
        _enabled = True
    _refresh_bridges()


def disable() -> None:
    """Turn the bridge off and drop every subscription (tests)."""
    global _enabled
    with _LOCK:
        _enabled = False
        for bridge in _BRIDGES.values():
            bridge.detach()


def _forget_closed_stores() -> None:
    """A released (closed) store can never send again: drop its bridges so they stop keeping
    it (and its data) alive. Called with ``_LOCK`` held."""
    for stale in [k for k, b in _BRIDGES.items() if b.store is not None and b.store.closed]:
        _BRIDGES.pop(stale).detach()


def _refresh_bridges() -> None:
    with _LOCK:
        _forget_closed_stores()
        if not _enabled:
            return
        for bridge in list(_BRIDGES.values()):
            bridge.refresh()
