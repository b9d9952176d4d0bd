"""Fixtures for the Flask adapter's tests: a ManualClock, app factories, invariant checks."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from flask_cachepolicy import PolicyCache
from flask_caching import Cache

from cachepolicy import ManualClock, release_shared_store

CACHE_TYPE = "flask_cachepolicy.PolicyCache"

_names = itertools.count()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def location() -> Iterator[str]:
    """A shared-store name unique to the test, released afterwards."""
    name = f"flask-test-{next(_names)}"
    yield name
    release_shared_store(name)


@pytest.fixture
def backends() -> Iterator[list[PolicyCache]]:
    """Every backend a test made; each must pass the core's invariant check afterwards."""
    made: list[PolicyCache] = []
    yield made
    for backend in made:
        assert backend.core.check() == [], backend
        backend.close()


@pytest.fixture
def make_backend(clock: ManualClock, backends: list[PolicyCache]) -> Callable[..., PolicyCache]:
    """``PolicyCache(**kwargs)`` on the test's clock."""

    def make(**kwargs: Any) -> PolicyCache:
        kwargs.setdefault("clock", clock)
        backend = PolicyCache(**kwargs)
        backends.append(backend)
        return backend

    return make


@pytest.fixture
def make_app(clock: ManualClock, backends: list[PolicyCache]) -> Callable[..., tuple[Flask, Cache]]:
    """A Flask app with ``Cache(app)`` configured by ``CACHE_*`` keyword arguments."""

    def make(**config: Any) -> tuple[Flask, Cache]:
        app = Flask(f"app{next(_names)}")
        app.config["CACHE_TYPE"] = CACHE_TYPE
        app.config["CACHE_CACHEPOLICY_CLOCK"] = clock
        app.config.update(config)
        cache = Cache(app)
        backends.append(app.extensions["cache"][cache])
        return app, cache

    return make
