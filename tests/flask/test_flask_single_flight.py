"""Single flight on the Flask tier: ``PolicyCache.get_or_set`` and ``SingleFlightCache``'s
``cached``/``memoize``: one computation per key under a herd of threads (no sleeps: the
computation waits until the flight table counts every other caller as waiting)."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask_cachepolicy import PolicyCache, SingleFlightCache

from cachepolicy import ConfigError
from cachepolicy.errors import TagError
from tests.herd import run_threads, wait_until

HERD = 64
_names = itertools.count()


def followers(backend: PolicyCache, key: str) -> int:
    return backend.core.store.flights.followers(backend.db, backend.make_key(key))


def test_get_or_set_computes_once(make_backend: Callable[..., PolicyCache]) -> None:
    backend = make_backend(key_prefix="p:")
    calls: list[int] = []

    def compute() -> list[int]:
        calls.append(1)
        wait_until(lambda: followers(backend, "hot") == HERD - 1, "the herd")
        return [1, 2]

    results = run_threads(HERD, lambda i: backend.get_or_set("hot", compute, 60))
    assert calls == [1] and results == [[1, 2]] * HERD
    assert backend.get("hot") == [1, 2]
    assert backend.core.ttl("p:hot") == pytest.approx(60)


def test_get_or_set_with_a_cachelib_serializer(make_backend: Callable[..., PolicyCache]) -> None:
    from cachelib.serializers import SimpleSerializer

    backend = make_backend()
    backend.serializer = SimpleSerializer()
    assert backend.get_or_set("k", lambda: {"a": 1}) == {"a": 1}
    assert backend.get_or_set("k", lambda: pytest.fail("recomputed")) == {"a": 1}


def test_get_or_set_refused_write_returns_the_value(
    make_backend: Callable[..., PolicyCache],
) -> None:
    backend = make_backend(maxmemory="2kb", maxmemory_policy="noeviction")
    # Larger than maxmemory in either build (the compiled build's entries are smaller, and
    # 1500 bytes fitted there): refused while pickling.
    assert backend.get_or_set("big", lambda: "x" * 3000) == "x" * 3000
    assert not backend.has("big")


def test_bad_stampede_settings_name_the_flask_key() -> None:
    app = Flask(f"bad{next(_names)}")
    app.config.update(
        CACHE_TYPE="flask_cachepolicy.PolicyCache", CACHE_CACHEPOLICY_STAMPEDE_WAIT=-1
    )
    with pytest.raises(ConfigError, match="CACHE_CACHEPOLICY_STAMPEDE_WAIT"):
        SingleFlightCache(app)


def make_app(**config: Any) -> tuple[Flask, SingleFlightCache, PolicyCache]:
    app = Flask(f"flight{next(_names)}")
    app.config.update(CACHE_TYPE="flask_cachepolicy.PolicyCache", **config)
    cache = SingleFlightCache(app)
    backend = app.extensions["cache"][cache]
    assert isinstance(backend, PolicyCache)
    return app, cache, backend


def test_memoize_computes_once() -> None:
    app, cache, backend = make_app()
    calls: list[int] = []

    @cache.memoize(60)
    def report(n: int) -> str:
        calls.append(n)
        key = report.make_cache_key(report.uncached, n)
        wait_until(lambda: followers(backend, key) == HERD - 1, "the herd")
        return f"report {n}"

    # memoize() makes the function's version key on its first call, and concurrent first calls
    # may each make one (Flask-Caching's own race): make it before the herd.
    with app.app_context():
        report.make_cache_key(report.uncached, 7)

    def call(i: int) -> str:
        with app.app_context():
            return str(report(7))

    assert run_threads(HERD, call) == ["report 7"] * HERD
    assert calls == [7]
    assert backend.core.store.flights.in_flight() == 0
    assert backend.info()["stampede_waited"] == HERD - 1


def test_cached_view_computes_once() -> None:
    app, cache, backend = make_app()
    calls: list[int] = []

    @app.route("/hot")
    @cache.cached(60)
    def hot() -> str:
        calls.append(1)
        wait_until(lambda: followers(backend, "view//hot") == HERD - 1, "the herd")
        return "page"

    clients = [app.test_client() for _ in range(HERD)]
    responses = run_threads(HERD, lambda i: clients[i].get("/hot").get_data(as_text=True))
    assert responses == ["page"] * HERD
    assert calls == [1]


def test_a_failing_view_raises_in_its_caller_only_and_the_others_compute() -> None:
    app, cache, backend = make_app()
    calls: list[int] = []
    herd = 8

    @cache.memoize(60)
    def flaky() -> str:
        calls.append(1)
        if len(calls) == 1:
            key = flaky.make_cache_key(flaky.uncached)
            wait_until(lambda: followers(backend, key) == herd - 1, "followers")
            raise RuntimeError("backend down")
        return "ok"

    with app.app_context():
        flaky.make_cache_key(flaky.uncached)

    def call(i: int) -> str:
        with app.app_context():
            return str(flaky())

    results = run_threads(herd, call)
    assert sum(isinstance(r, RuntimeError) for r in results) == 1
    assert results.count("ok") == herd - 1
    assert backend.core.store.flights.in_flight() == 0


def test_plain_reads_inside_a_decorated_function_take_no_lease() -> None:
    app, cache, backend = make_app()

    @cache.memoize(60)
    def outer() -> Any:
        assert cache.get("unrelated") is None  # a miss, but not the decorator's read
        assert backend.core.store.flights.in_flight() == 1  # outer's own lease only
        return "v"

    with app.app_context():
        assert outer() == "v"
        assert backend.core.store.flights.in_flight() == 0


def test_a_value_the_filter_keeps_out_ends_the_lease() -> None:
    app, cache, backend = make_app()

    @cache.memoize(60, response_filter=lambda rv: False)
    def uncacheable() -> str:
        return "fresh"

    with app.app_context():
        assert uncacheable() == "fresh"
        assert backend.core.store.flights.in_flight() == 0
        assert uncacheable() == "fresh"


def test_other_backends_behave_as_flask_caching() -> None:
    app = Flask(f"simple{next(_names)}")
    app.config.update(CACHE_TYPE="SimpleCache")
    cache = SingleFlightCache(app)

    @cache.memoize(60)
    def f() -> int:
        return 3

    with app.app_context():
        assert f() == 3 and f() == 3


def test_tags_through_flask(make_backend: Callable[..., PolicyCache]) -> None:
    backend = make_backend(key_prefix="p:")
    assert backend.set("a", 1, tags=["t"]) is True
    assert backend.get_or_set("b", lambda: 2, tags=["t"]) == 2
    backend.set("c", 3)
    backend.invalidate_tags("t")
    assert backend.get_many("a", "b", "c") == [None, None, 3]
    with pytest.raises(TagError):
        backend.set("d", 1, tags=[""])
    assert not backend.has("d")


def test_tags_with_a_cachelib_serializer(make_backend: Callable[..., PolicyCache]) -> None:
    from cachelib.serializers import SimpleSerializer

    backend = make_backend()
    backend.serializer = SimpleSerializer()
    backend.set("a", {"x": 1}, tags=["t"])
    assert backend.get("a") == {"x": 1}
    backend.invalidate_tags("t")
    assert backend.get("a") is None


def test_computed_and_tag_invalidated_signals() -> None:
    from flask_cachepolicy.signals import keyspace_computed, keyspace_tag_invalidated

    _, _, backend = make_app(
        CACHE_KEY_PREFIX="p_", CACHE_CACHEPOLICY_SIGNALS=["computed", "tag_invalidated"]
    )
    received: list[tuple[str, str]] = []

    def recorder(sender: Any, **kwargs: Any) -> None:
        received.append((kwargs["event"], kwargs["key"]))

    with keyspace_computed.connected_to(recorder), keyspace_tag_invalidated.connected_to(recorder):
        backend._sync_signals()  # connected after the backend was made: subscribe now
        backend.get_or_set("k", lambda: 1, tags=["t"])
        backend.invalidate_tags("t")
    assert received == [("computed", "k"), ("tag_invalidated", "t")]
