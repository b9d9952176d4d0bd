"""The near cache on a 3-primary Redis Cluster: one BCAST tracking connection per primary.

Uses the session cluster of ``tests/redis/servers.py`` (``redis_cluster``). Keys are spread
over every primary; a write to each slot owner must invalidate the L1, and losing one
primary's tracking connection must stop every L1 hit (the freshness deadline is the oldest of
all primaries') until it is back.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from cachepolicy.redis.near import NearCache, NearCacheConfig, RedisRemote
from cachepolicy.redis.tracking import CLUSTER_NODE
from tests.redis.servers import RedisClusterProcess, require_redis_server
from tests.redis.test_near_support import poll_until, poll_within_bound, unique_prefix

STALENESS = 0.3


@pytest.fixture
def cluster_client(redis_cluster: Any) -> Iterator[Any]:
    client = redis_cluster.client(socket_timeout=5)
    yield client
    client.close()


@pytest.fixture
def prefix(cluster_client: Any) -> Iterator[str]:
    value = unique_prefix("cluster")
    yield value
    for key in cluster_client.scan_iter(match=value + "*"):
        cluster_client.delete(key)


def _spread_keys(client: Any, prefix: str, count: int = 30) -> dict[str, list[str]]:
    """Keys by the primary that owns them, at least one per primary."""
    owners: dict[str, list[str]] = {}
    for i in range(count):
        key = f"{prefix}k{i}"
        node = client.get_node_from_key(key)
        owners.setdefault(node.name, []).append(key)
    return owners


def test_one_tracking_connection_per_primary_and_coherence(
    cluster_client: Any, prefix: str
) -> None:
    near = NearCache(
        RedisRemote(cluster_client), prefix=prefix, config=NearCacheConfig(staleness=STALENESS)
    )
    try:
        assert near.wait_fresh(10)
        assert near.info()["near_cache_tracking_connections"] == 3
        owners = _spread_keys(cluster_client, prefix)
        assert len(owners) == 3
        keys = [key for group in owners.values() for key in group]
        for key in keys:
            cluster_client.set(key, b"old")
        poll_until(
            lambda: (
                near.get_many(keys) == dict.fromkeys(keys, b"old")
                and all(near.core.l1.has(k) for k in keys)
            )
        )
        for group in owners.values():  # one write on every primary
            key = group[0]
            cluster_client.set(key, b"new")
            poll_until(lambda k=key: near.get(k) == b"new")
            cluster_client.delete(key)
            poll_until(lambda k=key: near.get(k) is None)
        untouched = [group[1] for group in owners.values() if len(group) > 1]
        assert all(near.get(k) == b"old" for k in untouched)
    finally:
        near.close()


def test_losing_one_primary_tracker_flushes_the_whole_l1(cluster_client: Any, prefix: str) -> None:
    near = NearCache(
        RedisRemote(cluster_client), prefix=prefix, config=NearCacheConfig(staleness=STALENESS)
    )
    try:
        assert near.wait_fresh(10)
        owners = _spread_keys(cluster_client, prefix)
        keys = [group[0] for group in owners.values()]
        for key in keys:
            cluster_client.set(key, b"1")
        poll_until(lambda: all(near.get(k) == b"1" and near.core.l1.has(k) for k in keys))
        node = cluster_client.get_node_from_key(keys[0])
        index = [(e["host"], e["port"]) for e in near.tracker.endpoints].index(
            (node.host, node.port)
        )
        tracker_id = near.tracker.client_ids[index]
        cluster_client.get_redis_connection(node).client_kill_filter(_id=tracker_id)
        cluster_client.set(keys[1], b"2")  # another primary: its own tracker is fine
        written = time.monotonic()
        poll_within_bound(lambda: near.get(keys[1]), lambda v: v == b"2", written, STALENESS)
        # The killed one reconnects by itself (a new CLIENT ID), and the L1 is fresh again.
        poll_until(lambda: near.tracker.client_ids[index] not in (None, tracker_id), timeout=10)
        assert near.wait_fresh(10)
        assert near.info()["near_cache_reconnects"] >= 4  # 3 at start + the killed one
        # Its pushes may have been missed, for its own slots only, but the L1 is one cache:
        # a key of a third primary, not read since, is gone too.
        assert not near.core.l1.has(keys[2])
        cluster_client.set(keys[0], b"3")
        poll_until(lambda: near.get(keys[0]) == b"3")
    finally:
        near.close()


def test_killed_primary_mid_run_serves_nothing_stale_and_recovers(
    redis_cluster: Any, cluster_client: Any, prefix: str
) -> None:
    """A primary dies (SIGKILL) while the near cache holds keys of every primary: every L1 hit
    stops within the bound, reads of its slots raise a clear redis-py error, the survivors go
    on serving theirs (the session cluster does not require full coverage; for the cluster-down
    state see the next test), and once it is back the near cache tracks all three primaries
    again by itself."""
    near = NearCache(
        RedisRemote(cluster_client), prefix=prefix, config=NearCacheConfig(staleness=STALENESS)
    )
    owners = _spread_keys(cluster_client, prefix)
    keys = [group[0] for group in owners.values()]
    victim_key = keys[0]
    victim = cluster_client.get_node_from_key(victim_key)
    process = next(n for n in redis_cluster.nodes if n.port == victim.port)
    try:
        assert near.wait_fresh(10)
        for key in keys:
            cluster_client.set(key, b"1")
        poll_until(lambda: all(near.get(k) == b"1" and near.core.l1.has(k) for k in keys))
        process.stop()
        killed = time.monotonic()
        # No hit after the bound (each read judged by its start time: no race with the load).
        poll_within_bound(
            lambda: near.info()["near_cache_fresh"], lambda fresh: not fresh, killed, STALENESS
        )
        poll_until(lambda: len(near.core.l1) == 0)  # then flushed, by the tracker or a read
        with pytest.raises(redis.RedisError):
            near.get(victim_key)  # its slots have no server: an error, never the old copy
        cluster_client.set(keys[1], b"2")  # a live primary still takes writes and reads
        assert near.get(keys[1]) == b"2"
        assert not near.core.l1.has(keys[1])  # bypassed: nothing fills while one is down
    finally:
        if process.process is None:
            process.start()
        redis_cluster.wait_ok()
    try:
        assert near.wait_fresh(30)
        assert near.info()["near_cache_tracking_connections"] == 3
        poll_until(lambda: _sets(cluster_client, victim_key, b"3"), timeout=30)
        poll_until(lambda: near.get(victim_key) == b"3" and near.core.l1.has(victim_key))
        cluster_client.set(victim_key, b"4")
        poll_until(lambda: near.get(victim_key) == b"4")
    finally:
        near.close()


def test_cluster_down_serves_nothing_from_the_l1_and_recovers(prefix: str) -> None:
    """Decided: in a cluster-down state (CLUSTERDOWN: the cluster refuses every keyed command)
    the near cache serves nothing the cluster itself would refuse. Its trackers may all be
    connected (a node cut off from the majority still answers PING, while a replica elsewhere
    may take over its slots and writes), so the heartbeat of a cluster node is CLUSTER INFO and
    confirms freshness only in state ok: within the bound hits stop, the L1 is flushed, reads
    raise redis-py's ClusterDownError; once the cluster is ok again the near cache recovers.

    Made deliberately: a private cluster requiring full coverage loses a primary, and the test
    waits for the survivors to report ``cluster_state:fail``; the near cache tracks only the
    survivors, so their heartbeat alone decides."""
    cluster = RedisClusterProcess(require_redis_server(), full_coverage=True)
    client = cluster.client(socket_timeout=5)
    near = None
    try:
        owners = _spread_keys(client, prefix)
        victim_port = client.get_node_from_key(next(iter(owners.values()))[0]).port
        victim = next(n for n in cluster.nodes if n.port == victim_port)
        remote = RedisRemote(client)
        survivors = [e for e in remote.tracking_endpoints() if e["port"] != victim_port]
        assert len(survivors) == 2 and all(e[CLUSTER_NODE] for e in survivors)
        key = next(
            g[0] for g in owners.values() if client.get_node_from_key(g[0]).port != victim_port
        )
        near = NearCache(
            remote, prefix=prefix, config=NearCacheConfig(staleness=STALENESS), endpoints=survivors
        )
        assert near.wait_fresh(10)
        client.set(key, b"1")
        poll_until(lambda: near.get(key) == b"1" and near.core.l1.has(key))
        victim.stop()
        cluster.wait_state("fail")
        down = time.monotonic()  # every survivor reports fail from here on
        poll_within_bound(
            lambda: near.info()["near_cache_fresh"], lambda fresh: not fresh, down, STALENESS
        )
        # Then flushed by the tracker (its own beat: a condition, not a moment; the copy may be
        # gone already, dropped by the late push of the test's own SET).
        poll_until(lambda: near.info()["near_cache_stale_flushes"] >= 1 and len(near.core.l1) == 0)
        with pytest.raises(redis.exceptions.ClusterDownError):
            near.get(key)  # its primary is alive, but the cluster refuses: never the old copy
        victim.start()
        cluster.wait_ok()
        assert near.wait_fresh(30)
        poll_until(lambda: _sets(client, key, b"2"), timeout=30)
        poll_until(lambda: near.get(key) == b"2" and near.core.l1.has(key))
        client.set(key, b"3")
        poll_until(lambda: near.get(key) == b"3")
    finally:
        if near is not None:
            near.close()
        client.close()
        cluster.close()


def _sets(client: Any, key: str, value: bytes) -> bool:
    """SET once the cluster serves the slot again (right after a restart it may not yet)."""
    try:
        return bool(client.set(key, value))
    except redis.RedisError:
        return False


def test_async_near_cache_on_the_cluster(redis_cluster: Any, prefix: str) -> None:
    import asyncio

    from redis.asyncio.cluster import ClusterNode, RedisCluster

    from cachepolicy.redis.near import AsyncNearCache, AsyncRedisRemote

    async def scenario() -> None:
        client = RedisCluster(
            startup_nodes=[ClusterNode(n.host, n.port) for n in redis_cluster.nodes]
        )
        near = AsyncNearCache(
            AsyncRedisRemote(client), prefix=prefix, config=NearCacheConfig(staleness=STALENESS)
        )
        try:
            assert await near.wait_fresh(10)  # the primaries are discovered, then tracked
            assert near.info()["near_cache_tracking_connections"] == 3
            owners: dict[str, list[str]] = {}
            for i in range(30):
                key = f"{prefix}a{i}"
                owners.setdefault(client.get_node_from_key(key).name, []).append(key)
            keys = [group[0] for group in owners.values()]
            assert len(keys) == 3
            for key in keys:
                await client.set(key, b"old")
            deadline = time.monotonic() + 5
            while not all(near.core.l1.has(k) for k in keys):
                assert await near.get_many(keys) == dict.fromkeys(keys, b"old")
                assert time.monotonic() < deadline
                await asyncio.sleep(0.001)
            for key in keys:  # a write on every primary reaches the L1
                await client.set(key, b"new")
                while await near.get(key) != b"new":
                    assert time.monotonic() < deadline + 5
                    await asyncio.sleep(0.001)
        finally:
            await near.close()
            await client.aclose()

    asyncio.run(scenario())


def test_tracker_follows_a_primary_that_moved() -> None:
    """After a failover a tracker whose primary is gone takes the one primary no other
    tracker covers (the promoted replica); a primary still listed is kept."""
    from cachepolicy.redis.tracking import _follow_topology

    def node(port: int) -> dict[str, Any]:
        return {"host": "127.0.0.1", "port": port, "password": "p"}

    endpoints = [node(1), node(2), node(3)]
    _follow_topology(endpoints, 0, [node(2), node(3), node(4)])
    assert [e["port"] for e in endpoints] == [4, 2, 3]
    assert endpoints[0]["password"] == "p"
    _follow_topology(endpoints, 1, [node(2), node(3), node(4)])  # still a primary: unchanged
    assert [e["port"] for e in endpoints] == [4, 2, 3]
    _follow_topology(endpoints, 2, [node(4), node(2)])  # no uncovered primary: stays put
    assert [e["port"] for e in endpoints] == [4, 2, 3]


def _replicas_synced(nodes: list[Any]) -> bool:
    roles = [n.client(socket_timeout=1).info("replication") for n in nodes]
    replicas = [r for r in roles if r["role"] == "slave"]
    return len(replicas) == 3 and all(r["master_link_status"] == "up" for r in replicas)


def test_failover_to_a_replica_is_followed_by_itself(prefix: str) -> None:
    """With replicas, a killed primary's slots move to a promoted replica at another address;
    the tracker of the lost primary finds it (after a few failed reconnects it re-reads the
    primaries) and the near cache becomes fresh and coherent again without being rebuilt."""
    import subprocess

    from redis.cluster import ClusterNode, RedisCluster

    from tests.redis.servers import RedisProcess, require_redis_server

    binary = require_redis_server()
    nodes = [RedisProcess(binary, cluster=True) for _ in range(6)]
    client = None
    near = None
    try:
        subprocess.run(
            [
                "redis-cli", "--cluster", "create", *(f"{n.host}:{n.port}" for n in nodes),
                "--cluster-replicas", "1", "--cluster-yes",
            ],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=60,
        )  # fmt: skip
        # A replica fails over only once it has synced with its primary.
        poll_until(lambda: _replicas_synced(nodes), timeout=30, interval=0.1)
        client = RedisCluster(
            startup_nodes=[ClusterNode(n.host, n.port) for n in nodes], socket_timeout=2
        )
        key = prefix + "x"
        poll_until(lambda: _sets(client, key, b"1"), timeout=30)
        near = NearCache(
            RedisRemote(client), prefix=prefix, config=NearCacheConfig(staleness=STALENESS)
        )
        assert near.wait_fresh(10)
        poll_until(lambda: near.get(key) == b"1" and near.core.l1.has(key))
        owner = client.get_node_from_key(key)
        victim = next(n for n in nodes if n.port == owner.port)
        victim.stop()
        poll_until(  # not fresh first, then flushed: the tracker drops freshness, then clears
            lambda: not near.info()["near_cache_fresh"] and len(near.core.l1) == 0, timeout=5
        )
        assert len(near.core.l1) == 0
        # The replica takes over after cluster-node-timeout; redis-py follows on a retry.
        poll_until(lambda: _sets(client, key, b"2"), timeout=30, interval=0.2)
        assert near.wait_fresh(30)
        tracked = {(e["host"], e["port"]) for e in near.tracker.endpoints}
        assert (owner.host, owner.port) not in tracked
        assert len(tracked) == 3
        poll_until(lambda: near.get(key) == b"2" and near.core.l1.has(key))
        client.set(key, b"3")  # the promoted primary's writes are pushed to the L1
        poll_until(lambda: near.get(key) == b"3")
    finally:
        if near is not None:
            near.close()
        if client is not None:
            client.close()
        for node in nodes:
            node.close()
