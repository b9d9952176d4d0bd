"""The example Flask app: the same shop, cached with Flask-Caching on a cachepolicy backend.

=========================  =====================================================================
``/``                      whole view: ``@cache.cached(timeout=60)``
``/products/``             whole view per query string: ``@cache.cached(query_string=True)``
``/products/<pk>``         whole view under an explicit key, deleted when a rating is posted
``POST /products/<pk>/rate``  a write: records a rating, invalidates that product's page
``/report/...``            not cached itself; the slow computation is ``@cache.memoize``-d
``/cache``, ``/cache.json``   the Redis-INFO-style report of this app's store
``/dashboard``             the live dashboard (:mod:`example_project.dashboard`), as on the
                           Django site: polled JSON, "generate load", CONFIG SET
=========================  =====================================================================

Why ``CACHE_THRESHOLD = 0``: Flask-Caching's default ``CACHE_THRESHOLD`` is 500 entries, which
the backend honours as an entry-count bound; 0 leaves ``CACHE_MAXMEMORY`` as the only bound, so
the cache holds as many pages as fit in the byte budget, which is what this project is about.

``cache`` is module-level, as Flask-Caching's documentation has it, so decorators can be used on
module-level functions; :func:`create_app` binds it to each application (tests build several,
each with its own private store).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    g,
    jsonify,
    redirect,
    request,
    url_for,
)
from flask import render_template as render
from flask_cachepolicy import PolicyCache
from flask_caching import Cache

from example_project import catalogue as shop
from example_project import dashboard as live
from example_project.report import CacheReport, build_report

__all__ = ["cache", "create_app", "store_report"]

#: Flask-Caching's extension object, bound to each app by :func:`create_app`.
cache = Cache()
bp = Blueprint("shop", __name__)

#: Seconds whole pages stay cached; see the Django site's PAGE_TIMEOUT for the trade-off.
PAGE_TIMEOUT = 120
#: Seconds a memoized report stays: the ledger never changes, so only memory pressure and
#: this bound remove it.
REPORT_TIMEOUT = 300
#: Products per catalogue page, as on the Django site.
PAGE_SIZE = 24
STYLESHEET = Path(__file__).resolve().parent / "assets" / "style.css"

View = Callable[..., Any]


def cached_view(timeout: int, **cached_kwargs: Any) -> Callable[[View], View]:
    """``cache.cached(...)`` that reports ``X-Cache: HIT|MISS``.

    As on the Django site: ``g.cacheable`` is set outside the cache, ``g.rendered`` inside it
    (only when the view really runs), and :func:`_x_cache` turns the two into the header.
    """

    def decorate(view: View) -> View:
        @functools.wraps(view)
        def rendered(*args: Any, **kwargs: Any) -> Any:
            g.rendered = True
            return view(*args, **kwargs)

        cached = cache.cached(timeout=timeout, **cached_kwargs)(rendered)

        @functools.wraps(view)
        def marked(*args: Any, **kwargs: Any) -> Any:
            g.cacheable = True
            return cached(*args, **kwargs)

        return marked

    return decorate


@bp.after_app_request
def _x_cache(response: Response) -> Response:
    if g.get("cacheable"):
        response.headers["X-Cache"] = "MISS" if g.get("rendered") else "HIT"
    return response


def product_page_key(pk: int) -> str:
    """The cache key of a product page, explicit so a rating can delete exactly that page."""
    return f"product-page/{pk}"


def _product_page_key() -> str:
    return product_page_key(int((request.view_args or {})["pk"]))


@cache.memoize(timeout=REPORT_TIMEOUT)
def report_rows(category: str | None) -> list[shop.CategoryReport]:
    """The slow sales report, memoized per category (``None`` = all categories)."""
    return shop.sales_report(category)


@cache.memoize(timeout=REPORT_TIMEOUT)
def related(pk: int) -> list[shop.Product]:
    """Products similar to ``pk``; memoized because it scores the whole catalogue."""
    return shop.related_products(pk)


def _ratings() -> shop.Ratings:
    ratings: shop.Ratings = current_app.extensions["shop_ratings"]
    return ratings


@bp.route("/")
@cached_view(60)
def home() -> str:
    """Landing page with the bestsellers; the whole rendered page is cached."""
    return render("home.html", bestsellers=shop.bestsellers(), categories=shop.CATEGORIES)


@bp.route("/products/")
@cached_view(PAGE_TIMEOUT, query_string=True)
def catalogue() -> str:
    """A catalogue page; ``query_string=True`` keys it by category and page number."""
    category = request.args.get("category") or None
    if category is not None and category not in shop.CATEGORIES:
        abort(404)
    items = shop.products_in(category)
    pages = max(1, -(-len(items) // PAGE_SIZE))
    number = min(max(request.args.get("page", 1, type=int) or 1, 1), pages)
    return render(
        "catalogue.html",
        items=items[(number - 1) * PAGE_SIZE : number * PAGE_SIZE],
        category=category,
        categories=shop.CATEGORIES,
        number=number,
        pages=pages,
    )


@bp.route("/products/<int:pk>")
@cached_view(PAGE_TIMEOUT, key_prefix=_product_page_key)
def product(pk: int) -> str:
    """A product page, cached whole: unlike the Django site there is no CSRF token in it."""
    item = shop.get_product(pk)
    if item is None:
        abort(404)
    count, average = _ratings().summary(pk)
    return render("product.html", product=item, related=related(pk), count=count, average=average)


@bp.route("/products/<int:pk>/rate", methods=["POST"])
def rate(pk: int) -> Response:
    """Record a rating, then delete the product's cached page so the next view shows it."""
    if shop.get_product(pk) is None:
        abort(404)
    stars = request.form.get("stars", type=int)
    if stars is None or not 1 <= stars <= 5:
        abort(400)
    _ratings().add(pk, stars)
    cache.delete(product_page_key(pk))
    return redirect(url_for("shop.product", pk=pk), code=303)  # type: ignore[return-value]


