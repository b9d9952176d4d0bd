"""The ``django_cachepolicy`` app: system checks, the ``cacheinfo`` command and signals.

The cache backend works without the app; installing it adds start-up validation of
``CACHES`` (:mod:`django_cachepolicy.checks`), ``manage.py cacheinfo``, and the keyspace-event
signals (:mod:`django_cachepolicy.signals`).
"""

from __future__ import annotations

from django.apps import AppConfig


class DjangoCachePolicyConfig(AppConfig):
    """Registers the checks (by importing them), connects the ``CACHES`` listener and turns the
    signal bridge on."""

    name = "django_cachepolicy"
    verbose_name = "cachepolicy"

    def ready(self) -> None:
        from . import checks, settings_sync, signals

        # Imported for their side effects: checks' @register, and settings_sync's listener of
        # `setting_changed`. The backend module connects that listener too, but a test suite
        # may enter its first override_settings(CACHES=...) before anything imports the
        # backend; the stores would then miss that change (issue 23: Django's cull tests).
        del checks, settings_sync
        signals.enable()
