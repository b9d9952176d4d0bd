"""Hypothesis state machine: the cache against a plain reference model.

Invariant: a key is never lost unless it was deleted, expired or evicted, and then an event
said so; every live key reads back the value last written; ``used_memory`` equals the sum of
entry sizes (``check()``) and never exceeds ``maxmemory``; a ``volatile-*`` policy never evicts
a key without a TTL. Runs over every policy x both modes x the inline expiry strategies
(``lazy``, ``active``, ``timed``; ``background`` is ``timed`` on a thread, whose events would
race the model: the thread tests cover it), with the manual clock advancing and the wall clock
stepping both ways as rules (the model keeps monotonic deadlines, so a wall step must change
nothing: issue 11, defect 3).
"""

from __future__ import annotations

import os
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from cachepolicy import (
    Cache,
    ConfigError,
    Entry,
    KeyspaceEvent,
    ManualClock,
    OutOfMemoryError,
    ValueTooLargeError,
)
from cachepolicy.eviction import BUILTIN_POLICIES, AllKeysLRU, EvictionPolicy

KEYS = st.sampled_from([f"k{i}" for i in range(12)])
DBS = st.sampled_from([0, 1])
VALUES = st.one_of(st.integers(), st.binary(max_size=400), st.text(max_size=50))
TTLS = st.one_of(st.none(), st.floats(min_value=-1, max_value=30, allow_nan=False))
LIMIT = 6_000
#: config_set rule: the limits it moves between (down evicts, up gives room back).
LIMITS = st.sampled_from([2_500, 4_000, LIMIT, 9_000])


class RefuseOddKeys(AllKeysLRU):
    """An admission policy for the machine: a new key whose name ends in an odd digit never
    displaces another key (stored only while there is room)."""

    name = "state-machine-refuse-odd"

    def admit(self, key: str, size: int, victim: Entry, now: float) -> bool:
        return int(key[-1]) % 2 == 0


#: Every Redis policy, and the admission policy, by name or class.
POLICIES: list[str | type[EvictionPolicy]] = [*BUILTIN_POLICIES, RefuseOddKeys]


def _volatile(policy: str | type[EvictionPolicy]) -> bool:
    return policy.volatile_only if isinstance(policy, type) else policy.startswith("volatile-")


