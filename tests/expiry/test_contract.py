"""Every expiry strategy runs the same contracts.

``ExpiryContract`` (the core's TTL semantics, spec §10 18-29, 39) and :class:`ReclaimContract`
below (active reclamation: what may and may not be reclaimed, events, accounting) are run against
each registered strategy, plus Redis's cycle on a thread. A new strategy gets the suite by being
added to ``STRATEGIES``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

from cachepolicy import Cache, KeyspaceEvent, ManualClock
from tests.conftest import MakeCache
from tests.core.contract import ExpiryContract

from .helpers import ThreadedActive, pump, settle

STRATEGIES: dict[str, Any] = {
    "Lazy": "lazy",
    "Active": "active",
    "Timed": "timed",
    "Background": "background",
    "ThreadedActive": ThreadedActive,
}


class ReclaimContract:
    """Active reclamation: reclaims due keys nobody reads, never a live one (spec §10 27, 41)."""

    options: ClassVar[dict[str, Any]] = {}
    reclaims: ClassVar[bool] = True

    @pytest.fixture
    def cache(self, make_cache: MakeCache) -> Cache:
        return make_cache(**self.options)

    @pytest.fixture
    def tick(self, cache: Cache) -> ManualClock:
        clock = cache.store.clock
        assert isinstance(clock, ManualClock)
        return clock

    def _gone(self, cache: Cache, *keys: str, db: int = 0) -> bool:
        data = cache.store.keyspaces[db].data
        return all(key not in data for key in keys)

    def test_reclaims_without_access(self, cache: Cache, tick: ManualClock) -> None:
        if not self.reclaims:
            pytest.skip("lazy expiry reclaims only on access")
        for key in ("a", "b", "c"):
            cache.set(key, key, ttl=0.5)
        cache.set("keep", 1)
        tick.advance(0.6)
        assert settle(cache, lambda: len(cache) == 1, step=0.1)
        assert cache.info()["expired_keys"] == 3
        assert cache.get("keep") == 1

    def test_never_reclaims_a_live_key(self, cache: Cache, tick: ManualClock) -> None:
        cache.set("exact", 1, ttl=1)
        cache.set("later", 1, ttl=1.5)
        cache.set("plain", 1)
        tick.advance(1)  # "exact" is at its deadline: still valid (now > deadline expires)
        pump(cache, rounds=3, step=0.0)
        assert len(cache) == 3
        assert cache.get("exact") == 1

    def test_expired_event_exactly_once(self, cache: Cache, tick: ManualClock) -> None:
        seen: list[KeyspaceEvent] = []
        cache.subscribe(seen.append, events={"expired"})
        for i in range(50):
            cache.set(f"k{i}", i, ttl=1 + i / 100)
        tick.advance(2)
        if self.reclaims:
            assert settle(cache, lambda: len(cache) == 0, step=0.1)
        for i in range(50):  # lazily expire any straggler; must not notify twice
            assert cache.get(f"k{i}") is None
        assert sorted(e.key for e in seen) == sorted(f"k{i}" for i in range(50))
        assert cache.info()["expired_keys"] == 50

    def test_memory_returns_to_baseline(self, cache: Cache, tick: ManualClock) -> None:
        cache.set("plain", "x")
        baseline = cache.info()["used_memory_dataset"]
        for i in range(200):
            cache.set(f"t{i}", "y" * 50, ttl=1)
        assert cache.info()["used_memory"] > baseline
        tick.advance(2)
        if self.reclaims:
            assert settle(cache, lambda: len(cache) == 1, step=0.1)
        else:
            for i in range(200):
                cache.get(f"t{i}")
        assert cache.info()["used_memory_dataset"] == baseline
        assert cache.info()["used_memory_overhead"] < 2048  # the tables shrank back

    def test_extended_deadline_is_respected(self, cache: Cache, tick: ManualClock) -> None:
        cache.set("k", 1, ttl=1)
        cache.expire("k", 10)
        tick.advance(2)
        pump(cache)
        assert cache.get("k") == 1
        tick.advance(10)
        if self.reclaims:
            assert settle(cache, lambda: self._gone(cache, "k"), step=0.1)
        assert cache.get("k") is None

    def test_shortened_deadline_is_respected(self, cache: Cache, tick: ManualClock) -> None:
        cache.set("k", 1, ttl=100)
        cache.expire("k", 1)
        tick.advance(2)
        if self.reclaims:
            assert settle(cache, lambda: self._gone(cache, "k"), step=0.1)
        assert cache.get("k") is None

    def test_persisted_and_deleted_keys(self, cache: Cache, tick: ManualClock) -> None:
        seen: list[KeyspaceEvent] = []
        cache.subscribe(seen.append, events={"expired"})
        cache.set("persisted", 1, ttl=1)
        cache.persist("persisted")
        cache.set("deleted", 1, ttl=1)
        cache.delete("deleted")
        cache.set("readded", 1, ttl=1)
        cache.delete("readded")
        cache.set("readded", 2)
        tick.advance(2)
        pump(cache)
        assert cache.get("persisted") == 1
        assert cache.get("readded") == 2
        assert seen == []

    def test_every_database(self, cache: Cache, tick: ManualClock) -> None:
        views = [cache.select(db) for db in range(16)]
        for view in views:
            view.set("k", 1, ttl=1)
            view.set("p", 1)
        tick.advance(2)
        if self.reclaims:
            assert settle(cache, lambda: all(len(v) == 1 for v in views), step=0.1)
        assert all(view.get("k") is None for view in views)
        assert all(view.get("p") == 1 for view in views)

    def test_flush_while_keys_are_scheduled(self, cache: Cache, tick: ManualClock) -> None:
        other = cache.select(1)
        for i in range(20):
            cache.set(f"a{i}", i, ttl=1)
            other.set(f"b{i}", i, ttl=1)
        other.clear()
        cache.flushall()
        cache.set("new", 1, ttl=5)
        tick.advance(2)
        pump(cache)
        assert cache.get("new") == 1
        assert cache.info()["expired_keys"] == 0

    def test_info_reports_the_strategy(self, cache: Cache) -> None:
        info = cache.info()
        assert info["expiry"] == cache.store.expiry.name
        for field in ("expired_stale_perc", "expired_time_cap_reached_count"):
            assert field in info
        assert "expire_cycle_cpu_milliseconds" in info


for _name, _spec in STRATEGIES.items():
    _attrs = {"options": {"expiry": _spec}, "reclaims": _spec != "lazy"}
    globals()[f"TestExpiry{_name}"] = type(f"TestExpiry{_name}", (ExpiryContract,), _attrs)
    globals()[f"TestReclaim{_name}"] = type(f"TestReclaim{_name}", (ReclaimContract,), _attrs)
