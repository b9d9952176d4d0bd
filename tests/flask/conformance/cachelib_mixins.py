"""cachelib's generic ``CommonTests``/``HasTests``/``ClearTests`` (and the key-prefix
``delete_many`` test) against ``PolicyCache``, on a private and on a shared store, with and
without a key prefix.

``CommonTests.test_expiration`` sleeps four real seconds; we replace the ``sleep`` it imported
with a :class:`~cachepolicy.ManualClock` advance, so expiry is tested deterministically and
instantly.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import common  # upstream tests/common.py
import pytest
from clear import ClearTests
from common import CommonTests
from delete_many_with_prefix import DeleteManyWithPrefixTests
from flask_cachepolicy import PolicyCache
from has import HasTests

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


class TestPolicyCache(CommonTests, HasTests, ClearTests, DeleteManyWithPrefixTests):  # type: ignore[misc]
    pass
