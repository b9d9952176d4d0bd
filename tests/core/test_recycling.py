"""Removed entries are reused for new keys (``keyspace.keep_spares``), never while anything
still holds them, and a store that reuses them behaves exactly like one that does not."""

from __future__ import annotations

import random
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from cachepolicy import CacheStore, ManualClock, OutOfMemoryError
from cachepolicy.eviction import REDIS_POLICIES
from cachepolicy.keyspace import ENTRY_RECYCLING, SPARE_ENTRIES_MAX, Entry, keep_spares
from cachepolicy.store import RELEASED

pytestmark = pytest.mark.skipif(
    not ENTRY_RECYCLING, reason="entries are reused only on CPython < 3.14 with the GIL"
)


class _NoSpares(list[Entry]):
    """A spare list that keeps nothing: the store it is given to allocates every entry."""

    def append(self, entry: Entry) -> None:
        pass


def _store(**options: Any) -> CacheStore:
    options.setdefault("clock", ManualClock(1000.0))
    return CacheStore(seed=3, **options)


def _slots(entry: Entry) -> tuple[Any, ...]:
    return (
        entry.db,
        entry.key,
        entry.payload,
        entry.deadline,
        entry.size,
        entry.atime,
        entry.aseq,
        entry.lfu,
        entry.ldt,
        entry.version,
    )


def test_a_cull_leaves_spares_that_new_keys_take() -> None:
    store = _store(maxmemory=0, max_entries=30, cull_frequency=3)
    write = store.writer(0)
    for i in range(30):
        write(f"k{i}", b"v", None)
    write("k30", b"v", None)  # culls 10 keys, then takes one of them for k30
    assert store.info()["spare_entries"] == 9
    spares = list(store.spare_entries)
    assert all(spare.pos < 0 and spare.key == "" and spare.payload is RELEASED for spare in spares)
    for i in range(31, 40):
        write(f"k{i}", b"w", None)
    data = store.keyspaces[0].data
    assert {id(data[f"k{i}"]) for i in range(31, 40)} == {id(spare) for spare in spares}
    assert [data[f"k{i}"].key for i in range(31, 40)] == [f"k{i}" for i in range(31, 40)]
    assert store.spare_entries == []
    assert store.check() == []


def test_an_entry_held_elsewhere_is_never_reused() -> None:
    store = _store(maxmemory=0, max_entries=30, cull_frequency=3)
    write = store.writer(0)
    for i in range(30):
        write(f"k{i}", b"v", None)
    held = store.peek(0, "k0")  # the least recently used key: the cull's first victim
    assert held is not None
    for i in range(30, 200):
        write(f"k{i}", b"v", None)
    assert all(spare is not held for spare in store.spare_entries)
    assert all(entry is not held for entry in store.iter_entries())
    assert held.key == "k0" and held.pos < 0  # still the removed k0, as the holder saw it


def test_evicted_ttl_entries_are_reused_once_the_deadline_index_lets_go() -> None:
    """The timed index keeps records of evicted keys; its lane trim hands their entries on."""
    store = _store(maxmemory=0, max_entries=600, cull_frequency=3, expiry="timed")
    write = store.writer(0)
    for i in range(600):
        write(f"k{i}", b"v", 3600.0)
    write("k600", b"v", 3600.0)  # culls 200: the lane still holds them
    assert store.spare_entries == []
    reused = 0
    for i in range(601, 1200):
        spare = store.spare_entries[-1] if store.spare_entries else None
        write(f"k{i}", b"v", 3600.0)
        if spare is not None:
            assert store.peek(0, f"k{i}") is spare
            reused += 1
    assert reused > 100  # the lane trim handed over entries of culled keys, and they were used
    assert store.check() == []


def test_reclaimed_entries_are_reused() -> None:
    clock = ManualClock(1000.0)
    store = _store(maxmemory=0, expiry="timed", clock=clock)
    write = store.writer(0)
    for i in range(100):
        write(f"k{i}", b"v", 1.0)
    clock.advance(2.0)
    assert store.expiry.reclaim(clock.time(), 1.0) == 100
    assert 90 <= len(store.spare_entries) <= 100  # the reclaim loop's last entry stays behind
    write("new", b"v", None)
    assert store.lookup(0, "new") == b"v"
    assert store.check() == []


def test_keep_spares_takes_only_removed_entries_up_to_its_bound() -> None:
    spares: list[Entry] = []
    removed = [Entry(f"k{i}", b"v", 1, None, 0) for i in range(SPARE_ENTRIES_MAX + 10)]
    live = Entry("live", b"v", 1, None, 0, pos=0)
    removed.append(live)
    keep_spares(removed, spares)
    assert removed == []
    assert len(spares) == SPARE_ENTRIES_MAX
    assert all(spare is not live for spare in spares)
    assert live.key == "live"


