"""Keyspace events (Redis's keyspace notifications): the public names.

The bus itself lives in the engine (:mod:`cachepolicy._core.events`), which queues events under
its lock and delivers them after releasing it.
"""

from ._core.events import EVENT_NAMES, EventBus, KeyspaceEvent, Subscriber

__all__ = ["EVENT_NAMES", "EventBus", "KeyspaceEvent", "Subscriber"]
