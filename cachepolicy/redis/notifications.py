"""Redis keyspace notifications (``expired``, ``evicted``) delivered to Python callbacks.

Redis publishes ``__keyevent@<db>__:expired`` and ``__keyevent@<db>__:evicted`` when
``notify-keyspace-events`` contains ``E`` plus ``x``/``e`` (see
:func:`~cachepolicy.redis.server_config.missing_notify_flags`). A cluster node publishes only
its own keys' events, so a listener subscribes on every primary. One :class:`KeyspaceListener`
per server settings per process, shared by every backend object; it runs redis-py's
``PubSub.run_in_thread`` (one daemon thread per server). When the connection drops, the error
is logged and redis-py reconnects and re-subscribes on the next poll: events published while
it was down are lost (Redis's pub/sub is fire-and-forget), so signals are best-effort, as they
are with Redis itself.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from typing import Any, Final

from .client import RedisClient, _settings_key

__all__ = ["KeyspaceListener", "listen"]

logger = logging.getLogger("cachepolicy.redis")

#: A subscriber receives (event name, key as text).
Subscriber = Callable[[str, str], None]

# How long the listener thread blocks waiting for a message: short enough that stop() returns
# quickly, long enough that an idle listener costs nothing measurable.
_POLL_SECONDS: Final = 0.2
# Pause after a connection error before polling again: the server is restarting or gone, and
# retrying in a tight loop would only fill the log.
_ERROR_PAUSE: Final = 0.5


class KeyspaceListener:
    """Subscribes once per server and fans events out to every subscriber."""

    def __init__(self, client: RedisClient) -> None:
        self.client = client
        self.events = client.settings.events
        self._subscribers: dict[int, Subscriber] = {}
        self._next = 0
        self._lock = threading.Lock()
        self._threads: list[Any] = []
        self._pubsubs: list[Any] = []
        #: Events received (tests and INFO).
        self.received = 0
        self._failing = False

    def start(self) -> None:
        db = self.client.settings.db
        channels = {f"__keyevent@{db}__:{event}": self._handle for event in self.events}
        for _name, server in self.client.primaries():
            pubsub = server.pubsub(ignore_subscribe_messages=True)
            pubsub.subscribe(**channels)
            self._pubsubs.append(pubsub)
            self._threads.append(
                pubsub.run_in_thread(
                    sleep_time=_POLL_SECONDS, daemon=True, exception_handler=self._on_error
                )
            )

    def _on_error(self, exc: BaseException, pubsub: Any, thread: Any) -> None:
        # Warn once per outage (it retries twice a second while the server is down).
        log = logger.debug if self._failing else logger.warning
        self._failing = True
        log("Keyspace notification listener: %s; reconnecting.", exc)
        # Returning keeps the thread alive: its next poll reconnects and re-subscribes.
        threading.Event().wait(_ERROR_PAUSE)

    def _handle(self, message: dict[str, Any]) -> None:
        channel = message.get("channel", b"")
        channel = channel.decode() if isinstance(channel, bytes) else str(channel)
        event = channel.rsplit(":", 1)[-1]
        data = message.get("data", b"")
        key = data.decode("utf-8", "replace") if isinstance(data, bytes) else str(data)
        self.received += 1
        self._failing = False
        with self._lock:
            subscribers = list(self._subscribers.values())
        for subscriber in subscribers:
            try:
                subscriber(event, key)
            except Exception:  # one receiver's bug must not stop the others or the thread
                logger.exception("A keyspace event subscriber raised")

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        with self._lock:
            token = self._next
            self._next += 1
            self._subscribers[token] = subscriber

        def unsubscribe() -> None:
            with self._lock:
                self._subscribers.pop(token, None)

        return unsubscribe

    def stop(self) -> None:
        for thread in self._threads:
            thread.stop()
        for thread in self._threads:
            thread.join(5)
        for pubsub in self._pubsubs:
            pubsub.close()
        self._threads.clear()
        self._pubsubs.clear()


_LISTENERS: dict[str, KeyspaceListener] = {}
_LOCK = threading.Lock()


def _forget_after_fork() -> None:
    # A forked child has none of the parent's listener threads: its first backend starts its own.
    global _LOCK
    _LOCK = threading.Lock()
    _LISTENERS.clear()


os.register_at_fork(after_in_child=_forget_after_fork)


def listen(client: RedisClient, subscriber: Subscriber) -> Callable[[], None]:
    """Deliver ``client``'s server events to ``subscriber``; returns the unsubscribe call."""
    key = _settings_key(client.settings) + repr(client.settings.events)
    with _LOCK:
        listener = _LISTENERS.get(key)
        if listener is None:
            listener = KeyspaceListener(client)
            listener.start()
            _LISTENERS[key] = listener
    return listener.subscribe(subscriber)


def stop_all() -> None:
    """Stop every listener of this process (tests; interpreter shutdown needs nothing)."""
    with _LOCK:
        listeners = list(_LISTENERS.values())
        _LISTENERS.clear()
    for listener in listeners:
        listener.stop()
