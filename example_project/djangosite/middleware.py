"""``X-Cache: HIT|MISS`` on pages cached whole, so ``curl -I`` shows what the cache did.

Django's ``cache_page`` says nothing about whether it answered from the cache. The views wrap it
in :func:`example_project.djangosite.views.cached_page`, which marks the request twice: once
outside ``cache_page`` (this page is cacheable) and once inside it (the view really ran). A
cached page has the first mark without the second: a hit. The marks are request attributes, not
response headers, because ``cache_page`` stores the response: a header written by the view would
be replayed from the cache on every hit.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

__all__ = ["CACHEABLE", "RENDERED", "XCacheMiddleware"]

#: Request attribute set outside ``cache_page``: the page may come from the cache.
CACHEABLE = "example_cacheable"
#: Request attribute set inside ``cache_page``: the view ran, so the page did not.
RENDERED = "example_rendered"


class XCacheMiddleware:
    """Adds ``X-Cache`` to responses of views wrapped in ``cached_page``; first in MIDDLEWARE."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if getattr(request, CACHEABLE, False):
            response["X-Cache"] = "MISS" if getattr(request, RENDERED, False) else "HIT"
        return response