class CacheModel(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.clock = ManualClock()
        self.volatile_only = False
        self.limit = LIMIT
        self.model: dict[tuple[int, str], tuple[Any, float | None]] = {}
        self.cache: Cache | None = None

    @initialize(
        policy=st.sampled_from(POLICIES),
        mode=st.sampled_from(["sampled", "exact"]),
        samples=st.integers(1, 10),
        expiry=st.sampled_from(["lazy", "active", "timed"]),
    )
    def setup(
        self, policy: str | type[EvictionPolicy], mode: str, samples: int, expiry: str
    ) -> None:
        self.start(policy, mode, samples, expiry)

    def start(
        self, policy: str | type[EvictionPolicy], mode: str, samples: int, expiry: str
    ) -> None:
        self.volatile_only = _volatile(policy)
        self.limit = LIMIT
        self.cache = Cache(
            maxmemory=LIMIT,
            maxmemory_policy=policy,
            eviction_mode=mode,
            maxmemory_samples=samples,
            expiry=expiry,
            clock=self.clock,
            seed=0,
        )
        self.cache.subscribe(self._on_event)

    def _on_event(self, event: KeyspaceEvent) -> None:
        key = (event.db, event.key)
        if event.name == "evicted":
            assert key in self.model, f"evicted a key the model does not have: {key}"
            if self.volatile_only:
                assert self.model[key][1] is not None, f"volatile-* evicted {key} without a TTL"
            del self.model[key]
        elif event.name == "expired":
            assert key in self.model, f"expired a key the model does not have: {key}"
            deadline = self.model[key][1]
            assert deadline is not None and self.clock.monotonic() >= deadline, (key, deadline)
            del self.model[key]

    @property
    def c(self) -> Cache:
        assert self.cache is not None
        return self.cache

    def _live(self, key: tuple[int, str]) -> bool:
        found = self.model.get(key)
        return found is not None and (found[1] is None or self.clock.monotonic() <= found[1])

    @rule(db=DBS, key=KEYS, value=VALUES, ttl=TTLS)
    def set(self, db: int, key: str, value: Any, ttl: float | None) -> None:
        # Recorded before the call: when the tables a new key grows cannot be made room for
        # otherwise, an exact policy may evict the very key written, during the call.
        previous = self.model.get((db, key))
        deadline = None if ttl is None else self.clock.monotonic() + ttl
        self.model[(db, key)] = (value, deadline)
        refusals = self.c.info()["rejected_admissions"]
        try:
            stored = self.c.select(db).set(key, value, ttl=ttl)
        except (OutOfMemoryError, ValueTooLargeError):
            stored = False
        if not stored:
            if previous is None:
                self.model.pop((db, key), None)
            else:
                self.model[(db, key)] = previous
            return
        assert self.c.info()["rejected_admissions"] == refusals
        if deadline is not None and deadline <= self.clock.monotonic():  # ttl <= 0, or rounds to 0
            self.model.pop((db, key), None)

    @rule(db=DBS, key=KEYS, value=VALUES)
    def add(self, db: int, key: str, value: Any) -> None:
        was_live = self._live((db, key))
        refusals = self.c.info()["rejected_admissions"]
        try:
            stored = self.c.select(db).add(key, value)
        except (OutOfMemoryError, ValueTooLargeError):
            return
        refused = self.c.info()["rejected_admissions"] - refusals
        assert stored == (not was_live and not refused)
        assert refused in (0, 1) and not (refused and was_live)
        if stored:
            self.model[(db, key)] = (value, None)

    @rule(db=DBS, key=KEYS)
    def get(self, db: int, key: str) -> None:
        live = self._live((db, key))
        value = self.c.select(db).get(key, default=KeyError)
        if live:
            assert value == self.model[(db, key)][0]
        else:
            assert value is KeyError

    @rule(db=DBS, key=KEYS)
    def delete(self, db: int, key: str) -> None:
        live = self._live((db, key))
        assert self.c.select(db).delete(key) == live
        self.model.pop((db, key), None)

    @rule(db=DBS, key=KEYS, delta=st.integers(-5, 5))
    def incr(self, db: int, key: str, delta: int) -> None:
        live = self._live((db, key))
        current = self.model[(db, key)] if live else None
        try:
            result = self.c.select(db).incr(key, delta, default=0)
        except TypeError:
            assert current is not None and not isinstance(current[0], int)
            return
        except (OutOfMemoryError, ValueTooLargeError):
            return
        base = current[0] if current is not None else 0
        assert result == base + delta
        self.model[(db, key)] = (result, current[1] if current is not None else None)

    @rule(db=DBS, key=KEYS, ttl=st.floats(min_value=-1, max_value=30, allow_nan=False))
    def expire(self, db: int, key: str, ttl: float) -> None:
        live = self._live((db, key))
        try:
            changed = self.c.select(db).expire(key, ttl)
        except (OutOfMemoryError, ValueTooLargeError):
            return
        if live and not changed:
            # Near maxmemory the TTL's index bytes must be made room for, and the policy may
            # pick this very key: it is then evicted (the model saw the event) and not changed.
            assert (db, key) not in self.model
            return
        assert changed == live
        if live:
            deadline = self.clock.monotonic() + ttl
            if deadline <= self.clock.monotonic():
                del self.model[(db, key)]
            else:
                self.model[(db, key)] = (self.model[(db, key)][0], deadline)

    @rule(db=DBS, key=KEYS)
    def persist(self, db: int, key: str) -> None:
        live = self._live((db, key))
        had_ttl = live and self.model[(db, key)][1] is not None
        assert self.c.select(db).persist(key) == had_ttl
        if had_ttl:
            self.model[(db, key)] = (self.model[(db, key)][0], None)

    @rule(seconds=st.floats(min_value=0, max_value=20, allow_nan=False))
    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)

    @precondition(lambda self: self.cache is not None)
    @rule()
    def reclaim(self) -> None:
        """What the next write's hook would do: let the expiry strategy run."""
        self.c.store.expiry.after_operation(self.clock.monotonic())

    @rule(seconds=st.sampled_from([-3600.0, -1.0, 1.0, 3600.0]))
    def step_wall(self, seconds: float) -> None:
        self.clock.step_wall(seconds)

    @precondition(lambda self: self.cache is not None)
    @rule(db=DBS)
    def clear(self, db: int) -> None:
        self.c.select(db).clear()
        for key in [k for k in self.model if k[0] == db]:
            del self.model[key]

    @rule(limit=LIMITS)
    def config_set_maxmemory(self, limit: int) -> None:
        """CONFIG SET maxmemory, down (evicts at once, announced) or up; an unreachable one
        (noeviction, volatile-* without enough TTL keys) is refused and changes nothing."""
        before = {(e.db, e.key) for e in self.c.store.engine.iter_entries()}
        try:
            self.c.config_set("maxmemory", limit)
        except ConfigError:
            assert {(e.db, e.key) for e in self.c.store.engine.iter_entries()} == before
            return
        self.limit = limit

    @rule(
        policy=st.sampled_from(POLICIES),
        mode=st.sampled_from(["sampled", "exact"]),
    )
    def config_set_policy(self, policy: str | type[EvictionPolicy], mode: str) -> None:
        """CONFIG SET maxmemory-policy / eviction_mode: every key is re-admitted; the new
        per-entry costs may evict (announced, so the model follows), or the switch is refused
        and changes nothing (the invariants check both)."""
        try:
            self.c.config_set("eviction_mode", mode)
        except ConfigError:
            return
        previous, self.volatile_only = self.volatile_only, _volatile(policy)
        try:  # evictions the switch makes are announced under the new policy's rule
            self.c.config_set("maxmemory_policy", policy)
        except ConfigError:
            self.volatile_only = previous

    @invariant()
    def accounting_is_exact_and_bounded(self) -> None:
        if self.cache is None:
            return
        assert self.c.check() == []
        assert self.c.info()["used_memory"] <= self.limit

    @invariant()
    def nothing_lost(self) -> None:
        if self.cache is None:
            return
        stored = {(e.db, e.key) for e in self.c.store.engine.iter_entries()}
        assert stored == set(self.model), stored ^ set(self.model)

    def teardown(self) -> None:
        if self.cache is not None:
            self.cache.close()


