"""The generic cache contract, as mixin classes.

Each ``*Contract`` class holds tests that any cachepolicy cache must pass whatever its eviction
policy, eviction mode or expiry strategy. ``test_contract.py`` runs them against every
combination in the registry, so a newly registered policy gets the whole suite for free.
Subclasses set ``options`` (keyword arguments for ``make_cache``).
"""

from __future__ import annotations

import pickle
import threading
from typing import Any, ClassVar

import pytest

from cachepolicy import Cache, KeyspaceEvent, ManualClock, OutOfMemoryError, ValueTooLargeError
from tests.conftest import MakeCache


class _Base:
    options: ClassVar[dict[str, Any]] = {}

    @pytest.fixture
    def cache(self, make_cache: MakeCache) -> Cache:
        return make_cache(**self.options)

    @pytest.fixture
    def build(self, make_cache: MakeCache) -> Any:
        def build(**overrides: Any) -> Cache:
            return make_cache(**{**self.options, **overrides})

        return build


class BasicContract(_Base):
    """get/set/add/delete/has and friends: no memory pressure, no time."""

    def test_get_missing_returns_default(self, cache: Cache) -> None:
        assert cache.get("nope") is None
        assert cache.get("nope", 42) == 42

    def test_set_then_get(self, cache: Cache) -> None:
        cache.set("a", {"x": [1, 2]})
        assert cache.get("a") == {"x": [1, 2]}

    def test_none_is_a_value(self, cache: Cache) -> None:
        cache.set("n", None)
        assert cache.has("n")
        assert cache.get("n", "default") is None

    def test_overwrite(self, cache: Cache) -> None:
        cache.set("a", 1)
        cache.set("a", "two")
        assert cache.get("a") == "two"
        assert len(cache) == 1

    def test_stored_copy_is_isolated_from_caller(self, cache: Cache) -> None:
        value = [1, 2, 3]
        cache.set("list", value)
        before = cache.info()["used_memory"]
        value.extend(range(1000))
        assert cache.get("list") == [1, 2, 3]
        assert cache.info()["used_memory"] == before
        cache.get("list").append(4)
        assert cache.get("list") == [1, 2, 3]

    def test_add_only_when_absent(self, cache: Cache) -> None:
        assert cache.add("a", 1) is True
        assert cache.add("a", 2) is False
        assert cache.get("a") == 1

    def test_replace_only_when_present(self, cache: Cache) -> None:
        assert cache.replace("a", 1) is False
        assert not cache.has("a")
        cache.set("a", 1)
        assert cache.replace("a", 2) is True
        assert cache.get("a") == 2

    def test_delete(self, cache: Cache) -> None:
        cache.set("a", 1)
        assert cache.delete("a") is True
        assert cache.delete("a") is False
        assert cache.get("a") is None

    def test_many(self, cache: Cache) -> None:
        assert cache.set_many({"a": 1, "b": 2, "c": 3}) == []
        assert cache.get_many(["a", "b", "zz"]) == {"a": 1, "b": 2}
        assert cache.delete_many(["a", "zz", "c"]) == 2
        assert cache.keys() == ["b"]

    def test_incr_decr(self, cache: Cache) -> None:
        cache.set("n", 10)
        assert cache.incr("n") == 11
        assert cache.incr("n", 5) == 16
        assert cache.decr("n", 20) == -4
        assert cache.get("n") == -4

    def test_incr_missing(self, cache: Cache) -> None:
        with pytest.raises(KeyError):
            cache.incr("missing")
        assert not cache.has("missing")
        assert cache.incr("missing", 3, default=0) == 3

    def test_incr_non_integer(self, cache: Cache) -> None:
        cache.set("s", "text")
        with pytest.raises(TypeError):
            cache.incr("s")
        assert cache.get("s") == "text"

    def test_incr_is_atomic_across_threads(self, cache: Cache) -> None:
        cache.set("n", 0)

        def work() -> None:
            for _ in range(500):
                cache.incr("n")

        threads = [threading.Thread(target=work) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert cache.get("n") == 2000

    def test_unpicklable_value_leaves_cache_unchanged(self, cache: Cache) -> None:
        cache.set("a", 1)
        before = cache.info()["used_memory"]
        with pytest.raises((pickle.PicklingError, TypeError, AttributeError)):
            cache.set("a", lambda: None)
        with pytest.raises((pickle.PicklingError, TypeError, AttributeError)):
            cache.add("b", threading.Lock())
        assert cache.get("a") == 1
        assert not cache.has("b")
        assert cache.info()["used_memory"] == before

    def test_clear_only_this_database(self, cache: Cache, build: Any) -> None:
        empty = build().info()["used_memory"]  # zero, or a policy's fixed structures
        other = cache.select(1)
        cache.set("a", 1)
        other.set("a", 2)
        cache.clear()
        assert cache.get("a") is None
        assert other.get("a") == 2
        cache.flushall()
        assert other.get("a") is None
        assert cache.info()["used_memory"] == empty

    def test_databases_are_separate_namespaces(self, cache: Cache) -> None:
        cache.set("k", "db0")
        cache.select(3).set("k", "db3")
        assert cache.get("k") == "db0"
        assert cache.select(3).get("k") == "db3"
        info = cache.info()
        assert info["db0"]["keys"] == 1 and info["db3"]["keys"] == 1

    def test_hits_and_misses_counted(self, cache: Cache) -> None:
        cache.set("a", 1)
        cache.get("a")
        cache.get("a")
        cache.get("b")
        cache.has("a")  # EXISTS does not count
        info = cache.info()
        assert (info["keyspace_hits"], info["keyspace_misses"]) == (2, 1)

    def test_events_in_redis_vocabulary(self, cache: Cache) -> None:
        seen: list[KeyspaceEvent] = []
        unsubscribe = cache.subscribe(seen.append)
        cache.set("a", 1)
        cache.set("a", 2)
        cache.get("missing")
        cache.delete("a")
        unsubscribe()
        cache.set("b", 1)
        assert [(e.name, e.key) for e in seen] == [
            ("new", "a"),
            ("set", "a"),
            ("set", "a"),
            ("keymiss", "missing"),
            ("del", "a"),
        ]

    def test_subscriber_may_use_the_cache(self, cache: Cache) -> None:
        def on_event(event: KeyspaceEvent) -> None:
            if event.name == "new" and not event.key.startswith("log:"):
                cache.set("log:" + event.key, True)

        cache.subscribe(on_event)
        cache.set("a", 1)
        assert cache.get("log:a") is True

    def test_info_fields(self, cache: Cache) -> None:
        cache.set("a", 1, ttl=10)
        info = cache.info()
        for name in (
            "used_memory",
            "used_memory_human",
            "maxmemory",
            "maxmemory_policy",
            "keyspace_hits",
            "keyspace_misses",
            "evicted_keys",
            "expired_keys",
        ):
            assert name in info
        assert info["db0"] == {"keys": 1, "expires": 1, "avg_ttl": 10_000}
        text = cache.info_text()
        assert "# Memory" in text and "db0:keys=1,expires=1,avg_ttl=10000" in text


class ExpiryContract(_Base):
    """TTL semantics with a manual clock (spec §7 and §10, 18-29, 39)."""

    @pytest.fixture
    def tick(self, cache: Cache) -> ManualClock:
        """The manual clock driving ``cache``."""
        clock = cache.store.clock
        assert isinstance(clock, ManualClock)
        return clock

    def test_readable_until_deadline_then_gone(self, cache: Cache, tick: ManualClock) -> None:
        cache.set("k", "v", ttl=1)
        tick.advance(0.8)
        assert cache.get("k") == "v"
        tick.advance(0.2)
        assert cache.get("k") == "v", "still valid at exactly its deadline (now > deadline)"
        tick.advance(0.001)
        assert cache.get("k") is None
        assert not cache.has("k")

    def test_ttl_reports(self, cache: Cache, tick: ManualClock) -> None:
        cache.set("k", "v", ttl=10)
        cache.set("p", "v")
        tick.advance(1.5)
        assert cache.ttl("k") == pytest.approx(8.5)
        assert cache.ttl("p") is None
        with pytest.raises(KeyError):
            cache.ttl("missing")

    def test_zero_or_negative_ttl_expires_now(self, cache: Cache) -> None:
        cache.set("k", "old")
        cache.set("k", "new", ttl=0)
        assert not cache.has("k")
        cache.set("j", "v", ttl=-5)
        assert not cache.has("j")

    def test_set_clears_ttl_keepttl_keeps(self, cache: Cache, tick: ManualClock) -> None:
        cache.set("k", 1, ttl=5)
        cache.set("k", 2, keepttl=True)
        assert cache.ttl("k") == pytest.approx(5)
        cache.set("k", 3)
        assert cache.ttl("k") is None

    def test_incr_keeps_ttl(self, cache: Cache, tick: ManualClock) -> None:
        cache.set("n", 1, ttl=5)
        tick.advance(1)
        cache.incr("n")
        assert cache.ttl("n") == pytest.approx(4)

    def test_expire_and_persist(self, cache: Cache, tick: ManualClock) -> None:
        cache.set("k", 1)
        assert cache.expire("k", 5) is True
        assert cache.expire("k", 10) is True
        assert cache.ttl("k") == pytest.approx(10)
        assert cache.persist("k") is True
        assert cache.ttl("k") is None
        assert cache.persist("k") is False
        assert cache.persist("missing") is False
        assert cache.expire("missing", 5) is False

    def test_expire_conditions(self, cache: Cache) -> None:
        cache.set("k", 1)
        assert cache.expire("k", 10, gt=True) is False  # no TTL counts as infinite
        assert cache.expire("k", 10, lt=True) is True
        assert cache.expire("k", 20, nx=True) is False
        assert cache.expire("k", 20, xx=True) is True
        assert cache.expire("k", 5, gt=True) is False
        assert cache.expire("k", 30, gt=True) is True
        with pytest.raises(ValueError):
            cache.expire("k", 1, nx=True, xx=True)
        with pytest.raises(ValueError):
            cache.expire("k", 1, gt=True, lt=True)

    def test_expire_in_past_deletes_with_del_event(self, cache: Cache) -> None:
        seen: list[str] = []
        cache.subscribe(lambda e: seen.append(e.name))
        cache.set("k", 1)
        assert cache.expire("k", -1) is True
        assert not cache.has("k")
        assert seen[-1] == "del"

    def test_expire_never_resurrects(self, cache: Cache, tick: ManualClock) -> None:
        cache.set("k", 1, ttl=1)
        tick.advance(2)
        assert cache.expire("k", 100) is False
        assert cache.get("k") is None

    def test_delete_of_expired_key_returns_false(self, cache: Cache, tick: ManualClock) -> None:
        cache.set("k", 1, ttl=1)
        tick.advance(2)
        assert cache.delete("k") is False

    def test_add_over_expired_key(self, cache: Cache, tick: ManualClock) -> None:
        cache.set("k", 1, ttl=1)
        tick.advance(2)
        assert cache.add("k", 2) is True
        assert cache.get("k") == 2

    def test_touch_sets_ttl(self, cache: Cache, tick: ManualClock) -> None:
        cache.set("k", 1, ttl=1)
        assert cache.touch("k", 100) is True
        tick.advance(50)
        assert cache.get("k") == 1
        assert cache.touch("k", None) is True
        assert cache.ttl("k") is None
        assert cache.touch("missing") is False

    def test_lazy_expiry_counts_and_notifies(self, cache: Cache, tick: ManualClock) -> None:
        seen: list[KeyspaceEvent] = []
        cache.subscribe(seen.append, events={"expired"})
        cache.set("k", 1, ttl=1)
        tick.advance(2)
        assert cache.get("k") is None
        assert cache.info()["expired_keys"] == 1
        assert seen == [KeyspaceEvent("expired", "k", 0)]

    def test_expired_keys_skipped_by_keys(self, cache: Cache, tick: ManualClock) -> None:
        cache.set("a", 1, ttl=1)
        cache.set("b", 1)
        tick.advance(2)
        assert cache.keys() == ["b"]

    def test_ttl_key_costs_index_bytes(self, cache: Cache) -> None:
        # The entry's own TTL bytes come and go with its TTL (the dataset part); what the
        # shared structures allocated for it (an index list's slots) is overhead, measured.
        cache.set("k", 1)
        plain = cache.info()["used_memory_dataset"]
        cache.expire("k", 100)
        with_ttl = cache.info()["used_memory_dataset"]
        assert with_ttl > plain
        cache.persist("k")
        assert cache.info()["used_memory_dataset"] == plain


class MemoryContract(_Base):
    """The byte budget: hard limit, OOM and too-large errors leave the cache unchanged."""

    def test_limit_holds_after_every_write(self, build: Any) -> None:
        cache = build(maxmemory=20_000)
        for i in range(500):
            try:
                cache.set(f"k{i}", "x" * (i % 300), ttl=1000)
            except OutOfMemoryError:
                assert not cache.store.policy.evicts
            assert cache.info()["used_memory"] <= 20_000

    def test_value_larger_than_maxmemory(self, build: Any) -> None:
        cache = build(maxmemory=5_000)
        cache.set("small", 1, ttl=100)
        with pytest.raises(ValueTooLargeError, match="maxmemory"):
            cache.set("big", b"x" * 10_000, ttl=100)
        assert cache.get("small") == 1
        assert not cache.has("big")

    def test_used_memory_returns_to_zero(self, build: Any) -> None:
        """To what an empty cache holds: zero, or a policy's fixed structures (a sketch)."""
        empty = build(maxmemory=0).info()["used_memory"]
        cache = build(maxmemory=0)
        for i in range(100):
            cache.set(f"k{i}", i, ttl=50 if i % 2 else None)
        cache.delete_many([f"k{i}" for i in range(50)])
        cache.clear()
        assert cache.info()["used_memory"] == empty


class EvictingContract(_Base):
    """For every policy that evicts."""

    def test_evicts_under_pressure_with_ttl_keys(self, build: Any) -> None:
        cache = build(maxmemory=30_000)
        seen: list[KeyspaceEvent] = []
        cache.subscribe(seen.append, events={"evicted"})
        for i in range(1000):
            cache.set(f"key:{i}", "v" * 50, ttl=10_000)
        info = cache.info()
        assert info["used_memory"] <= 30_000
        assert info["evicted_keys"] > 0
        assert len(seen) == info["evicted_keys"]
        assert len(cache) + info["evicted_keys"] == 1000

    def test_evicted_keys_are_gone_and_others_intact(self, build: Any) -> None:
        cache = build(maxmemory=30_000)
        evicted: set[str] = set()
        cache.subscribe(lambda e: evicted.add(e.key), events={"evicted"})
        for i in range(800):
            cache.set(f"key:{i}", i, ttl=10_000)
        for i in range(800):
            key = f"key:{i}"
            assert (cache.get(key) is None) == (key in evicted)
            if key not in evicted:
                assert cache.get(key) == i

    def test_overwrite_under_pressure(self, build: Any) -> None:
        cache = build(maxmemory=20_000)
        for round_ in range(5):
            for i in range(300):
                cache.set(f"k{i % 120}", "x" * (round_ * 20 + i % 50), ttl=10_000)
            assert cache.info()["used_memory"] <= 20_000


class AllKeysContract(_Base):
    """allkeys-* policies evict keys without a TTL too (spec §10 test 2)."""

    def test_evicts_keys_without_ttl(self, build: Any) -> None:
        cache = build(maxmemory=20_000)
        for i in range(1000):
            cache.set(f"k{i}", "x" * 40)
        assert cache.info()["used_memory"] <= 20_000
        assert cache.info()["evicted_keys"] > 0


class VolatileContract(_Base):
    """volatile-* policies only evict keys with a TTL (spec §10 tests 2 and 3)."""

    def test_oom_when_no_key_has_a_ttl(self, build: Any) -> None:
        cache = build(maxmemory=10_000)
        with pytest.raises(OutOfMemoryError, match="used memory"):
            for i in range(1000):
                cache.set(f"k{i}", "x" * 40)
        count = len(cache)
        before = cache.info()["used_memory"]
        with pytest.raises(OutOfMemoryError):
            cache.set("one-more", "x" * 40)
        assert len(cache) == count and cache.info()["used_memory"] == before
        assert cache.info()["evicted_keys"] == 0

    def test_persistent_keys_survive_mixed_population(self, build: Any) -> None:
        cache = build(maxmemory=90_000)  # ~71 kB for the first 200 keys
        for i in range(100):
            cache.set(f"persistent:{i}", "x" * 40)
            cache.set(f"volatile:{i}", "x" * 40, ttl=10_000)
        for i in range(100, 1000):
            cache.set(f"volatile:{i}", "x" * 40, ttl=10_000)
        assert cache.info()["used_memory"] <= 90_000
        assert all(cache.has(f"persistent:{i}") for i in range(100))
        assert cache.info()["evicted_keys"] > 0


class NoEvictionContract(_Base):
    def test_oom_and_unchanged(self, build: Any) -> None:
        cache = build(maxmemory=10_000)
        stored = 0
        with pytest.raises(OutOfMemoryError, match="noeviction"):
            for i in range(1000):
                cache.set(f"k{i}", "x" * 40, ttl=100)
                stored += 1
        assert len(cache) == stored
        assert cache.info()["evicted_keys"] == 0
        assert cache.info()["rejected_writes"] == 1
        # Reads, deletes and overwrites that do not grow memory still work, as in Redis.
        assert cache.get("k0") == "x" * 40
        assert cache.delete("k0")
        cache.set("k0", "x" * 40, ttl=100)


class MaxEntriesContract(_Base):
    def test_entry_bound_one_at_a_time(self, build: Any) -> None:
        cache = build(max_entries=50, maxmemory=0)
        for i in range(200):
            cache.set(f"k{i}", i, ttl=1000)
        assert len(cache) == 50

    def test_cull_frequency_batches(self, build: Any) -> None:
        cache = build(max_entries=30, cull_frequency=3, maxmemory=0)
        for i in range(1, 50):
            cache.set(f"cull{i}", "value", ttl=1000)
        assert len(cache) == 29  # Django's test_cull arithmetic
        zero = build(max_entries=30, cull_frequency=0, maxmemory=0)
        for i in range(1, 50):
            zero.set(f"cull{i}", "value", ttl=1000)
        assert len(zero) == 19  # Django's test_zero_cull arithmetic


def contract_mixins(policy: str) -> tuple[type, ...]:
    """The contract classes that apply to ``policy``: every cache passes the basic, expiry and
    memory contracts; evicting policies add their family's (all keys or volatile only)."""
    mixins: list[type] = [BasicContract, ExpiryContract, MemoryContract]
    if policy == "noeviction":
        mixins.append(NoEvictionContract)
    else:
        mixins += [EvictingContract, MaxEntriesContract]
        mixins.append(VolatileContract if policy.startswith("volatile-") else AllKeysContract)
    return tuple(mixins)
