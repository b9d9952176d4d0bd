"""The live LRU curve's state and per-reference work, compiled (:mod:`cachepolicy.curve`
describes the method, its floor for small key spaces and its memory bound).

The recorder's writer thread feeds every sampled record through here, in the same process as
the requests: interpreted, a reference cost about 6 us (two Fenwick-tree walks of 15 steps,
dict and histogram updates) and held the GIL from them. :func:`drain` is that writer's whole
per-record loop (the recording's keyed hash and packing, the curve's update) in one compiled
call, with the curve's lock taken once per batch rather than per record.
"""

from __future__ import annotations

import heapq
import math
import threading
from collections import deque
from collections.abc import Callable, Sequence
from hashlib import blake2b
from typing import Final

from .sampling import SET, Queued

__all__ = ["DIGESTS", "FLOOR_KEYS", "MAX_KEYS", "ShardsCurve", "drain", "hashed_key", "keyed"]

#: Sampled keys tracked at most. SHARDS reports mean absolute errors near 0.01 with 8K samples
#: on its traces (FAST 2015, section 5).
MAX_KEYS: Final = 8192
#: Keys the curve holds at most while it samples above the recording's rate (small key
#: spaces, see above): as many as it may hold at all, so this is fixed-size SHARDS started at
#: every key, as the paper runs it. On the shared traces at 1 % (3 seeds), 1,024 leaves some
#: seeds 3-4 points off (lirs-gli, cache2k-web07); 2,048 brings every trace's mean within 2,
#: but arc-P3 and scarab-recs, sampled at 1 % exactly, stay at 1.8 and 0.9 (worst seeds 2.1
#: and 1.9); 8,192 samples them at 2.4 % and 3.7 %: 0.8-1.2 and 0.1-0.3. The cost (accesses
#: sampled for the curve alone, in key spaces under ``FLOOR_KEYS / record_rate`` keys) is held
#: by the recorder's budget, whatever this is.
FLOOR_KEYS: Final = MAX_KEYS
#: Histogram resolution: 32 buckets per doubling of the distance (each about 2 % wide); a
#: size inside a bucket counts the part of the bucket's distances below the size.
_BUCKETS_PER_DOUBLING: Final = 32
#: Distances up to 2**56 bytes.
_BUCKETS: Final = 56 * _BUCKETS_PER_DOUBLING
_FULL: Final = 1 << 32
#: Keys whose stored hash :func:`drain` keeps at most (4,096 keys: their digests, and the
#: keys themselves kept alive, under 1.5 MB with keys of Django's 250 characters).
DIGESTS: Final = 4096
#: The Fenwick tree's fewest time slots (it grows and shrinks with the tracked keys).
_MIN_SLOTS: Final = 1024


def _bucket(distance: float) -> int:
    if distance <= 1:
        return 0
    return min(_BUCKETS - 1, int(math.log2(distance) * _BUCKETS_PER_DOUBLING) + 1)


def _below(low: float, high: float, size: float) -> float:
    """The share of a bucket whose distances run from ``low`` to ``high`` at or below
    ``size``, interpolated on the log scale."""
    if size >= high:
        return 1.0
    if size < low or low <= 0:
        return 0.0
    return (math.log(size) - math.log(low)) / (math.log(high) - math.log(low))


def _scaled(counts: list[float], scale: float) -> list[float]:
    return [count * scale for count in counts]


