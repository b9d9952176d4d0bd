"""Replays of one trace at one size: through the real engine, exact LRU and Belady's OPT.

Every replay returns :class:`Counts`. What a request does:

* a bare key stream (no operations) is a demand-filled cache: each request is a ``get``, and a
  miss is filled with a ``set``;
* a stream with operations (a recording, a CSV with an ``op`` column) replays the
  application's own ``set`` and ``delete``; a ``get`` that misses is filled unless the key's
  next operation is the application's own ``set`` (:meth:`Trace.fills`).

Two budgets. **Entries**: the cache holds ``size`` keys (the engine runs with
``max_entries=size``, ``cull_frequency=None``, ``maxmemory=0``: one eviction per insert).
**Bytes**: ``size`` is ``maxmemory`` as the engine counts it, so a size the simulator
recommends is the number to write in the settings. The engine charges each entry its value's
bytes plus the key and a fixed per-entry overhead (:mod:`cachepolicy._core.entry`); the
references charge the same per entry (:func:`entry_costs`) but not the few bytes of growth of
the engine's hash tables, so the engine holds slightly fewer keys than exact LRU at one size.
The references ignore TTLs (the engine honours them); a touch refreshes exact LRU's recency.
"""

from __future__ import annotations

import heapq
import math
from array import array
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..clock import ManualClock
from ..errors import OutOfMemoryError, ValueTooLargeError
from ..view import Cache
from .readers import DELETE, EXPIRE, GET, SET, TOUCH, Trace

__all__ = [
    "Counts",
    "RawBytes",
    "ReplayClock",
    "entry_costs",
    "key_names",
    "replay_engine",
    "replay_lru",
    "replay_opt",
]

#: Where the replay clock starts (epoch seconds; any fixed value makes replays repeatable).
_START = 1_700_000_000.0
#: Victim candidates the size-aware OPT compares (byte mode): the entries needed furthest in
#: the future, of which it evicts the one with the largest (time to next use x bytes).
_SIZE_AWARE_CANDIDATES = 8


@dataclass(frozen=True)
class Counts:
    """What one replay measured. ``requests`` counts gets; ``refused`` the writes the cache
    refused (a policy with nothing it may evict: ``noeviction``, ``volatile-*`` without TTLs)."""

    hits: int
    requests: int
    hit_bytes: int = 0
    request_bytes: int = 0
    refused: int = 0
    #: Gets a sample was expected to hold (the traffic's reads x the rate), when known: the
    #: hit ratio then takes the difference from ``requests`` as hits (SHARDS_adj).
    expected: float = 0.0

    @property
    def hit_ratio(self) -> float:
        if self.expected > 0:
            adjusted = (self.hits + self.expected - self.requests) / self.expected
            return min(1.0, max(0.0, adjusted))
        return self.hits / self.requests if self.requests else 0.0

    @property
    def byte_hit_ratio(self) -> float:
        return self.hit_bytes / self.request_bytes if self.request_bytes else 0.0


class ReplayClock(ManualClock):
    """A :class:`~cachepolicy.ManualClock` the replay moves to each request's time.

    A replay is single-threaded and nothing waits on its clock, so :meth:`move_to` sets the
    time directly, skipping the condition variable :meth:`ManualClock.set` notifies (a
    quarter of a cache ``get`` per request). Time never moves backwards: requests recorded a
    little out of order by concurrent threads keep the later time.
    """

    def move_to(self, now: float) -> None:
        if now > self._now:
            self._now = now


class RawBytes:
    """A serializer that stores the replay's payloads as they are: the value of a request of
    ``n`` bytes is one shared ``bytes`` object of length ``n``, so a replay allocates nothing
    per request and the engine charges exactly ``n`` value bytes."""

    dumps = staticmethod(bytes)
    loads = staticmethod(bytes)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RawBytes)

    def __hash__(self) -> int:
        return hash(RawBytes)


def key_names(trace: Trace) -> list[str]:
    """The engine's key string of every interned key (``"0"``, ``"1"``, ...), zero-padded to
    the recorded key's length when the trace knows it (a recording), so that each stand-in
    costs the engine what the key did (for ASCII keys, exactly)."""
    lengths = trace.key_lengths
    if lengths is None:
        return [str(key) for key in range(trace.distinct)]
    return [str(key).zfill(lengths[key]) for key in range(trace.distinct)]


def entry_costs(trace: Trace, names: Sequence[str]) -> array[int]:
    """Per request, the bytes the engine charges for its entry (byte mode's unit)."""
    sizes = trace.sizes
    assert sizes is not None, "byte mode needs sizes"
    probe = Cache(maxmemory=0, databases=1, serializer=RawBytes())
    engine = probe.store.engine
    base = engine.entry_size("", b"", False)
    empty_key = "".__sizeof__()
    key_cost = [name.__sizeof__() - empty_key for name in names]
    probe.close()
    keys = trace.keys
    return array("q", (base + key_cost[keys[i]] + sizes[i] for i in range(len(keys))))


# ---------------------------------------------------------------------------------- engine


