"""PolicyCache's cachelib/Flask-Caching API: return conventions, bounds, refusals."""

from __future__ import annotations

import inspect
import pickle
import threading
from collections.abc import Callable
from typing import Any

import cachelib
import pytest
from cachelib.serializers import JSONSerializer, SimpleSerializer
from flask import Flask
from flask_cachepolicy import PolicyCache
from flask_caching import Cache
from flask_caching.backends.base import BaseCache

from cachepolicy import ManualClock

MakeBackend = Callable[..., PolicyCache]


def _public_methods(cls: type) -> set[str]:
    return {
        name
        for name, _ in inspect.getmembers(cls, predicate=inspect.isfunction)
        if not name.startswith("_")
    }


@pytest.mark.parametrize("base", [cachelib.BaseCache, BaseCache])
def test_every_public_base_method_is_overridden(base: type) -> None:
    """The base methods are silent no-ops: inheriting one would quietly disable caching."""
    missing = {
        name
        for name in _public_methods(base)
        if name != "factory" and getattr(PolicyCache, name) is getattr(base, name)
    }
    assert missing == set()
    assert PolicyCache.factory.__func__ is not BaseCache.factory.__func__  # type: ignore[attr-defined]


def test_cache_type_path_is_not_treated_as_cachelib() -> None:
    """Flask-Caching calls any CACHE_TYPE containing "cachelib" without the factory."""
    assert "cachelib" not in "flask_cachepolicy.PolicyCache"


def test_return_conventions(make_backend: MakeBackend) -> None:
    cache = make_backend()
    assert cache.set("a", 1) is True
    assert cache.add("a", 2) is False
    assert cache.add("b", 2) is True
    assert cache.get("a") == 1
    assert cache.get("missing") is None
    assert cache.has("a") is True
    assert cache.has("missing") is False
    assert cache.get_many("a", "missing", "b") == [1, None, 2]
    assert cache.get_dict("a", "missing") == {"a": 1, "missing": None}
    assert cache.set_many({"c": 3, "d": 4}) == ["c", "d"]
    assert cache.delete("c") is True
    assert cache.delete("c") is False
    # cachelib counts absent keys as deleted.
    assert cache.delete_many("d", "never-set") == ["d", "never-set"]
    assert cache.clear() is True
    assert cache.get_many("a", "b") == [None, None]


def test_values_round_trip_and_are_copies(make_backend: MakeBackend) -> None:
    cache = make_backend()
    numbers = [1, 2]
    value = {"list": numbers, "none": None, "bytes": b"x"}
    cache.set("v", value)
    numbers.append(3)  # stored serialized: mutation after set cannot leak in
    assert cache.get("v") == {"list": [1, 2], "none": None, "bytes": b"x"}
    assert cache.set("t", True) and cache.get("t") is True


def test_inc_dec(make_backend: MakeBackend, clock: ManualClock) -> None:
    cache = make_backend(default_timeout=100)
    assert cache.inc("new") == 1  # a missing counter starts from 0
    assert cache.dec("neg", 3) == -3
    assert cache.inc("new", 5) == 6
    # A new counter gets the default timeout; increments keep the TTL (Redis INCRBY).
    clock.advance(50)
    assert cache.inc("new") == 7
    clock.advance(50)
    assert cache.get("new") is None
    # Non-integers fall back to cachelib's read-modify-write.
    cache.set("f", 1.5)
    assert cache.inc("f") == 2.5
    cache.set("s", "text")
    with pytest.raises(TypeError):
        cache.inc("s")


def test_inc_is_atomic(make_backend: MakeBackend) -> None:
    cache = make_backend()
    barrier = threading.Barrier(8)

    def work() -> None:
        barrier.wait()
        for _ in range(500):
            cache.inc("n")

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert cache.get("n") == 4000


def test_threshold_bounds_entries_and_evicts_by_policy(make_backend: MakeBackend) -> None:
    cache = make_backend(threshold=3, maxmemory_policy="allkeys-lru", maxmemory_samples=64)
    for key in "abc":
        cache.set(key, key)
    cache.get("a")  # a is now more recent than b
    cache.set("d", "d")
    assert len(cache.core) == 3
    assert cache.get_many("a", "b", "c", "d") == ["a", None, "c", "d"]


def test_threshold_zero_means_memory_bound_only(make_backend: MakeBackend) -> None:
    cache = make_backend(threshold=0)
    cache.set_many({str(i): i for i in range(1000)})
    assert len(cache.core) == 1000


