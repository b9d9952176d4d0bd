# Django's suite is untyped and imported at run time: its classes are Any to mypy.
# mypy: disallow-subclassing-any=False
"""Django's ``BaseCacheTests`` under Django's *own* ``CACHES`` for its suite (issue 23, item 6).

Run by ``test_django_import_order.py`` in a fresh interpreter per import order, with Django's
own test runner (``python -m tests.django.own_settings_suite ORDER``): what it checks is what
happens before anything of ours is imported, and unlike pytest-django, Django's runner enters
a class's ``override_settings`` once, as a user's ``manage.py test`` does.

Django's ``caches_setting_for_tests`` puts the ``cull`` and ``zero_cull`` aliases on the
default alias's LOCATION with their own ``MAX_ENTRIES`` (``test_django_conformance.py`` gives
them LOCATIONs of their own instead). That works only while ``settings_sync`` follows
``override_settings``, so its listener must be connected whichever comes first:

* ``backend-first``: ``django_cachepolicy.backend`` is imported before the first override;
* ``override-first``: only the app (``INSTALLED_APPS``) is loaded when the first
  ``override_settings`` starts; the backend is imported by the first cache access. The
  project's own ``CACHES`` is ``LocMemCache`` and the system checks are not run (as under
  pytest-django): either would import the backend before the first override.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

from django.conf import settings
from django.test import TestCase, override_settings

from tests.modules import import_by_path

_settings = import_by_path(
    "django_cachepolicy_test_settings", Path(__file__).with_name("django_test_settings.py")
)
_settings.install_conformance_app()
_settings.setup()
suite: Any = importlib.import_module("cache.tests")


@override_settings(
    CACHES=suite.caches_setting_for_tests(
        BACKEND="django_cachepolicy.PolicyCache", LOCATION="django-own-settings"
    )
)
class PolicyCacheUnderDjangosSettingsTests(suite.BaseCacheTests, TestCase):
    """``BaseCacheTests`` unchanged, with Django's own ``CACHES`` for its suite."""


def main(order: str) -> int:
    """Run the class above with Django's test runner; the exit status is 1 on any failure."""
    from django.test.runner import DiscoverRunner

    if order == "backend-first":
        import django_cachepolicy.backend  # noqa: F401
    elif order == "override-first":
        if "django_cachepolicy.backend" in sys.modules:
            sys.exit("django_cachepolicy.backend was imported too early for this order")
        # The project's own CACHES does not use PolicyCache (only its tests' overrides do):
        # otherwise creating the test database (createcachetable) would import the backend.
        settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    else:
        sys.exit(f"unknown order {order!r}: backend-first or override-first")

    class Runner(DiscoverRunner):
        def run_checks(self, databases: Any) -> None:
            """Skipped, as pytest-django does: our system checks import the backend, which
            would connect the listener before the first override in either order."""

    failures = Runner(verbosity=1, interactive=False).run_tests(
        [f"{__spec__.name}.PolicyCacheUnderDjangosSettingsTests"]
    )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
