"""``python -m example_project demo``: simulated traffic through both apps, then their reports.

For a reader without a browser. Visitors request pages with Zipf-distributed popularity (a few
pages are very popular, most are rarely seen, as on real sites), and some of them write (cart
additions on the Django site, ratings on the Flask app). Requests go through each framework's
test client, so every layer runs (URL routing, middleware, ``cache_page``, ``{% cache %}``,
sessions, Flask-Caching's decorators) without opening a socket.

The demo's default budget is 512kb rather than the apps' 64mb: the shop's few hundred pages
never fill 64mb, and a cache that never evicts shows nothing of its policy. At 512kb the long
tail of the Zipf distribution overflows the budget on both apps, so ``evicted_keys`` grows
while the popular pages keep hitting. ``--policy allkeys-lfu`` (or any of the ten) compares
policies on the same seeded traffic.
"""

from __future__ import annotations

import functools
import os
import random
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from example_project import catalogue as shop
from example_project.report import CacheReport, format_summary

__all__ = ["DemoResult", "run_demo"]

#: Zipf exponent of page popularity. 1.0 is the classic web-traffic fit (Breslau et al., "Web
#: Caching and Zipf-like Distributions", 1999, measured 0.64-0.83 at proxies; higher at a
#: single site, where a home page and a few products take most of the visits).
ZIPF_EXPONENT = 1.0
#: Share of requests that write: enough to show invalidation and session writes in the
#: numbers, small enough that the run stays read-mostly like a shop.
WRITE_SHARE = 0.03
#: Distinct visitors (cookie jars): each has a session on the Django site.
VISITORS = 25


@dataclass
class DemoResult:
    """What one app's run did: request counts and its store's report."""

    app: str
    requests: int
    seconds: float
    statuses: Counter[int] = field(default_factory=Counter)
    x_cache: Counter[str] = field(default_factory=Counter)
    writes: int = 0
    report: CacheReport | None = None
    #: How often the costly functions really ran, e.g. {"sales_report": 9}.
    computed: dict[str, int] = field(default_factory=dict)


def _zipf_urls(rng: random.Random, urls: Sequence[str], count: int) -> list[str]:
    """``count`` URLs drawn with Zipf popularity over a seeded shuffle of ``urls``."""
    ranked = list(urls)
    rng.shuffle(ranked)
    ranked.sort(key=lambda url: url != "/")  # the home page is the most visited, as everywhere
    weights = [1 / (rank**ZIPF_EXPONENT) for rank in range(1, len(ranked) + 1)]
    return rng.choices(ranked, weights, k=count)


