"""Shared fixtures: a manual clock, and a cache factory whose caches are checked after each test.

Every cache made through ``make_cache`` must pass ``check() == []`` when the test ends: the
store's accounting, indexes and policy structures are recounted after every single test. The
policy registry is put back as it was after every test, so a name one test registers (or
replaces, or removes) is never seen by the next.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from cachepolicy import Cache, ManualClock
from cachepolicy.eviction import registry

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


@pytest.fixture(autouse=True)
def _registry_restored() -> Iterator[None]:
    """Whatever a test registers, replaces or unregisters is undone when it ends."""
    saved = dict(registry._REGISTRY)
    yield
    if saved != registry._REGISTRY:
        registry._REGISTRY.clear()
        registry._REGISTRY.update(saved)


@pytest.fixture(autouse=True)
def _untraced(request: pytest.FixtureRequest) -> Iterator[None]:
    """Tests marked ``untraced`` run with the coverage tracer paused.

    Why: the memory-churn scenarios (tests/core/test_memory_churn.py) run under tracemalloc, and
    the coverage tracer on top made them the pure run's slowest 400 s (issue 23, item 16). They
    measure memory, not lines: the lines they run are covered by the rest of the suite. Outside
    ``coverage run`` (the compiled run, a developer's pytest) there is nothing to pause.
    """
    tracer = _running_coverage() if request.node.get_closest_marker("untraced") else None
    if tracer is None:
        yield
        return
    tracer.stop()
    try:
        yield
    finally:
        with warnings.catch_warnings():
            # A module first imported while the tracer was paused (Django's template tag
            # libraries are imported lazily) makes start() warn that it is "already imported";
            # warnings are errors, and an error here would leave the tracer stopped for the
            # rest of the run (test_ci_stages.test_other_tests_stay_traced).
            warnings.filterwarnings("ignore", message="Already imported a file")
            tracer.start()


def _running_coverage() -> Any:
    """The ``coverage run`` measuring this process, or None."""
    try:
        import coverage
    except ImportError:  # the [extra] venvs have no coverage; nothing measures them
        return None
    return coverage.Coverage.current()
