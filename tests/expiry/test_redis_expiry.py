"""Redis's own expiry tests (spec §10: 18-29, 39-41) ported to the cache API, run against every
strategy with a manual clock."""

from __future__ import annotations

import pytest

from cachepolicy import Cache, KeyspaceEvent, ManualClock
from tests.conftest import MakeCache

from .helpers import ALL, RECLAIMING, settle


@pytest.fixture(params=ALL)
def cache(request: pytest.FixtureRequest, make_cache: MakeCache) -> Cache:
    return make_cache(expiry=request.param)


# 18, 21: EXPIRE returns 1 and overwrites; EXPIREAT/SETEX agree with absolute/relative input
def test_expire_sets_and_overwrites(cache: Cache, clock: ManualClock) -> None:
    cache.set("k", "v")
    assert cache.expire("k", 5) is True
    assert cache.ttl("k") == pytest.approx(5)
    assert cache.expire("k", 10) is True
    assert cache.ttl("k") == pytest.approx(10)
    assert cache.expireat("k", clock.time() + 20) is True
    assert cache.ttl("k") == pytest.approx(20)


# 19, 40: readable before the deadline; after it get is None, has is False
def test_readable_then_gone(cache: Cache, clock: ManualClock) -> None:
    cache.set("k", "v", ttl=2)
    clock.advance(1.999)
    assert cache.get("k") == "v"
    clock.advance(0.002)
    assert cache.get("k") is None
    assert not cache.has("k")
    assert cache.touch("k") is False


# 20: writing to a volatile key (INCR) keeps the key, its data and its TTL
def test_write_keeps_ttl(cache: Cache, clock: ManualClock) -> None:
    cache.set("n", 1, ttl=10)
    assert cache.incr("n", 5) == 6
    assert cache.ttl("n") == pytest.approx(10)


# 22: a negative TTL: Redis answers "invalid expire"; this API's contract is "expire now"
def test_negative_ttl_expires_at_once(cache: Cache) -> None:
    cache.set("k", "v", ttl=-1)
    assert not cache.has("k")
    assert len(cache) == 0


# 23: PERSIST
def test_persist(cache: Cache, clock: ManualClock) -> None:
    cache.set("k", "v", ttl=1)
    assert cache.persist("k") is True
    assert cache.ttl("k") is None
    clock.advance(5)
    assert cache.get("k") == "v"
    assert cache.persist("k") is False
    assert cache.persist("missing") is False


# 24: millisecond precision
@pytest.mark.parametrize("ttl", [0.1, 0.15, 0.2])
def test_millisecond_precision(cache: Cache, clock: ManualClock, ttl: float) -> None:
    cache.set("k", "v", ttl=ttl)
    clock.advance(ttl - 0.001)
    assert cache.get("k") == "v"
    clock.advance(0.002)
    assert cache.get("k") is None


def test_one_second_key_at_800_and_1100_ms(cache: Cache, clock: ManualClock) -> None:
    cache.set("k", "v", ttl=1)
    clock.advance(0.8)
    assert cache.has("k")
    clock.advance(0.3)
    assert not cache.has("k")


# 25, 26: TTL reporting, EXPIRETIME returns exactly the absolute deadline given
def test_ttl_and_expiretime(cache: Cache, clock: ManualClock) -> None:
    cache.set("ten", "v", ttl=10)
    cache.set("one", "v", ttl=1)
    clock.advance(0.3)
    assert 8 < cache.ttl("ten") <= 10  # type: ignore[operator]
    assert 0.5 < cache.ttl("one") <= 1  # type: ignore[operator]
    at = clock.time() + 123.456
    cache.set("abs", "v")
    cache.expireat("abs", at)
    assert cache.expiretime("abs") == at
    cache.set("plain", "v")
    assert cache.ttl("plain") is None
    assert cache.expiretime("plain") is None
    with pytest.raises(KeyError):
        cache.ttl("missing")
    with pytest.raises(KeyError):
        cache.expiretime("missing")


# 27: active expiry removes keys nobody touches (within 2 s of 500 ms TTLs)
@pytest.mark.parametrize("expiry", RECLAIMING)
def test_active_expiry_without_access(
    make_cache: MakeCache, clock: ManualClock, expiry: str
) -> None:
    cache = make_cache(expiry=expiry)
    for key in ("a", "b", "c"):
        cache.set(key, 1, ttl=0.5)
    start = clock.time()
    assert settle(cache, lambda: len(cache) == 0 or clock.time() - start > 2, step=0.1)
    assert len(cache) == 0, "keys not reclaimed within 2 s"
    assert cache.info()["expired_keys"] == 3


# 28: lazy only: expired keys still counted until accessed
def test_lazy_only_keeps_expired_keys_until_accessed(
    make_cache: MakeCache, clock: ManualClock
) -> None:
    cache = make_cache(expiry="lazy")
    for key in ("a", "b", "c"):
        cache.set(key, 1, ttl=0.5)
    for _ in range(20):
        clock.advance(0.1)
        cache.select(1).set("traffic", 1)
    assert len(cache) == 3
    assert cache.info()["db0"]["keys"] == 3
    assert cache.get_many(["a", "b", "c"]) == {}
    assert len(cache) == 0


# 29: EXPIRE must not resurrect an expired key
def test_expire_does_not_resurrect(cache: Cache, clock: ManualClock) -> None:
    cache.set("k", "v", ttl=1)
    clock.advance(1.5)
    assert cache.expire("k", 100) is False
    assert cache.get("k") is None
    assert len(cache) == 0


# 39: DEL of a logically expired, not yet reclaimed key returns false
def test_delete_of_expired_key(make_cache: MakeCache, clock: ManualClock) -> None:
    cache = make_cache(expiry="lazy")
    cache.set("k", "v", ttl=1)
    clock.advance(2)
    assert len(cache) == 1  # still stored
    assert cache.delete("k") is False
    assert len(cache) == 0
    assert cache.info()["expired_keys"] == 1


# 41: "expired" is published both when found by access and when reclaimed with no access
@pytest.mark.parametrize("expiry", RECLAIMING)
def test_expired_event_lazily_and_actively(
    make_cache: MakeCache, clock: ManualClock, expiry: str
) -> None:
    cache = make_cache(expiry=expiry)
    seen: list[KeyspaceEvent] = []
    cache.subscribe(seen.append, events={"expired"})
    cache.set("read", 1, ttl=1)
    clock.advance(1.01)
    assert cache.get("read") is None  # found by access (before any reclaim could run)
    cache.set("idle", 1, ttl=1)
    clock.advance(1.01)
    assert settle(cache, lambda: len(seen) == 2, step=0.1)
    assert seen == [KeyspaceEvent("expired", "read", 0), KeyspaceEvent("expired", "idle", 0)]