TestCacheModel = CacheModel.TestCase
TestCacheModel.settings = settings(
    max_examples=150,
    stateful_step_count=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


EXPIRIES = ["lazy", "active", "timed"]
#: Examples per combination in the product below; CACHEPOLICY_STATE_EXAMPLES raises it.
PRODUCT_EXAMPLES = int(os.environ.get("CACHEPOLICY_STATE_EXAMPLES", "4"))


def _machine_for(policy: str | type[EvictionPolicy], mode: str, expiry: str) -> type[CacheModel]:
    """The machine with its configuration fixed, so that every combination is run."""

    class Fixed(CacheModel):
        @initialize(samples=st.integers(1, 10))
        def setup(self, samples: int) -> None:  # type: ignore[override]
            self.start(policy, mode, samples, expiry)

    Fixed.__name__ = f"CacheModel[{policy},{mode},{expiry}]"
    return Fixed


@pytest.mark.parametrize("expiry", EXPIRIES)
@pytest.mark.parametrize("mode", ["sampled", "exact"])
@pytest.mark.parametrize("policy", POLICIES)
def test_every_policy_mode_and_expiry(
    policy: str | type[EvictionPolicy], mode: str, expiry: str
) -> None:
    """The product policy x mode x expiry, each with a few examples (the random machine above
    explores more steps per example across all of them)."""
    run_state_machine_as_test(
        _machine_for(policy, mode, expiry),
        settings=settings(
            max_examples=PRODUCT_EXAMPLES,
            stateful_step_count=40,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
