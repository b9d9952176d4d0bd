"""The private servers themselves: up, isolated from 6379, cluster healthy."""

from __future__ import annotations

from tests.redis.servers import RedisClusterProcess, RedisProcess


def test_private_server_answers_and_is_not_the_shared_one(redis_server: RedisProcess) -> None:
    assert redis_server.port != 6379
    client = redis_server.client()
    try:
        assert client.ping()
        client.set("servers:probe", b"1")
        assert client.get("servers:probe") == b"1"
        client.delete("servers:probe")
    finally:
        client.close()


def test_cluster_has_three_primaries_covering_all_slots(
    redis_cluster: RedisClusterProcess,
) -> None:
    client = redis_cluster.client()
    try:
        primaries = client.get_primaries()
        assert len(primaries) == 3
        # Keys hashing to different slots land on different nodes and all read back.
        keys = [f"servers:{i}" for i in range(30)]
        for key in keys:
            client.set(key, key)
        assert {client.get_node_from_key(k).port for k in keys} == {n.port for n in primaries}
        assert [client.get(k) for k in keys] == [k.encode() for k in keys]
        client.delete(*keys)
    finally:
        client.close()
