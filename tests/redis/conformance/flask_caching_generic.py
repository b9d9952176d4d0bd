"""Flask-Caching's ``GenericCacheTests`` against ``RedisPolicyCache``, with and without a key
prefix, on the runner's private server."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis_time
from backend_cache import GenericCacheTests  # upstream test_backend_cache.py, renamed
from flask_cachepolicy.redis_backend import RedisPolicyCache


class TestRedisPolicyCache(GenericCacheTests):  # type: ignore[misc]
    @pytest.fixture(params=["no-prefix", "prefixed"])
    def make_cache(self, request: pytest.FixtureRequest) -> Iterator[Callable[..., Any]]:
        extra: dict[str, Any] = (
            {"key_prefix": "conformance:"} if request.param == "prefixed" else {}
        )

        def factory(**kwargs: Any) -> RedisPolicyCache:
            return RedisPolicyCache(
                redis_time.REDIS_URL, **{**redis_time.NEAR_OPTIONS, **extra, **kwargs}
            )

        yield factory
