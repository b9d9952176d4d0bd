"""Redis's expired/evicted keyspace notifications reach the Django and Flask signals.

The private server is configured by the backends themselves (``APPLY_CONFIG``), then put back.
Waits poll with a deadline: Redis expires keys in its own background cycle.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from tests.redis.servers import RedisProcess, wait_until

PARAMETERS = ("notify-keyspace-events", "maxmemory", "maxmemory-policy")


@pytest.fixture
def server(redis_server: RedisProcess) -> Iterator[RedisProcess]:
    client = redis_server.client()
    saved = {p: client.config_get(p)[p] for p in PARAMETERS}
    yield redis_server
    for parameter, value in saved.items():
        client.config_set(parameter, value)
    client.close()


class Received:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    def __call__(self, sender: Any, **kwargs: Any) -> None:
        with self.lock:
            self.events.append({"sender": sender, **kwargs})

    def keys(self, event: str) -> set[str]:
        with self.lock:
            return {e["key"] for e in self.events if e["event"] == event}


def test_django_signals_receive_expired_and_evicted(server: RedisProcess, prefix: str) -> None:
    from django_cachepolicy import signals
    from django_cachepolicy.redis_backend import RedisPolicyCache

    received = Received()
    signals.expired.connect(received, weak=False)
    signals.evicted.connect(received, weak=False)
    try:
        cache = RedisPolicyCache(
            f"{server.url}/0",
            {"KEY_PREFIX": prefix.rstrip(":"), "OPTIONS": {"APPLY_CONFIG": True}},
        )
        other = server.client()
        other.set("cptest-not-ours", b"1", px=20)  # another application's key: not relayed
        cache.set("short", "v", 0.05)
        made = cache.make_key("short")
        wait_until(lambda: made in received.keys("expired"), 10, "the expired signal")
        assert "cptest-not-ours" not in received.keys("expired")
        event = next(e for e in received.events if e["key"] == made)
        assert event["sender"] is RedisPolicyCache and event["location"] == f"{server.url}/0"
        assert event["database"] == 0

        used = int(other.info("memory")["used_memory"])
        other.config_set("maxmemory-policy", "allkeys-random")
        other.config_set("maxmemory", str(used + 300_000))
        for i in range(400):
            cache.set(f"fill{i}", "x" * 2000, None)
        wait_until(lambda: received.keys("evicted"), 10, "an evicted signal")
        assert all(key.startswith(prefix) for key in received.keys("evicted"))
        other.config_set("maxmemory", "0")
        cache.clear()
        other.close()
    finally:
        signals.expired.disconnect(received)
        signals.evicted.disconnect(received)


def test_flask_signals_receive_expired(server: RedisProcess, prefix: str) -> None:
    import flask
    from flask_cachepolicy.redis_backend import RedisPolicyCache
    from flask_cachepolicy.signals import keyspace_expired

    app = flask.Flask(__name__)
    received = Received()
    keyspace_expired.connect(received, weak=False)
    try:
        cache = RedisPolicyCache(server.url, key_prefix=prefix, app=app, apply_config=True)
        cache.set("short", "v", 0.05)
        wait_until(lambda: "short" in received.keys("expired"), 10, "the Flask expired signal")
        event = next(e for e in received.events if e["key"] == "short")
        assert event["sender"] is app and event["cache"] is cache and event["db"] == 0
        cache.clear()
    finally:
        keyspace_expired.disconnect(received)


def test_cluster_events_come_from_every_primary(redis_cluster: Any, prefix: str) -> None:
    """A cluster node publishes only its own keys' events: the listener is on every primary."""
    from django_cachepolicy import signals
    from django_cachepolicy.redis_backend import RedisPolicyCache

    nodes = [node.client() for node in redis_cluster.nodes]
    saved = [n.config_get("notify-keyspace-events")["notify-keyspace-events"] for n in nodes]
    received = Received()
    signals.expired.connect(received, weak=False)
    try:
        cache = RedisPolicyCache(
            redis_cluster.location,
            {"KEY_PREFIX": prefix.rstrip(":"), "OPTIONS": {"APPLY_CONFIG": True}},
        )
        keys = [f"k{i}" for i in range(12)]
        made = {cache.make_key(k) for k in keys}
        remote = cache.client.remote
        assert len({remote.get_node_from_key(k).port for k in made}) == 3
        cache.set_many(dict.fromkeys(keys, "v"), timeout=0.05)
        wait_until(lambda: made <= received.keys("expired"), 10, "expired from every primary")
    finally:
        signals.expired.disconnect(received)
        for node, value in zip(nodes, saved, strict=True):
            node.config_set("notify-keyspace-events", value)
            node.close()