@pytest.mark.parametrize("policy", [p for p in REDIS_POLICIES if p != "noeviction"])
@pytest.mark.parametrize(
    "options",
    [
        {"maxmemory": 20_000, "expiry": "timed"},
        {"maxmemory": 0, "max_entries": 60, "cull_frequency": 3, "expiry": "timed"},
        {"maxmemory": 0, "max_entries": 60, "expiry": "active"},
        {"maxmemory": 15_000, "eviction_mode": "exact", "expiry": "lazy"},
    ],
    ids=["bytes-timed", "cull-timed", "one-by-one-active", "exact-lazy"],
)
def test_reuse_changes_nothing_observable(policy: str, options: dict[str, Any]) -> None:
    """Two stores, one reusing entries and one allocating each, driven alike, stay alike."""
    clock = ManualClock(1000.0)
    reusing = _store(maxmemory_policy=policy, clock=clock, databases=2, **options)
    allocating = _store(maxmemory_policy=policy, clock=clock, databases=2, **options)
    allocating.spare_entries = _NoSpares()
    rng = random.Random(policy)
    writers = [(store.writer(0), store.writer(1)) for store in (reusing, allocating)]
    for step in range(3000):
        db = rng.randrange(2)
        key = f"k{rng.randrange(200)}"
        action = rng.random()
        payload = b"v" * rng.choice([1, 50, 300])
        ttl = rng.choice([None, 2.0, 60.0])
        outcomes = []
        for store, pair in zip((reusing, allocating), writers, strict=True):
            try:
                if action < 0.6:
                    pair[db](key, bytes(bytearray(payload)), ttl)
                elif action < 0.7:
                    store.write(db, key, bytes(bytearray(payload)), ttl and ttl + 1)
                elif action < 0.8:
                    store.delete(db, key)
                else:
                    store.lookup(db, key)
                outcomes.append("ok")
            except OutOfMemoryError:
                outcomes.append("refused")
        assert outcomes[0] == outcomes[1]
        if step % 50 == 0:
            clock.advance(rng.choice([0.5, 3.0]))
            for store in (reusing, allocating):
                store.expiry.reclaim(clock.time(), 1.0)
        assert sorted(map(_slots, reusing.iter_entries())) == sorted(
            map(_slots, allocating.iter_entries())
        ), f"diverged at step {step}"
    assert reusing.used_memory == allocating.used_memory
    assert reusing.stats.evicted_keys == allocating.stats.evicted_keys
    assert reusing.stats.expired_keys == allocating.stats.expired_keys
    assert reusing.check() == [] and allocating.check() == []
    assert allocating.spare_entries == []


@pytest.fixture
def frequent_thread_switches() -> Iterator[None]:
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    yield
    sys.setswitchinterval(previous)


@pytest.mark.usefixtures("frequent_thread_switches")
def test_lock_free_readers_never_see_another_keys_value() -> None:
    """Readers fetch entries without the lock while writers evict and reuse them: a reader
    holding an entry keeps it from being reused, so a hit is always the key's own value."""
    store = _store(maxmemory=0, max_entries=300, cull_frequency=3, clock=None)
    read = store.reader(0)
    errors: list[str] = []
    done = threading.Event()

    def writer(seed: int) -> None:
        rng = random.Random(seed)
        write = store.writer(0)
        for _ in range(20_000):
            key = f"k{rng.randrange(2000)}"
            write(key, key.encode(), rng.choice([None, 30.0]))

    def reader(seed: int) -> None:
        rng = random.Random(seed)
        while not done.is_set():
            key = f"k{rng.randrange(2000)}"
            payload = read(key)
            if payload is not None and payload != key.encode():
                errors.append(f"{key} read {payload!r}")

    writers = [threading.Thread(target=writer, args=(seed,)) for seed in range(2)]
    readers = [threading.Thread(target=reader, args=(seed,)) for seed in range(10, 13)]
    for thread in readers + writers:
        thread.start()
    for thread in writers:
        thread.join()
    done.set()
    for thread in readers:
        thread.join()
    assert errors == []
    assert store.stats.evicted_keys > 1000
    assert store.check() == []


def test_check_reports_a_spare_that_is_still_in_use() -> None:
    store = _store(maxmemory=0)
    store.write(0, "k", b"v", None)
    live = store.peek(0, "k")
    assert live is not None
    store.spare_entries.append(live)
    assert any("spare entry" in problem for problem in store.check())
    store.spare_entries.clear()
    assert store.check() == []