class ShardsCurve:
    """Feed it references (:meth:`access`) and writes (:meth:`resize`); read
    :meth:`hit_ratio_at`."""

    def __init__(
        self, max_keys: int = MAX_KEYS, threshold: int = _FULL, floor_keys: int = FLOOR_KEYS
    ) -> None:
        self.max_keys = max_keys
        self.floor_keys = floor_keys
        #: The recording's threshold: the curve samples at least the keys below it.
        self.record_threshold = threshold
        self._lock = threading.Lock()
        self._start()

    def _start(self) -> None:
        """The empty curve (at construction and :meth:`reset`)."""
        #: Keys whose hash is below this are sampled: every key at first when there is a
        #: floor, lowered as keys arrive (see "Small key spaces" in :mod:`cachepolicy.curve`).
        self.threshold: int = _FULL if self.floor_keys > 0 else self.record_threshold
        self._last: dict[int, int] = {}  # hash -> time of its last reference
        self._cost: dict[int, int] = {}  # hash -> bytes it weighs
        self._largest: list[int] = []  # max-heap (negated) of the tracked hashes
        self._capacity = min(_MIN_SLOTS, 4 * self.max_keys)  # time slots (see _compact)
        self._tree: list[int] = [0] * (self._capacity + 1)  # Fenwick tree: cost at each time
        self._now = 0
        # Counts are floats: they are rescaled when the rate drops.
        self._histogram: list[float] = [0.0] * _BUCKETS
        self._low: list[float] = [math.inf] * _BUCKETS  # each bucket's smallest distance
        self._high: list[float] = [0.0] * _BUCKETS  # ... and largest
        self.references = 0.0
        self.cold = 0.0  # first references: misses at every size

    @property
    def rate(self) -> float:
        return self.threshold / _FULL

    # ------------------------------------------------------------------ Fenwick tree

    def _add(self, slot: int, delta: int) -> None:
        tree = self._tree
        capacity = self._capacity
        index = slot + 1
        while index <= capacity:
            tree[index] += delta
            index += index & -index

    def _prefix(self, slot: int) -> int:
        """Sum of slots 0..slot."""
        tree = self._tree
        total = 0
        index = slot + 1
        while index > 0:
            total += tree[index]
            index -= index & -index
        return total

    def _between(self, first: int, last: int) -> int:
        """Sum of slots first..last (``first`` <= ``last`` + 1): the two prefix walks, stopped
        where they meet (their common part cancels)."""
        tree = self._tree
        total = 0
        high = last + 1
        low = first
        while high != low:  # total + P(high) - P(low) stays the sum (P: prefix up to index)
            if high > low:
                total += tree[high]
                high -= high & -high
            else:
                total -= tree[low]
                low -= low & -low
        return total

    # ------------------------------------------------------------------ updates

    def access(self, hashed: int, cost: int) -> None:
        """One read of the key with hash ``hashed`` (a 32-bit value), weighing ``cost`` bytes
        unless the curve knows better."""
        if hashed >= self.threshold:
            return
        with self._lock:
            self._access(hashed, cost)

    def _access(self, hashed: int, cost: int) -> None:
        self.references += 1
        last = self._last.get(hashed)
        if last is None:
            self.cold += 1
            self._cost[hashed] = cost
            heapq.heappush(self._largest, -hashed)
        else:
            cost = self._cost[hashed]
            # Bytes of the distinct keys read since, and its own: the smallest LRU cache that
            # still holds it now.
            distance = self._between(last + 1, self._now - 1) + cost
            scaled = distance / self.rate
            index = _bucket(scaled)
            self._histogram[index] += 1
            if scaled < self._low[index]:
                self._low[index] = scaled
            if scaled > self._high[index]:
                self._high[index] = scaled
            self._add(last, -cost)
        if self._now == self._capacity:
            self._compact()
        self._last[hashed] = self._now
        self._add(self._now, cost)
        self._now += 1
        while len(self._last) > self._allowed():
            self._drop_largest()

    def _allowed(self) -> int:
        """Keys the sample may hold at the current threshold."""
        return self.floor_keys if self.threshold > self.record_threshold else self.max_keys

    def resize(self, hashed: int, cost: int) -> None:
        """A write changed the key's size."""
        if hashed >= self.threshold:
            return
        with self._lock:
            self._resize(hashed, cost)

    def _resize(self, hashed: int, cost: int) -> None:
        old = self._cost.get(hashed)
        if old is None:
            return
        self._cost[hashed] = cost
        self._add(self._last[hashed], cost - old)

    def _drop_largest(self) -> None:
        """Lower the threshold to the largest tracked hash and forget that key (SHARDS_adj's
        fixed-size rule); or, when that would take it below the recording's threshold from
        above, lower it to the recording's and forget nothing (the bound is then max_keys)."""
        hashed = -self._largest[0]
        floor = self.threshold > self.record_threshold and hashed < self.record_threshold
        lowered = self.record_threshold if floor else hashed
        # Counts gathered at the old rate, rescaled to the new one (as SHARDS does), so that
        # references sampled before and after the drop weigh alike.
        scale = lowered / self.threshold
        self._histogram = _scaled(self._histogram, scale)
        self.references *= scale
        self.cold *= scale
        self.threshold = lowered
        if not floor:
            heapq.heappop(self._largest)
            self._add(self._last.pop(hashed), -self._cost.pop(hashed))

    def lower(self, threshold: int) -> None:
        """Sample fewer keys from now on: forget the tracked keys whose hash is ``threshold``
        or above and rescale the counts (the recorder's writer calls it when it cannot keep
        up with the curve's share of the traffic)."""
        with self._lock:
            if threshold >= self.threshold:
                return
            while self._largest and -self._largest[0] >= threshold:
                hashed = -heapq.heappop(self._largest)
                self._add(self._last.pop(hashed), -self._cost.pop(hashed))
            scale = threshold / self.threshold
            self._histogram = _scaled(self._histogram, scale)
            self.references *= scale
            self.cold *= scale
            self.threshold = threshold

    def _compact(self) -> None:
        """Renumber the tracked keys' times 0..n-1 (the tree's slots are used up), in a tree
        of four slots per tracked key (at least :data:`_MIN_SLOTS`, at most ``4 x max_keys``):
        a walk through it is as short as the keys tracked allow (each level costs a boxed
        int written), and renumbering comes at most every ``3 x n`` references."""
        order = sorted(self._last.items(), key=lambda item: item[1])
        self._capacity = min(max(_MIN_SLOTS, 4 * len(order)), 4 * self.max_keys)
        self._tree = [0] * (self._capacity + 1)
        slot = 0
        for hashed, _ in order:
            self._last[hashed] = slot
            self._add(slot, self._cost[hashed])
            slot += 1
        self._now = slot

    # ------------------------------------------------------------------ reading

    def hit_ratio_at(self, size: float, total: int | None = None) -> float:
        """Estimated LRU hit ratio of a cache of ``size`` bytes.

        ``total``, the number of reads of every key (sampled or not), applies SHARDS_adj:
        a sample holds ``total x rate`` reads only on average, and the difference is mostly
        reads of a few hot keys that fell in or out of the sample, hits at every size; it is
        added to (or taken from) the smallest distances. Without it the ratio is the
        sample's own, whose error grows when the traffic is skewed.
        """
        with self._lock:
            if not self.references:
                return 0.0
            low, high = self._low, self._high
            hits = 0.0
            for index, count in enumerate(self._histogram):
                if count:
                    hits += count * _below(low[index], high[index], size)
            if total is None or total * self.rate <= 0:
                return hits / self.references
            expected = total * self.rate
            return min(1.0, max(0.0, (hits + expected - self.references) / expected))

    def curve(self, sizes: Sequence[float], total: int | None = None) -> list[float]:
        return [self.hit_ratio_at(size, total) for size in sizes]

    def reset(self) -> None:
        """Forget everything (the store's statistics were reset)."""
        with self._lock:
            self._start()


