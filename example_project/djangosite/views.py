"""Views of the example shop, one caching technique each.

=====================  ===========================================================================
``/``                  low-level API: ``caches["default"].get_or_set("bestsellers", ...)``
``/products/``         whole page: ``cache_page(120, cache="pages")``; the query string is part
                       of the key, so every category/page combination is cached separately
``/products/<pk>/``    template fragment: ``{% cache %}`` around the costly "related products"
                       block; the rest of the page (with its CSRF-protected form) is per user
``/report/...``        whole page in front of a deliberately slow computation (tens of ms)
``/cart/``             sessions stored in the cache (``SESSION_ENGINE``), database 0
``/cache/``            the Redis-INFO-style report of the shared store (never cached)
``/dashboard/``        the live dashboard (:mod:`example_project.dashboard`): polled JSON,
                       "generate load" into the ``load`` alias, CONFIG SET of policy/maxmemory
=====================  ===========================================================================

Why the product page is not cached whole: it carries a form with a CSRF token, which is tied to
the visitor's cookie; a page cached for one visitor would hand its token to the next. Caching
the costly fragment instead is Django's recommended answer, and it is what the fragment tag is
for.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.cache import caches
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.middleware.csrf import get_token
from django.shortcuts import redirect, render
from django.views.decorators.cache import cache_page, never_cache
from django.views.decorators.http import require_POST
from django_cachepolicy.backend import PolicyCache
from django_cachepolicy.checks import policy_aliases

from example_project import catalogue as shop
from example_project import dashboard as live
from example_project.report import CacheReport, build_report

from .middleware import CACHEABLE, RENDERED

View = Callable[..., HttpResponse]

#: Seconds a whole page stays cached: long enough for repeat visits to hit, short enough that
#: a reader sees expired_keys grow on /cache/ within a few minutes.
PAGE_TIMEOUT = 120
#: Seconds the bestseller list is reused: it changes only when the (fixed) ledger does.
BESTSELLERS_TIMEOUT = 60
#: Products per catalogue page: enough to make a page a few kilobytes of HTML.
PAGE_SIZE = 24
#: The one stylesheet, shared with the Flask app; served by both, no external assets.
STYLESHEET = Path(__file__).resolve().parent.parent / "assets" / "style.css"


def cached_page(timeout: int) -> Callable[[View], View]:
    """``cache_page(timeout, cache="pages")`` that also reports HIT/MISS in ``X-Cache``.

    See :mod:`example_project.djangosite.middleware` for why two marks are needed.
    """

    def decorate(view: View) -> View:
        @functools.wraps(view)
        def rendered(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            setattr(request, RENDERED, True)
            return view(request, *args, **kwargs)

        cached = cache_page(timeout, cache="pages")(rendered)

        @functools.wraps(view)
        def marked(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            setattr(request, CACHEABLE, True)
            return cached(request, *args, **kwargs)

        return marked

    return decorate


def _cart(request: HttpRequest) -> dict[str, int]:
    """The visitor's cart, ``{product pk as str: quantity}`` (JSON-friendly session data)."""
    cart: dict[str, int] = request.session.get("cart", {})
    return cart


def home(request: HttpRequest) -> HttpResponse:
    """Landing page; the bestseller list comes from the low-level cache API."""
    best = caches["default"].get_or_set("bestsellers", shop.bestsellers, BESTSELLERS_TIMEOUT)
    return render(
        request,
        "djangosite/home.html",
        {
            "bestsellers": best,
            "categories": shop.CATEGORIES,
            "cart_items": sum(_cart(request).values()),
        },
    )


@cached_page(PAGE_TIMEOUT)
def catalogue(request: HttpRequest) -> HttpResponse:
    """A page of the catalogue, optionally of one category; cached whole per URL."""
    category = request.GET.get("category") or None
    if category is not None and category not in shop.CATEGORIES:
        raise Http404(f"No category {category!r}.")
    paginator = Paginator(shop.products_in(category), PAGE_SIZE)
    page = paginator.get_page(request.GET.get("page"))
    return render(
        request,
        "djangosite/catalogue.html",
        {"page": page, "category": category, "categories": shop.CATEGORIES},
    )


def product(request: HttpRequest, pk: int) -> HttpResponse:
    """A product page; only its costly "related products" fragment is cached.

    ``related`` is passed as a callable: the template calls it inside ``{% cache %}``, so the
    catalogue is scored only when the fragment is missing from the cache.
    """
    item = shop.get_product(pk)
    if item is None:
        raise Http404(f"No product {pk}.")
    return render(
        request,
        "djangosite/product.html",
        {
            "product": item,
            "related": lambda: shop.related_products(pk),
            "in_cart": _cart(request).get(str(pk), 0),
        },
    )


@cached_page(PAGE_TIMEOUT)
def report(request: HttpRequest, category: str | None = None) -> HttpResponse:
    """The sales report: a full scan of the ledger on every miss, so cached whole."""
    if category is not None and category not in shop.CATEGORIES:
        raise Http404(f"No category {category!r}.")
    rows = shop.sales_report(category)
    return render(
        request,
        "djangosite/report.html",
        {"rows": rows, "category": category, "categories": shop.CATEGORIES},
    )


