"""``SingleFlightCache``: Flask-Caching's ``Cache`` whose ``cached`` and ``memoize`` compute
once per key when many requests miss it at once (single flight, :mod:`cachepolicy.flight`).

Flask-Caching's decorators read, compute and write in three steps of their own
(``get``, the view, ``set``). This subclass wraps each decorated function in a *scope*: the
first ``get`` inside it that misses takes a lease on the key (:func:`cachepolicy.flight.lease`)
or, when another request holds one, waits for that request's value (at most
``CACHE_CACHEPOLICY_STAMPEDE_WAIT`` seconds) and reads again. The lease ends when the ``set``
of that key has stored the value, or when the scope ends without one (the view raised, or a
``response_filter``/``cache_none`` rule kept the value out): the waiting requests then read
again, miss, and compute themselves. Plain ``cache.get`` calls, inside or outside a decorated
view, never take a lease.

Only a :class:`~flask_cachepolicy.PolicyCache` backend has a flight table; with any other
backend this class behaves exactly like ``flask_caching.Cache``.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from flask_caching import Cache

from cachepolicy.flight import lease

from .backend import PolicyCache

__all__ = ["SingleFlightCache"]


class _Scope:
    """One decorated call: whether its first read may lease, and the lease it holds."""

    __slots__ = ("armed", "flight", "key")

    def __init__(self) -> None:
        self.armed = True
        self.key: str | None = None
        self.flight: Any = None


_scopes = threading.local()


def _stack() -> list[_Scope]:
    stack: list[_Scope] | None = getattr(_scopes, "stack", None)
    if stack is None:
        stack = _scopes.stack = []
    return stack


class SingleFlightCache(Cache):
    """``flask_caching.Cache`` with single flight in ``cached`` and ``memoize``."""

    def cached(self, *args: Any, **kwargs: Any) -> Callable[[Callable[..., Any]], Any]:
        return self._in_scope(super().cached(*args, **kwargs))

    def memoize(self, *args: Any, **kwargs: Any) -> Callable[[Callable[..., Any]], Any]:
        return self._in_scope(super().memoize(*args, **kwargs))

    def _in_scope(
        self, decorate: Callable[[Callable[..., Any]], Any]
    ) -> Callable[[Callable[..., Any]], Any]:
        def decorator(f: Callable[..., Any]) -> Any:
            decorated = decorate(f)

            @functools.wraps(decorated)
            def single_flight(*args: Any, **kwargs: Any) -> Any:
                with self._scope():
                    return decorated(*args, **kwargs)

            return single_flight

        return decorator

    @contextmanager
    def _scope(self) -> Iterator[None]:
        stack = _stack()
        scope = _Scope()
        stack.append(scope)
        computed = False
        try:
            yield
            computed = True
        finally:
            stack.pop()
            self._end_lease(scope, computed)

    def get(self, *args: Any, **kwargs: Any) -> Any:
        value = super().get(*args, **kwargs)
        backend: object = self.cache  # typed SimpleCache by Flask-Caching; any backend here
        stack = _stack()
        if value is not None or not stack or not stack[-1].armed or kwargs or len(args) != 1:
            return value
        scope = stack[-1]
        scope.armed = False  # only the decorator's own read leases
        if not isinstance(backend, PolicyCache) or backend.has(args[0]):
            return value
        key = args[0]
        view = backend.core
        flight = lease(view.store.flights, view.db, backend.make_key(key), view.stampede)
        if flight is None:
            return super().get(key)  # the other request's value; None: compute it here
        scope.key, scope.flight = key, flight
        return None

    def set(self, *args: Any, **kwargs: Any) -> Any:
        result = super().set(*args, **kwargs)
        stack = _stack()
        if stack and args and stack[-1].key == args[0]:
            self._end_lease(stack[-1], True)
        return result

    def _end_lease(self, scope: _Scope, computed: bool) -> None:
        if scope.flight is None or scope.key is None:
            return
        backend: object = self.cache
        assert isinstance(backend, PolicyCache)
        view = backend.core
        view.store.flights.finish(view.db, backend.make_key(scope.key), scope.flight, computed)
        scope.flight = scope.key = None
