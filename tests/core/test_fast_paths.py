"""Declared fast paths, and overrides that are never bypassed.

``Cache.get`` and ``Cache.set`` are served by the compiled accessor's bound ``get`` and ``set``
(no interpreted frame per read or write) unless a subclass overrides them.

``PickleSerializer`` declares ``pickle_protocol``: the cache may then call ``pickle.dumps`` /
``pickle.loads`` itself (through the budgeted pickler on writes) instead of the serializer's
methods, which saves a Python frame per read and write. A subclass that overrides ``dumps`` or
``loads`` without re-declaring it loses the declaration, so its methods are called.
"""

from __future__ import annotations

import pickle
from typing import Any

import pytest

from cachepolicy import Cache, ManualClock
from cachepolicy.flight import StampedeSettings
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


def test_set_is_the_accessors_and_behaves_as_the_method(make_cache: MakeCache) -> None:
    clock = ManualClock()
    cache = make_cache(maxmemory="1mb", clock=clock)
    assert cache.set == cache._access.set
    cache.set("k", 1)
    cache.set("t", 2, 10)
    cache.set("t", 3, keepttl=True)
    assert (cache.get("k"), cache.get("t"), cache.ttl("t")) == (1, 3, 10)
    cache.set("t", 4, ttl=None)
    assert cache.ttl("t") is None
    cache.set("k", 5, keepttl=True)  # no TTL to keep: stays without one
    assert (cache.get("k"), cache.ttl("k")) == (5, None)
    with pytest.raises(ValueError, match=r"set\('k', \.\.\., ttl=5, keepttl=True\): give a ttl"):
        cache.set("k", 6, 5, keepttl=True)
    assert cache.get("k") == 5  # refused before anything was written
    with pytest.raises(TypeError, match="Cache keys must be str, got int 1"):
        cache.set(1, 1)  # type: ignore[arg-type]
    view = cache.select(1)
    view.set("k", 7)
    assert view.set == view._access.set and (view.get("k"), cache.get("k")) == (7, 5)
    assert cache.check() == []


def test_a_subclass_that_overrides_set_is_called() -> None:
    calls: list[tuple[str, object, bool]] = []

    class Mine(Cache):
        def set(
            self, key: str, value: Any, ttl: float | None = None, *, keepttl: bool = False
        ) -> None:
            calls.append((key, ttl, keepttl))
            super().set(key, value, ttl, keepttl=keepttl)

    cache = Mine(maxmemory="1mb", clock=ManualClock())
    try:
        cache.set("k", 1)
        cache.set("t", 2, 10)
        cache.set("t", 3, keepttl=True)
        assert calls == [("k", None, False), ("t", 10, False), ("t", None, True)]
        assert (cache.get("t"), cache.ttl("t")) == (3, 10)
    finally:
        cache.close()


def test_plain_reads_stay_compiled_once_envelopes_are_stored(make_cache: MakeCache) -> None:
    """get_or_set and tags store envelopes; get and set are still the accessor's own methods
    (no interpreted frame per call), and they open envelopes themselves."""
    clock = ManualClock()
    cache = make_cache(maxmemory="1mb", clock=clock, stampede=StampedeSettings(grace=30.0))
    cache.get_or_set("computed", lambda: "v", 10)
    cache.set("tagged", "t", tags=["group"])
    assert cache.get == cache._access.get and cache.set == cache._access.set
    assert cache.get("computed") == "v" and cache.get("tagged") == "t"
    assert cache.get_many(["computed", "tagged"]) == {"computed": "v", "tagged": "t"}
    clock.advance(11)  # past the TTL, inside the grace period: a stale copy, a miss for get
    assert cache.get("computed", "miss") == "miss" and "computed" not in cache
    cache.invalidate_tags("group")
    assert cache.get("tagged") is None and cache.keys() == ["computed"]  # removed when read
    assert cache.check() == []
