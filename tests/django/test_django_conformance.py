# Django's suite is untyped and imported at run time: its classes are Any to mypy.
# mypy: disallow-subclassing-any=False
"""Django's own cache test suite (``tests/cache/tests.py``), run against ``PolicyCache``.

Django's suite is the yardstick for "behaves like a Django cache". It is not committed: it is
fetched at test time from the sdist of the *installed* Django (``scripts/fetch_conformance.py``,
cached in ``.conformance/``) and run unchanged, the way Django runs it for its own backends:
``BaseCacheTests`` through a one-class subclass configured with our backend (as
``LocMemCacheTests`` is), and the middleware / ``cache_page`` / utility classes through
subclasses whose ``CACHES`` point at our backend instead of ``LocMemCache``.

What is run (each class below; tests are inherited unchanged):

* ``BaseCacheTests`` in full, including the cull tests (``MAX_ENTRIES`` / ``CULL_FREQUENCY``).
* From ``LocMemCacheTests``: ``test_multiple_caches`` and the three LRU tests, re-targeted at
  an ``allkeys-lru`` / ``EVICTION_MODE="exact"`` store with ``MAX_ENTRIES=9``.
* ``CacheUtils``, ``PrefixedCacheUtils``, ``CacheHEADTest``, ``CacheI18nTest``,
  ``PrefixedCacheI18nTest``, ``CacheMiddlewareTest``, ``TestWithTemplateResponse`` (middleware,
  ``cache_page``, ``learn_cache_key``...), ``CustomCacheKeyValidationTests`` and
  ``CacheClosingTests`` (with our backend under Django's test mixins),
  ``DefaultNonExpiringCacheKeyTests`` and ``CacheHandlerTest``.

Not applicable: the other backends' classes (dummy, database, file, memcached, Redis) and
``TestMakeTemplateFragmentKey`` (a pure function that no backend is involved in).

Excluded (:data:`EXCLUDED`, each with its reason): only tests that read ``LocMemCache``'s
private attributes. Our own tests cover the behaviour they check (see the reasons).

If the suite cannot be fetched, this module fails collection under CI (``CI=true``) and is
skipped with the reason elsewhere (a developer offline).
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import inspect
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.core.cache import DEFAULT_CACHE_ALIAS, caches
from django.test import SimpleTestCase, TestCase, override_settings
from django_cachepolicy.backend import PolicyCache

from tests.modules import import_by_path

BACKEND = "django_cachepolicy.PolicyCache"


_settings = import_by_path(
    "django_cachepolicy_test_settings", Path(__file__).with_name("django_test_settings.py")
)
try:
    _settings.install_conformance_app()
except _settings.fetcher().ConformanceFetchError as exc:
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        raise RuntimeError(
            f"Django's cache test suite could not be fetched, and CI must run it: {exc}"
        ) from exc
    pytest.skip(f"Django's cache test suite could not be fetched: {exc}", allow_module_level=True)
_settings.setup()
suite: Any = importlib.import_module("cache.tests")


#: Tests of Django's suite that we do not run, with the reason. Only tests that read
#: LocMemCache's private attributes are allowed here; ``test_exclusions_are_real`` keeps this
#: list in step with the fetched suite.
EXCLUDED: dict[str, str] = {
    "LocMemCacheTests.test_locking_on_pickle": (
        "reads LocMemCache._lock (private) to see that pickling happens outside the lock; "
        "tests/django/test_django_backend.py::test_pickling_happens_outside_the_store_lock "
        "checks the same for PolicyCache through the public API"
    ),
    "LocMemCacheTests.test_incr_decr_timeout": (
        "reads LocMemCache._expire_info (private); test_django_backend.py::"
        "test_incr_and_decr_keep_the_ttl checks the same through the core's ttl()"
    ),
    "DefaultNonExpiringCacheKeyTests.test_caches_with_unset_timeout_set_expiring_key": (
        "reads LocMemCache._expire_info (private); test_django_backend.py::"
        "test_default_timeout_sets_a_ttl checks the same through the core's ttl()"
    ),
    "DefaultNonExpiringCacheKeyTests.test_caches_set_with_timeout_as_none_set_non_expiring_key": (
        "reads LocMemCache._expire_info (private); test_django_backend.py::"
        "test_timeout_none_sets_no_ttl checks the same through the core's ttl()"
    ),
}


def _policy_caches(location: str, **params: Any) -> dict[str, dict[str, Any]]:
    """Django's ``caches_setting_for_tests`` for our backend.

    All aliases share one store (Django's tests expect ``prefix``, ``v2``, ``custom_key`` to see
    the default alias's data), except the two cull aliases: ``MAX_ENTRIES`` is a store option,
    and aliases sharing a LOCATION must agree on store options, so they get stores of their own
    (LocMemCache would cull the *shared* dict per alias, which a store-level bound cannot mimic).
    """
    setting: dict[str, dict[str, Any]] = suite.caches_setting_for_tests(
        BACKEND=BACKEND, LOCATION=location, **params
    )
    setting["cull"]["LOCATION"] = f"{location}-cull"
    setting["zero_cull"]["LOCATION"] = f"{location}-zero-cull"
    return setting


def _retarget(method: Callable[..., Any], **overrides: Any) -> Callable[..., Any]:
    """Django's test method with its own decorators replaced by ``override_settings(**overrides)``.

    Django wraps e.g. the LRU tests in ``override_settings(CACHES=<LocMemCache>)``; we unwrap
    to the original function and point it at our backend instead; the test body is unchanged.
    The default cache is emptied before and after, inside the override: Django's ``tearDown``
    runs after the override has ended, so it clears the class's cache, not this one (for
    LocMemCache they are the same dict; for us they are different stores).
    """
    original = inspect.unwrap(method)

    @functools.wraps(original)
    def run(self: Any) -> None:
        caches[DEFAULT_CACHE_ALIAS].clear()
        try:
            original(self)
        finally:
            caches[DEFAULT_CACHE_ALIAS].clear()

    return override_settings(**overrides)(run)


# Django's ``limit_locmem_entries``: MAX_ENTRIES=9 (the LRU tests use only the default alias).
# Exact LRU makes the victims the ones Django's OrderedDict-based LocMemCache would pick.
_LRU_CACHES = {
    "default": {
        "BACKEND": BACKEND,
        "LOCATION": "conformance-lru",
        "OPTIONS": {"MAX_ENTRIES": 9, "MAXMEMORY_POLICY": "allkeys-lru", "EVICTION_MODE": "exact"},
    }
}


@override_settings(CACHES=_policy_caches("conformance"))
class PolicyCacheTests(suite.BaseCacheTests, TestCase):
    """``BaseCacheTests`` against PolicyCache, as ``LocMemCacheTests`` runs it for LocMemCache."""

    test_multiple_caches = _retarget(
        suite.LocMemCacheTests.test_multiple_caches,
        CACHES={
            "default": {"BACKEND": BACKEND, "LOCATION": "conformance-multiple-default"},
            "other": {"BACKEND": BACKEND, "LOCATION": "conformance-multiple-other"},
        },
    )
    # Django retries these three on AssertionError because LocMemCache's timing can be
    # flaky under load; ours are deterministic (exact LRU, no TTLs), so no retry is needed.
    test_lru_get = _retarget(suite.LocMemCacheTests.test_lru_get, CACHES=_LRU_CACHES)
    test_lru_set = _retarget(suite.LocMemCacheTests.test_lru_set, CACHES=_LRU_CACHES)
    test_lru_incr = _retarget(suite.LocMemCacheTests.test_lru_incr, CACHES=_LRU_CACHES)


def _django_caches(**params: Any) -> dict[str, dict[str, Any]]:
    """Django's own ``caches_setting_for_tests`` with only ``BACKEND`` swapped for ours: every
    alias on Django's default LOCATION, ``cull``/``zero_cull`` with their own ``OPTIONS``."""
    setting: dict[str, dict[str, Any]] = suite.caches_setting_for_tests(BACKEND=BACKEND, **params)
    return setting


