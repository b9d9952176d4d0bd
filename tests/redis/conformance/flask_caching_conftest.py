"""Conftest for Flask-Caching's own suite, run against ``flask_cachepolicy.RedisPolicyCache``.

As the in-process glue (``tests/flask/conformance/flask_caching_conftest.py``), with the
``app`` fixture pointed at the Redis backend on the runner's private server
(``CACHEPOLICY_TEST_REDIS_URL``) and the ``clock`` fixture moving Redis TTLs
(:mod:`redis_time`). The server is emptied before every test (it is private to this run).
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
import redis_time

if "xprocess" not in sys.modules:
    _stub = types.ModuleType("xprocess")
    _stub.ProcessStarter = type("ProcessStarter", (), {})  # type: ignore[attr-defined]
    sys.modules["xprocess"] = _stub

from upstream_conftest import *  # noqa: F403  (re-export upstream fixtures)

HERE = os.path.dirname(os.path.abspath(__file__))

#: Upstream modules not collected, and why: none exercises the configured backend.
NOT_RUN: dict[str, str] = {
    "test_basic_app.py": "configuration of SimpleCache, RedisCache and custom SimpleCache types",
    "test_init.py": "instantiates each of Flask-Caching's built-in backend classes",
    "test_cachelib.py": "CACHE_TYPE paths pointing at cachelib's own classes",
    "test_py314_annotations.py": "annotation handling of Flask-Caching's decorators on 3.14",
}
collect_ignore = list(NOT_RUN)

#: node id -> why it does not run against RedisPolicyCache.
EXCLUDED: dict[str, str] = {
    "test_serializer.py::test_values_are_stored_in_the_configured_format": (
        "reads SimpleCache's private `_cache` dict to inspect the stored bytes"
    ),
    "test_cache.py::test_cache_unlink": (
        "tests Flask-Caching's RedisCache.unlink (CACHE_TYPE='RedisCache' on its own server "
        "fixture), not our backend"
    ),
}


@pytest.fixture(autouse=True)
def _empty_private_server() -> None:
    redis_time.flush()


@pytest.fixture
def app(request: pytest.FixtureRequest) -> flask.Flask:
    app = flask.Flask(request.module.__name__, template_folder=HERE)
    app.testing = True
    app.config["CACHE_TYPE"] = "flask_cachepolicy.RedisPolicyCache"
    app.config["CACHE_REDIS_URL"] = redis_time.REDIS_URL
    for name, value in redis_time.NEAR_OPTIONS.items():  # the two-tier runs
        app.config[f"CACHE_{name.upper()}"] = value
    return app


class _Clocks:
    """Upstream's fake clock (for cachelib's own caches) and Redis TTLs, moved together."""

    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
        redis_time.advance(seconds)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[_Clocks]:
    clocks = _Clocks()
    monkeypatch.setattr(cachelib.simple, "time", clocks)
    monkeypatch.setattr(cachelib.file, "time", clocks)
    yield clocks


def pytest_collection_modifyitems(config: pytest.Config, items: list[Any]) -> None:
    for item in items:
        reason = EXCLUDED.get(item.nodeid.split("[")[0]) or EXCLUDED.get(
            item.nodeid.rsplit("/", 1)[-1].split("[")[0]
        )
        if reason:
            item.add_marker(pytest.mark.skip(reason=f"excluded for RedisPolicyCache: {reason}"))
