"""The cache-aside Zipf mix every benchmark runs: seeded key streams and the read/write loop.

A thread of the mix walks its own stream of Zipf-distributed keys; at each position it either
writes the key (a share ``write_share`` of the positions, drawn once, seeded) or reads it, and a
read that misses is followed by a write of the value (cache-aside: the application computes
what was missing and stores it). ``bench_django.py``, ``bench_redis.py`` and ``bench_near.py``
all drive their subjects through :class:`Mix`, so "zipf 90/10" means the same loop in every
results file.
"""

from __future__ import annotations

import bisect
import itertools
import random
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["Mix", "mixes", "read_hit_ratio", "run_threads", "totals", "zipf_keys"]

#: A subject's read and write, as the mix calls them: ``get(key)`` (None = miss) and
#: ``set(key, value)``.
Ops = tuple[Callable[[str], Any], Callable[[str, Any], Any]]


def zipf_keys(count: int, universe: int, seed: int, s: float = 1.0, prefix: str = "") -> list[str]:
    """``count`` keys drawn from a Zipf(s) popularity over ``universe`` keys, seeded."""
    rng = random.Random(seed)
    cumulative = list(itertools.accumulate(1.0 / rank**s for rank in range(1, universe + 1)))
    total = cumulative[-1]
    return [
        f"{prefix}z{bisect.bisect_left(cumulative, rng.random() * total)}" for _ in range(count)
    ]


class Mix:
    """One thread's stream of the mix, where it has got to, and what it has counted."""

    def __init__(self, keys: Sequence[str], writes: Sequence[bool], value: Any) -> None:
        self.keys = keys
        self.writes = writes
        self.value = value
        self.position = 0
        self.ops = self.hits = self.reads = 0

    def warm(self, ops: Ops, count: int) -> None:
        """Read (and fill on a miss) the next ``count`` keys, uncounted: the steady state the
        timed part then starts from."""
        get, set_ = ops
        value = self.value
        for key in self.keys[self.position : self.position + count]:
            if get(key) is None:
                set_(key, value)
        self.position = (self.position + count) % len(self.keys)

    def run(self, ops: Ops, count: int) -> None:
        """The next ``count`` operations of the stream, counted."""
        get, set_ = ops
        keys, is_write, value = self.keys, self.writes, self.value
        n = len(keys)
        i = self.position
        hits = reads = 0
        for _ in range(count):
            key = keys[i]
            if is_write[i]:
                set_(key, value)
            else:
                reads += 1
                if get(key) is None:
                    set_(key, value)
                else:
                    hits += 1
            i = (i + 1) % n
        self.position = i
        self.ops += count
        self.hits += hits
        self.reads += reads


def mixes(
    threads: int,
    *,
    length: int,
    universe: int,
    write_share: float,
    value: Any,
    key_seed: int = 1000,
    write_seed: int = 2000,
    prefix: str = "",
) -> list[Mix]:
    """One :class:`Mix` per thread: thread ``t`` draws keys with seed ``key_seed + t`` and its
    writes from its own ``Random(write_seed + t)`` (one generator drawn ``length`` times; a new
    ``Random(seed)`` per draw would repeat its first value: all writes or none)."""
    made = []
    for t in range(threads):
        rng = random.Random(write_seed + t)
        keys = zipf_keys(length, universe, key_seed + t, prefix=prefix)
        made.append(Mix(keys, [rng.random() < write_share for _ in range(length)], value))
    return made


def read_hit_ratio(streams: Sequence[Mix]) -> float:
    """The share of the streams' reads that hit."""
    return sum(mix.hits for mix in streams) / max(1, sum(mix.reads for mix in streams))


def totals(streams: Sequence[Mix], elapsed: float) -> tuple[float, float]:
    """(ops/s over all streams, their read hit ratio)."""
    return sum(mix.ops for mix in streams) / elapsed, read_hit_ratio(streams)


def run_threads(
    streams: Sequence[Mix], ops_for: Callable[[int], Ops], seconds: float, batch: int
) -> float:
    """Run each stream on its own thread for about ``seconds`` (``batch`` operations between
    checks of the clock); returns the seconds elapsed. ``ops_for(t)`` is called on thread
    ``t`` itself (Django gives every thread its own backend object)."""
    barrier = threading.Barrier(len(streams) + 1)
    stop = threading.Event()

    def worker(t: int) -> None:
        ops = ops_for(t)
        barrier.wait()
        while not stop.is_set():
            streams[t].run(ops, batch)

    pool = [threading.Thread(target=worker, args=(t,)) for t in range(len(streams))]
    for thread in pool:
        thread.start()
    barrier.wait()
    start = time.perf_counter()
    time.sleep(seconds)  # the benchmark's own run time, not a test assertion
    stop.set()
    for thread in pool:
        thread.join()
    return time.perf_counter() - start