def _as_django_runs_it(method: Callable[..., Any], **overrides: Any) -> Callable[..., Any]:
    """Django's test method under Django's own override (its CACHES with our BACKEND), and no
    clearing around it: the store must follow the settings change by itself (issue 11, 8)."""
    return override_settings(**overrides)(inspect.unwrap(method))


@override_settings(CACHES=_django_caches())
class PolicyCacheDjangoSettingsTests(suite.BaseCacheTests, TestCase):
    """``BaseCacheTests`` and ``LocMemCacheTests``'s own tests under Django's own settings.

    Unlike :class:`PolicyCacheTests`, nothing is moved to a LOCATION of its own: the cull
    aliases share Django's default LOCATION with different ``OPTIONS``, and the LRU tests
    override ``OPTIONS`` on that LOCATION while it is in use, as Django runs them. Only the
    four tests reading ``LocMemCache``'s private attributes (:data:`EXCLUDED`) are left out.
    """

    test_multiple_caches = _as_django_runs_it(
        suite.LocMemCacheTests.test_multiple_caches,
        CACHES={
            "default": {"BACKEND": BACKEND},
            "other": {"BACKEND": BACKEND, "LOCATION": "other"},
        },
    )
    test_lru_get = _as_django_runs_it(
        suite.LocMemCacheTests.test_lru_get, CACHES=_django_caches(OPTIONS={"MAX_ENTRIES": 9})
    )
    test_lru_set = _as_django_runs_it(
        suite.LocMemCacheTests.test_lru_set, CACHES=_django_caches(OPTIONS={"MAX_ENTRIES": 9})
    )
    test_lru_incr = _as_django_runs_it(
        suite.LocMemCacheTests.test_lru_incr, CACHES=_django_caches(OPTIONS={"MAX_ENTRIES": 9})
    )


class _RequestCycleHarness:
    """Lets Django's ``request_finished`` handler check the already-open test database.

    Several middleware tests finish a request, so Django's ``close_old_connections`` asks the
    default connection (left open by the ``TestCase`` classes, sqlite in memory) for its
    autocommit state. Django's own runner allows that in a ``SimpleTestCase`` (it only refuses
    new connections and queries); pytest-django refuses any use. Declaring the database keeps
    the two runners equivalent; no test queries it.
    """

    databases = frozenset({"default"})


