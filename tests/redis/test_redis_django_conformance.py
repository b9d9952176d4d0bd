# Django's suite is untyped and imported at run time: its classes are Any to mypy.
# mypy: disallow-subclassing-any=False
"""Django's own cache test suite against ``RedisPolicyCache``, standalone and on a cluster.

The machinery (fetching the suite of the installed Django, the test settings, the request-cycle
harness) is ``tests/django/test_django_conformance.py``'s, imported as a module so that its own
classes are not collected a second time here. Both topologies run on the session's *private*
servers (``tests/redis/servers.py``): Django's suite calls ``clear()`` and sleeps through
expiries, which must not touch the shared server on 6379.

What runs, per topology, without and with the near cache (``*_l1`` classes: every alias with
``NEAR_CACHE=True``, the two-tier backend): ``BaseCacheTests`` in full (the class Django runs
for its own ``RedisCache``), and the middleware / ``cache_page`` / utility classes the
in-process runner runs, with their ``CACHES`` pointed at this backend. Each class starts on
emptied private servers (:class:`_Isolated`).

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


class _Isolated:
    """Empties the session's private server(s) before a class runs: the aliases Django's suite
    does not clear itself (``prefix``, ``v2``...) would otherwise carry one class's keys into
    the next one on the same server (the two-tier classes reuse the plain ones' servers)."""

    _flush_locations: tuple[str, ...] = ()

    @classmethod
    def setUpClass(cls) -> None:
        from cachepolicy.redis.client import RedisClient
        from cachepolicy.redis.settings import parse_redis_settings

        for location in cls._flush_locations:
            client = RedisClient(parse_redis_settings(location, {"events": ()}))
            for _name, server in client.primaries():
                server.flushdb()  # a private server of this session, never the shared one
        from cachepolicy.redis.two_tier import settle_near_caches

        # The flush reaches the near caches of earlier classes as a push: wait for it.
        assert settle_near_caches(timeout=10.0), "a near cache's tracker did not answer"
        super().setUpClass()  # type: ignore[misc]


def _with_options(caches: dict[str, Any], options: dict[str, Any]) -> dict[str, Any]:
    """Every alias of ``caches`` with ``options`` added to its OPTIONS."""
    return {
        alias: {**params, "OPTIONS": {**(params.get("OPTIONS") or {}), **options}}
        for alias, params in caches.items()
    }


def _classes(
    topology: str, location: str, other: dict[str, Any], options: dict[str, Any] | None = None
) -> dict[str, type]:
    """The conformance classes for one topology (``other``: a second, separate key space;
    ``options``: added to every alias's OPTIONS, e.g. the near cache)."""
    harness = base._RequestCycleHarness
    made: dict[str, type] = {}

    def define(name: str, bases: tuple[type, ...], caches: dict[str, Any]) -> None:
        cls = type(
            f"{name}_{topology}",
            (_Isolated, *bases),
            {"__module__": __name__, "_flush_locations": (location, other["LOCATION"])},
        )
        made[cls.__name__] = override_settings(CACHES=_with_options(caches, options or {}))(cls)

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
# The same classes against the two-tier backend (Redis + the in-process near cache, defaults:
# bcast tracking of each alias's key prefix). The L1 is invisible to the suite except through
# info(); every test runs, with the same exclusions as without it.
NEAR: dict[str, Any] = {"NEAR_CACHE": True}
globals().update(
    _classes("standalone_l1", f"{_server.url}/0", {"LOCATION": f"{_server.url}/1"}, NEAR)
)
globals().update(
    _classes(
        "cluster_l1",
        _cluster.location,
        {"LOCATION": _cluster.location, "KEY_PREFIX": "other"},
        NEAR,
    )
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
    assert len(classes) == 44
    for cls in classes:
        for alias, params in cls._overridden_settings["CACHES"].items():
            assert params["BACKEND"] == BACKEND or params["BACKEND"].startswith(__name__), (
                cls,
                alias,
            )
            two_tier = cls.__name__.endswith("_l1")
            assert (params["OPTIONS"].get("NEAR_CACHE") is True) is two_tier, (cls, alias)


def test_the_two_tier_classes_really_use_the_near_cache() -> None:
    from cachepolicy.redis.two_tier import NearRedisClient

    cls: Any = globals()["RedisPolicyCacheTests_standalone_l1"]
    caches = cls._overridden_settings["CACHES"]
    backend = RedisPolicyCache(caches["default"]["LOCATION"], caches["default"])
    assert isinstance(backend.client, NearRedisClient)
