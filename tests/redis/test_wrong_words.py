"""Errors say what is wrong (issue 23, item 4): a wrong or missing password, a TOPOLOGY that
does not match the server, a bad ``?protocol=``. Before, all of them read "cannot be reached",
with the password printed in the message.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from cachepolicy import ConfigError
from cachepolicy.redis import (
    RedisAuthenticationError,
    RedisClient,
    RedisTopologyError,
    RedisUnavailableError,
    parse_redis_settings,
)
from cachepolicy.redis.client import AsyncRedisClient
from tests.redis.test_near_support import PrivateServer


@pytest.fixture(scope="module")
def guarded() -> Iterator[PrivateServer]:
    """A server that requires the password "right-password"."""
    server = PrivateServer(password="right-password")
    yield server
    server.close()


def _client(location: str, **options: Any) -> RedisClient:
    return RedisClient(parse_redis_settings(location, {"EVENTS": (), **options}))


@pytest.mark.parametrize("userinfo", [":wrong-password@", ""], ids=["wrong", "missing"])
def test_refused_credentials_are_named_and_the_password_is_not_shown(
    guarded: PrivateServer, userinfo: str
) -> None:
    client = _client(f"redis://{userinfo}127.0.0.1:{guarded.port}")
    with pytest.raises(RedisAuthenticationError, match="refused the credentials") as caught:
        client.get("k")
    assert isinstance(caught.value, RedisUnavailableError)  # code catching that still works
    assert "cannot be reached" not in str(caught.value)
    assert "wrong-password" not in str(caught.value)
    with pytest.raises(RedisAuthenticationError):
        asyncio.run(AsyncRedisClient(client.settings).get("k"))
    client.close()


def test_the_right_password_works(guarded: PrivateServer) -> None:
    client = _client(f"redis://:right-password@127.0.0.1:{guarded.port}")
    client.set("k", 1, None)
    assert client.get("k") == 1
    client.close()


def test_cluster_topology_against_a_standalone_server(redis_server: Any) -> None:
    client = _client(redis_server.url, TOPOLOGY="cluster")
    with pytest.raises(RedisTopologyError, match="is not a Redis Cluster") as caught:
        client.get("k")
    assert "TOPOLOGY" in str(caught.value) and "cannot be reached" not in str(caught.value)


def test_standalone_topology_against_a_cluster_node(redis_cluster: Any) -> None:
    node = redis_cluster.nodes[0]
    client = _client(node.url, TOPOLOGY="standalone")
    with pytest.raises(RedisTopologyError, match="is a Redis Cluster node"):
        for i in range(20):  # some keys hash to this node's own slots
            client.get(f"k{i}")
    client.close()


def test_a_bad_protocol_is_a_configuration_error() -> None:
    with pytest.raises(ConfigError, match="2 or 3"):
        parse_redis_settings("redis://127.0.0.1:6379?protocol=9")


def test_the_django_check_names_the_cause(guarded: PrivateServer, redis_server: Any) -> None:
    from django_cachepolicy.redis_backend import E_CREDENTIALS, E_TOPOLOGY, check_redis_caches

    backend = "django_cachepolicy.RedisPolicyCache"
    caches = {
        "locked": {"BACKEND": backend, "LOCATION": f"redis://:nope@127.0.0.1:{guarded.port}"},
        "shape": {
            "BACKEND": backend,
            "LOCATION": redis_server.url,
            "OPTIONS": {"TOPOLOGY": "cluster"},
        },
    }
    found = {m.obj: m for m in check_redis_caches(caches)}
    assert found["CACHES['locked']"].id == E_CREDENTIALS
    assert "nope" not in found["CACHES['locked']"].msg
    assert found["CACHES['shape']"].id == E_TOPOLOGY
