"""Stores follow changes of Django's ``CACHES`` setting (``override_settings`` in tests).

Django sends ``setting_changed`` whenever a test enters or leaves ``override_settings`` and then
builds new backend objects from the new ``CACHES``. A store, though, outlives backend objects
(it is shared by ``LOCATION``), so without help an override that changes a LOCATION's
``OPTIONS`` (Django's LRU tests set ``MAX_ENTRIES=9`` on the LOCATION the class uses) met the
old store and was refused as a conflicting configuration. On every change of ``CACHES`` this
module works out which store each PolicyCache alias of the new setting needs, and releases the
stores that the previous setting's aliases used and that no alias of the new one needs as they
are (the last alias gone, or the options changed). The next backend object builds a fresh store
with the new options; a store whose options did not change keeps its data, as ``LocMemCache``
keeps its dict.

Django's own test settings also put aliases with different store options on one LOCATION
(``cull`` and ``zero_cull`` have their own ``MAX_ENTRIES`` / ``CULL_FREQUENCY`` on the default
LOCATION, which ``LocMemCache`` applies per alias to a shared dict). A store has one entry
bound, so under a *changed* setting such aliases get a store each, named ``LOCATION[alias]``
after the first alias with those options. A project's own settings never reach this path: its
``CACHES`` is checked at start-up, where the same combination is the error
``django_cachepolicy.E005``, and building such a backend outside a settings change is still
refused.

The listener is connected on import, by whichever comes first: the app's ``ready()`` or the
backend module. Without the app in ``INSTALLED_APPS``, a change made before the backend was
first imported is not seen: import ``django_cachepolicy.backend`` before the first override.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Any

from django.core.signals import setting_changed

from cachepolicy import CacheConfig, release_shared_store
from cachepolicy.shared import release_if_configured_otherwise

__all__ = ["store_name"]

logger = logging.getLogger("django_cachepolicy")

#: The BACKEND spellings that are PolicyCache without importing anything.
_OUR_BACKENDS = frozenset(
    {"django_cachepolicy.PolicyCache", "django_cachepolicy.backend.PolicyCache"}
)

#: (LOCATION, store configuration, store name) for each distinct store the ``CACHES`` installed
#: by the last settings change needs; empty until ``CACHES`` changes for the first time.
_plan: list[tuple[str, CacheConfig, str]] = []
_lock = threading.Lock()


def store_name(location: str, config: CacheConfig) -> str:
    """The shared store's name for an alias on ``location`` with store options ``config``:
    ``location`` itself, except for the second and later distinct options on one LOCATION in
    a ``CACHES`` installed by a settings change (see the module docstring)."""
    with _lock:
        plan = _plan
    for planned_location, planned_config, name in plan:
        if planned_location == location and not planned_config.differences(config):
            return name
    return location


def _is_ours(backend: object) -> bool:
    if backend in _OUR_BACKENDS:
        return True
    if not isinstance(backend, str):
        return False
    from django.utils.module_loading import import_string

    from .backend import PolicyCache

    try:
        cls = import_string(backend)
    except Exception:  # Django reports an unimportable BACKEND itself when the alias is used
        return False
    return isinstance(cls, type) and issubclass(cls, PolicyCache)


def _plan_for(caches_setting: object) -> list[tuple[str, CacheConfig, str]]:
    """The distinct stores the PolicyCache aliases of ``caches_setting`` need, in alias order."""
    from .options import parse_alias

    plan: list[tuple[str, CacheConfig, str]] = []
    if not isinstance(caches_setting, Mapping):
        return plan
    for alias, params in caches_setting.items():
        if not isinstance(params, Mapping) or not _is_ours(params.get("BACKEND")):
            continue
        location = params.get("LOCATION", "")
        try:
            config = parse_alias(alias, location, params).config
        except Exception:  # a bad alias: its backend raises the configuration error when built
            continue
        same_location = [entry for entry in plan if entry[0] == location]
        if any(not other.differences(config) for _, other, _ in same_location):
            continue
        name = location if not same_location else f"{location}[{alias}]"
        if same_location:
            logger.info(
                "CACHES alias %r shares LOCATION %r with different store options; under this "
                "settings change it uses a store of its own, %r (E005 in a project's settings).",
                alias,
                location,
                name,
            )
        plan.append((location, config, name))
    return plan


def _on_setting_changed(*, setting: str, **kwargs: Any) -> None:
    if setting != "CACHES":
        return
    from django.conf import settings

    global _plan
    new = _plan_for(getattr(settings, "CACHES", None))
    with _lock:
        old, _plan = _plan, new
    for _, old_config, old_name in old:
        if not any(
            name == old_name and not config.differences(old_config) for _, config, name in new
        ):
            release_shared_store(old_name)  # its last alias is gone, or its options changed
    for _, config, name in new:
        # A store made before any settings change (the project's own CACHES) under this name.
        release_if_configured_otherwise(name, config)


setting_changed.connect(_on_setting_changed, dispatch_uid="django_cachepolicy.settings_sync")