def _single(location: str, **params: Any) -> dict[str, dict[str, Any]]:
    return {"default": {"BACKEND": BACKEND, "LOCATION": location, **params}}


@override_settings(CACHES=_single("conformance-utils"))
class PolicyCacheUtils(_RequestCycleHarness, suite.CacheUtils):
    pass


@override_settings(CACHES=_single("conformance-utils", KEY_PREFIX="cacheprefix"))
class PolicyPrefixedCacheUtils(_RequestCycleHarness, suite.PrefixedCacheUtils):
    pass


@override_settings(CACHES=_single("conformance-head"))
class PolicyCacheHEADTest(_RequestCycleHarness, suite.CacheHEADTest):
    pass


@override_settings(CACHES=_single("conformance-i18n"))
class PolicyCacheI18nTest(_RequestCycleHarness, suite.CacheI18nTest):
    pass


@override_settings(CACHES=_single("conformance-i18n", KEY_PREFIX="cacheprefix"))
class PolicyPrefixedCacheI18nTest(_RequestCycleHarness, suite.PrefixedCacheI18nTest):
    pass


@override_settings(
    CACHES={
        "default": {"BACKEND": BACKEND, "LOCATION": "conformance-middleware"},
        # Django configures TIMEOUT as the string "1" here; Django accepts it, so must we.
        "other": {"BACKEND": BACKEND, "LOCATION": "conformance-middleware-other", "TIMEOUT": "1"},
    }
)
class PolicyCacheMiddlewareTest(_RequestCycleHarness, suite.CacheMiddlewareTest):
    pass


@override_settings(CACHES=_single("conformance-template-response"))
class PolicyTestWithTemplateResponse(_RequestCycleHarness, suite.TestWithTemplateResponse):
    pass


_liberal: Any = importlib.import_module("cache.liberal_backend")
_closeable: Any = importlib.import_module("cache.closeable_cache")


class LiberalPolicyCache(_liberal.LiberalKeyValidationMixin, PolicyCache):
    """Django's ``validate_key``-overriding mixin on our backend: must disable our fast path."""


class CloseablePolicyCache(_closeable.CloseHookMixin, PolicyCache):
    """Django's close-recording mixin on our backend."""


@override_settings(CACHES={"default": {"BACKEND": f"{__name__}.LiberalPolicyCache"}})
class PolicyCustomCacheKeyValidationTests(
    _RequestCycleHarness, suite.CustomCacheKeyValidationTests
):
    pass


@override_settings(CACHES={"default": {"BACKEND": f"{__name__}.CloseablePolicyCache"}})
class PolicyCacheClosingTests(_RequestCycleHarness, suite.CacheClosingTests):
    pass


@override_settings(CACHES=_single("conformance-nonexpiring"))
class PolicyDefaultNonExpiringCacheKeyTests(
    _RequestCycleHarness, suite.DefaultNonExpiringCacheKeyTests
):
    test_caches_set_with_timeout_as_none_has_correct_default_timeout = _retarget(
        suite.DefaultNonExpiringCacheKeyTests.test_caches_set_with_timeout_as_none_has_correct_default_timeout,
        CACHES=_single("conformance-nonexpiring", TIMEOUT=None),
    )
    test_caches_with_unset_timeout_set_expiring_key = None  # EXCLUDED
    test_caches_set_with_timeout_as_none_set_non_expiring_key = None  # EXCLUDED


@override_settings(CACHES=_single("conformance-handler"))
class PolicyCacheHandlerTest(_RequestCycleHarness, suite.CacheHandlerTest):
    pass


def test_exclusions_are_real_and_not_run() -> None:
    """Every exclusion names a test that exists in Django's suite and is not run here."""
    ours: dict[str, Any] = {
        "LocMemCacheTests": (PolicyCacheTests, PolicyCacheDjangoSettingsTests),
        "DefaultNonExpiringCacheKeyTests": (PolicyDefaultNonExpiringCacheKeyTests,),
    }
    for dotted, reason in EXCLUDED.items():
        class_name, method = dotted.split(".")
        assert callable(getattr(getattr(suite, class_name), method)), dotted
        assert "private" in reason, f"{dotted}: only private-attribute tests may be excluded"
        for cls in ours[class_name]:
            assert not callable(getattr(cls, method, None)), f"{dotted} is run by {cls}"


def test_every_class_runs_against_policycache() -> None:
    """No class silently tests LocMemCache: every configured BACKEND is ours."""
    classes = [
        obj
        for obj in globals().values()
        if isinstance(obj, type) and issubclass(obj, SimpleTestCase) and obj.__module__ == __name__
    ]
    assert len(classes) >= 12
    for cls in classes:
        for alias, params in getattr(cls, "_overridden_settings")["CACHES"].items():  # noqa: B009
            backend = params["BACKEND"]
            assert backend == BACKEND or backend.startswith(f"{__name__}."), (cls, alias)
