# Django's suite is untyped and imported at run time: its classes are Any to mypy.
# mypy: disallow-subclassing-any=False
"""Django's own cache test suite against ``RedisPolicyCache``, standalone and on a cluster.

The machinery (fetching the suite of the installed Django, the test settings, the request-cycle
harness) is ``tests/django/test_django_conformance.py``'s, imported as a module so that its own
classes are not collected a second time here. Both topologies run on the session's *private*
servers (``tests/redis/servers.py``): Django's suite calls ``clear()`` and sleeps through
expiries, which must not touch the shared server on 6379.

What runs, per topology: ``BaseCacheTests`` in full (the class Django runs for its own
``RedisCache``), and the middleware / ``cache_page`` / utility classes the in-process runner
runs, with their ``CACHES`` pointed at this backend.

Excluded (:data:`EXCLUDED`, each with its reason): the same cull aliases Django's own
``RedisCacheTests`` leaves out (``redis_excluded_caches``), because Redis has no entry-count
bound; the suite then skips the cull tests itself ("Culling isn't implemented").
"""

from __future__ import annotations

import importlib
from typing import Any

from django.test import TestCase, override_settings
from django_cachepolicy.redis_backend import RedisPolicyCache

import tests.django.test_django_conformance as base
from tests.redis.servers import session_cluster, session_server

suite: Any = base.suite
BACKEND = "django_cachepolicy.RedisPolicyCache"

#: Upstream tests not run against this backend, with the reason.
EXCLUDED: dict[str, str] = {
    "BaseCacheTests.test_cull": (
        "the 'cull' alias sets MAX_ENTRIES: Redis has no entry-count bound (MAXMEMORY bounds "
        "memory), so, as in Django's own RedisCacheTests, the alias is left out and the test "
        "skips itself"
    ),
    "BaseCacheTests.test_zero_cull": "as test_cull, for the 'zero_cull' alias",
    "BaseCacheTests.test_cull_delete_when_store_empty": "as test_cull (reads the 'cull' alias)",
}
_EXCLUDED_ALIASES = {"cull", "zero_cull"}

_liberal: Any = importlib.import_module("cache.liberal_backend")
_closeable: Any = importlib.import_module("cache.closeable_cache")


class LiberalRedisPolicyCache(_liberal.LiberalKeyValidationMixin, RedisPolicyCache):
    """Django's ``validate_key``-overriding mixin on this backend."""


class CloseableRedisPolicyCache(_closeable.CloseHookMixin, RedisPolicyCache):
    """Django's close-recording mixin on this backend."""


def _caches(location: str, **params: Any) -> dict[str, dict[str, Any]]:
    setting: dict[str, dict[str, Any]] = suite.caches_setting_for_tests(
        BACKEND=BACKEND, LOCATION=location, exclude=_EXCLUDED_ALIASES, **params
    )
    return setting


def _single(location: str, **params: Any) -> dict[str, dict[str, Any]]:
    return {"default": {"BACKEND": BACKEND, "LOCATION": location, **params}}


def _classes(topology: str, location: str, other: dict[str, Any]) -> dict[str, type]:
    """The conformance classes for one topology (``other``: a second, separate key space)."""
    harness = base._RequestCycleHarness
    made: dict[str, type] = {}

    def define(name: str, bases: tuple[type, ...], caches: dict[str, Any]) -> None:
        cls = type(f"{name}_{topology}", bases, {"__module__": __name__})
        made[cls.__name__] = override_settings(CACHES=caches)(cls)

    define("RedisPolicyCacheTests", (suite.BaseCacheTests, TestCase), _caches(location))
    define("RedisCacheUtils", (harness, suite.CacheUtils), _single(location))
    define(
        "RedisPrefixedCacheUtils",
        (harness, suite.PrefixedCacheUtils),
        _single(location, KEY_PREFIX="cacheprefix"),
    )
    define("RedisCacheHEADTest", (harness, suite.CacheHEADTest), _single(location))
    define("RedisCacheI18nTest", (harness, suite.CacheI18nTest), _single(location))
    define(
        "RedisPrefixedCacheI18nTest",
        (harness, suite.PrefixedCacheI18nTest),
        _single(location, KEY_PREFIX="cacheprefix"),
    )
    define(
        "RedisCacheMiddlewareTest",
        (harness, suite.CacheMiddlewareTest),
        {
            "default": {"BACKEND": BACKEND, "LOCATION": location},
            # Django configures TIMEOUT as the string "1" here, with its own key space.
            "other": {"BACKEND": BACKEND, "TIMEOUT": "1", **other},
        },
    )
    define(
        "RedisTestWithTemplateResponse",
        (harness, suite.TestWithTemplateResponse),
        _single(location),
    )
    define(
        "RedisCustomCacheKeyValidationTests",
        (harness, suite.CustomCacheKeyValidationTests),
        {"default": {"BACKEND": f"{__name__}.LiberalRedisPolicyCache", "LOCATION": location}},
    )
    define(
        "RedisCacheClosingTests",
        (harness, suite.CacheClosingTests),
        {"default": {"BACKEND": f"{__name__}.CloseableRedisPolicyCache", "LOCATION": location}},
    )
    define("RedisCacheHandlerTest", (harness, suite.CacheHandlerTest), _single(location))
    return made


_server = session_server()
_cluster = session_cluster()
# The middleware test's "other" alias must not see the default alias's keys: on one server it
# uses database 1; a cluster has database 0 only, so there it gets a KEY_PREFIX of its own.
globals().update(_classes("standalone", f"{_server.url}/0", {"LOCATION": f"{_server.url}/1"}))
globals().update(
    _classes("cluster", _cluster.location, {"LOCATION": _cluster.location, "KEY_PREFIX": "other"})
)


def test_exclusions_are_real() -> None:
    """Every exclusion names a test of Django's suite that skips itself without its alias."""
    for dotted in EXCLUDED:
        class_name, method = dotted.split(".")
        assert callable(getattr(getattr(suite, class_name), method)), dotted
    assert set(suite.caches_setting_for_tests()) >= _EXCLUDED_ALIASES


def test_every_class_runs_against_redis() -> None:
    classes = [
        obj
        for obj in globals().values()
        if isinstance(obj, type)
        and obj.__module__ == __name__
        and hasattr(obj, "_overridden_settings")
    ]
    assert len(classes) == 22
    for cls in classes:
        for alias, params in cls._overridden_settings["CACHES"].items():
            assert params["BACKEND"] == BACKEND or params["BACKEND"].startswith(__name__), (
                cls,
                alias,
            )
