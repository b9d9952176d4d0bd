"""Blinker signals for the core's keyspace events (Redis keyspace notifications, Flask style).

Redis publishes ``__keyevent@<db>__:<event>`` messages when keys are evicted, expire, and so on;
Flask applications use blinker signals for the same job. Every event is sent on
:data:`keyspace_event` and on the signal named after it (``keyspace_evicted`` for ``evicted``),
with the Flask application as sender and these keyword arguments:

``cache``  the :class:`~flask_cachepolicy.PolicyCache` backend the key belongs to,
``key``    the key as the application wrote it (without ``CACHE_KEY_PREFIX``),
``event``  the Redis event name (``"evicted"``, ``"expired"``, ...),
``db``     the core database number.

Delivery is opt-in per event through ``CACHE_CACHEPOLICY_SIGNALS`` (default: ``evicted`` and
``expired``): subscribing to ``set`` or ``keymiss`` puts a callback on every write or miss, a
cost an application should choose knowingly. A backend subscribes to the core only once a
receiver is connected to :data:`keyspace_event` or to one of its events' signals, so signals
nobody listens to cost nothing. Receivers run in the thread that caused the event,
after the cache lock is released (for active or background expiry, a core thread with no
application context: use the ``sender`` argument rather than ``current_app``).

Example::

    from flask_cachepolicy.signals import keyspace_evicted

    @keyspace_evicted.connect_via(app)
    def count_evictions(app, key, **extra):
        metrics.increment("cache.evicted")
"""

from __future__ import annotations

from blinker import NamedSignal, Namespace

__all__ = [
    "DEFAULT_SIGNAL_EVENTS",
    "EVENT_NAMES",
    "EVENT_SIGNALS",
    "has_receivers",
    "is_relayed",
    "keyspace_computed",
    "keyspace_del",
    "keyspace_event",
    "keyspace_evicted",
    "keyspace_expire",
    "keyspace_expired",
    "keyspace_incrby",
    "keyspace_keymiss",
    "keyspace_new",
    "keyspace_persist",
    "keyspace_refreshed_early",
    "keyspace_set",
    "keyspace_stale_served",
    "keyspace_tag_invalidated",
]

_signals = Namespace()

#: Every delivered event, whatever its name.
keyspace_event: NamedSignal = _signals.signal("cachepolicy-keyspace-event")
#: A key was created (it did not exist before the write).
keyspace_new: NamedSignal = _signals.signal("cachepolicy-keyspace-new")
#: A key was written (``set``, ``add``, ``set_many``).
keyspace_set: NamedSignal = _signals.signal("cachepolicy-keyspace-set")
#: A key was deleted by the application (``delete``, ``delete_many``, ``clear`` with a prefix).
keyspace_del: NamedSignal = _signals.signal("cachepolicy-keyspace-del")
#: A TTL was set on a key.
keyspace_expire: NamedSignal = _signals.signal("cachepolicy-keyspace-expire")
#: A key's TTL was removed.
keyspace_persist: NamedSignal = _signals.signal("cachepolicy-keyspace-persist")
#: A key reached its deadline and was reclaimed (lazily on access or by active expiry).
keyspace_expired: NamedSignal = _signals.signal("cachepolicy-keyspace-expired")
#: A key was evicted to stay under ``maxmemory`` or ``CACHE_THRESHOLD``.
keyspace_evicted: NamedSignal = _signals.signal("cachepolicy-keyspace-evicted")
#: A counter was changed by ``inc``/``dec``.
keyspace_incrby: NamedSignal = _signals.signal("cachepolicy-keyspace-incrby")
#: A read found no live key.
keyspace_keymiss: NamedSignal = _signals.signal("cachepolicy-keyspace-keymiss")

#: get_or_set computed and stored a value (single flight, :mod:`cachepolicy.flight`).
keyspace_computed: NamedSignal = _signals.signal("cachepolicy-keyspace-computed")
#: get_or_set served a stale copy while another caller refreshed it (``stale_grace``).
keyspace_stale_served: NamedSignal = _signals.signal("cachepolicy-keyspace-stale-served")
#: get_or_set recomputed a value before it expired (XFetch).
keyspace_refreshed_early: NamedSignal = _signals.signal("cachepolicy-keyspace-refreshed-early")
#: ``invalidate_tags`` invalidated a tag (``key`` is the tag).
keyspace_tag_invalidated: NamedSignal = _signals.signal("cachepolicy-keyspace-tag-invalidated")

#: Redis event name (and the stampede events') -> the signal sent for it.
EVENT_SIGNALS: dict[str, NamedSignal] = {
    "new": keyspace_new,
    "set": keyspace_set,
    "del": keyspace_del,
    "expire": keyspace_expire,
    "persist": keyspace_persist,
    "expired": keyspace_expired,
    "evicted": keyspace_evicted,
    "incrby": keyspace_incrby,
    "keymiss": keyspace_keymiss,
    "computed": keyspace_computed,
    "stale_served": keyspace_stale_served,
    "refreshed_early": keyspace_refreshed_early,
    "tag_invalidated": keyspace_tag_invalidated,
}

#: The event names ``CACHE_CACHEPOLICY_SIGNALS`` accepts (besides ``"all"``).
EVENT_NAMES: tuple[str, ...] = tuple(EVENT_SIGNALS)

#: Rare events that an application almost always wants to see: they cost nothing until they
#: happen, unlike ``set``/``keymiss`` which would fire on every request.
DEFAULT_SIGNAL_EVENTS: tuple[str, ...] = ("evicted", "expired")


def is_relayed(signal: object) -> bool:
    """Whether ``signal`` is one of the signals this module sends."""
    return signal is keyspace_event or any(signal is sent for sent in EVENT_SIGNALS.values())


def has_receivers(events: tuple[str, ...]) -> bool:
    """Whether anything listens to the signals that ``events`` would be sent on."""
    return bool(keyspace_event.receivers) or any(EVENT_SIGNALS[name].receivers for name in events)
