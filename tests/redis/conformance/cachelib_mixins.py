"""cachelib's ``CommonTests``/``HasTests``/``ClearTests``/``SerializerTests``, the key-prefix
``delete_many`` test and ``TestInterfaceUniformity`` against ``RedisPolicyCache`` on the
runner's private server, with and without a key prefix. ``CommonTests.test_expiration``'s
four-second ``sleep`` becomes a TTL move (:mod:`redis_time`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import common  # upstream tests/common.py
import pytest
import redis_time
import test_interface_uniformity as upstream_uniformity
from clear import ClearTests
from common import CommonTests
from delete_many_with_prefix import DeleteManyWithPrefixTests
from flask_cachepolicy.redis_backend import RedisPolicyCache
from has import HasTests
from serializer import SerializerTests


@pytest.fixture(autouse=True)
def cache_factory(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, key_prefix: str | None
) -> Iterator[None]:
    redis_time.flush()
    monkeypatch.setattr(common, "sleep", redis_time.advance)

    def _factory(self: object, *args: Any, **kwargs: Any) -> RedisPolicyCache:
        kwargs.setdefault("key_prefix", key_prefix or "")
        return RedisPolicyCache(redis_time.REDIS_URL, *args, **redis_time.NEAR_OPTIONS, **kwargs)

    request.cls.cache_factory = _factory
    yield


@pytest.fixture(scope="class")
def redis_server() -> None:
    """Upstream's uniformity test asks for its own Redis server; the runner started ours."""


@pytest.fixture(scope="class")
def memcached_server() -> None:
    """Upstream's uniformity test asks for a Memcached server; not needed."""


class TestRedisPolicyCache(  # type: ignore[misc]
    CommonTests, HasTests, ClearTests, DeleteManyWithPrefixTests, SerializerTests
):
    pass


class TestRedisPolicyCacheInterfaceUniformity(upstream_uniformity.TestInterfaceUniformity):  # type: ignore[misc]
    @pytest.fixture(autouse=True)
    def create_cache_list(self, request: pytest.FixtureRequest, cache_factory: None) -> None:
        request.cls.cache_list = [self.cache_factory()]
