"""The ``django_cachepolicy`` app: system checks, the ``cacheinfo`` command and signals.

The cache backend works without the app; installing it adds start-up validation of
``CACHES`` (:mod:`django_cachepolicy.checks`), ``manage.py cacheinfo``, and the keyspace-event
signals (:mod:`django_cachepolicy.signals`).
"""

from __future__ import annotations

from django.apps import AppConfig


class DjangoCachePolicyConfig(AppConfig):
    """Registers the checks (by importing them) and turns the signal bridge on."""

    name = "django_cachepolicy"
    verbose_name = "cachepolicy"

    def ready(self) -> None:
        from . import checks, signals

        del checks  # imported for its @register side effect
        signals.enable()
