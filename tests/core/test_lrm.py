"""Redis 8.6's least-recently-*modified* policies, ``allkeys-lrm`` and ``volatile-lrm``.

LRM is LRU's ranking with the stamp recorded on writes only (Redis's ``keyModified`` with the
value: SET, INCR, and the like). Reads, TOUCH and EXPIRE/PERSIST do not refresh it. Checked:

* each command's effect on the ranking, in both modes;
* a brute-force reference ("least recently written", ties impossible: one write at a time)
  against exact mode, victim by victim, over seeded random command sequences;
* sampled mode with ``maxmemory_samples`` above the key count samples every key, so it must
  choose the reference's victim too;
* Redis's own maxmemory scenarios ("is the memory limit honoured", "volatile policies keep
  every persistent key") run for the LRM names through ``tests/core/test_redis_eviction.py``,
  which is parametrized over every registered Redis policy.
"""

from __future__ import annotations

import random

import pytest

from cachepolicy import Cache, KeyspaceEvent, ManualClock, OutOfMemoryError
from cachepolicy.eviction import REDIS_POLICIES, Access, resolve_policy
from tests.conftest import MakeCache

VALUE = "v" * 400
MODES = ["sampled", "exact"]


def _evicted(cache: Cache) -> list[str]:
    events: list[str] = []

    def listen(event: KeyspaceEvent) -> None:
        events.append(event.key)

    cache.subscribe(listen, events=["evicted"])
    return events


def _full_cache(make_cache: MakeCache, policy: str, mode: str, count: int = 6) -> Cache:
    """A cache holding ``count`` keys k0..k{count-1} written in that order, and exactly full
    enough that one more key of the same size evicts one."""
    probe = make_cache(maxmemory=0, maxmemory_policy=policy, eviction_mode=mode)
    for i in range(count):
        probe.set(f"k{i}", VALUE, ttl=3600)
    used = probe.info()["used_memory"]
    cache = make_cache(
        maxmemory=used + 60,
        maxmemory_policy=policy,
        eviction_mode=mode,
        maxmemory_samples=64,
    )
    for i in range(count):
        cache.set(f"k{i}", VALUE, ttl=3600)
    assert len(cache) == count
    return cache


def test_the_ten_redis_policy_names_are_registered() -> None:
    assert len(REDIS_POLICIES) == 10
    assert {"allkeys-lrm", "volatile-lrm"} <= set(REDIS_POLICIES)
    for name in ("allkeys-lrm", "volatile-lrm"):
        for mode in MODES:
            cls = resolve_policy(name, mode)
            assert cls.name == name
            assert cls.read_access is Access.NONE
            assert cls.write_access is Access.STAMP
            assert cls.volatile_only == name.startswith("volatile-")


@pytest.mark.parametrize("policy", ["allkeys-lrm", "volatile-lrm"])
@pytest.mark.parametrize("mode", MODES)
def test_reads_touch_and_expire_do_not_refresh(
    make_cache: MakeCache, clock: ManualClock, policy: str, mode: str
) -> None:
    cache = _full_cache(make_cache, policy, mode)
    evicted = _evicted(cache)
    clock.advance(1)
    for _ in range(5):
        assert cache.get("k0") == VALUE
    assert cache.get_many(["k0", "k1"]) == {"k0": VALUE, "k1": VALUE}
    assert cache.touch("k0") and cache.touch("k1", ttl=7200)
    assert cache.expire("k0", 9000) and cache.expire("k1", 9500)
    cache.set("new", VALUE, ttl=3600)
    assert evicted == ["k0"]  # written first; every later command only read or re-timed it
    cache.set("new2", VALUE, ttl=3600)
    assert evicted == ["k0", "k1"]


@pytest.mark.parametrize("mode", MODES)
def test_writes_refresh_and_lru_differs(make_cache: MakeCache, mode: str) -> None:
    lrm = _full_cache(make_cache, "allkeys-lrm", mode)
    lru = _full_cache(make_cache, "allkeys-lru", mode)
    lrm_evicted, lru_evicted = _evicted(lrm), _evicted(lru)
    for cache in (lrm, lru):
        cache.get("k0")  # a read: LRU refreshes, LRM does not
        cache.set("k1", VALUE, ttl=3600)  # an overwrite: both refresh
        cache.incr("n", default=0)  # a new key (it evicts), then an INCR: both stamp it
        cache.incr("n")
        cache.set("x", VALUE)
    assert lrm_evicted[0] == "k0"
    assert lru_evicted[0] == "k2"
    assert "k1" not in lrm_evicted + lru_evicted


@pytest.mark.parametrize("policy", ["allkeys-lrm", "volatile-lrm"])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("seed", range(4))
def test_victims_match_a_least_recently_written_reference(
    make_cache: MakeCache, clock: ManualClock, policy: str, mode: str, seed: int
) -> None:
    """Seeded random commands; before every write that evicts, the reference names the key
    written longest ago among the candidates, and the cache must evict exactly that one."""
    rng = random.Random(seed)
    volatile = policy.startswith("volatile-")
    cache = make_cache(
        maxmemory="24kb", maxmemory_policy=policy, eviction_mode=mode, maxmemory_samples=64
    )
    evicted = _evicted(cache)
    written: dict[str, int] = {}  # key -> sequence number of its last write
    ttl_keys: set[str] = set()
    sequence = 0
    keys = [f"key{i}" for i in range(120)]
    for _ in range(1500):
        clock.advance(0.01)
        key = rng.choice(keys)
        op = rng.random()
        before = len(evicted)
        if op < 0.45:
            cache.get(key)
        elif op < 0.5:
            cache.touch(key)
        elif op < 0.55:
            # A TTL costs bytes: EXPIRE on a key without one may evict (any candidate).
            had_ttl = key in ttl_keys
            try:
                if key in written and cache.expire(key, 3600):
                    ttl_keys.add(key)
            except OutOfMemoryError:
                assert volatile and len(evicted) == before  # refused: nothing changed
            for victim in evicted[before:]:
                assert victim in written and (not volatile or victim in ttl_keys or not had_ttl)
                written.pop(victim)
                ttl_keys.discard(victim)
        elif op < 0.6:
            if cache.delete(key):
                written.pop(key, None)
                ttl_keys.discard(key)
        else:
            _write(cache, key, rng, volatile, written, ttl_keys, evicted, sequence)
            sequence += 1
    assert len(evicted) > 50
    assert set(cache.keys()) == set(written)


def _write(
    cache: Cache,
    key: str,
    rng: random.Random,
    volatile: bool,
    written: dict[str, int],
    ttl_keys: set[str],
    evicted: list[str],
    sequence: int,
) -> None:
    """One SET checked against the reference: each key it evicts is the candidate written
    longest ago (never the key being written)."""
    with_ttl = not volatile or rng.random() < 0.7
    candidates = [k for k in written if (not volatile or k in ttl_keys) and k != key]
    expected = min(candidates, key=written.__getitem__) if candidates else None
    before = len(evicted)
    try:
        cache.set(key, VALUE + key, ttl=3600 if with_ttl else None)
    except OutOfMemoryError:
        # volatile-lrm whose keys with a TTL hold too few bytes: refused, nothing changed.
        assert volatile and len(evicted) == before
        return
    written[key] = sequence
    if with_ttl:
        ttl_keys.add(key)
    else:
        ttl_keys.discard(key)
    for victim in evicted[before:]:
        assert victim == expected, (victim, expected)
        written.pop(victim)
        ttl_keys.discard(victim)
        candidates = [k for k in written if (not volatile or k in ttl_keys) and k != key]
        expected = min(candidates, key=written.__getitem__) if candidates else None