def _page_urls(
    product_url: Callable[[int], str], report_url: Callable[[str | None], str]
) -> list[str]:
    """Every readable page of the shop, as the apps spell their URLs."""
    urls = ["/", report_url(None)]
    urls += [report_url(name) for name in shop.CATEGORIES]
    for category in (None, *shop.CATEGORIES):
        pages = -(-len(shop.products_in(category)) // 24)
        for number in range(1, pages + 1):
            query = f"category={category}&page={number}" if category else f"page={number}"
            urls.append(f"/products/?{query}")
    urls += [product_url(pk) for pk in range(1, shop.PRODUCT_COUNT + 1)]
    return urls


def _count(result: DemoResult, status: int, x_cache: str | None) -> None:
    result.statuses[status] += 1
    if x_cache:
        result.x_cache[x_cache] += 1


def run_django(requests: int, seed: int) -> DemoResult:
    """Drive the Django site through ``django.test.Client``; settings come from the environment.

    The caller sets ``EXAMPLE_MAXMEMORY``/``EXAMPLE_MAXMEMORY_POLICY`` before this runs, since
    Django reads settings once per process.
    """
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example_project.djangosite.settings")
    import django
    from django.test import Client

    django.setup()
    from example_project.djangosite.views import store_reports

    rng = random.Random(seed)
    visitors = [Client() for _ in range(VISITORS)]
    urls = _zipf_urls(
        rng,
        _page_urls(lambda pk: f"/products/{pk}/", lambda c: f"/report/{c}/" if c else "/report/"),
        requests,
    )
    result = DemoResult("Django site", requests, 0.0)
    shop.CALLS.reset()
    started = time.perf_counter()
    for url in urls:
        client = rng.choice(visitors)
        if rng.random() < WRITE_SHARE:
            pk = rng.randint(1, shop.PRODUCT_COUNT)
            response = client.post(f"/cart/add/{pk}/")
            result.writes += 1
        else:
            response = client.get(url)
        _count(result, response.status_code, response.get("X-Cache"))
    result.seconds = time.perf_counter() - started
    result.report = store_reports()[0]
    result.computed = _computed()
    return result


def run_flask(requests: int, seed: int, maxmemory: str, policy: str) -> DemoResult:
    """Drive the Flask app through its test client, on a private store of ``maxmemory``."""
    from example_project.flaskapp import create_app, store_report

    app = create_app(maxmemory=maxmemory, maxmemory_policy=policy)
    client = app.test_client()
    rng = random.Random(seed)
    urls = _zipf_urls(
        rng,
        _page_urls(lambda pk: f"/products/{pk}", lambda c: f"/report/{c}/" if c else "/report/"),
        requests,
    )
    result = DemoResult("Flask app", requests, 0.0)
    shop.CALLS.reset()
    started = time.perf_counter()
    for url in urls:
        if rng.random() < WRITE_SHARE:
            pk = rng.randint(1, shop.PRODUCT_COUNT)
            response = client.post(f"/products/{pk}/rate", data={"stars": rng.randint(1, 5)})
            result.writes += 1
        else:
            response = client.get(url)
        _count(result, response.status_code, response.headers.get("X-Cache"))
    result.seconds = time.perf_counter() - started
    result.report = store_report(app)
    result.computed = _computed()
    return result


def _computed() -> dict[str, int]:
    return {name: shop.CALLS[name] for name in ("sales_report", "related_products", "bestsellers")}


def describe(result: DemoResult) -> str:
    """The lines the demo prints for one app."""
    pages = result.x_cache["HIT"] + result.x_cache["MISS"]
    page_hits = f"{result.x_cache['HIT'] / pages:.1%}" if pages else "n/a"
    statuses = ", ".join(f"{code}: {n}" for code, n in sorted(result.statuses.items()))
    lines = [
        f"== {result.app}: {result.requests} requests ({result.writes} writes) "
        f"in {result.seconds:.1f}s",
        f"  responses {statuses}",
        f"  whole-page cache (X-Cache): {result.x_cache['HIT']} HIT, {result.x_cache['MISS']} "
        f"MISS -> page hit ratio {page_hits}",
        "  costly work really done: "
        + ", ".join(f"{name} x{count}" for name, count in result.computed.items()),
    ]
    if result.report is not None:
        lines.append(format_summary(result.report))
    return "\n".join(lines)


def run_demo(
    requests: int = 2000,
    seed: int = 7,
    maxmemory: str = "512kb",
    policy: str = "allkeys-lru",
    *,
    full_info: bool = False,
    echo: Callable[[str], Any] = print,
) -> list[DemoResult]:
    """Run both simulations and print their reports; returns the results for tests.

    ``full_info`` also prints each store's complete Redis-INFO-style text.
    """
    os.environ["EXAMPLE_MAXMEMORY"] = maxmemory
    os.environ["EXAMPLE_MAXMEMORY_POLICY"] = policy
    echo(
        f"Simulating {requests} Zipf-distributed requests per app (seed {seed}, "
        f"{int(WRITE_SHARE * 100)}% writes, maxmemory {maxmemory}, {policy})."
    )
    runs: list[Callable[[], DemoResult]] = [
        functools.partial(run_django, requests, seed),
        functools.partial(run_flask, requests, seed, maxmemory, policy),
    ]
    results = []
    for run in runs:  # print each app's lines as soon as it is done: Django takes seconds
        results.append(run())
        echo("")
        echo(describe(results[-1]))
    if full_info:
        for result in results:
            if result.report is not None:
                echo("")
                echo(f"# INFO of the {result.app}'s store {result.report.name!r}")
                echo(result.report.info_text)
    return results
