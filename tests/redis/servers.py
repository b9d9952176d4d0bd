"""Private Redis servers for the Redis-tier tests: a standalone one and a 3-primary cluster.

The shared server on 127.0.0.1:6379 belongs to other people's tests and data: it is never
flushed, reconfigured or restarted here. Every test that needs to ``CONFIG SET``, flush, restart
a server or kill a node gets one of these instead, started on free loopback ports in a temporary
directory, without persistence, and stopped when the session ends.

Fixtures (session scoped, import them into a ``conftest.py``):

- ``redis_server``: a :class:`RedisProcess` (standalone), restartable on the same port;
- ``redis_cluster``: a :class:`RedisClusterProcess`, three primaries, no replicas, created
  with ``redis-cli --cluster create``; waits until ``cluster info`` reports ``cluster_state:ok``.

The processes themselves are :mod:`benchmarks.redisproc`'s (the one way this repository
starts a server). Without a ``redis-server`` binary the fixtures skip with a clear reason;
under ``CI=true`` they fail instead, because CI must run these tests on real servers.
"""

from __future__ import annotations

import atexit
import os
import shutil
from collections.abc import Iterator
from typing import Any

import pytest

from benchmarks.redisproc import RedisClusterProcess, RedisProcess, free_port, wait_until

__all__ = [
    "RedisClusterProcess",
    "RedisProcess",
    "free_port",
    "redis_cluster",
    "redis_server",
    "require_redis_server",
    "session_cluster",
    "session_server",
    "wait_until",
]


def require_redis_server() -> str:
    """The ``redis-server`` path; skip (fail under CI=true) where it is not installed."""
    binary = shutil.which("redis-server")
    if binary is None or shutil.which("redis-cli") is None:
        reason = "redis-server/redis-cli are not installed (apt-get install redis-server)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason + "; CI must run the Redis tests on a real server")
        pytest.skip(reason)
    return binary


_SESSION: dict[str, Any] = {}


def session_server() -> RedisProcess:
    """The process-wide private standalone server, started on first use, stopped at exit.

    For modules that need a LOCATION at import time (Django's ``override_settings`` class
    decorators); the ``redis_server`` fixture returns the same server.
    """
    if "server" not in _SESSION:
        _SESSION["server"] = RedisProcess(require_redis_server())
        atexit.register(_SESSION["server"].close)
    server: RedisProcess = _SESSION["server"]
    return server


def session_cluster() -> RedisClusterProcess:
    """The process-wide private 3-primary cluster (see :func:`session_server`)."""
    if "cluster" not in _SESSION:
        _SESSION["cluster"] = RedisClusterProcess(require_redis_server())
        atexit.register(_SESSION["cluster"].close)
    cluster: RedisClusterProcess = _SESSION["cluster"]
    return cluster


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisProcess]:
    """A private standalone server for this test session (flush/CONFIG SET/restart allowed).

    Tests that restart it must leave it running (``restart()``), since it is shared.
    """
    server = session_server()
    yield server
    if server.process is None:
        server.start()


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[RedisClusterProcess]:
    """A private 3-primary Redis Cluster for this test session."""
    yield session_cluster()
