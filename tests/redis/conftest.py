"""Redis-tier fixtures: the private servers of ``tests/redis/servers.py``, and Django settings.

Django is configured with the same settings module as ``tests/django/`` (and Django's cache
test app installed before set-up, for the conformance module); set-up itself happens in a
session fixture, so that no module sets Django up while it is being collected.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.modules import import_by_path
from tests.redis.servers import redis_cluster, redis_server

__all__ = ["redis_cluster", "redis_server"]


def _django_helper() -> ModuleType:
    return import_by_path(
        "django_cachepolicy_test_settings",
        Path(__file__).parents[1] / "django" / "django_test_settings.py",
    )


def pytest_configure(config: pytest.Config) -> None:
    helper = _django_helper()
    helper.configure()
    try:
        helper.install_conformance_app()
    except helper.fetcher().ConformanceFetchError:
        return  # the conformance module reports it (fails under CI=true)


@pytest.fixture(autouse=True, scope="session")
def _django_setup() -> Iterator[None]:
    _django_helper().setup()
    yield
    # Listener and near-cache tracker threads must stop before the private servers do (at
    # exit), or they log the servers' going away.
    from cachepolicy.redis.notifications import stop_all
    from cachepolicy.redis.two_tier import close_near_caches

    stop_all()
    close_near_caches()


@pytest.fixture
def prefix() -> str:
    """A key prefix no other test (or session) uses."""
    return f"cptest-{uuid.uuid4().hex[:12]}:"


@pytest.fixture(params=["standalone", "cluster"])
def location(request: pytest.FixtureRequest, redis_server: Any, redis_cluster: Any) -> str:
    """The private standalone server's URL, or the private cluster's node list."""
    return str(redis_server.url if request.param == "standalone" else redis_cluster.location)


@pytest.fixture
def shared_6379(prefix: str) -> Iterator[str]:
    """The shared server on 6379 (skipped when absent), with this test's keys deleted after.

    Only prefixed keys are written there, and only they are deleted: never a flush or a
    CONFIG SET on a server other sessions use.
    """
    import redis

    client = redis.Redis(host="127.0.0.1", port=6379, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.ConnectionError:
        pytest.skip("no Redis server on 127.0.0.1:6379")
    yield "redis://127.0.0.1:6379/0"
    keys = list(client.scan_iter(match=prefix + "*"))
    if keys:
        client.delete(*keys)
    client.close()
