"""Conftest for Flask-Caching's own test suite, run against ``flask_cachepolicy.PolicyCache``.

Copied by ``scripts/fetch_conformance.py`` next to the fetched ``tests/`` directory, whose own
conftest becomes ``upstream_conftest.py``. We override exactly two fixtures:

* ``app``: upstream's sets ``CACHE_TYPE = "SimpleCache"``; ours sets our backend and hands it a
  :class:`~cachepolicy.ManualClock` through ``CACHE_CACHEPOLICY_CLOCK``.
* ``clock``: upstream's patches cachelib's ``time``; ours also advances the ManualClock, so
  upstream's "advance two seconds and expect a miss" tests drive our expiry without sleeping.

Every other fixture (``cache``, ``hash_method``, ...) is upstream's, unchanged. The Redis
runs (``tests/redis/conformance/flask_caching_conftest.py``) import this module as
``policy_conftest`` and override ``app``, ``clocks`` and the name in :func:`skip_excluded`.
"""

from __future__ import annotations

import os
import sys
import types
from collections.abc import Iterator
from typing import Any

import cachelib.file
import cachelib.simple
import flask
import pytest

from cachepolicy import ManualClock

# Upstream's conftest imports pytest-xprocess for its Redis/Memcached server fixtures. Those
# fixtures only serve tests of other backends, which are excluded below, so a stub suffices and
# the plugin need not be a dependency of ours.
if "xprocess" not in sys.modules:
    _stub = types.ModuleType("xprocess")
    _stub.ProcessStarter = type("ProcessStarter", (), {})  # type: ignore[attr-defined]
    sys.modules["xprocess"] = _stub

from upstream_conftest import *  # noqa: F403  (re-export upstream fixtures)

HERE = os.path.dirname(os.path.abspath(__file__))

#: Upstream test modules not collected, and why: none of them exercises the configured backend.
NOT_RUN: dict[str, str] = {
    "test_basic_app.py": "configuration of SimpleCache, RedisCache and custom SimpleCache types",
    "test_init.py": "instantiates each of Flask-Caching's built-in backend classes",
    "test_cachelib.py": "CACHE_TYPE paths pointing at cachelib's own classes",
    "test_py314_annotations.py": "annotation handling of Flask-Caching's decorators on 3.14",
}
collect_ignore = list(NOT_RUN)

#: node id (relative to this directory) -> why it does not run against PolicyCache.
EXCLUDED: dict[str, str] = {
    "test_serializer.py::test_values_are_stored_in_the_configured_format": (
        "reads SimpleCache's private `_cache` dict to inspect the stored bytes"
    ),
    "test_cache.py::test_cache_unlink": (
        "tests RedisCache.unlink against a Redis server (CACHE_TYPE='RedisCache'), not our backend"
    ),
}


@pytest.fixture
def policy_clock() -> ManualClock:
    """The clock every PolicyCache of a test runs on (upstream's start time, 2023-11-14)."""
    return ManualClock(1_700_000_000.0)


@pytest.fixture
def app(request: pytest.FixtureRequest, policy_clock: ManualClock) -> flask.Flask:
    """Upstream's ``app`` fixture with our cache type instead of SimpleCache."""
    app = flask.Flask(request.module.__name__, template_folder=HERE)
    app.testing = True
    app.config["CACHE_TYPE"] = "flask_cachepolicy.PolicyCache"
    app.config["CACHE_CACHEPOLICY_CLOCK"] = policy_clock
    return app


class _Clocks:
    """Upstream's fake clock and our ManualClock, advanced together."""

    def __init__(self, policy_clock: ManualClock) -> None:
        self.policy_clock = policy_clock

    def __call__(self) -> float:
        return self.policy_clock.time()

    def advance(self, seconds: float) -> None:
        self.policy_clock.advance(seconds)


@pytest.fixture
def clocks(policy_clock: ManualClock) -> _Clocks:
    return _Clocks(policy_clock)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch, clocks: _Clocks) -> Iterator[_Clocks]:
    """Drive PolicyCache's expiry (and cachelib's, for tests that build a SimpleCache)."""
    monkeypatch.setattr(cachelib.simple, "time", clocks)
    monkeypatch.setattr(cachelib.file, "time", clocks)
    yield clocks


def skip_excluded(items: list[Any], excluded: dict[str, str], backend: str) -> None:
    """Skip the excluded tests, with their reason, so they show up in the summary."""
    for item in items:
        reason = excluded.get(item.nodeid.split("[")[0]) or excluded.get(
            item.nodeid.rsplit("/", 1)[-1].split("[")[0]
        )
        if reason:
            item.add_marker(pytest.mark.skip(reason=f"excluded for {backend}: {reason}"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[Any]) -> None:
    skip_excluded(items, EXCLUDED, "PolicyCache")
