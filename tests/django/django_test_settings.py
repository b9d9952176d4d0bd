"""Django settings for the tests under ``tests/django/``, applied with ``settings.configure()``.

Why not a ``DJANGO_SETTINGS_MODULE``: the rest of the suite (core, Flask) runs in the same
pytest process and must not depend on Django; configuring from this directory's conftest means
Django is only configured when these tests are collected.

Why the conformance app is decided in ``pytest_configure``: Django's own cache suite
(``test_django_conformance.py``) needs its test app ``cache`` in ``INSTALLED_APPS``, and that app
only exists once the suite has been fetched. Apps can only be added before ``django.setup()``,
which pytest-django calls right after ``pytest_configure`` when settings are configured by then.
So the conftest fetches the suite and adds the app when the run will collect the conformance
module (:func:`conformance_requested`); a run of other files never downloads anything.

The conftest and the conformance module load this file by path under one module name
(``django_cachepolicy_test_settings``) rather than import it by name, so it works whatever
pytest's import mode and whether or not ``tests/`` is a package.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import django
from django.apps import apps
from django.conf import settings

from tests.modules import conformance_fetcher

#: USE_TZ and LANGUAGE_CODE match the settings Django runs its own suite with (its
#: test_sqlite.py and runtests.py): cache keys built by the middleware embed both.
BASE_SETTINGS: dict[str, Any] = {
    "SECRET_KEY": "django-cachepolicy-tests-not-secret",
    "DEBUG": False,
    "USE_TZ": False,
    "LANGUAGE_CODE": "en",
    "DATABASES": {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
    "INSTALLED_APPS": [
        "django.contrib.contenttypes",
        "django.contrib.auth",
        "django_cachepolicy",
    ],
    "CACHES": {
        "default": {"BACKEND": "django_cachepolicy.PolicyCache", "LOCATION": "tests-default"}
    },
    "TEMPLATES": [{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True}],
    "MIDDLEWARE": [],
    "DEFAULT_AUTO_FIELD": "django.db.models.AutoField",
}


def configure() -> None:
    """Configure Django's settings once per process (idempotent)."""
    if not settings.configured:
        settings.configure(**BASE_SETTINGS)


def add_app(label: str, sys_path_entry: Path) -> None:
    """Install one more app before :func:`setup`; fail loudly if it is too late for that."""
    configure()
    if apps.ready:
        if label in settings.INSTALLED_APPS:
            return
        raise RuntimeError(
            f"Django was set up before the test app {label!r} could be installed; a test module "
            "collected earlier called django.setup() (directly or by importing models)."
        )
    entry = str(sys_path_entry)
    if entry not in sys.path:
        sys.path.insert(0, entry)
    if label not in settings.INSTALLED_APPS:
        settings.INSTALLED_APPS = [*settings.INSTALLED_APPS, label]


def setup() -> None:
    """Populate the app registry (idempotent)."""
    configure()
    if not apps.ready:
        django.setup()


CONFORMANCE_MODULE = Path(__file__).with_name("test_django_conformance.py")


def conformance_requested(args: Sequence[str], invocation_dir: Path) -> bool:
    """Whether pytest's arguments select the conformance module (or a directory holding it)."""
    for arg in args:
        if arg.startswith("-"):
            continue
        path = (invocation_dir / arg.split("::", 1)[0]).resolve()
        if path == CONFORMANCE_MODULE or path in CONFORMANCE_MODULE.parents:
            return True
    return False


def fetcher() -> ModuleType:
    """``scripts/fetch_conformance.py``, imported by path (``scripts/`` is not a package)."""
    return conformance_fetcher()


def install_conformance_app() -> Path:
    """Fetch Django's tests/cache (cached) and install it as the app ``cache``.

    Raises ``ConformanceFetchError`` (from the fetch script) when the suite cannot be fetched.
    """
    tests_dir: Path = fetcher().fetch_django_suite()
    add_app("cache", tests_dir)
    return tests_dir
