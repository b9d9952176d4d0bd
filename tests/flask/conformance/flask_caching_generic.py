"""Flask-Caching's ``GenericCacheTests``, run against ``PolicyCache``.

Two configurations: a private store (what ``CACHE_TYPE = "flask_cachepolicy.PolicyCache"``
gives by default) and a shared store with a key prefix (``CACHE_CACHEPOLICY_LOCATION``), the
way several applications share one store.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from backend_cache import GenericCacheTests  # upstream test_backend_cache.py, renamed
from flask_cachepolicy import PolicyCache

from cachepolicy import ManualClock, release_shared_store

_locations = itertools.count()


class TestPolicyCache(GenericCacheTests):  # type: ignore[misc]
    @pytest.fixture(params=["private", "shared-prefixed"])
    def make_cache(
        self, request: pytest.FixtureRequest, policy_clock: ManualClock
    ) -> Iterator[Callable[..., PolicyCache]]:
        location = None
        extra: dict[str, Any] = {}
        if request.param == "shared-prefixed":
            location = f"flask-conformance-{next(_locations)}"
            extra["key_prefix"] = "conformance:"
        made: list[PolicyCache] = []

        def factory(**kwargs: Any) -> PolicyCache:
            cache = PolicyCache(clock=policy_clock, location=location, **{**extra, **kwargs})
            made.append(cache)
            return cache

        yield factory
        for cache in made:
            cache.close()
        if location is not None:
            release_shared_store(location)