def test_refused_writes_return_false(make_backend: MakeBackend) -> None:
    cache = make_backend(maxmemory="2kb", maxmemory_policy="noeviction")
    stored = 0
    while cache.set(f"k{stored}", "x" * 100):
        stored += 1
    assert stored > 0
    assert cache.add("another", "x" * 100) is False
    assert cache.set_many({"m1": "x" * 100, "m2": "y" * 100}) == []
    assert cache.get("k0") == "x" * 100  # the refused writes changed nothing
    assert cache.inc("counter-that-does-not-fit" * 20) is None


def test_value_larger_than_maxmemory_returns_false(make_backend: MakeBackend) -> None:
    cache = make_backend(maxmemory="1kb")
    assert cache.set("huge", "x" * 5000) is False
    assert cache.has("huge") is False


def test_unpicklable_values_raise(make_backend: MakeBackend) -> None:
    cache = make_backend()
    with pytest.raises((pickle.PicklingError, TypeError, AttributeError)):
        cache.set("lock", threading.Lock())
    assert cache.has("lock") is False


def test_cachelib_serializer_from_flask_config(make_app: Callable[..., Any]) -> None:
    class Counting(SimpleSerializer):
        def __init__(self) -> None:
            self.dumped = self.loaded = 0

        def dumps(self, value: Any, protocol: int | None = None) -> bytes:
            self.dumped += 1
            payload = super().dumps(value)
            assert payload is not None
            return payload

        def loads(self, bvalue: bytes) -> Any:
            self.loaded += 1
            return super().loads(bvalue)

    serializer = Counting()
    app, cache = make_app(CACHE_SERIALIZER=serializer)
    with app.app_context():
        assert cache.cache.serializer is serializer
        cache.set("a", {"x": 1})
        assert cache.get("a") == {"x": 1}
        assert cache.get_many("a", "b") == [{"x": 1}, None]
        assert cache.cache.inc("n", 2) == 2
        assert cache.cache.inc("n", 2) == 4
    assert serializer.dumped >= 1 and serializer.loaded >= 2


def test_json_serializer_stores_json(make_app: Callable[..., Any]) -> None:
    app, cache = make_app(CACHE_SERIALIZER=JSONSerializer)
    with app.app_context():
        cache.set("a", {"x": 1})
        backend = cache.cache
        assert backend.core.get(backend.make_key("a")) == b'{"x": 1}'
        assert cache.get("a") == {"x": 1}


def test_decorators_memoize_cached_and_templates(
    make_app: Callable[..., Any], clock: ManualClock
) -> None:
    app: Flask
    cache: Cache
    app, cache = make_app(CACHE_DEFAULT_TIMEOUT=10)
    calls: list[int] = []

    @cache.memoize()
    def square(n: int) -> int:
        calls.append(n)
        return n * n

    @app.route("/")
    @cache.cached(timeout=5)
    def index() -> str:
        calls.append(-1)
        return f"hello {len(calls)}"

    with app.test_request_context():
        assert square(3) == 9 and square(3) == 9
        assert calls == [3]
        cache.delete_memoized(square, 3)
        assert square(3) == 9 and calls == [3, 3]
        template = app.jinja_env.from_string("{% cache 60, 'frag' %}{{ n }}{% endcache %}")
        assert template.render(n=1) == "1"
        assert template.render(n=2) == "1"

    client = app.test_client()
    first = client.get("/").get_data(as_text=True)
    assert client.get("/").get_data(as_text=True) == first
    clock.advance(5)
    assert client.get("/").get_data(as_text=True) != first


def test_subclass_overrides_of_get_are_honoured(make_backend: MakeBackend) -> None:
    """The read fast path must not shadow an instrumenting subclass's ``get``."""
    seen: list[str] = []

    class Recording(PolicyCache):
        def get(self, key: str) -> Any:
            seen.append(key)
            return super().get(key)

    cache = Recording(key_prefix="p_")
    cache.set("k", 1)
    assert cache.get("k") == 1 and seen == ["k"]
    cache.close()
    plain = make_backend(key_prefix="p_")
    plain.set("k", 2)
    assert plain.get("k") == 2
    plain.serializer = JSONSerializer()  # rebinds: reads now go through the serializer
    plain.set("j", {"a": 1})
    assert plain.get("j") == {"a": 1}


def test_refused_overwrite_does_not_leave_the_old_value(make_backend: MakeBackend) -> None:
    cache = make_backend(maxmemory="2kb", maxmemory_policy="noeviction")
    assert cache.set("k", "old") is True
    assert cache.set("k", "x" * 5000) is False
    assert cache.get("k") is None, "set() said it failed: the old value must not be served"
    assert cache.set("m", "old") is True
    assert cache.set_many({"m": "x" * 5000}) == []
    assert cache.get("m") is None
