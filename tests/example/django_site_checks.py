"""Checks of the example Django site, run by ``test_example_django.py`` in a child pytest.

This file is not named ``test_*.py`` on purpose: it needs ``DJANGO_SETTINGS_MODULE`` set to the
example's settings before Django starts, which cannot happen in the main pytest process once
``tests/django/`` has configured Django there (see ``helpers.py``). The child pytest is started
with that variable, and pytest-django sets Django up from it. Run it alone with::

    DJANGO_SETTINGS_MODULE=example_project.djangosite.settings \\
        python -m pytest tests/example/django_site_checks.py
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from django.conf import settings
from django.core.cache import caches
from django.core.cache.utils import make_template_fragment_key
from django.test import Client
from django_cachepolicy import PolicyCache

from example_project import catalogue

ALIASES = ("default", "pages", "template_fragments", "load")

if settings.SETTINGS_MODULE != "example_project.djangosite.settings":  # pragma: no cover
    pytest.skip(
        "needs DJANGO_SETTINGS_MODULE=example_project.djangosite.settings (run through "
        "test_example_django.py)",
        allow_module_level=True,
    )


def backend(alias: str) -> PolicyCache:
    found = caches[alias]
    assert isinstance(found, PolicyCache)
    return found


@pytest.fixture(autouse=True)
def fresh_store() -> Iterator[None]:
    """Every check starts on an empty store with zeroed call counts, and leaves it consistent."""
    backend("default").view.flushall()
    catalogue.CALLS.reset()
    yield
    for alias in ALIASES:
        assert backend(alias).view.check() == [], alias


@pytest.fixture
def client() -> Client:
    return Client()


def test_the_four_aliases_share_one_store_with_the_in_process_defaults() -> None:
    infos = [backend(alias).info() for alias in ALIASES]
    assert {backend(alias).location for alias in ALIASES} == {"example-shop"}
    assert [backend(alias).options.database for alias in ALIASES] == [0, 1, 2, 3]
    for info in infos:
        assert info["maxmemory"] == 4 * 1024 * 1024  # small: the dashboard's load evicts
        assert info["maxmemory_policy"] == "allkeys-lru"
    assert backend("default").view.store is backend("pages").view.store


def test_home_uses_get_or_set_once(client: Client) -> None:
    for _ in range(3):
        response = client.get("/")
        assert response.status_code == 200
        assert "Bestsellers" in response.content.decode()
    assert catalogue.CALLS["bestsellers"] == 1
    assert caches["default"].get("bestsellers") == catalogue.bestsellers()


@pytest.mark.parametrize("url", ["/products/", "/products/?category=garden&page=2", "/report/"])
def test_cache_page_misses_then_hits(client: Client, url: str) -> None:
    first, second = client.get(url), client.get(url)
    assert (first.status_code, second.status_code) == (200, 200)
    assert (first["X-Cache"], second["X-Cache"]) == ("MISS", "HIT")
    assert first.content == second.content
    assert backend("pages").info()["db1"]["keys"] >= 1
    assert backend("default").view.keys() == []


def test_each_query_string_is_its_own_page(client: Client) -> None:
    assert client.get("/products/?page=1")["X-Cache"] == "MISS"
    assert client.get("/products/?page=2")["X-Cache"] == "MISS"
    assert client.get("/products/?page=1")["X-Cache"] == "HIT"


def test_the_slow_report_is_computed_once(client: Client) -> None:
    for _ in range(4):
        client.get("/report/")
        client.get("/report/kitchen/")
    assert catalogue.CALLS["sales_report"] == 2
    assert client.get("/report/nope/").status_code == 404


def test_product_fragment_is_cached_in_the_template_fragments_alias(client: Client) -> None:
    first, second = client.get("/products/7/"), client.get("/products/7/")
    assert (first.status_code, second.status_code) == (200, 200)
    assert "X-Cache" not in first  # the page itself is not cached whole: it holds a CSRF form
    assert catalogue.CALLS["related_products"] == 1
    key = make_template_fragment_key("related-products", [7])
    assert caches["template_fragments"].has_key(key)
    assert not caches["pages"].has_key(key)
    related = catalogue.related_products(7)[0].name
    assert related in second.content.decode()
    assert client.get("/products/9999/").status_code == 404


def test_cart_lives_in_a_cached_session_in_database_0(client: Client) -> None:
    response = client.post("/cart/add/7/")
    assert response.status_code == 302 and response["Location"] == "/cart/"
    client.post("/cart/add/7/")
    page = client.get("/cart/").content.decode()
    assert catalogue.get_product(7).name in page  # type: ignore[union-attr]
    session_key = client.cookies[settings.SESSION_COOKIE_NAME].value
    stored = caches["default"].get(f"django.contrib.sessions.cache{session_key}")
    assert stored == {"cart": {"7": 2}}
    assert client.get("/cart/add/7/").status_code == 405  # writes are POST only


def test_cart_add_needs_a_csrf_token_from_a_browser() -> None:
    strict = Client(enforce_csrf_checks=True)
    assert strict.post("/cart/add/7/").status_code == 403


def test_clearing_pages_leaves_sessions_alone(client: Client) -> None:
    client.post("/cart/add/3/")
    client.get("/products/")
    caches["pages"].clear()
    assert backend("pages").view.keys() == []
    assert len(backend("default").view.keys()) == 1  # the session
    assert client.get("/products/")["X-Cache"] == "MISS"


def test_cache_report_page_shows_the_shared_budget(client: Client) -> None:
    client.get("/report/")
    client.get("/report/")
    client.get("/products/1/")
    client.post("/cart/add/1/")
    response = client.get("/cache/")
    assert response.status_code == 200
    assert "no-cache" in response["Cache-Control"]
    page = response.content.decode()
    for text in (
        "used_memory",
        "maxmemory_policy:allkeys-lru",
        "hit ratio",
        "evicted_keys",
        "expired_keys",
        "db0:keys=1,",
        "db1:keys=",
        "db2:keys=1,",
        "pages: @cache_page",
        "template_fragments",
    ):
        assert text in page, text


def test_cache_json_reports_redis_fields(client: Client) -> None:
    client.get("/report/")
    client.get("/report/")
    data = json.loads(client.get("/cache.json").content)
    [store] = data["stores"]
    assert store["name"] == "example-shop"
    assert store["maxmemory"] == 4 * 1024 * 1024
    assert 0 < store["used_memory"] <= store["maxmemory"]
    assert store["keyspace_hits"] >= 1 and 0 < store["hit_ratio"] < 1
    assert set(store["keyspace"]) == {"db0", "db1", "db2", "db3"}  # db3: the dashboard's load
    assert store["keyspace"]["db1"]["keys"] == 2  # the page and its header list
    assert store["used_memory"] == backend("template_fragments").info()["used_memory"]


def test_stylesheet_is_served_locally(client: Client) -> None:
    response = client.get("/style.css")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/css")
    base = client.get("/report/").content.decode()
    assert 'href="/style.css"' in base and "http" not in base.split("<body>")[0]


# ---------------------------------------------------------------------------------- dashboard


@pytest.fixture
def short_load() -> Iterator[None]:
    """The site's dashboard with a load plan of half a second, joined before the store's
    check: the default plan runs eleven seconds."""
    from example_project import dashboard
    from example_project.djangosite.views import site_dashboard

    runner = site_dashboard().runner
    default = runner.plan
    runner.plan = dashboard.LoadPlan(zipf_seconds=0.3, scan_seconds=0.1, burst_seconds=0.2)
    yield
    runner.join(30)
    runner.plan = default


def test_dashboard_page_carries_its_csrf_token_and_local_script(client: Client) -> None:
    response = client.get("/dashboard/")
    assert response.status_code == 200 and "no-cache" in response["Cache-Control"]
    page = response.content.decode()
    token = response.cookies["csrftoken"].value
    assert token and 'data-csrf-token="' in page
    for text in ('id="load-button"', 'id="rate-chart"', '<script src="/dashboard.js">'):
        assert text in page, text
    assert '<option value="allkeys-lru" selected>' in page
    script = client.get("/dashboard.js")
    assert script.status_code == 200 and script["Content-Type"].startswith("text/javascript")


def test_dashboard_state_lists_every_alias_database() -> None:
    state = json.loads(Client().get("/dashboard/state.json").content)
    assert state["framework"] == "Django"
    assert state["maxmemory"] == 4 * 1024 * 1024 and state["maxmemory_policy"] == "allkeys-lru"
    assert [row["db"] for row in state["keyspace"]] == [0, 1, 2, 3]
    assert state["keyspace"][3]["label"].startswith("load")
    assert state["load"]["phase"] in ("idle", "done")


def test_dashboard_controls_need_the_csrf_token(short_load: None) -> None:
    browser = Client(enforce_csrf_checks=True)
    assert browser.post("/dashboard/load").status_code == 403
    assert browser.post("/dashboard/config", {"maxmemory": "1mb"}).status_code == 403
    assert browser.get("/dashboard/load").status_code == 405


def test_dashboard_load_and_config_through_the_aliases(short_load: None) -> None:
    from example_project.djangosite.views import site_dashboard

    browser = Client(enforce_csrf_checks=True)
    browser.get("/dashboard/")
    token = browser.cookies["csrftoken"].value
    response = browser.post("/dashboard/load", HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 202, response.content
    site_dashboard().runner.join(30)
    state = json.loads(browser.get("/dashboard/state.json").content)
    assert state["load"]["phase"] == "done", state["load"]
    assert state["keyspace"][3]["keys"] > 0  # written through the "load" alias, db 3
    assert backend("load").info()["keyspace_misses"] > 0
    try:
        response = browser.post(
            "/dashboard/config",
            {"maxmemory_policy": "allkeys-lfu", "maxmemory": "1mb"},
            HTTP_X_CSRFTOKEN=token,
        )
        assert response.status_code == 200, response.content
        for alias in ALIASES:  # one store: every alias sees the switch
            info = backend(alias).info()
            assert info["maxmemory_policy"] == "allkeys-lfu" and info["maxmemory"] == 1024**2
        assert backend("default").info()["used_memory"] <= 1024**2
        bad = browser.post(
            "/dashboard/config", {"maxmemory_policy": "allkeys-lfru"}, HTTP_X_CSRFTOKEN=token
        )
        assert bad.status_code == 400 and json.loads(bad.content)["option"] == "maxmemory_policy"
    finally:  # the other checks expect the settings' budget and policy
        backend("default").view.store.reconfigure(maxmemory="4mb", maxmemory_policy="allkeys-lru")