def keyed(secret: bytes) -> blake2b:
    """The recording's key hash, keyed with ``secret``, before any key (copied per key)."""
    return blake2b(digest_size=8, key=secret)


def hashed_key(base: blake2b, key: str) -> bytes:
    """The 8 bytes a recording stores for ``key``: BLAKE2b of its UTF-8 bytes keyed with the
    secret ``base`` was made with (:func:`keyed`); copying the keyed state skips hashing the
    key block again for each key."""
    state = base.copy()
    state.update(key.encode("utf-8", "surrogatepass"))
    return state.digest()


def drain(
    queue: deque[Queued],
    count: int,
    threshold: int,
    base: blake2b,
    digests: dict[str, bytes],
    pack: Callable[[bytes, int, int, int, float, float], bytes],
    curve: ShardsCurve,
    overhead: int,
) -> list[bytes]:
    """Take ``count`` records from ``queue``: the packed records of those in the recording's
    sample (sampling hash below ``threshold``; the key stored as :func:`hashed_key` with
    ``base``, ``pack`` makes the record), in order; every read feeds ``curve`` and every
    write gives it the key's new size (``overhead`` + key length + value size bytes).

    ``digests`` keeps the stored hashes of recently recorded keys (a sampled key is usually
    recorded again and again), up to :data:`DIGESTS` of them, then starts over: memory only,
    the writer's, never written."""
    records: list[bytes] = []
    with curve._lock:
        curve_threshold = curve.threshold
        for _ in range(count):
            key, op, size, ttl, when, hashed = queue.popleft()
            if hashed < threshold:  # the recording's sample; above it, the curve's alone
                digest = digests.get(key)
                if digest is None:
                    if len(digests) >= DIGESTS:
                        digests.clear()
                    digest = digests[key] = hashed_key(base, key)
                records.append(pack(digest, min(len(key), 0xFFFF), size, op, ttl, when))
            if op <= SET and hashed < curve_threshold:
                cost = overhead + len(key) + size
                if op == SET:
                    curve._resize(hashed, cost)
                else:
                    curve._access(hashed, cost)
                    curve_threshold = curve.threshold  # a drop may have lowered it
    return records
