"""The store's write closure (``CacheStore.writer``) is ``CacheStore.write``, faster.

Adapters and ``Cache.set`` write through the closure, which writes the common cases out inline;
``write`` is the general path. Two identical stores (same seed, same manual clock) are driven
with the same random commands, one through each path, and must end in the same state after
every step: keys, payloads, deadlines, sizes, memory, counters and the events delivered.
"""

from __future__ import annotations

import random
import threading
from typing import Any

import pytest

from cachepolicy import CacheStore, ManualClock, OutOfMemoryError
from cachepolicy.events import KeyspaceEvent
from cachepolicy.eviction import REDIS_POLICIES
from cachepolicy.expiry import lazyfree

# TTLs the closure handles itself and ones it must hand to write(): none, ordinary, a TTL too
# small to move the clock, zero, negative, infinite.
_TTLS: list[float | None] = [None, None, 5.0, 30, 0.5, 1e-300, 0.0, -1.0, float("inf")]


def _state(store: CacheStore) -> dict[str, Any]:
    # Every slot but the array positions (which only need to be consistent, see check()):
    # entries reused from spares must look exactly like new ones.
    entries = sorted(
        (e.db, e.key, e.payload, e.deadline, e.size, e.atime, e.aseq, e.lfu, e.ldt, e.version)
        for e in store.iter_entries()
    )
    stats = store.stats
    return {
        "entries": entries,
        "used_memory": store.used_memory,
        "key_count": store.key_count,
        "counters": (
            stats.evicted_keys,
            stats.evicted_bytes,
            stats.expired_keys,
            stats.used_memory_peak,
        ),
        "check": store.check(),
    }


def _pair(
    policy: str, *, expiry: str = "timed", **options: Any
) -> tuple[CacheStore, CacheStore, ManualClock]:
    clock = ManualClock(1000.0)
    stores = [
        CacheStore(
            maxmemory_policy=policy, expiry=expiry, clock=clock, seed=7, databases=2, **options
        )
        for _ in range(2)
    ]
    return stores[0], stores[1], clock


@pytest.mark.parametrize("policy", [p for p in REDIS_POLICIES if p != "noeviction"])
@pytest.mark.parametrize(
    "options",
    [
        {"maxmemory": 40_000},
        {"maxmemory": 0, "max_entries": 60, "cull_frequency": 3},
        {"maxmemory": 0, "max_entries": 60},
        {"maxmemory": 30_000, "eviction_mode": "exact", "lazyfree_threshold": 200},
    ],
    ids=["bytes", "cull", "one-by-one", "exact-lazyfree"],
)
def test_writer_matches_write(policy: str, options: dict[str, Any]) -> None:
    slow, fast, clock = _pair(policy, **options)
    writers = [fast.writer(0), fast.writer(1, "p:")]
    seen: list[list[KeyspaceEvent]] = [[], []]
    rng = random.Random(policy)
    for step in range(3000):
        if step == 1500:  # from here on a subscriber is listening: the closure must defer
            slow.subscribe(seen[0].append)
            fast.subscribe(seen[1].append)
        db = rng.randrange(2)
        key = f"k{rng.randrange(150)}"
        payload = b"v" * rng.choice([1, 10, 100, 400])
        ttl = rng.choice(_TTLS)
        outcomes = []
        for path in ("write", "writer"):
            try:
                # Each store gets its own payload object: a value shared by both would keep the
                # lazy-free thread waiting for the other store to let go of it.
                own = bytes(bytearray(payload))
                if path == "write":
                    slow.write(db, ("p:" + key) if db else key, own, ttl)
                else:
                    writers[db](key, own, ttl)
                outcomes.append("stored")
            except OutOfMemoryError:
                outcomes.append("refused")
        assert outcomes[0] == outcomes[1]
        if rng.random() < 0.2:
            clock.advance(rng.choice([0.1, 1.0, 4.0]))
        assert _state(fast) == _state(slow), f"diverged at step {step}"
    assert seen[0] == seen[1]
    assert seen[0], "the subscriber saw nothing: the deferred path was not exercised"
    assert lazyfree.drain(30)  # leave no queued garbage to the next test


def test_writer_encodes_before_locking_and_loses_nothing_on_error() -> None:
    store = CacheStore(maxmemory=0)
    write = store.writer(0, encode=lambda value: bytes(value))
    write("k", [1, 2], None)
    with pytest.raises(TypeError):
        write("k", object(), None)
    assert store.lookup(0, "k") == b"\x01\x02"
    assert not store.lock.locked()


def test_writer_takes_the_lock_the_store_has_now() -> None:
    """A forked child gets a new store lock; a closure made before the fork must use it."""
    store = CacheStore(maxmemory=0)
    write = store.writer(0)
    old = store._lock
    old.acquire()  # as if a thread of the parent held it at fork time
    try:
        store._lock = threading.Lock()  # what the fork hook does in the child
        worker = threading.Thread(target=write, args=("k", b"v", 10.0), daemon=True)
        worker.start()
        worker.join(timeout=10)
        assert not worker.is_alive(), "the closure waited on the replaced lock"
    finally:
        old.release()
    assert store.lookup(0, "k") == b"v"


@pytest.mark.parametrize(
    ("policy", "expiry", "indexed"),
    [
        ("allkeys-lru", "timed", False),
        ("allkeys-lfu", "background", False),
        ("allkeys-random", "lazy", False),
        ("volatile-lru", "timed", True),
        ("volatile-random", "timed", True),
        ("allkeys-lru", "active", True),
    ],
)
def test_ttl_sampling_index_only_where_something_samples_ttl_keys(
    policy: str, expiry: str, indexed: bool
) -> None:
    store = CacheStore(maxmemory=0, maxmemory_policy=policy, expiry=expiry, seed=1)
    write = store.writer(0)
    for i in range(50):
        write(f"k{i}", b"v", 60.0 if i % 2 else None)
    keyspace = store.keyspaces[0]
    assert keyspace.index_volatile is indexed
    assert keyspace.volatile_count == 25
    assert sorted(e.key for e in keyspace.volatile_entries()) == sorted(
        f"k{i}" for i in range(1, 50, 2)
    )
    if not indexed:
        with pytest.raises(RuntimeError, match="keeps no TTL sampling index"):
            keyspace.random_entry(store.rng, True)
    for i in range(0, 50, 3):
        store.delete(0, f"k{i}")
    store.persist(0, "k1")
    assert store.check() == []
    store.close()
