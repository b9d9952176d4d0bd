"""Configure Django for ``tests/django/`` only (see ``django_test_settings.py`` for why)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from tests.modules import import_by_path

_HELPER_NAME = "django_cachepolicy_test_settings"


def _helper() -> ModuleType:
    """Import ``django_test_settings.py`` by path, once, under a fixed module name."""
    return import_by_path(_HELPER_NAME, Path(__file__).with_name("django_test_settings.py"))


def pytest_configure(config: pytest.Config) -> None:
    helper = _helper()
    helper.configure()
    if helper.conformance_requested(config.args, config.invocation_params.dir):
        try:
            helper.install_conformance_app()
        except helper.fetcher().ConformanceFetchError:
            # Not fatal here: test_django_conformance.py reports the failed download itself,
            # as a failure under CI=true and as a skip elsewhere.
            return


@pytest.fixture(autouse=True, scope="session")
def _django_setup() -> Iterator[None]:
    """Set Django up before the first test here, unless the conformance module already did."""
    _helper().setup()
    yield


@pytest.fixture(autouse=True)
def _stores_stay_consistent() -> Iterator[None]:
    """After every test, the stores behind this thread's caches pass the core's ``check()``.

    The house invariant check, applied to Django's own suite as well: whatever Django's tests
    do through the cache API must leave byte accounting and indexes exact.
    """
    yield
    from django.core.cache import caches
    from django_cachepolicy import PolicyCache

    problems = {}
    for backend in caches.all(initialized_only=True):
        if isinstance(backend, PolicyCache) and hasattr(backend, "options"):
            found = backend.view.check()
            if found:
                problems[backend.location] = found
    assert not problems, problems
