"""The core's contract suite (``tests/core/contract.py``), run through Django's cache API.

The contract mixins are written against :class:`cachepolicy.Cache`. Here each test's cache is a
:class:`DjangoAPICache`: every operation Django's API has (get, set, add, delete, has_key,
touch, incr/decr, the ``*_many`` ones, clear) goes through ``PolicyCache``, so the adapter's
translation (timeouts, exceptions, key mapping) is held to the same contract as the core; the
few operations Django has no word for (``ttl``, ``expire``, ``info``, ``subscribe``...) go to
the backend's core view. Every eviction policy runs, in the default (sampled) mode.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from django_cachepolicy import PolicyCache

from cachepolicy import KEEP_TTL, CacheConfig, Clock, get_shared_store, release_shared_store
from cachepolicy.eviction import BUILTIN_POLICIES

_REPO = str(Path(__file__).resolve().parents[2])
if _REPO not in sys.path:  # the contract lives in the ``tests`` package
    sys.path.insert(0, _REPO)

from tests.core.contract import contract_mixins  # noqa: E402


def _identity_key(key: str, key_prefix: str, version: int) -> str:
    """Stored key == caller's key, so view-served operations see the same keys."""
    return key


class DjangoAPICache:
    """The core ``Cache`` API served through ``PolicyCache`` wherever Django has the operation."""

    def __init__(self, backend: PolicyCache) -> None:
        self.backend = backend
        self.view = backend.view

    def get(self, key: str, default: Any = None) -> Any:
        return self.backend.get(key, default)

    def set(self, key: str, value: Any, ttl: float | None = None, *, keepttl: bool = False) -> None:
        if keepttl:  # Django has no KEEPTTL
            self.view.set(key, value, ttl, keepttl=True)
        else:
            self.backend.set(key, value, timeout=ttl)

    def add(self, key: str, value: Any, ttl: float | None = None) -> bool:
        return self.backend.add(key, value, timeout=ttl)

    def delete(self, key: str) -> bool:
        return self.backend.delete(key)

    def has(self, key: str) -> bool:
        return self.backend.has_key(key)

    __contains__ = has

    def get_many(self, keys: Iterable[str]) -> dict[str, Any]:
        return self.backend.get_many(keys)

    def set_many(self, mapping: Mapping[str, Any], ttl: float | None = None) -> list[str]:
        return self.backend.set_many(mapping, timeout=ttl)

    def delete_many(self, keys: Iterable[str]) -> int:
        keys = list(keys)
        present = sum(self.view.has(key) for key in keys)  # Django's returns None
        self.backend.delete_many(keys)
        return present

    def touch(self, key: str, ttl: Any = KEEP_TTL) -> bool:
        if ttl is KEEP_TTL:  # Django's touch() always sets a timeout
            return self.view.touch(key)
        return self.backend.touch(key, timeout=ttl)

    def incr(self, key: str, delta: int = 1, *, default: int | None = None) -> int:
        if default is not None:  # Django's incr() has no default
            return self.view.incr(key, delta, default=default)
        try:
            return self.backend.incr(key, delta)
        except ValueError:  # Django's word for a missing key; the contract's is KeyError
            raise KeyError(key) from None

    def decr(self, key: str, delta: int = 1, *, default: int | None = None) -> int:
        if default is not None:
            return self.view.decr(key, delta, default=default)
        try:
            return self.backend.decr(key, delta)
        except ValueError:
            raise KeyError(key) from None

    def clear(self) -> None:
        self.backend.clear()

    def __len__(self) -> int:
        return len(self.view)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.view, name)


_FIELDS = set(CacheConfig.option_names())


@pytest.fixture
def make_cache(clock: Clock) -> Iterator[Callable[..., DjangoAPICache]]:
    """Replaces the core's factory: same options, but a PolicyCache on a fresh shared store."""
    created: list[tuple[str, DjangoAPICache]] = []

    def factory(**options: Any) -> DjangoAPICache:
        store_clock = options.pop("clock", clock)
        options.pop("seed", None)  # shared stores take no seed; the contract does not need one
        unknown = set(options) - _FIELDS
        assert not unknown, f"contract option(s) {unknown} have no PolicyCache equivalent"
        location = f"contract-{uuid.uuid4().hex}"
        get_shared_store(location, CacheConfig(**options), clock=store_clock)
        django_options = {name.upper(): value for name, value in options.items()}
        if "max_entries" in options and "cull_frequency" not in options:
            # The core's default is one eviction at a time; Django's (our default) is a third.
            django_options["CULL_FREQUENCY"] = None
        backend = PolicyCache(
            location,
            {"TIMEOUT": None, "KEY_FUNCTION": _identity_key, "OPTIONS": django_options},
        )
        cache = DjangoAPICache(backend)
        created.append((location, cache))
        return cache

    yield factory
    problems = {location: cache.view.check() for location, cache in created}
    for location, _ in created:
        release_shared_store(location)
    assert all(not found for found in problems.values()), problems


for _policy in BUILTIN_POLICIES:
    _name = "TestDjango" + _policy.replace("-", " ").title().replace(" ", "")
    globals()[_name] = type(
        _name, contract_mixins(_policy), {"options": {"maxmemory_policy": _policy}}
    )
