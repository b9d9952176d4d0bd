"""The custom expiry strategy of the docs (docs/expiry/custom.md, issue 23 item 14) works as the
page says: registered by name or given by dotted path, it reclaims expired keys on the write
path without any read, at most once per interval, and keeps the store consistent."""

from __future__ import annotations

from cachepolicy import ManualClock
from docs.examples.sweep_on_write import SweepOnWrite, build_cache
from tests.conftest import MakeCache


def test_the_documented_strategy_reclaims_on_writes_without_reads() -> None:
    clock = ManualClock(1_700_000_000.0)
    cache = build_cache(clock)
    for i in range(300):
        cache.set(f"session:{i}", i, ttl=30)
    cache.set("kept", 1)
    clock.advance(31)
    cache.set("write:1", 1)  # sweeps up to `limit` (200) keys
    assert cache.info()["expired_keys"] == SweepOnWrite.limit
    cache.set("write:2", 1)  # within the interval: no sweep
    assert cache.info()["expired_keys"] == SweepOnWrite.limit
    clock.advance(SweepOnWrite.interval)
    cache.set("write:3", 1)  # the next sweep continues where the last one stopped
    assert cache.info()["expired_keys"] == 300
    assert sorted(cache.keys()) == ["kept", "write:1", "write:2", "write:3"]
    assert cache.check() == []
    cache.close()


def test_it_can_be_given_by_dotted_path(make_cache: MakeCache, clock: ManualClock) -> None:
    cache = make_cache(expiry="docs.examples.sweep_on_write.SweepOnWrite")
    assert isinstance(cache.store.expiry, SweepOnWrite)
    cache.set("a", 1, ttl=1)
    clock.advance(2)
    cache.delete("nothing")  # a write-like command gives the strategy its turn
    assert "a" not in cache.store.keyspaces[0].data
    assert cache.info()["expired_keys"] == 1
