"""``single_flight_cache_page``: Django's ``cache_page`` whose misses compute once per page.

Django's cache middleware reads, renders and writes in steps of its own (``process_request``
reads, the view runs, ``process_response`` stores). :class:`SingleFlightCacheMiddleware` adds a
lease between them (:func:`cachepolicy.flight.lease`), on a ``PolicyCache`` alias: the first
request that misses a page takes the lease and renders it; requests for the same URL arriving
meanwhile wait for it (at most the alias's ``STAMPEDE_WAIT``) and then read the stored page. The
lease ends when the response has been stored, or was not cacheable, or the view raised: waiting
requests then read again and, finding nothing, render the page themselves.

The lease is per URL (method aside), not per ``Vary`` variant: Django learns a page's cache key
from its first response, so before the response no finer key exists. With any other backend
the middleware is Django's ``CacheMiddleware`` unchanged.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.middleware.cache import CacheMiddleware
from django.utils.decorators import decorator_from_middleware_with_args

from cachepolicy.flight import lease

from .backend import PolicyCache

__all__ = ["SingleFlightCacheMiddleware", "single_flight_cache_page"]

# Where the request keeps its lease between process_request and process_response.
_LEASE = "_cachepolicy_page_lease"


class SingleFlightCacheMiddleware(CacheMiddleware):
    """Django's ``CacheMiddleware`` with one rendering per page under a herd."""

    def process_request(self, request: HttpRequest) -> HttpResponse | None:
        response = super().process_request(request)
        backend = self.cache
        if response is not None or not getattr(request, "_cache_update_cache", False):
            return response
        if not isinstance(backend, PolicyCache):
            return None
        view = backend.view
        key = backend.make_key(_page_key(self.key_prefix, request))
        flight = lease(view.store.flights, view.db, key, view.stampede)
        if flight is None:  # another request rendered it meanwhile: read again
            return super().process_request(request)
        setattr(request, _LEASE, (view, key, flight))
        return None

    def process_response(
        self, request: HttpRequest, response: HttpResponseBase | str
    ) -> HttpResponseBase | str:
        try:
            return super().process_response(request, response)
        finally:
            _end_lease(request, computed=True)

    def process_exception(self, request: HttpRequest, exception: Exception) -> None:
        _end_lease(request, computed=False)


def _page_key(key_prefix: str, request: HttpRequest) -> str:
    """The lease's key: the page's absolute URL, hashed as Django hashes it for its keys."""
    url = hashlib.md5(request.build_absolute_uri().encode("ascii"), usedforsecurity=False)
    return f"cachepolicy.page_lease.{key_prefix}.{url.hexdigest()}"


def _end_lease(request: HttpRequest, computed: bool) -> None:
    held = getattr(request, _LEASE, None)
    if held is not None:
        delattr(request, _LEASE)
        view, key, flight = held
        view.store.flights.finish(view.db, key, flight, computed)


def single_flight_cache_page(
    timeout: float | None, *, cache: str | None = None, key_prefix: str | None = None
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``django.views.decorators.cache.cache_page`` with single flight (see the module)."""
    decorator: Callable[[Callable[..., Any]], Callable[..., Any]] = (
        decorator_from_middleware_with_args(SingleFlightCacheMiddleware)(
            page_timeout=timeout, cache_alias=cache, key_prefix=key_prefix
        )
    )
    return decorator