def replay_engine(
    trace: Trace,
    size: int,
    *,
    policy: str,
    eviction_mode: str = "sampled",
    by_bytes: bool = False,
    seed: int = 1,
    rate: float = 1000.0,
    options: Mapping[str, Any] | None = None,
    names: Sequence[str] | None = None,
) -> Counts:
    """Replay through a real :class:`cachepolicy.Cache` (every get and set its public API).

    ``rate`` (requests per second) times a trace without timestamps; it matters only to
    time-based ranking (LFU decay: ``lfu_decay_time`` minutes per step)."""
    names = names if names is not None else key_names(trace)
    clock = ReplayClock(_START)
    limits: dict[str, Any] = (
        {"maxmemory": size}
        if by_bytes
        else {"maxmemory": 0, "max_entries": size, "cull_frequency": None}
    )
    cache = Cache(
        databases=1,
        maxmemory_policy=policy,
        eviction_mode=eviction_mode,
        serializer=RawBytes(),
        clock=clock,
        seed=seed,
        **limits,
        **(options or {}),
    )
    try:
        if trace.ops is None and trace.times is None and trace.ttls is None:
            return _replay_stream(cache, clock, trace, names, by_bytes, rate)
        return _replay_operations(cache, clock, trace, names, by_bytes, rate)
    finally:
        cache.close()


def _payloads(trace: Trace, by_bytes: bool) -> list[bytes] | None:
    """One shared payload per distinct size (index = size), or None in entry mode."""
    if not by_bytes:
        return None
    assert trace.sizes is not None
    largest = max(trace.sizes)
    shared: dict[int, bytes] = {size: bytes(size) for size in set(trace.sizes)}
    return [shared.get(size, b"") for size in range(largest + 1)]


def _replay_stream(
    cache: Cache,
    clock: ReplayClock,
    trace: Trace,
    names: Sequence[str],
    by_bytes: bool,
    rate: float,
) -> Counts:
    """The common case, kept lean: every request a get, every miss filled, no TTLs."""
    get, put, move = cache.get, cache.set, clock.move_to
    tick = 1.0 / rate
    hits = hit_bytes = refused = 0
    payloads = _payloads(trace, by_bytes)
    sizes = trace.sizes if by_bytes else None
    for index, key in enumerate(trace.keys):
        move(_START + index * tick)
        name = names[key]
        if get(name) is None:
            try:
                put(name, payloads[sizes[index]] if payloads and sizes else b"")
            except (OutOfMemoryError, ValueTooLargeError):
                refused += 1
        else:
            hits += 1
            if sizes is not None:
                hit_bytes += sizes[index]
    requests = len(trace.keys)
    return Counts(hits, requests, hit_bytes, sum(sizes) if sizes else 0, refused)


def _replay_operations(
    cache: Cache,
    clock: ReplayClock,
    trace: Trace,
    names: Sequence[str],
    by_bytes: bool,
    rate: float,
) -> Counts:
    """Any trace: operations, TTLs and timestamps as recorded."""
    get, put, delete, move = cache.get, cache.set, cache.delete, clock.move_to
    touch, expire, persist = cache.touch, cache.expire, cache.persist
    tick = 1.0 / rate
    hits = hit_bytes = refused = requests = request_bytes = 0
    payloads = _payloads(trace, by_bytes)
    sizes, ops, ttls, times = trace.sizes, trace.ops, trace.ttls, trace.times
    fills = trace.fills()
    for index, key in enumerate(trace.keys):
        move(times[index] if times is not None else _START + index * tick)
        name = names[key]
        op = ops[index] if ops is not None else GET
        ttl = ttls[index] if ttls is not None else math.inf
        if op == DELETE:
            delete(name)
            continue
        if op == TOUCH:
            try:
                touch(name) if math.isnan(ttl) else touch(name, _ttl(ttl))
            except (OutOfMemoryError, ValueTooLargeError):
                refused += 1
            continue
        if op == EXPIRE:
            persist(name) if math.isinf(ttl) else expire(name, ttl)
            continue
        size = sizes[index] if sizes is not None else 0
        if op == GET:
            requests += 1
            request_bytes += size
            if get(name) is not None:
                hits += 1
                hit_bytes += size
                continue
            if not fills[index]:
                continue
        payload = payloads[size] if payloads else b""
        try:
            if op == SET and math.isnan(ttl):
                put(name, payload, keepttl=True)
            else:
                put(name, payload, _ttl(ttl))
        except (OutOfMemoryError, ValueTooLargeError):
            refused += 1
    if not by_bytes:
        hit_bytes = request_bytes = 0
    return Counts(hits, requests, hit_bytes, request_bytes, refused)


def _ttl(ttl: float) -> float | None:
    """A trace's TTL as the cache takes it (``inf``: none)."""
    return None if math.isinf(ttl) else ttl


# ---------------------------------------------------------------------------------- references


