"""Declared fast paths, and overrides that are never bypassed.

``Cache.get`` is served by the compiled accessor's bound ``get`` (no interpreted frame per
read) unless a subclass overrides ``get``.

``PickleSerializer`` declares ``pickle_protocol``: the cache may then call ``pickle.dumps`` /
``pickle.loads`` itself (through the budgeted pickler on writes) instead of the serializer's
methods, which saves a Python frame per read and write. A subclass that overrides ``dumps`` or
``loads`` without re-declaring it loses the declaration, so its methods are called.
"""

from __future__ import annotations

import pickle
from typing import Any

from cachepolicy import Cache, ManualClock
from cachepolicy.serializers import PickleSerializer
from tests.conftest import MakeCache


class Recording(PickleSerializer):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

    def dumps(self, value: Any) -> bytes:
        self.calls.append("dumps")
        return super().dumps(value)

    def loads(self, payload: bytes) -> Any:
        self.calls.append("loads")
        return super().loads(payload)


class Redeclared(Recording):
    @property
    def pickle_protocol(self) -> int:
        return self.protocol


def test_the_default_serializer_reads_with_pickle_loads_itself(make_cache: MakeCache) -> None:
    cache = make_cache(maxmemory="1mb")
    assert cache.store.serializer.pickle_protocol == pickle.HIGHEST_PROTOCOL
    assert cache._access.loads is pickle.loads and cache._loads is pickle.loads
    cache.set("k", {"a": [1, 2]})
    assert cache.get("k") == {"a": [1, 2]}


def test_an_overriding_subclass_is_called_for_every_read_and_write(make_cache: MakeCache) -> None:
    serializer = Recording()
    assert getattr(serializer, "pickle_protocol", None) is None  # the declaration is dropped
    cache = make_cache(maxmemory="1mb", serializer=serializer)
    cache.set("k", [1])
    assert cache.get("k") == [1]
    assert cache.get_many(["k"]) == {"k": [1]}
    assert serializer.calls == ["dumps", "loads", "loads"]


def test_a_subclass_that_redeclares_keeps_the_fast_paths(make_cache: MakeCache) -> None:
    serializer = Redeclared()
    cache = make_cache(maxmemory="1mb", serializer=serializer)
    cache.set("k", [1])
    assert cache.get("k") == [1]
    assert serializer.calls == []  # pickle itself, as declared


def test_the_declaration_survives_on_the_base_class(make_cache: MakeCache) -> None:
    assert PickleSerializer().pickle_protocol == pickle.HIGHEST_PROTOCOL
    assert isinstance(make_cache(maxmemory="1mb").store.serializer, PickleSerializer)


def test_get_is_the_accessors_and_behaves_as_the_method(make_cache: MakeCache) -> None:
    cache = make_cache(maxmemory="1mb")
    assert cache.get == cache._access.get
    cache.set("k", 1)
    assert cache.get("k") == 1
    assert cache.get("missing") is None and cache.get("missing", "d") == "d"
    assert cache.info()["keyspace_hits"] == 1 and cache.info()["keyspace_misses"] == 2
    view = cache.select(1)
    view.set("k", 2)
    assert view.get("k") == 2 and cache.get("k") == 1
    quiet = cache.no_touch()
    assert quiet.get("k") == 1 and quiet.get == quiet._access.get


def test_a_subclass_that_overrides_get_is_called() -> None:
    calls: list[str] = []

    class Mine(Cache):
        def get(self, key: str, default: object = None) -> object:
            calls.append(key)
            return super().get(key, default)

    cache = Mine(maxmemory="1mb", clock=ManualClock())
    try:
        cache.set("k", 1)
        assert cache.get("k") == 1 and cache.get("x", 0) == 0
        assert calls == ["k", "x"]
    finally:
        cache.close()
