"""Near cache faults on a private ``redis-server``: nothing stale is served, and it recovers.

Killed tracking connection (``CLIENT KILL ID``), a silent one (a frozen proxy, and a paused
server past the staleness bound), a server restart, and a server flush (the null
invalidation). Every wait is a poll with a deadline.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis

import tests.redis.test_near_support as support
from cachepolicy.redis.near import NearCache, NearCacheConfig, RedisRemote
from tests.redis.test_near_support import (
    FreezableProxy,
    PrivateServer,
    poll_until,
    poll_within_bound,
)

private_server = support.private_server  # the fixture

STALENESS = 0.2
PREFIX = "f:"


def _near(server: PrivateServer, **kwargs: Any) -> NearCache:
    config = NearCacheConfig(staleness=STALENESS, mode=kwargs.pop("mode", "bcast"))
    client = server.client(socket_timeout=5)
    near = NearCache(RedisRemote(client), prefix=PREFIX, config=config, **kwargs)
    assert near.wait_fresh()
    return near


@pytest.fixture(params=["bcast", "default"])
def near(request: Any, private_server: PrivateServer) -> Iterator[NearCache]:
    cache = _near(private_server, mode=request.param)
    yield cache
    cache.close()


def _cached(near: NearCache, key: str, value: bytes) -> bool:
    return near.get(key) == value and near.core.l1.has(key)


def test_killed_tracking_connection_bypasses_then_recovers(
    near: NearCache, private_server: PrivateServer
) -> None:
    admin = private_server.client()
    admin.set("f:k", b"1")
    poll_until(lambda: _cached(near, "f:k", b"1"))
    tracker_id = near.tracker.client_ids[0]
    assert tracker_id is not None
    admin.client_kill_filter(_id=tracker_id)
    admin.set("f:k", b"2")  # written while no invalidation connection exists
    written = time.monotonic()
    # Until the tracker notices the closed socket (milliseconds) the kill looks like silence,
    # so the old copy may be served at most for the staleness bound; never after it.
    poll_within_bound(lambda: near.get("f:k"), lambda v: v == b"2", written, STALENESS)
    poll_until(lambda: near.tracker.client_ids[0] not in (None, tracker_id))
    assert near.wait_fresh()
    info = near.info()
    assert info["near_cache_reconnects"] == 2
    assert near.get("f:k") == b"2"
    poll_until(lambda: _cached(near, "f:k", b"2"))
    admin.set("f:k", b"3")  # the new connection tracks again
    poll_until(lambda: near.get("f:k") == b"3")
    admin.close()


def test_silent_tracking_connection_stops_hits_within_the_bound(
    private_server: PrivateServer,
) -> None:
    """The tracking connection stays open but nothing arrives (partition, stuck reader)."""
    proxy = FreezableProxy(private_server.port)
    admin = private_server.client()
    admin.set("f:s", b"old")  # before tracking starts: no push of it can arrive late
    near = _near(private_server, endpoints=[{"host": "127.0.0.1", "port": proxy.port}])
    try:
        poll_until(lambda: _cached(near, "f:s", b"old"))
        invalidations = near.info()["near_cache_invalidations"]
        proxy.freeze()
        admin.set("f:s", b"new")  # its invalidation is held in the frozen proxy
        acknowledged = time.monotonic()
        # Within the bound the old copy may still be served (the documented window); after
        # it, never.
        poll_within_bound(lambda: near.get("f:s"), lambda v: v == b"new", acknowledged, STALENESS)
        # The push really was held: the L1 went stale (no PONG) and nothing was invalidated.
        assert near.info()["near_cache_invalidations"] == invalidations
        for _ in range(50):
            assert near.get("f:s") == b"new"
        assert near.info()["near_cache_fresh"] is False
        assert near.info()["near_cache_stale_flushes"] >= 1
        assert len(near.core.l1) == 0
        proxy.thaw()
        assert near.wait_fresh(timeout=10)
        poll_until(lambda: _cached(near, "f:s", b"new"))
        admin.set("f:s", b"newer")
        poll_until(lambda: near.get("f:s") == b"newer")
    finally:
        near.close()
        proxy.close()
        admin.close()


def test_paused_server_past_the_bound_flushes_and_recovers(
    near: NearCache, private_server: PrivateServer
) -> None:
    admin = private_server.client()
    admin.set("f:p", b"1")
    poll_until(lambda: _cached(near, "f:p", b"1"))
    # Ten bounds: a read that begins after the bound but before the pause ends must find the
    # L1 stale (after the pause a reconnected tracker is fresh again, rightly); the margin
    # lets even a starved test thread make one such read.
    pause_ms = int(STALENESS * 1000 * 10)
    admin.client_pause(pause_ms)
    paused_at = time.monotonic()
    # While paused nothing answers PINGs: hits stop after the bound (no read needed: one
    # would block on Redis), and the L1 is flushed (the tracker notices on its own).
    poll_within_bound(
        lambda: near.info()["near_cache_fresh"], lambda fresh: not fresh, paused_at, STALENESS
    )
    poll_until(
        lambda: near.info()["near_cache_stale_flushes"] >= 1 and len(near.core.l1) == 0, timeout=5
    )
    assert near.wait_fresh(timeout=10)
    assert near.get("f:p") == b"1"
    admin.close()


def test_server_restart_raises_clear_errors_then_recovers(private_server: PrivateServer) -> None:
    near = _near(private_server)
    try:
        admin = private_server.client()
        admin.set("f:r", b"before")
        poll_until(lambda: _cached(near, "f:r", b"before"))
        admin.close()
        private_server.stop()
        poll_until(  # not fresh first, then flushed: the tracker drops freshness, then clears
            lambda: not near.info()["near_cache_fresh"] and len(near.core.l1) == 0, timeout=5
        )
        assert len(near.core.l1) == 0
        with pytest.raises(redis.ConnectionError):
            near.get("f:r")  # a clear exception, never the cached copy
        private_server.start()  # same port, empty dataset
        assert near.wait_fresh(timeout=10)
        assert near.get("f:r") is None
        admin = private_server.client()
        admin.set("f:r", b"after")
        poll_until(lambda: _cached(near, "f:r", b"after"))
        admin.set("f:r", b"again")
        poll_until(lambda: near.get("f:r") == b"again")
        admin.close()
    finally:
        near.close()


def test_server_flush_flushes_the_l1(near: NearCache, private_server: PrivateServer) -> None:
    admin = private_server.client()
    admin.set("f:x", b"1")
    admin.set("f:y", b"2")
    poll_until(lambda: _cached(near, "f:x", b"1") and _cached(near, "f:y", b"2"))
    flushes = near.info()["near_cache_flushes"]
    admin.flushdb()
    poll_until(lambda: near.info()["near_cache_flushes"] > flushes)
    assert len(near.core.l1) == 0
    assert near.get("f:x") is None
    admin.close()


def test_invalidation_storm_while_reading(near: NearCache, private_server: PrivateServer) -> None:
    """Many keys written by another connection while this one reads them: every final read
    matches the server once the last write's invalidation is delivered."""
    admin = private_server.client()
    keys = [f"f:storm{i}" for i in range(50)]
    stop = threading.Event()

    def write() -> None:
        round_ = 0
        while not stop.is_set():
            round_ += 1
            admin.mset({k: str(round_).encode() for k in keys})

    writer = threading.Thread(target=write)
    writer.start()
    try:
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            near.get_many(keys)
    finally:
        stop.set()
        writer.join()
    final = admin.mget(keys)
    marker = "f:storm-end"
    admin.set(marker, b"1")  # pushed after every storm write on the one tracking connection
    poll_until(lambda: near.get(marker) == b"1")
    before = near.info()["near_cache_invalidations"]
    admin.set(marker, b"2")
    poll_until(lambda: near.info()["near_cache_invalidations"] > before)
    assert [near.get(k) for k in keys] == final
    admin.close()


