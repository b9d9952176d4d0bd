"""Django settings for the tests under ``tests/django/``, applied with ``settings.configure()``.

Why not a ``DJANGO_SETTINGS_MODULE``: the rest of the suite (core, Flask) runs in the same
pytest process and must not depend on Django; configuring from this directory's conftest means
Django is only configured when these tests are collected.

Why ``django.setup()`` is deferred: Django's own cache suite (``test_django_conformance.py``)
needs its test app ``cache`` in ``INSTALLED_APPS``, and that app only exists once the suite has
been fetched. Apps can only be added before ``django.setup()``, so the conftest configures
settings, the conformance module adds its app when (and only when) it is collected, and the
first of it or the session fixture calls :func:`setup`.

Loaded by file path (see :func:`load`) rather than imported by name, so it works whatever
pytest's import mode and whether or not ``tests/`` is a package.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import django
from django.apps import apps
from django.conf import settings

#: Every backend object in these tests shares stores by LOCATION; the default alias gets its own.
BASE_SETTINGS: dict[str, Any] = {
    "SECRET_KEY": "django-cachepolicy-tests-not-secret",
    "DEBUG": False,
    "USE_TZ": True,
    "DATABASES": {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
    "INSTALLED_APPS": [
        "django.contrib.contenttypes",
        "django.contrib.auth",
        "django_cachepolicy",
    ],
    "CACHES": {
        "default": {"BACKEND": "django_cachepolicy.PolicyCache", "LOCATION": "tests-default"}
    },
    "TEMPLATES": [
        {"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True}
    ],
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


_MODULE_NAME = "django_cachepolicy_test_settings"


def load() -> ModuleType:
    """Return this module, importing it by path under one fixed name."""
    module = sys.modules.get(_MODULE_NAME)
    if module is not None:
        return module
    spec = importlib.util.spec_from_file_location(_MODULE_NAME, Path(__file__))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[_MODULE_NAME] = module
    spec.loader.exec_module(module)
    return module
