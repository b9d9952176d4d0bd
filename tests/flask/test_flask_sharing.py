"""Several apps / blueprints on one shared store, separated by CACHE_KEY_PREFIX."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask
from flask_caching import Cache

from cachepolicy import ManualClock

MakeApp = Callable[..., tuple[Flask, Cache]]


def test_private_stores_by_default(make_app: MakeApp) -> None:
    app1, cache1 = make_app()
    app2, cache2 = make_app()
    with app1.app_context():
        cache1.set("k", 1)
    with app2.app_context():
        assert cache2.get("k") is None


def test_prefixes_separate_apps_on_one_store(make_app: MakeApp, location: str) -> None:
    app1, cache1 = make_app(CACHE_CACHEPOLICY_LOCATION=location, CACHE_KEY_PREFIX="one_")
    app2, cache2 = make_app(CACHE_CACHEPOLICY_LOCATION=location, CACHE_KEY_PREFIX="two_")
    app3, cache3 = make_app(CACHE_CACHEPOLICY_LOCATION=location, CACHE_KEY_PREFIX="one_")
    with app1.app_context():
        cache1.set("k", "from one")
        cache1.set("only-one", 1)
    with app2.app_context():
        assert cache2.get("k") is None
        cache2.set("k", "from two")
        assert cache2.clear() is True  # clears "two_" keys only
        assert cache2.get("k") is None
    with app3.app_context():
        assert cache3.get("k") == "from one"  # same prefix = same keys, as with Redis
    backend1 = app1.extensions["cache"][cache1]
    assert backend1.core.store is app2.extensions["cache"][cache2].core.store
    assert sorted(backend1.core.keys()) == ["one_k", "one_only-one"]


def test_empty_prefix_clear_clears_the_database(make_app: MakeApp, location: str) -> None:
    app1, cache1 = make_app(CACHE_CACHEPOLICY_LOCATION=location, CACHE_KEY_PREFIX="one_")
    app2, cache2 = make_app(CACHE_CACHEPOLICY_LOCATION=location, CACHE_KEY_PREFIX="")
    with app1.app_context():
        cache1.set("k", 1)
    with app2.app_context():
        cache2.clear()
    with app1.app_context():
        assert cache1.get("k") is None


def test_blueprint_caches_on_one_app(location: str, clock: ManualClock) -> None:
    app = Flask(__name__)
    app.config.update(
        CACHE_TYPE="flask_cachepolicy.PolicyCache",
        CACHE_CACHEPOLICY_LOCATION=location,
        CACHE_CACHEPOLICY_CLOCK=clock,
    )
    admin = Cache(app, config={"CACHE_KEY_PREFIX": "admin/"})
    shop = Cache(app, config={"CACHE_KEY_PREFIX": "shop/"})
    with app.app_context():
        admin.set("page", "admin")
        shop.set("page", "shop")
        assert (admin.get("page"), shop.get("page")) == ("admin", "shop")
        shop.clear()
        assert (admin.get("page"), shop.get("page")) == ("admin", None)


def test_one_memory_budget_for_all_apps(make_app: MakeApp, location: str) -> None:
    common = {
        "CACHE_CACHEPOLICY_LOCATION": location,
        "CACHE_MAXMEMORY": "20kb",
        "CACHE_THRESHOLD": 0,
    }
    app1, cache1 = make_app(CACHE_KEY_PREFIX="one_", **common)
    app2, cache2 = make_app(CACHE_KEY_PREFIX="two_", **common)
    with app1.app_context():
        for i in range(50):
            cache1.set(str(i), "x" * 200)
    with app2.app_context():
        for i in range(200):
            cache2.set(str(i), "y" * 200)
    backend = app1.extensions["cache"][cache1]
    assert backend.core.info()["used_memory"] <= 20 * 1024
    with app1.app_context():
        assert cache1.get_many(*map(str, range(50))).count(None) > 0  # app2 pushed them out