def cart(request: HttpRequest) -> HttpResponse:
    """The visitor's cart, read from the session (a key in database 0 of the store)."""
    lines = []
    total = 0
    for pk, quantity in sorted(_cart(request).items(), key=lambda kv: int(kv[0])):
        item = shop.get_product(int(pk))
        if item is not None:
            lines.append((item, quantity))
            total += item.price_cents * quantity
    return render(
        request,
        "djangosite/cart.html",
        {"lines": lines, "total": f"{total // 100}.{total % 100:02d}"},
    )


@require_POST
def cart_add(request: HttpRequest, pk: int) -> HttpResponse:
    """Add one unit to the cart: a session write, i.e. a ``set`` on database 0."""
    if shop.get_product(pk) is None:
        raise Http404(f"No product {pk}.")
    cart_data = _cart(request)
    cart_data[str(pk)] = cart_data.get(str(pk), 0) + 1
    request.session["cart"] = cart_data
    return redirect("cart")


@require_POST
def cart_clear(request: HttpRequest) -> HttpResponse:
    """Empty the cart (the session key stays, with an empty cart)."""
    request.session["cart"] = {}
    return redirect("cart")


def store_reports() -> list[CacheReport]:
    """One report per cachepolicy store, each listing the aliases that share it.

    Aliases on one ``LOCATION`` share one store, so its INFO is read once, through the first
    alias; every alias contributes the label of the database it uses.
    """
    labels_setting: dict[int, str] = getattr(settings, "CACHE_DATABASE_LABELS", {})
    by_location: dict[str, list[tuple[str, PolicyCache]]] = {}
    for alias in policy_aliases():
        backend = caches[alias]
        assert isinstance(backend, PolicyCache)  # policy_aliases() checked the BACKEND
        by_location.setdefault(backend.location, []).append((alias, backend))
    reports = []
    for location, members in by_location.items():
        labels = {
            backend.options.database: labels_setting.get(backend.options.database, alias)
            for alias, backend in members
        }
        first = members[0][1]
        reports.append(build_report(location, first.info(), first.view.info_text(), labels))
    return reports


@never_cache
def cache_report(request: HttpRequest) -> HttpResponse:
    """The Redis-INFO-style report of every store, with the derived answers on top."""
    return render(request, "djangosite/cache.html", {"reports": store_reports()})


@never_cache
def cache_report_json(request: HttpRequest) -> JsonResponse:
    """The same report for scripts: ``{"stores": [{"name": ..., "used_memory": ...}]}``."""
    return JsonResponse(
        {"stores": [report.as_dict() for report in store_reports()]},
        json_dumps_params={"indent": 2},
    )


def stylesheet(request: HttpRequest) -> HttpResponse:
    """The site's CSS, read from the file the Flask app serves too (no external assets)."""
    response = HttpResponse(STYLESHEET.read_text(encoding="utf-8"), content_type="text/css")
    response["Cache-Control"] = "max-age=3600"
    return response


# ---------------------------------------------------------------------------------- dashboard
# The glue only: routing, CSRF and the alias to use. Data, load and controls are the shared
# module's (example_project.dashboard), the same as the Flask app's.

#: The alias the load is written through (database 3 of the shared store).
LOAD_ALIAS = "load"


def _backend(alias: str) -> PolicyCache:
    backend = caches[alias]
    assert isinstance(backend, PolicyCache)  # settings.CACHES names this backend
    return backend


@functools.cache
def site_dashboard() -> live.Dashboard:
    """The site's one dashboard: its history and load runner live as long as the process.
    ``caches[...]`` is looked up on each call: Django's backends are per thread."""
    labels: dict[int, str] = getattr(settings, "CACHE_DATABASE_LABELS", {})
    return live.Dashboard(
        info=lambda: _backend("default").info(),
        reconfigure=lambda **options: _backend("default").view.store.reconfigure(**options),
        runner=live.LoadRunner(lambda: _backend(LOAD_ALIAS)),
        labels=labels,
        framework="Django",
    )


@never_cache
def dashboard(request: HttpRequest) -> HttpResponse:
    """The live page; its script polls :func:`dashboard_state`."""
    urls = live.DashboardUrls(
        state="/dashboard/state.json",
        load="/dashboard/load",
        config="/dashboard/config",
        script="/dashboard.js",
    )
    body = live.page_body(urls, get_token(request), _backend("default").info())
    return render(request, "djangosite/dashboard.html", {"body": body})


@never_cache
def dashboard_state(request: HttpRequest) -> JsonResponse:
    return JsonResponse(site_dashboard().state())


@require_POST
def dashboard_load(request: HttpRequest) -> JsonResponse:
    """Start a load run in the background; answers at once (202, or 409 while one runs)."""
    status, body = site_dashboard().start_load()
    return JsonResponse(body, status=status)


@require_POST
def dashboard_config(request: HttpRequest) -> JsonResponse:
    """CONFIG SET ``maxmemory_policy`` / ``maxmemory`` from the page's selector."""
    status, body = site_dashboard().configure(request.POST.dict())
    return JsonResponse(body, status=status)


def dashboard_script(request: HttpRequest) -> HttpResponse:
    return HttpResponse(
        live.SCRIPT.read_text(encoding="utf-8"), content_type="text/javascript; charset=utf-8"
    )
