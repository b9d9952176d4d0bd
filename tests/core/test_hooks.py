"""Every hook of every built-in eviction policy is an ordinary method that the engine calls.

For each built-in policy class (every redis.conf name in both eviction modes, deduplicated by
class: some names have one implementation for both modes) a subclass overrides every hook,
records ``(hook, key)`` and calls ``super()``. The suite asserts, operation by operation, which
overrides run and with which entry, and that the subclass still ranks keys like its base. The
hook contract is the one documented in ``cachepolicy/eviction/base.py``:

* ``on_insert(entry, now)``: a new key was added, its deadline already set;
* ``on_read(entry, now)``: a key was read (a get hit that touches) or TOUCHed;
* ``on_write(entry, now, old_size)``: a live key was overwritten or INCR/DECRed;
* ``on_miss(key, db)``: a touching read found nothing;
* ``on_remove(entry, cause)``: a key left the cache (delete, expiry, eviction, FLUSHDB of one
  database), with its :class:`~cachepolicy.eviction.Removal` cause; never on FLUSHALL, which
  calls ``reset()`` instead;
* ``admit(key, size, victim, now)``: a new key needs room (asked before anything is evicted);
* ``on_ttl_change(entry, previous)``: ``entry.deadline`` changed from ``previous``;
* ``select_victim`` once per victim when a write needs room under ``maxmemory``;
  ``select_victims`` (or ``select_victim``) for an entry-count cull.

Issue 10: the built-ins used to assign their hooks as instance attributes, so an override of
``on_insert``/``on_access`` was silently ignored. Every cache here is made by ``make_cache``, so
``check()`` recounts the policy's own structures after each test: a subclass whose ``super()``
chain loses an update fails there too.

Both write paths run: a cache with no event subscriber ("quiet") and one with a subscriber to
every event ("listening"), since a store may serve the two differently.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import pytest

from cachepolicy import Cache, ManualClock, OutOfMemoryError
from cachepolicy.eviction import (
    LFU_INIT_VAL,
    AllKeysLFU,
    AllKeysLRU,
    ExactAllKeysLFU,
    ExactAllKeysLRU,
    Removal,
    VolatileTTL,
)
from cachepolicy.eviction.base import EvictionPolicy
from cachepolicy.eviction.registry import BUILTIN_POLICIES, EVICTION_MODES, resolve_policy
from tests.conftest import MakeCache

Call = tuple[str, Any]


def _builtin_classes() -> list[type[EvictionPolicy]]:
    """Every implementation class behind the ten names and two modes, each once."""
    found: dict[type[EvictionPolicy], None] = {}
    for name in BUILTIN_POLICIES:
        for mode in EVICTION_MODES:
            found.setdefault(resolve_policy(name, mode))
    return list(found)


def recording(base: type[EvictionPolicy]) -> type[EvictionPolicy]:
    """A subclass of ``base`` overriding every hook: it records the call, then defers to it."""

    class Recording(base):  # type: ignore[valid-type,misc]
        name = "recording-" + base.name

        def __init__(self, config: Any, rng: Any) -> None:
            #: ``(hook, key)`` in call order; ``key`` is None for reset/select_victims.
            self.calls: list[Call] = []
            #: ``(hook, entry)``: the entry objects the engine passed.
            self.entries: list[tuple[str, Any]] = []
            #: Deadline of each new key as on_insert saw it.
            self.insert_deadlines: dict[str, float | None] = {}
            #: ``(key, previous, entry.deadline)`` for each on_ttl_change.
            self.ttl_changes: list[tuple[str, float | None, float | None]] = []
            #: Keys yielded by select_victims.
            self.batch_victims: list[str] = []
            #: ``(key, old_size, new size)`` for each on_write.
            self.old_sizes: list[tuple[str, int, int]] = []
            #: ``(key, db)`` for each on_miss; ``(key, cause)`` for each on_remove.
            self.misses: list[tuple[str, int]] = []
            self.causes: list[tuple[str, Removal]] = []
            #: ``(new key, victim key)`` for each admit.
            self.admissions: list[tuple[str, str]] = []
            super().__init__(config, rng)

        def _record(self, hook: str, entry: Any) -> None:
            self.calls.append((hook, entry.key))
            self.entries.append((hook, entry))

        def on_insert(self, entry: Any, now: float) -> None:
            self._record("on_insert", entry)
            self.insert_deadlines[entry.key] = entry.deadline
            super().on_insert(entry, now)

        def on_read(self, entry: Any, now: float) -> None:
            self._record("on_read", entry)
            super().on_read(entry, now)

        def on_write(self, entry: Any, now: float, old_size: int) -> None:
            self._record("on_write", entry)
            self.old_sizes.append((entry.key, old_size, entry.size))
            super().on_write(entry, now, old_size)

        def on_miss(self, key: str, db: int) -> None:
            self.misses.append((key, db))
            super().on_miss(key, db)

        def on_remove(self, entry: Any, cause: Removal) -> None:
            self._record("on_remove", entry)
            self.causes.append((entry.key, cause))
            super().on_remove(entry, cause)

        def admit(self, key: str, size: int, victim: Any, now: float) -> bool:
            self.admissions.append((key, victim.key))
            return bool(super().admit(key, size, victim, now))

        def on_ttl_change(self, entry: Any, previous: float | None) -> None:
            self._record("on_ttl_change", entry)
            self.ttl_changes.append((entry.key, previous, entry.deadline))
            super().on_ttl_change(entry, previous)

        def reset(self) -> None:
            self.calls.append(("reset", None))
            super().reset()

        def select_victim(self, keyspaces: Sequence[Any], now: float) -> Any:
            victim = super().select_victim(keyspaces, now)
            self.calls.append(("select_victim", None if victim is None else victim.key))
            return victim

        def select_victims(self, keyspaces: Sequence[Any], now: float, count: int) -> Iterator[Any]:
            self.calls.append(("select_victims", None))
            for victim in super().select_victims(keyspaces, now, count):
                self.batch_victims.append(victim.key)
                yield victim

    Recording.__name__ = Recording.__qualname__ = "Recording" + base.__name__
    return Recording


BUILTINS = _builtin_classes()
RECORDING = {base: recording(base) for base in BUILTINS}
LRU = [base for base in BUILTINS if issubclass(base, (AllKeysLRU, ExactAllKeysLRU))]
LFU = [base for base in BUILTINS if issubclass(base, (AllKeysLFU, ExactAllKeysLFU))]
TTL = [base for base in BUILTINS if issubclass(base, VolatileTTL)]
VALUE = "x" * 500  # ~500 bytes pickled: about 20 keys fill the 20kb caches below


def _name(base: type[EvictionPolicy]) -> str:
    return base.__name__


def _policy(cache: Cache) -> Any:
    return cache.store.policy


def _take(cache: Cache) -> list[Call]:
    """The calls recorded since the last take, sorted (hooks of one command in any order)."""
    calls = _policy(cache).calls
    taken = sorted(calls, key=lambda call: (call[0], call[1] or ""))
    calls.clear()
    return taken


def test_every_builtin_class_is_covered() -> None:
    names = {base.name for base in BUILTINS}
    assert names == set(BUILTIN_POLICIES)
    assert len(BUILTINS) == len(set(BUILTINS))
    assert all(isinstance(RECORDING[base].name, str) for base in BUILTINS)


class TestPolicyHooks:
    @pytest.fixture(params=BUILTINS, ids=_name)
    def base(self, request: pytest.FixtureRequest) -> type[EvictionPolicy]:
        return request.param  # type: ignore[no-any-return]

    @pytest.fixture(params=[False, True], ids=["quiet", "listening"])
    def listening(self, request: pytest.FixtureRequest) -> bool:
        return request.param  # type: ignore[no-any-return]

    @pytest.fixture
    def build(self, make_cache: MakeCache, base: type[EvictionPolicy], listening: bool) -> Any:
        def build(**options: Any) -> Cache:
            cache = make_cache(maxmemory_policy=RECORDING[base], **options)
            if listening:
                cache.subscribe(lambda event: None)
            return cache

        return build

    @pytest.fixture
    def cache(self, build: Any) -> Cache:
        cache: Cache = build()
        assert _policy(cache).calls == []
        return cache

    # ------------------------------------------------------------------ insert and access

    def test_the_recording_subclass_is_the_policy(
        self, cache: Cache, base: type[EvictionPolicy]
    ) -> None:
        assert type(_policy(cache)) is RECORDING[base]
        assert isinstance(_policy(cache), base)

    def test_set_new_key_calls_on_insert(self, cache: Cache, clock: ManualClock) -> None:
        cache.set("k", 1)
        assert _take(cache) == [("on_insert", "k")]
        cache.set("t", 1, ttl=30)
        assert _take(cache) == [("on_insert", "t")]
        # The deadline is set before the policy hears of the key.
        assert _policy(cache).insert_deadlines == {"k": None, "t": clock.time() + 30}

    def test_add_of_a_new_key_calls_on_insert(self, cache: Cache) -> None:
        assert cache.add("k", 1) is True
        assert _take(cache) == [("on_insert", "k")]

    def test_get_hit_calls_on_read(self, cache: Cache) -> None:
        cache.set("k", 1)
        cache.set("t", 1, ttl=30)
        _take(cache)
        assert cache.get("k") == 1
        assert _take(cache) == [("on_read", "k")]
        assert cache.get("t") == 1
        assert cache.get("t") == 1
        assert _take(cache) == [("on_read", "t"), ("on_read", "t")]
        assert cache.get_many(["k", "t", "missing"]) == {"k": 1, "t": 1}
        assert _take(cache) == [("on_read", "k"), ("on_read", "t")]

    def test_get_miss_calls_on_miss_and_no_touch_reads_call_nothing(self, cache: Cache) -> None:
        cache.set("k", 1)
        _take(cache)
        assert cache.get("missing") is None
        assert _policy(cache).misses == [("missing", 0)]
        assert cache.select(1).get("other") is None
        assert _policy(cache).misses == [("missing", 0), ("other", 1)]
        assert cache.no_touch().get("k") == 1
        assert cache.no_touch().get("absent") is None  # NO-TOUCH: no demand counted either
        assert cache.has("k")
        assert _take(cache) == []
        assert len(_policy(cache).misses) == 2

    def test_overwrite_calls_on_write(self, cache: Cache) -> None:
        cache.set("k", 1)
        cache.set("t", 1, ttl=30)
        _take(cache)
        cache.set("k", 2)
        assert _take(cache) == [("on_write", "k")]
        cache.set("t", 2, keepttl=True)
        assert _take(cache) == [("on_write", "t")]
        assert cache.replace("k", 3) is True
        assert _take(cache) == [("on_write", "k")]
        assert cache.get("k") == 3
        # on_write hears the size the value had before it was replaced.
        old_sizes = _policy(cache).old_sizes
        assert [key for key, _, _ in old_sizes] == ["k", "t", "k"]
        assert all(old > 0 and new > 0 for _, old, new in old_sizes)

    def test_incr_calls_on_insert_then_on_write(self, cache: Cache) -> None:
        assert cache.incr("n", default=0) == 1
        assert _take(cache) == [("on_insert", "n")]
        assert cache.incr("n") == 2
        assert _take(cache) == [("on_write", "n")]

    def test_touch_calls_on_read(self, cache: Cache) -> None:
        cache.set("k", 1)
        _take(cache)
        assert cache.touch("k") is True
        assert _take(cache) == [("on_read", "k")]
        assert cache.touch("missing") is False
        assert _take(cache) == []

    # ------------------------------------------------------------------ removal

    def test_delete_calls_on_remove(self, cache: Cache) -> None:
        cache.set("k", 1)
        cache.set("t", 1, ttl=30)
        _take(cache)
        assert cache.delete("k") is True
        assert _take(cache) == [("on_remove", "k")]
        assert cache.delete("t") is True
        assert _take(cache) == [("on_remove", "t")]
        assert cache.delete("k") is False
        assert _take(cache) == []
        assert _policy(cache).causes == [("k", Removal.DELETED), ("t", Removal.DELETED)]

    def test_hooks_receive_the_stored_entry(self, cache: Cache) -> None:
        cache.set("k", 1)
        cache.get("k")
        cache.set("k", 2)
        cache.delete("k")
        hooks = _policy(cache).entries
        assert [hook for hook, _ in hooks] == ["on_insert", "on_read", "on_write", "on_remove"]
        inserted = hooks[0][1]
        assert all(entry is inserted for _, entry in hooks)  # one entry, overwritten in place
        assert inserted.key == "k"

    def test_expired_key_read_calls_on_remove(self, cache: Cache, clock: ManualClock) -> None:
        cache.set("k", 1, ttl=5)
        _take(cache)
        clock.advance(6)
        assert cache.get("k") is None
        assert _take(cache) == [("on_remove", "k")]
        assert _policy(cache).causes == [("k", Removal.EXPIRED)]
        assert cache.info()["expired_keys"] == 1
        assert len(cache) == 0

    def test_expire_in_the_past_calls_on_remove(self, cache: Cache, clock: ManualClock) -> None:
        cache.set("k", 1)
        _take(cache)
        assert cache.expireat("k", clock.time() - 1) is True
        assert _take(cache) == [("on_remove", "k")]
        assert not cache.has("k")

    def test_flushall_calls_reset_and_no_on_remove(self, cache: Cache) -> None:
        cache.set("a", 1)
        cache.set("b", 1, ttl=30)
        cache.select(1).set("c", 1)
        _take(cache)
        cache.flushall()
        assert _take(cache) == [("reset", None)]
        assert len(cache) == 0 and len(cache.select(1)) == 0

    def test_flushdb_of_one_database_calls_on_remove_for_its_keys(self, cache: Cache) -> None:
        other = cache.select(1)
        cache.set("a", 1)
        other.set("b", 1)
        other.set("c", 1, ttl=30)
        _take(cache)
        other.clear()
        assert _take(cache) == [("on_remove", "b"), ("on_remove", "c")]
        assert _policy(cache).causes == [("b", Removal.FLUSHED), ("c", Removal.FLUSHED)]
        assert cache.get("a") == 1

    # ------------------------------------------------------------------ deadlines

    def test_persist_calls_on_ttl_change(self, cache: Cache) -> None:
        cache.set("k", 1, ttl=10)
        deadline = cache.expiretime("k")
        _take(cache)
        assert cache.persist("k") is True
        assert _take(cache) == [("on_ttl_change", "k")]
        assert _policy(cache).ttl_changes == [("k", deadline, None)]
        assert cache.persist("k") is False  # no TTL left: nothing changed
        assert _take(cache) == []

    def test_expire_calls_on_ttl_change(self, cache: Cache, clock: ManualClock) -> None:
        cache.set("k", 1)
        _take(cache)
        assert cache.expire("k", 20) is True
        assert _take(cache) == [("on_ttl_change", "k")]
        assert cache.expire("k", 40) is True
        assert _take(cache) == [("on_ttl_change", "k")]
        now = clock.time()
        assert _policy(cache).ttl_changes == [("k", None, now + 20), ("k", now + 20, now + 40)]

    def test_set_with_a_different_ttl_calls_on_ttl_change(
        self, cache: Cache, clock: ManualClock
    ) -> None:
        cache.set("k", 1, ttl=10)
        _take(cache)
        now = clock.time()
        cache.set("k", 2, ttl=20)
        assert _take(cache) == [("on_ttl_change", "k"), ("on_write", "k")]
        cache.set("k", 3, ttl=20)  # same clock, same deadline: nothing changed
        assert _take(cache) == [("on_write", "k")]
        cache.set("k", 4)  # overwritten without a TTL: the deadline is cleared
        assert _take(cache) == [("on_ttl_change", "k"), ("on_write", "k")]
        cache.set("k", 5, ttl=30)  # and given one again
        assert _take(cache) == [("on_ttl_change", "k"), ("on_write", "k")]
        assert _policy(cache).ttl_changes == [
            ("k", now + 10, now + 20),
            ("k", now + 20, None),
            ("k", None, now + 30),
        ]

    def test_touch_with_a_ttl_calls_on_read_and_on_ttl_change(
        self, cache: Cache, clock: ManualClock
    ) -> None:
        cache.set("k", 1)
        _take(cache)
        assert cache.touch("k", ttl=30) is True
        assert _take(cache) == [("on_read", "k"), ("on_ttl_change", "k")]
        assert _policy(cache).ttl_changes == [("k", None, clock.time() + 30)]

    # ------------------------------------------------------------------ eviction

    def test_write_into_a_full_cache_evicts_through_select_victim(
        self, build: Any, base: type[EvictionPolicy]
    ) -> None:
        if not base.evicts:
            pytest.skip("noeviction evicts nothing (see the OOM test)")
        cache: Cache = build(maxmemory="20kb")
        written = []
        for i in range(60):
            key = f"k{i:02d}"
            # volatile-* may evict only keys with a TTL: give every key one (all different).
            cache.set(key, VALUE, ttl=3600 + i if base.volatile_only else None)
            written.append(key)
        evicted = cache.info()["evicted_keys"]
        assert evicted > 0
        gone = sorted(key for key in written if not cache.has(key))
        assert len(gone) == evicted and len(cache) == len(written) - evicted
        calls = _policy(cache).calls
        assert ("select_victim", None) not in calls  # a victim every time it was asked
        chosen = sorted(key for hook, key in calls if hook == "select_victim")
        deleted = sorted(key for hook, key in calls if hook == "on_remove")
        assert chosen == gone  # one select_victim call per victim, and the victim was evicted
        assert deleted == gone  # each evicted key reached on_remove once
        causes = _policy(cache).causes
        assert sorted(key for key, _ in causes) == gone
        assert {cause for _, cause in causes} == {Removal.EVICTED}
        # Each write that needed room asked admit() about its first victim, before evicting.
        admissions = _policy(cache).admissions
        assert admissions and {victim for _, victim in admissions} <= set(gone)

    def test_noeviction_subclass_refuses_the_write(self, build: Any, base: Any) -> None:
        if base.evicts:
            pytest.skip("only noeviction refuses writes")
        cache: Cache = build(maxmemory="20kb")
        with pytest.raises(OutOfMemoryError):
            for i in range(60):
                cache.set(f"k{i:02d}", VALUE)
        calls = _policy(cache).calls
        assert not [call for call in calls if call[0] == "on_remove"]
        assert cache.info()["evicted_keys"] == 0

    def test_entry_count_cull_selects_victims(self, build: Any, base: type[EvictionPolicy]) -> None:
        if not base.evicts:
            pytest.skip("noeviction culls nothing")
        cache: Cache = build(max_entries=10, cull_frequency=3)
        ttl = 3600 if base.volatile_only else None
        written = [f"k{i:02d}" for i in range(11)]
        for key in written[:10]:
            cache.set(key, 1, ttl=ttl)
        policy = _policy(cache)
        _take(cache)
        cache.set(written[10], 1, ttl=ttl)  # the 11th key: 10 // 3 = 3 keys are culled
        calls = policy.calls
        assert any(hook in ("select_victims", "select_victim") for hook, _ in calls)
        gone = sorted(key for key in written if not cache.has(key))
        assert len(gone) == 3 and len(cache) == 8 and cache.has(written[10])
        assert cache.info()["evicted_keys"] == 3
        chosen = {key for hook, key in calls if hook == "select_victim" and key is not None}
        assert set(gone) <= chosen | set(policy.batch_victims)
        assert sorted(key for hook, key in calls if hook == "on_remove") == gone


# ---------------------------------------------------------------------- the ranking still works


def _fitting(make_cache: MakeCache, policy: type[EvictionPolicy], keys: list[str], ttl: Any) -> int:
    """A maxmemory that holds ``keys`` (of equal size) and half an entry more."""
    probe = make_cache(maxmemory=0, maxmemory_policy=policy)
    for key in keys:
        probe.set(key, VALUE, ttl=ttl)
    used: int = probe.info()["used_memory"]
    return used + used // (2 * len(keys))


def _evict_in_turn(cache: Cache, expected: list[str], ttl: Any, reads: int = 0) -> list[str]:
    """Write five new keys, one at a time; return the old keys in the order they left (keys
    leaving during the same write are listed in ``expected`` order: it cannot be observed)."""
    evicted: list[str] = []
    for i in range(5):
        key = f"new{i}"
        cache.set(key, VALUE, ttl=ttl)
        for _ in range(reads):
            cache.get(key)
        evicted.extend(k for k in expected if k not in evicted and not cache.has(k))
        assert cache.has(key)
    return evicted


@pytest.mark.parametrize("base", LRU, ids=_name)
def test_recording_lru_still_evicts_the_least_recently_used_key(
    make_cache: MakeCache, clock: ManualClock, base: type[EvictionPolicy]
) -> None:
    policy = RECORDING[base]
    ttl = 3600 if base.volatile_only else None
    keys = [f"old{i}" for i in range(10)]
    limit = _fitting(make_cache, policy, keys, ttl)
    # samples >= keys: the sampled policy sees every key, so its order is exact.
    cache = make_cache(maxmemory=limit, maxmemory_policy=policy, maxmemory_samples=64)
    for key in keys:
        cache.set(key, VALUE, ttl=ttl)
        clock.advance(1)
    order = [keys[i] for i in (3, 7, 0, 9, 1, 5, 8, 2, 6, 4)]
    for key in order:  # the reading order is the recency order, least recent first
        assert cache.get(key) == VALUE
        clock.advance(1)
    assert cache.info()["evicted_keys"] == 0
    evicted = _evict_in_turn(cache, order, ttl)
    assert len(evicted) >= 5
    assert evicted == order[: len(evicted)]


@pytest.mark.parametrize("base", TTL, ids=_name)
def test_recording_ttl_still_evicts_the_soonest_deadline(
    make_cache: MakeCache, clock: ManualClock, base: type[EvictionPolicy]
) -> None:
    policy = RECORDING[base]
    keys = [f"old{i}" for i in range(10)]
    limit = _fitting(make_cache, policy, keys, 3600)
    cache = make_cache(maxmemory=limit, maxmemory_policy=policy, maxmemory_samples=64)
    ttls = [700, 300, 900, 100, 500, 1000, 200, 800, 400, 600]
    for key, ttl in zip(keys, ttls, strict=True):
        cache.set(key, VALUE, ttl=ttl)
    for key in reversed(keys):  # recency must not matter
        cache.get(key)
    order = [key for _, key in sorted(zip(ttls, keys, strict=True))]
    evicted = _evict_in_turn(cache, order, 3600)
    assert len(evicted) >= 5
    assert evicted == order[: len(evicted)]


@pytest.mark.parametrize("base", LFU, ids=_name)
def test_recording_lfu_still_evicts_the_least_frequently_used_key(
    make_cache: MakeCache, clock: ManualClock, base: type[EvictionPolicy]
) -> None:
    policy = RECORDING[base]
    ttl = 3600 if base.volatile_only else None
    keys = [f"old{i}" for i in range(10)]
    limit = _fitting(make_cache, policy, keys, ttl)
    # log factor 0: every access increments the counter; decay off: the counters stay put.
    options = {"lfu_log_factor": 0, "lfu_decay_time": 0}
    cache = make_cache(maxmemory=limit, maxmemory_policy=policy, maxmemory_samples=64, **options)
    for key in keys:
        cache.set(key, VALUE, ttl=ttl)
    order = [keys[i] for i in (3, 7, 0, 9, 1, 5, 8, 2, 6, 4)]
    for reads, key in enumerate(order, start=1):  # least frequently used first
        for _ in range(reads):
            cache.get(key)
        clock.advance(0.01)
    assert [cache.frequency(key) for key in order] == list(range(6, 16))
    # Each new key is read often right after its write, so it is no victim for the next one.
    evicted = _evict_in_turn(cache, order, ttl, reads=40)
    assert len(evicted) >= 5
    assert evicted == order[: len(evicted)]


# ---------------------------------------------------------------------- OBJECT FREQ


@pytest.mark.parametrize("base", LFU, ids=_name)
def test_frequency_works_under_any_subclass_of_a_builtin_lfu(
    make_cache: MakeCache, base: type[EvictionPolicy]
) -> None:
    class HotKeys(base):  # type: ignore[valid-type,misc]
        name = "hot-keys"  # nothing in the name says what the ranking is

    for policy in (HotKeys, RECORDING[base]):
        cache = make_cache(maxmemory_policy=policy, lfu_log_factor=0, lfu_decay_time=0)
        cache.set("hot", 1, ttl=3600)
        cache.set("cold", 1, ttl=3600)
        for _ in range(10):
            cache.get("hot")
        assert cache.frequency("cold") == LFU_INIT_VAL
        assert cache.frequency("hot") == LFU_INIT_VAL + 10
        with pytest.raises(KeyError):
            cache.frequency("missing")


def test_frequency_asks_the_policy_not_its_name(make_cache: MakeCache) -> None:
    class LooksLikeLFU(AllKeysLRU):
        name = "allkeys-lfu-lookalike"  # an LRU policy, whatever its name says

    cache = make_cache(maxmemory_policy=LooksLikeLFU)
    cache.set("k", 1)
    with pytest.raises(TypeError):
        cache.frequency("k")