def test_default_mode_lost_data_connection_flushes_the_l1(private_server: PrivateServer) -> None:
    """Redis drops a closed connection's tracked keys without a push; the heartbeat's
    CLIENT LIST ID check notices, flushes the L1, and later writes are seen again."""
    near = _near(private_server, mode="default")
    admin = private_server.client()
    try:
        admin.set("f:d", b"1")
        poll_until(lambda: _cached(near, "f:d", b"1"))  # the first fill only watches
        assert near.info()["near_cache_fills_refused"] >= 1
        readers = near.core.watched()
        assert len(readers) == 1
        admin.client_kill_filter(_id=readers[0])  # the pooled data connection that tracked it
        poll_until(lambda: near.info()["near_cache_lost_readers"] >= 1, timeout=5)
        assert len(near.core.l1) == 0
        admin.set("f:d", b"2")  # not tracked by anyone now: must not be hidden by the L1
        assert near.get("f:d") == b"2"
        poll_until(lambda: _cached(near, "f:d", b"2"))
        admin.set("f:d", b"3")
        poll_until(lambda: near.get("f:d") == b"3")
    finally:
        near.close()
        admin.close()


def test_tracking_connection_inherits_the_pools_credentials() -> None:
    server = PrivateServer(password="s3cret")
    near = None
    try:
        near = _near(server)  # would never become fresh if the tracker could not AUTH
        admin = server.client()
        admin.set("f:a", b"1")
        poll_until(lambda: _cached(near, "f:a", b"1"))
        admin.set("f:a", b"2")
        poll_until(lambda: near.get("f:a") == b"2")
        admin.close()
    finally:
        if near is not None:
            near.close()
        server.close()
