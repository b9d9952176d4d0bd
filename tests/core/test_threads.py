"""Thread hammer: several threads read and write under eviction pressure; invariants hold.

Checked afterwards (and by ``check()`` via the fixture): used memory never exceeded maxmemory,
accounting equals the sum of entry sizes, and every key that is missing was deleted, evicted or
expired (each announced by an event), never silently lost.
"""

from __future__ import annotations

import itertools
import random
import sys
import threading
from collections.abc import Iterator

import pytest

from cachepolicy import Cache, KeyspaceEvent, OutOfMemoryError
from tests.conftest import MakeCache

THREADS = 4
OPS = 3000
LIMIT = 60_000


@pytest.fixture(autouse=True)
def frequent_thread_switches() -> Iterator[None]:
    """Switch threads every 10 µs instead of 5 ms so races actually interleave."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    yield
    sys.setswitchinterval(previous)


@pytest.mark.parametrize(
    ("policy", "mode"),
    [
        ("allkeys-lru", "sampled"),
        ("allkeys-lru", "exact"),
        ("allkeys-lfu", "sampled"),
        ("allkeys-lfu", "exact"),
        ("volatile-ttl", "exact"),
        ("allkeys-random", "sampled"),
    ],
)
def test_hammer_keeps_invariants(make_cache: MakeCache, policy: str, mode: str) -> None:
    cache: Cache = make_cache(maxmemory=LIMIT, maxmemory_policy=policy, eviction_mode=mode)
    removed: set[tuple[int, str]] = set()
    removed_lock = threading.Lock()
    peak = [0]

    def on_event(event: KeyspaceEvent) -> None:
        if event.name in ("evicted", "expired", "del"):
            with removed_lock:
                removed.add((event.db, event.key))
        used = cache.store.used_memory
        peak[0] = max(peak[0], used)

    cache.subscribe(on_event)
    written: list[set[tuple[int, str]]] = [set() for _ in range(THREADS)]
    errors: list[BaseException] = []
    start = threading.Barrier(THREADS)

    def worker(index: int) -> None:
        rng = random.Random(index)
        view = cache.select(index % 2)
        start.wait()
        try:
            for _ in range(OPS):
                key = f"t{index}:{rng.randrange(400)}"
                roll = rng.random()
                if roll < 0.5:
                    value = view.get(key)
                    assert value is None or value[0] == key
                elif roll < 0.9:
                    try:
                        view.set(key, (key, "x" * rng.randrange(200)), ttl=1000)
                        written[index].add((view.db, key))
                    except OutOfMemoryError:
                        pass
                elif roll < 0.97:
                    view.delete(key)
                else:
                    view.get_many([key, key + "x"])
                assert cache.store.used_memory <= LIMIT
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a worker hung"
    assert errors == []
    present = {(e.db, e.key) for e in cache.store.engine.iter_entries()}
    for keys in written:
        missing = keys - present
        assert missing <= removed, f"silently lost: {sorted(missing - removed)[:5]}"
    assert peak[0] <= LIMIT
    info = cache.info()
    assert info["evicted_keys"] > 0
    hits, misses = info["keyspace_hits"], info["keyspace_misses"]
    reads = hits + misses
    assert reads > 0


def test_hit_counters_are_exact_under_threads(make_cache: MakeCache) -> None:
    cache = make_cache()
    cache.set("hot", 1)

    def reader() -> None:
        for _ in range(5000):
            cache.get("hot")
            cache.get("cold")

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    info = cache.info()
    assert (info["keyspace_hits"], info["keyspace_misses"]) == (20_000, 20_000)


def test_the_access_sequence_never_hands_out_a_number_twice() -> None:
    """Lock-free reads stamp entries from many threads at once: every stamp gets its own
    number (the tie-free order sampled LRU relies on), in either build."""
    from cachepolicy._core.entry import Entry, stamp

    batches = [[Entry(f"{t}:{i}", b"", 0, None, 0) for i in range(20_000)] for t in range(4)]

    def work(entries: list[Entry]) -> None:
        for entry in entries:
            stamp(entry, 0.0)

    threads = [threading.Thread(target=work, args=(batch,)) for batch in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    numbers = [entry.aseq for batch in batches for entry in batch]
    assert len(set(numbers)) == len(numbers) == 80_000
    for batch in batches:  # each thread's stamps increase
        assert all(a.aseq < b.aseq for a, b in itertools.pairwise(batch))