def replay_lru(trace: Trace, size: int, costs: Sequence[int] | None = None) -> Counts:
    """Exact LRU (an ``OrderedDict``, most recent last) under ``size`` entries, or ``size``
    bytes when ``costs`` (per request, :func:`entry_costs`) are given. TTLs are ignored."""
    cache: OrderedDict[int, int] = OrderedDict()  # key -> its cost
    move, pop = cache.move_to_end, cache.popitem
    used = hits = hit_bytes = requests = request_bytes = refused = 0
    keys, ops, sizes = trace.keys, trace.ops, trace.sizes
    fills = trace.fills()
    for index, key in enumerate(keys):
        op = ops[index] if ops is not None else GET
        if op == DELETE:
            used -= cache.pop(key, 0)
            continue
        if op in (TOUCH, EXPIRE):  # a touch refreshes recency; TTLs are ignored
            if op == TOUCH and key in cache:
                move(key)
            continue
        if op == GET:
            requests += 1
            value_bytes = sizes[index] if sizes is not None else 0
            request_bytes += value_bytes
            if key in cache:
                hits += 1
                hit_bytes += value_bytes
                move(key)
                continue
            if not fills[index]:
                continue
        cost = costs[index] if costs is not None else 1
        used -= cache.pop(key, 0)  # a set replaces the value (and its cost)
        if cost > size:
            refused += 1
            continue
        while used + cost > size:
            used -= pop(last=False)[1]
        cache[key] = cost
        used += cost
    return Counts(hits, requests, hit_bytes if costs else 0, request_bytes if costs else 0, refused)


def _next_uses(trace: Trace) -> array[int]:
    """Per request, the index of the next get that reads the value it leaves cached, or
    ``len(trace)`` (never). A set or delete of the key in between ends that value's life."""
    keys, ops = trace.keys, trace.ops
    never = len(keys)
    next_use = array("q", bytes(8 * never))
    last: dict[int, int] = {}
    for index in range(never - 1, -1, -1):
        key = keys[index]
        next_use[index] = last.get(key, never)
        op = GET if ops is None else ops[index]
        if op == GET:
            last[key] = index
        elif op in (SET, DELETE):
            last[key] = never
    return next_use


def replay_opt(trace: Trace, size: int, costs: Sequence[int] | None = None) -> Counts:
    """Belady's OPT: on a full cache, evict the entry whose next use is furthest away, and do
    not cache an incoming value needed later than every cached one (or never again).

    In entry mode this is the optimum, an upper bound for any policy. In byte mode (``costs``)
    the optimum is NP-hard; this is the size-aware variant: among the
    ``_SIZE_AWARE_CANDIDATES`` entries needed furthest ahead, evict the one with the largest
    (requests until its next use) x (bytes), and bypass the incoming value when its own such
    product is larger. A strong reference, not a proven bound."""
    keys, ops, sizes = trace.keys, trace.ops, trace.sizes
    never = len(keys)
    next_use = _next_uses(trace)
    fills = trace.fills()
    candidates = _SIZE_AWARE_CANDIDATES if costs is not None else 1
    cached: dict[int, int] = {}  # key -> the next use of its cached value
    cost_of: dict[int, int] = {}
    heap: list[tuple[int, int]] = []  # (-next use, key); stale records skipped lazily
    used = hits = hit_bytes = requests = request_bytes = refused = 0
    push, pop = heapq.heappush, heapq.heappop
    for index, key in enumerate(keys):
        op = ops[index] if ops is not None else GET
        if op == DELETE:
            if cached.pop(key, None) is not None:
                used -= cost_of.pop(key)
            continue
        if op in (TOUCH, EXPIRE):
            continue
        if op == GET:
            requests += 1
            value_bytes = sizes[index] if sizes is not None else 0
            request_bytes += value_bytes
            if key in cached:
                hits += 1
                hit_bytes += value_bytes
                cached[key] = next_use[index]
                push(heap, (-next_use[index], key))
                continue
            if not fills[index]:
                continue
        if key in cached:  # a set replaces the cached value
            del cached[key]
            used -= cost_of.pop(key)
        upcoming = next_use[index]
        cost = costs[index] if costs is not None else 1
        if upcoming == never or cost > size:
            refused += cost > size
            continue
        admitted = True
        while used + cost > size:
            # The ``candidates`` current records needed furthest ahead.
            found: list[tuple[int, int]] = []
            while heap and len(found) < candidates:
                far, victim = pop(heap)
                if cached.get(victim) == -far:
                    found.append((far, victim))
            best = max(found, key=lambda record: (-record[0] - index) * cost_of[record[1]])
            best_next, victim = -best[0], best[1]
            for record in found:
                if record is not best:
                    push(heap, record)
            if (best_next - index) * cost_of[victim] <= (upcoming - index) * cost:
                push(heap, best)  # the incoming value is the worst to keep: bypass it
                admitted = False
                break
            del cached[victim]
            used -= cost_of.pop(victim)
        if not admitted:
            continue
        cached[key] = upcoming
        cost_of[key] = cost
        used += cost
        push(heap, (-upcoming, key))
        if len(heap) > 4 * len(cached) + 64:  # drop stale records
            heap = [(-n, k) for k, n in cached.items()]
            heapq.heapify(heap)
    return Counts(hits, requests, hit_bytes if costs else 0, request_bytes if costs else 0, refused)
