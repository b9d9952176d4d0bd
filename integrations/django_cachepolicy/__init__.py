"""Django integration of cachepolicy: ``CACHES`` backend, system checks, ``cacheinfo``, signals.

Settings::

    CACHES = {"default": {
        "BACKEND": "django_cachepolicy.PolicyCache",
        "LOCATION": "main",
        "OPTIONS": {"MAXMEMORY": "64mb", "MAXMEMORY_POLICY": "allkeys-lfu"},
    }}
    INSTALLED_APPS = [..., "django_cachepolicy"]  # system checks, cacheinfo, signals

``PolicyCache`` is imported lazily: Django imports this package while reading
``INSTALLED_APPS``, before settings may be used, and importing the backend pulls in
``django.core.cache``; a light ``__init__`` keeps app loading cheap and import-order safe.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .backend import PolicyCache
    from .redis_backend import RedisPolicyCache

__all__ = ["PolicyCache", "RedisPolicyCache"]


def __getattr__(name: str) -> Any:
    if name == "PolicyCache":
        from .backend import PolicyCache

        return PolicyCache
    if name == "RedisPolicyCache":  # needs redis-py: imported only when configured
        from .redis_backend import RedisPolicyCache

        return RedisPolicyCache
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
