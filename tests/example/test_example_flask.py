"""The example Flask app, in this process through Flask's test client (it needs no settings)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_cachepolicy import PolicyCache

from example_project import catalogue
from example_project.flaskapp import cache, create_app, store_report
from tests.example.helpers import fetch, free_port, serving


def backend_of(app: Flask) -> PolicyCache:
    found = app.extensions["cache"][cache]
    assert isinstance(found, PolicyCache)
    return found


@pytest.fixture
def app() -> Iterator[Flask]:
    """A fresh app on its own private store; the store must be consistent afterwards."""
    catalogue.CALLS.reset()
    made = create_app(TESTING=True)
    yield made
    backend = backend_of(made)
    assert backend.core.check() == []
    backend.close()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def test_defaults_are_the_in_process_defaults(app: Flask) -> None:
    info = backend_of(app).info()
    assert info["maxmemory"] == 4 * 1024 * 1024  # small: the dashboard's load evicts
    assert info["maxmemory_policy"] == "allkeys-lru"
    assert app.config["CACHE_THRESHOLD"] == 0  # bounded by bytes, not Flask-Caching's 500


@pytest.mark.parametrize("url", ["/", "/products/", "/products/?category=garden&page=2"])
def test_cached_views_miss_then_hit(client: FlaskClient, url: str) -> None:
    first, second = client.get(url), client.get(url)
    assert (first.status_code, second.status_code) == (200, 200)
    assert (first.headers["X-Cache"], second.headers["X-Cache"]) == ("MISS", "HIT")
    assert first.data == second.data


def test_query_strings_are_separate_pages(client: FlaskClient) -> None:
    assert client.get("/products/?page=1").headers["X-Cache"] == "MISS"
    assert client.get("/products/?page=2").headers["X-Cache"] == "MISS"
    assert client.get("/products/?page=1").headers["X-Cache"] == "HIT"
    assert client.get("/products/?category=nope").status_code == 404


def test_memoize_computes_the_report_once_per_category(client: FlaskClient) -> None:
    for _ in range(3):
        assert client.get("/report/").status_code == 200
        assert client.get("/report/garden/").status_code == 200
    assert catalogue.CALLS["sales_report"] == 2
    assert client.get("/report/nope/").status_code == 404


def test_a_rating_invalidates_the_product_page(client: FlaskClient) -> None:
    assert client.get("/products/5").headers["X-Cache"] == "MISS"
    assert client.get("/products/5").headers["X-Cache"] == "HIT"
    assert catalogue.CALLS["related_products"] == 1
    response = client.post("/products/5/rate", data={"stars": "4"})
    assert response.status_code == 303 and response.headers["Location"] == "/products/5"
    page = client.get("/products/5")
    assert page.headers["X-Cache"] == "MISS"
    assert "4.0 stars from 1 rating" in page.get_data(as_text=True)
    assert catalogue.CALLS["related_products"] == 1  # still memoized
    assert client.post("/products/5/rate", data={"stars": "9"}).status_code == 400
    assert client.post("/products/9999/rate", data={"stars": "3"}).status_code == 404
    assert client.get("/products/9999").status_code == 404


def test_cache_page_and_json_report(client: FlaskClient) -> None:
    client.get("/")
    client.get("/")
    page = client.get("/cache")
    assert page.status_code == 200 and "X-Cache" not in page.headers
    text = page.get_data(as_text=True)
    for needle in ("used_memory", "maxmemory_policy:allkeys-lru", "hit ratio", "db0:keys="):
        assert needle in text, needle
    [store] = json.loads(client.get("/cache.json").data)["stores"]
    assert store["keyspace_hits"] == 1 and store["hit_ratio"] == pytest.approx(1 / 2)
    assert store["keyspace"]["db0"]["label"] == "this app (CACHE_KEY_PREFIX 'shop/')"


def test_a_small_budget_evicts_and_stays_within_it() -> None:
    app = create_app(maxmemory="64kb", TESTING=True)
    client = app.test_client()
    for pk in range(1, 120):
        assert client.get(f"/products/{pk}").status_code == 200
    report = store_report(app)
    assert report.evicted_keys > 0
    assert report.used_memory <= report.maxmemory == 64 * 1024
    assert backend_of(app).core.check() == []
    backend_of(app).close()


def test_each_app_has_its_own_private_store(client: FlaskClient) -> None:
    other = create_app(TESTING=True)
    client.get("/")
    assert other.test_client().get("/").headers["X-Cache"] == "MISS"
    backend_of(other).close()


def test_stylesheet_is_served_locally(client: FlaskClient) -> None:
    response = client.get("/style.css")
    assert response.status_code == 200 and response.mimetype == "text/css"


def test_the_flask_command_serves_on_loopback() -> None:
    with serving(["flask"], free_port()) as base:
        assert fetch(base + "/products/")[1]["X-Cache"] == "MISS"
        assert fetch(base + "/products/")[1]["X-Cache"] == "HIT"
        status, _, body = fetch(base + "/cache")
        assert status == 200 and "used_memory" in body
