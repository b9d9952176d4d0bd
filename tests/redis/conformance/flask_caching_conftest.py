"""Conftest for Flask-Caching's own suite, run against ``flask_cachepolicy.RedisPolicyCache``.

The in-process glue (``tests/flask/conformance/flask_caching_conftest.py``, copied next to this
file as ``policy_conftest.py``) with the ``app`` fixture pointed at the Redis backend on the
runner's private server (``CACHEPOLICY_TEST_REDIS_URL``) and the clocks also moving Redis TTLs
(:mod:`redis_time`). The server is emptied before every test (it is private to this run).
"""

from __future__ import annotations

from typing import Any

import flask
import pytest
import redis_time
from policy_conftest import *  # noqa: F403  (upstream's fixtures and the in-process glue)
from policy_conftest import EXCLUDED as POLICY_EXCLUDED
from policy_conftest import HERE, _Clocks, skip_excluded

from cachepolicy import ManualClock

#: node id -> why it does not run against RedisPolicyCache.
EXCLUDED: dict[str, str] = {
    **POLICY_EXCLUDED,
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


class _RedisClocks(_Clocks):
    """Upstream's fake clock (for cachelib's own caches) and Redis TTLs, moved together."""

    def advance(self, seconds: float) -> None:
        super().advance(seconds)
        redis_time.advance(seconds)


@pytest.fixture
def clocks(policy_clock: ManualClock) -> _Clocks:
    return _RedisClocks(policy_clock)


def pytest_collection_modifyitems(config: pytest.Config, items: list[Any]) -> None:
    skip_excluded(items, EXCLUDED, "RedisPolicyCache")
