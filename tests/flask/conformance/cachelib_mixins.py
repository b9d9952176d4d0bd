"""cachelib's generic ``CommonTests``/``HasTests``/``ClearTests``/``SerializerTests`` (and the
key-prefix ``delete_many`` test) against ``PolicyCache``, on a private and on a shared store,
with and without a key prefix; and its ``TestInterfaceUniformity`` (every public ``BaseCache``
method exists) on the same stores.

``CommonTests.test_expiration`` sleeps four real seconds; we replace the ``sleep`` it imported
with a :class:`~cachepolicy.ManualClock` advance, so expiry is tested deterministically and
instantly.

``TestInterfaceUniformity`` is imported through its module, not by name: a class named
``Test*`` in this module's namespace would be collected a second time, with upstream's fixture
that connects to Redis and Memcached servers.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import common  # upstream tests/common.py
import pytest
import test_interface_uniformity as upstream_uniformity
from clear import ClearTests
from common import CommonTests
from delete_many_with_prefix import DeleteManyWithPrefixTests
from flask_cachepolicy import PolicyCache
from has import HasTests
from serializer import SerializerTests

from cachepolicy import ManualClock, release_shared_store

_locations = itertools.count()


@pytest.fixture(autouse=True, params=["private", "shared"])
def cache_factory(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, key_prefix: str | None
) -> Iterator[None]:
    clock = ManualClock()
    monkeypatch.setattr(common, "sleep", clock.advance)
    location = f"cachelib-conformance-{next(_locations)}" if request.param == "shared" else None
    made: list[PolicyCache] = []

    def _factory(self: object, *args: Any, **kwargs: Any) -> PolicyCache:
        kwargs.setdefault("key_prefix", key_prefix or "")
        cache = PolicyCache(*args, clock=clock, location=location, **kwargs)
        made.append(cache)
        return cache

    request.cls.cache_factory = _factory
    yield
    for cache in made:
        cache.close()
    if location is not None:
        release_shared_store(location)


@pytest.fixture(scope="class")
def redis_server() -> None:
    """Upstream's ``TestInterfaceUniformity`` asks for a Redis server; we need none."""


@pytest.fixture(scope="class")
def memcached_server() -> None:
    """Upstream's ``TestInterfaceUniformity`` asks for a Memcached server; we need none."""


class TestPolicyCache(  # type: ignore[misc]
    CommonTests, HasTests, ClearTests, DeleteManyWithPrefixTests, SerializerTests
):
    pass


class TestPolicyCacheInterfaceUniformity(upstream_uniformity.TestInterfaceUniformity):  # type: ignore[misc]
    @pytest.fixture(autouse=True)
    def create_cache_list(self, request: pytest.FixtureRequest, cache_factory: None) -> None:
        """Upstream's list of its four backends, replaced by this configuration's PolicyCache."""
        request.cls.cache_list = [self.cache_factory()]