@bp.route("/report/")
@bp.route("/report/<category>/")
def report(category: str | None = None) -> str:
    """The sales report; the page is rendered each time, the costly rows come memoized."""
    if category is not None and category not in shop.CATEGORIES:
        abort(404)
    return render(
        "report.html", rows=report_rows(category), category=category, categories=shop.CATEGORIES
    )


def store_report(app: Flask | None = None) -> CacheReport:
    """The Redis-INFO-style report of the app's cachepolicy store."""
    backend = _backend(app)
    name = backend.location or "private store of this app"
    label = f"this app (CACHE_KEY_PREFIX {backend.key_prefix!r})"
    return build_report(name, backend.info(), backend.info_text(), {backend.db: label})


@bp.route("/cache")
def cache_page() -> str:
    """The cache report page; never cached itself."""
    return render("cache.html", report=store_report())


@bp.route("/cache.json")
def cache_json() -> dict[str, Any]:
    """The same report for scripts (Flask turns the dict into JSON)."""
    return {"stores": [store_report().as_dict()]}


# ---------------------------------------------------------------------------------- dashboard
# The glue only: routing and the backend to use. Data, load and controls are the shared
# module's (example_project.dashboard), the same as the Django site's.


def _backend(app: Flask | None = None) -> PolicyCache:
    backend = (app or current_app).extensions["cache"][cache]
    if not isinstance(backend, PolicyCache):  # pragma: no cover - create_app sets the type
        raise TypeError("The example app's cache is not a flask_cachepolicy.PolicyCache.")
    return backend


def app_dashboard(app: Flask | None = None) -> live.Dashboard:
    """The app's dashboard (made by :func:`create_app`, one per app and store)."""
    found: live.Dashboard = (app or current_app).extensions["dashboard"]
    return found


def _make_dashboard(app: Flask) -> live.Dashboard:
    backend = _backend(app)
    # The load goes through the app's own Flask-Caching backend (the thread has no app
    # context, so the backend object itself, not the ``cache`` proxy).
    return live.Dashboard(
        info=backend.info,
        reconfigure=backend.core.store.reconfigure,
        runner=live.LoadRunner(lambda: backend),
        labels={backend.db: f"this app (CACHE_KEY_PREFIX {backend.key_prefix!r})"},
        framework="Flask",
    )


@bp.route("/dashboard")
def dashboard() -> str:
    """The live page; its script polls :func:`dashboard_state`."""
    urls = live.DashboardUrls(
        state=url_for("shop.dashboard_state"),
        load=url_for("shop.dashboard_load"),
        config=url_for("shop.dashboard_config"),
        script=url_for("shop.dashboard_script"),
    )
    return render("dashboard.html", body=live.page_body(urls, "", _backend().info()))


@bp.route("/dashboard/state.json")
def dashboard_state() -> Response:
    response = jsonify(app_dashboard().state())
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/dashboard/load", methods=["POST"])
def dashboard_load() -> tuple[Response, int]:
    """Start a load run in the background; answers at once (202, or 409 while one runs)."""
    status, body = app_dashboard().start_load()
    return jsonify(body), status


@bp.route("/dashboard/config", methods=["POST"])
def dashboard_config() -> tuple[Response, int]:
    """CONFIG SET ``maxmemory_policy`` / ``maxmemory`` from the page's selector."""
    status, body = app_dashboard().configure(request.form.to_dict())
    return jsonify(body), status


@bp.route("/dashboard.js")
def dashboard_script() -> Response:
    return Response(live.SCRIPT.read_text(encoding="utf-8"), mimetype="text/javascript")


@bp.route("/style.css")
def stylesheet() -> Response:
    """The stylesheet shared with the Django site (no external assets)."""
    return Response(
        STYLESHEET.read_text(encoding="utf-8"),
        mimetype="text/css",
        headers={"Cache-Control": "max-age=3600"},
    )


def create_app(
    maxmemory: str | int = live.DEFAULT_MAXMEMORY,
    maxmemory_policy: str = "allkeys-lru",
    **config: Any,
) -> Flask:
    """Build the app with a private cachepolicy store (4mb, allkeys-lru by default: small,
    so that the dashboard's load button shows eviction within a second).

    ``config`` overrides any Flask setting, e.g. ``CACHE_CACHEPOLICY_LOCATION="shared"`` to
    put the cache on a process-wide store, or ``TESTING=True``.
    """
    app = Flask(__name__, template_folder="flask_templates")
    app.config.update(
        CACHE_TYPE="flask_cachepolicy.PolicyCache",
        CACHE_DEFAULT_TIMEOUT=300,
        CACHE_MAXMEMORY=maxmemory,
        CACHE_MAXMEMORY_POLICY=maxmemory_policy,
        CACHE_THRESHOLD=0,  # see the module docstring: the byte budget is the bound
        CACHE_KEY_PREFIX="shop/",
        **live.record_options("CACHE_"),
    )
    app.config.update(config)
    app.extensions["shop_ratings"] = shop.Ratings()
    cache.init_app(app)
    app.register_blueprint(bp)
    app.extensions["dashboard"] = _make_dashboard(app)
    return app
