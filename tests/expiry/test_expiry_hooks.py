"""Every hook of every built-in expiry strategy is an ordinary method that the engine calls.

For each built-in strategy (``lazy``, ``active``, ``timed``, ``background``) a subclass
overrides ``on_ttl_set``, ``on_ttl_cleared``, ``on_delete``, ``reset`` and ``after_operation``,
records the call and defers to ``super()``. The suite asserts, operation by operation, that each
override is reached with the right entry, and that the subclass still reclaims expired keys.
The hook contract (``cachepolicy/expiry/base.py``):

* ``on_ttl_set(entry, previous)``: a deadline was set or changed (``previous`` None for a new
  TTL), for every such key, in deadline order or not;
* ``on_ttl_cleared(entry)``: a key lost its TTL (PERSIST, or overwritten without one);
* ``on_delete(entry)``: a key *with a TTL* left the cache, whatever the cause;
* ``reset()``: FLUSHALL;
* ``after_operation(now)``: once after each write-like command (set, delete, touch, expire,
  persist, incr).

Issue 10: the write path used to file in-order deadlines into the ``timed`` strategies' lane
itself, so five ``set(k, v, ttl=10 + i)`` reached a ``TimedExpiry`` subclass's ``on_ttl_set``
once. ``background`` runs a thread: its deadlines here are far away, the clock is manual, and
``make_cache`` closes every cache (after ``check()``, which validates the strategy's index).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from cachepolicy import Cache, ManualClock
from cachepolicy.expiry.base import ExpiryStrategy
from cachepolicy.expiry.registry import resolve_expiry
from tests.conftest import MakeCache

from .helpers import TIMEOUT, settle

Call = tuple[str, Any]

NAMES = ["lazy", "active", "timed", "background"]


def recording(base: type[ExpiryStrategy]) -> type[ExpiryStrategy]:
    """A subclass of ``base`` overriding every hook: it records the call, then defers to it."""

    class Recording(base):  # type: ignore[valid-type,misc]
        name = "recording-" + base.name

        def __init__(self, config: Any) -> None:
            #: ``(hook, key)`` in call order (key None for reset).
            self.calls: list[Call] = []
            #: ``(key, previous, entry.deadline)`` for each on_ttl_set.
            self.ttl_sets: list[tuple[str, float | None, float | None]] = []
            #: The ``now`` of each after_operation call.
            self.operations: list[float] = []
            super().__init__(config)

        def on_ttl_set(self, entry: Any, previous: float | None) -> None:
            self.calls.append(("on_ttl_set", entry.key))
            self.ttl_sets.append((entry.key, previous, entry.deadline))
            super().on_ttl_set(entry, previous)

        def on_ttl_cleared(self, entry: Any) -> None:
            self.calls.append(("on_ttl_cleared", entry.key))
            super().on_ttl_cleared(entry)

        def on_delete(self, entry: Any) -> None:
            self.calls.append(("on_delete", entry.key))
            super().on_delete(entry)

        def reset(self) -> None:
            self.calls.append(("reset", None))
            super().reset()

        def after_operation(self, now: float) -> None:
            self.operations.append(now)
            super().after_operation(now)

    Recording.__name__ = Recording.__qualname__ = "Recording" + base.__name__
    return Recording


RECORDING = {name: recording(resolve_expiry(name)) for name in NAMES}


def _strategy(cache: Cache) -> Any:
    return cache.store.expiry


def _take(cache: Cache) -> list[Call]:
    """The hook calls recorded since the last take, sorted; after_operation is kept apart."""
    calls = _strategy(cache).calls
    taken = sorted(calls, key=lambda call: (call[0], call[1] or ""))
    calls.clear()
    return taken


def _operations(cache: Cache) -> int:
    """How many after_operation calls since the last look."""
    operations = _strategy(cache).operations
    count = len(operations)
    operations.clear()
    return count


class TestExpiryHooks:
    @pytest.fixture(params=NAMES)
    def name(self, request: pytest.FixtureRequest) -> str:
        return request.param  # type: ignore[no-any-return]

    @pytest.fixture(params=[False, True], ids=["quiet", "listening"])
    def listening(self, request: pytest.FixtureRequest) -> bool:
        return request.param  # type: ignore[no-any-return]

    @pytest.fixture
    def build(self, make_cache: MakeCache, name: str, listening: bool) -> Any:
        def build(**options: Any) -> Cache:
            cache = make_cache(expiry=RECORDING[name], **options)
            if listening:
                cache.subscribe(lambda event: None)
            return cache

        return build

    @pytest.fixture
    def cache(self, build: Any) -> Cache:
        cache: Cache = build()
        assert type(_strategy(cache)).__name__.startswith("Recording")
        return cache

    # ------------------------------------------------------------------ on_ttl_set

    def test_every_new_ttl_reaches_on_ttl_set(self, cache: Cache, clock: ManualClock) -> None:
        now = clock.time()
        for i in range(5):  # in deadline order: the case the timed lane used to take over
            cache.set(f"k{i}", i, ttl=10 + i)
        assert _take(cache) == [("on_ttl_set", f"k{i}") for i in range(5)]
        assert _strategy(cache).ttl_sets == [(f"k{i}", None, now + 10 + i) for i in range(5)]

    def test_out_of_order_ttls_reach_on_ttl_set(self, cache: Cache) -> None:
        for i, ttl in enumerate([50, 10, 40, 20, 30, 30]):
            cache.set(f"k{i}", i, ttl=ttl)
        assert _take(cache) == [("on_ttl_set", f"k{i}") for i in range(6)]

    def test_many_in_order_ttls_each_reach_on_ttl_set(self, cache: Cache) -> None:
        for i in range(300):  # past any batching threshold of an index
            cache.set(f"k{i}", i, ttl=100 + i)
        sets = [key for hook, key in _strategy(cache).calls if hook == "on_ttl_set"]
        assert sets == [f"k{i}" for i in range(300)]

    def test_keys_without_ttl_call_no_ttl_hook(self, cache: Cache) -> None:
        cache.set("k", 1)
        cache.set("k", 2)
        cache.incr("n", default=0)
        cache.delete("k")
        assert _take(cache) == []

    def test_changed_deadlines_reach_on_ttl_set(self, cache: Cache, clock: ManualClock) -> None:
        now = clock.time()
        cache.set("k", 1, ttl=10)
        cache.set("k", 2, ttl=20)  # overwrite with a later deadline
        cache.set("k", 3, ttl=20)  # same deadline: nothing changed
        assert cache.expire("k", 5) is True  # earlier
        cache.set("p", 1)
        assert cache.expire("p", 30) is True  # a persistent key gets a TTL
        assert cache.touch("p", ttl=60) is True
        assert _strategy(cache).ttl_sets == [
            ("k", None, now + 10),
            ("k", now + 10, now + 20),
            ("k", now + 20, now + 5),
            ("p", None, now + 30),
            ("p", now + 30, now + 60),
        ]
        assert [hook for hook, _ in _take(cache)] == ["on_ttl_set"] * 5

    def test_add_replace_and_incr_keep_the_contract(self, cache: Cache, clock: ManualClock) -> None:
        now = clock.time()
        assert cache.add("a", 1, ttl=10) is True
        assert cache.replace("a", 2, ttl=20) is True
        assert cache.incr("a") == 3  # keeps the TTL: no hook
        assert _strategy(cache).ttl_sets == [("a", None, now + 10), ("a", now + 10, now + 20)]
        assert cache.ttl("a") == 20

    # ------------------------------------------------------------------ on_ttl_cleared

    def test_persist_calls_on_ttl_cleared(self, cache: Cache) -> None:
        cache.set("k", 1, ttl=10)
        _take(cache)
        assert cache.persist("k") is True
        assert _take(cache) == [("on_ttl_cleared", "k")]
        assert cache.persist("k") is False
        assert _take(cache) == []

    def test_overwrite_without_ttl_calls_on_ttl_cleared(self, cache: Cache) -> None:
        cache.set("k", 1, ttl=10)
        _take(cache)
        cache.set("k", 2)
        assert _take(cache) == [("on_ttl_cleared", "k")]
        assert cache.ttl("k") is None
        cache.set("k", 3, ttl=10)
        assert _take(cache) == [("on_ttl_set", "k")]
        assert cache.touch("k", ttl=None) is True
        assert _take(cache) == [("on_ttl_cleared", "k")]

    # ------------------------------------------------------------------ on_delete

    def test_delete_of_a_key_with_ttl_calls_on_delete(self, cache: Cache) -> None:
        cache.set("t", 1, ttl=10)
        cache.set("p", 1)
        _take(cache)
        assert cache.delete("t") is True
        assert _take(cache) == [("on_delete", "t")]
        assert cache.delete("p") is True  # no TTL: nothing for the strategy
        assert _take(cache) == []

    def test_expired_key_read_calls_on_delete(self, cache: Cache, clock: ManualClock) -> None:
        cache.set("t", 1, ttl=5)
        _take(cache)
        clock.advance(6)
        assert cache.get("t") is None
        # A background thread may reclaim it first: either way on_delete runs once.
        assert _take(cache) == [("on_delete", "t")]
        assert cache.info()["expired_keys"] == 1

    def test_expire_in_the_past_calls_on_delete(self, cache: Cache, clock: ManualClock) -> None:
        cache.set("t", 1, ttl=50)
        _take(cache)
        assert cache.expireat("t", clock.time() - 1) is True
        assert _take(cache) == [("on_delete", "t")]

    def test_evicted_key_with_ttl_calls_on_delete(self, build: Any) -> None:
        cache: Cache = build(maxmemory="20kb")
        keys = [f"k{i:02d}" for i in range(60)]
        for i, key in enumerate(keys):
            cache.set(key, "x" * 500, ttl=3600 + i)
        evicted = cache.info()["evicted_keys"]
        assert evicted > 0
        gone = sorted(key for key in keys if not cache.has(key))
        assert len(gone) == evicted
        assert sorted(key for hook, key in _strategy(cache).calls if hook == "on_delete") == gone

    def test_flushdb_of_one_database_calls_on_delete_for_its_ttl_keys(self, cache: Cache) -> None:
        other = cache.select(1)
        cache.set("a", 1, ttl=10)
        other.set("b", 1, ttl=10)
        other.set("c", 1)
        _take(cache)
        other.clear()
        assert _take(cache) == [("on_delete", "b")]
        assert cache.get("a") == 1

    def test_flushall_calls_reset_and_no_on_delete(self, cache: Cache) -> None:
        cache.set("a", 1, ttl=10)
        cache.select(1).set("b", 1, ttl=10)
        _take(cache)
        cache.flushall()
        assert _take(cache) == [("reset", None)]
        cache.set("c", 1, ttl=10)  # the strategy works on after a reset
        assert _take(cache) == [("on_ttl_set", "c")]

    # ------------------------------------------------------------------ after_operation

    def test_after_operation_follows_every_write_like_command(
        self, cache: Cache, clock: ManualClock
    ) -> None:
        cache.set("k", 1)
        assert _strategy(cache).operations == [clock.time()]
        _operations(cache)
        commands: list[tuple[str, Callable[[], object]]] = [
            ("set", lambda: cache.set("k", 2, ttl=100)),
            ("set without TTL", lambda: cache.set("j", 2)),
            ("touch", lambda: cache.touch("k")),
            ("expire", lambda: cache.expire("k", 200)),
            ("persist", lambda: cache.persist("k")),
            ("incr", lambda: cache.incr("n", default=0)),
            ("delete", lambda: cache.delete("k")),
        ]
        for command, run in commands:
            clock.advance(0.5)
            run()
            assert _strategy(cache).operations == [clock.time()], command
            _operations(cache)

    # ------------------------------------------------------------------ reclaiming still works

    def test_reads_still_remove_expired_keys(
        self, cache: Cache, clock: ManualClock, name: str
    ) -> None:
        for i in range(5):
            cache.set(f"k{i}", i, ttl=10 + i)
        cache.set("keep", 1)
        _take(cache)
        clock.advance(20)
        # Lazy expiry, whatever the strategy (a thread may have taken some first).
        assert all(cache.get(f"k{i}") is None for i in range(5))
        assert len(cache) == 1 and cache.get("keep") == 1
        assert cache.info()["expired_keys"] == 5
        assert _take(cache) == [("on_delete", f"k{i}") for i in range(5)]

    def test_writes_still_drive_reclamation(
        self, cache: Cache, clock: ManualClock, name: str
    ) -> None:
        if name == "lazy":
            pytest.skip("lazy expiry reclaims only on access")
        for i in range(5):
            cache.set(f"k{i}", i, ttl=1 + i)
        cache.set("keep", 1)
        clock.advance(10)
        cache.set("tick", 1)
        # Inline strategies run from after_operation (our override, then super()); the
        # background thread runs on its own.
        assert settle(cache, lambda: len(cache) == 2, step=0.1, timeout=TIMEOUT)
        assert cache.info()["expired_keys"] == 5
        deleted = sorted(key for hook, key in _strategy(cache).calls if hook == "on_delete")
        assert deleted == [f"k{i}" for i in range(5)]
        assert cache.get("keep") == 1 and cache.get("tick") == 1
