"""Process-wide named stores, so every framework cache object with one LOCATION shares data.

Django creates a backend object per thread and closes it after every request; Flask apps may
be created several times (tests, app factories). They must all see one store per location and
one set of background machinery, which must survive those ``close()`` calls.
"""

from __future__ import annotations

import threading

from .clock import Clock
from .config import CacheConfig
from .errors import ConfigError
from .store import CacheStore

__all__ = [
    "get_shared_store",
    "release_if_configured_otherwise",
    "release_shared_store",
    "shared_store_names",
]

_STORES: dict[str, CacheStore] = {}
_LOCK = threading.Lock()


def get_shared_store(name: str, config: CacheConfig, *, clock: Clock | None = None) -> CacheStore:
    """The store registered as ``name``, created with ``config`` on first use.

    Raises ConfigError if the store exists with a different configuration: two aliases on one
    location with conflicting memory options would otherwise silently use whichever came first.
    """
    with _LOCK:
        store = _STORES.get(name)
        if store is None or store.closed:
            store = CacheStore(config, clock=clock)
            _STORES[name] = store
            return store
    differences = store.base_config.differences(config)
    if differences:
        detail = "; ".join(f"{k}: {a!r} vs {b!r}" for k, (a, b) in differences.items())
        raise ConfigError(
            f"Cache location {name!r} is already in use with a different configuration "
            f"({detail}). Caches sharing a location must use identical memory options.",
            option="location",
        )
    return store


def release_shared_store(name: str) -> None:
    """Close and forget the store registered as ``name`` (tests, reconfiguration)."""
    with _LOCK:
        store = _STORES.pop(name, None)
    if store is not None:
        store.close()


def release_if_configured_otherwise(name: str, config: CacheConfig) -> bool:
    """Close and forget the store registered as ``name`` if it was built with a configuration
    other than ``config`` (a framework's settings changed under it); True if one was released.

    Settings are compared with the settings the store was built from (``base_config``), not
    with the configuration in force: a runtime ``config_set`` is no change of the settings,
    and must not cost the store its data when an unrelated setting changes."""
    with _LOCK:
        store = _STORES.get(name)
        if store is None or not store.base_config.differences(config):
            return False
        del _STORES[name]
    store.close()
    return True


def shared_store_names() -> list[str]:
    with _LOCK:
        return list(_STORES)
