"""Shared fixtures: a manual clock, and a cache factory whose caches are checked after each test.

Every cache made through ``make_cache`` must pass ``check() == []`` when the test ends: the
store's accounting, indexes and policy structures are recounted after every single test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from cachepolicy import Cache, ManualClock

MakeCache = Callable[..., Cache]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(1_700_000_000.0)


@pytest.fixture
def make_cache(clock: ManualClock) -> Iterator[MakeCache]:
    created: list[Cache] = []

    def factory(**options: Any) -> Cache:
        options.setdefault("clock", clock)
        options.setdefault("seed", 1234)
        cache = Cache(**options)
        created.append(cache)
        return cache

    yield factory
    problems = {repr(cache): cache.check() for cache in created}
    for cache in created:
        cache.close()
    assert all(not p for p in problems.values()), problems
