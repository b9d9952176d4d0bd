"""A live estimate of the LRU hit ratio as a function of ``maxmemory`` (fixed-size SHARDS).

Waldspurger et al., "Efficient MRC Construction with SHARDS" (FAST 2015): the LRU stack
distance of each reference, computed on a spatial sample of the keys (those whose hash falls
below a threshold ``T``) and divided by the sampling rate ``T / 2**32``, estimates the full
trace's. "Fixed-size" SHARDS bounds the state: when more than ``max_keys`` sampled keys are
tracked, ``T`` drops to the largest tracked hash and that key is forgotten, so the rate adapts
to the traffic and memory stays bounded whatever the key space.

Distances are in bytes (each key weighs what the engine charges for it, as the recorder
reports: value size + key length + per-entry overhead), so the curve is hit ratio against
``maxmemory``. A reference at scaled distance ``d`` is a hit in every LRU cache of at least
``d`` bytes; references to keys seen for the first time are misses at every size. Distances go
into a histogram with :data:`_BUCKETS_PER_DOUBLING` buckets per doubling (2 % wide, read
with interpolation).

**Memory bound.** At most ``max_keys`` tracked keys: a dict entry, a heap record and two
Fenwick-tree slots each, plus the fixed histogram. With the default 8,192 keys this is about
2.8 MB, 3.5 MB at the peak of a renumbering (tracemalloc; ``tests/core/test_curve.py`` holds
it under 4 MB), whatever the traffic.
All updates run in the recorder's writer thread, off the request path.
"""

from __future__ import annotations

import heapq
import math
import threading
from collections.abc import Mapping, Sequence
from typing import Any, Final

__all__ = ["MAX_KEYS", "ShardsCurve", "curve_text"]

#: Sampled keys tracked at most. SHARDS reports mean absolute errors near 0.01 with 8K samples
#: on its traces (FAST 2015, section 5).
MAX_KEYS: Final = 8192
#: Histogram resolution: 32 buckets per doubling of the distance (each about 2 % wide); a
#: size inside a bucket counts the part of it below the size (log-linear interpolation).
_BUCKETS_PER_DOUBLING: Final = 32
#: Distances up to 2**56 bytes.
_BUCKETS: Final = 56 * _BUCKETS_PER_DOUBLING
_FULL: Final = 1 << 32


def _bucket(distance: float) -> int:
    if distance <= 1:
        return 0
    return min(_BUCKETS - 1, int(math.log2(distance) * _BUCKETS_PER_DOUBLING) + 1)


def _below(index: int, size: float) -> float:
    """The share of bucket ``index`` (distances ``2**((index-1)/k) .. 2**(index/k)``) at or
    below ``size``, interpolated on the log scale."""
    if index == 0:
        return 1.0 if size >= 1 else 0.0
    if size <= 0:
        return 0.0
    position = math.log2(size) * _BUCKETS_PER_DOUBLING - (index - 1)
    return min(1.0, max(0.0, position))


class ShardsCurve:
    """Feed it references (:meth:`access`) and writes (:meth:`resize`); read
    :meth:`hit_ratio_at`."""

    def __init__(self, max_keys: int = MAX_KEYS, threshold: int = _FULL) -> None:
        self.max_keys = max_keys
        #: Keys whose hash is below this are sampled (the recorder's own threshold at start).
        self.threshold = threshold
        self._initial = threshold
        self._last: dict[int, int] = {}  # hash -> time of its last reference
        self._cost: dict[int, int] = {}  # hash -> bytes it weighs
        self._largest: list[int] = []  # max-heap (negated) of the tracked hashes
        self._capacity = 4 * max_keys
        self._tree = [0] * (self._capacity + 1)  # Fenwick tree: cost at each time slot
        self._now = 0
        # Counts are floats: they are rescaled when the rate drops.
        self._histogram = [0.0] * _BUCKETS
        self.references = 0.0
        self.cold = 0.0  # first references: misses at every size
        self._lock = threading.Lock()

    @property
    def rate(self) -> float:
        return self.threshold / _FULL

    # ------------------------------------------------------------------ Fenwick tree

    def _add(self, slot: int, delta: int) -> None:
        tree = self._tree
        index = slot + 1
        while index <= self._capacity:
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

    # ------------------------------------------------------------------ updates

    def access(self, hashed: int, cost: int) -> None:
        """One read of the key with hash ``hashed`` (a 32-bit value), weighing ``cost`` bytes
        unless the curve knows better."""
        if hashed >= self.threshold:
            return
        with self._lock:
            self.references += 1
            last = self._last.get(hashed)
            if last is None:
                self.cold += 1
                self._cost[hashed] = cost
                heapq.heappush(self._largest, -hashed)
            else:
                cost = self._cost[hashed]
                # Bytes of the distinct keys read since, and its own: the smallest LRU cache
                # that still holds it now.
                distance = self._prefix(self._now - 1) - self._prefix(last) + cost
                self._histogram[_bucket(distance / self.rate)] += 1
                self._add(last, -cost)
            if self._now == self._capacity:
                self._compact()
            self._last[hashed] = self._now
            self._add(self._now, cost)
            self._now += 1
            while len(self._last) > self.max_keys:
                self._drop_largest()

    def resize(self, hashed: int, cost: int) -> None:
        """A write changed the key's size."""
        if hashed >= self.threshold:
            return
        with self._lock:
            old = self._cost.get(hashed)
            if old is None:
                return
            self._cost[hashed] = cost
            self._add(self._last[hashed], cost - old)

    def _drop_largest(self) -> None:
        """Lower the threshold to the largest tracked hash and forget that key (SHARDS_adj's
        fixed-size rule)."""
        hashed = -heapq.heappop(self._largest)
        # Counts gathered at the old rate, rescaled to the new one (as SHARDS does), so that
        # references sampled before and after the drop weigh alike.
        scale = hashed / self.threshold
        self._histogram = [count * scale for count in self._histogram]
        self.references *= scale
        self.cold *= scale
        self.threshold = hashed
        self._add(self._last.pop(hashed), -self._cost.pop(hashed))

    def _compact(self) -> None:
        """Renumber the tracked keys' times 0..n-1 (the tree's slots are used up)."""
        order = sorted(self._last.items(), key=lambda item: item[1])
        self._tree = [0] * (self._capacity + 1)
        for slot, (hashed, _) in enumerate(order):
            self._last[hashed] = slot
            self._add(slot, self._cost[hashed])
        self._now = len(order)

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
            hits = sum(
                count * _below(index, size) for index, count in enumerate(self._histogram) if count
            )
            if total is None or total * self.rate <= 0:
                return hits / self.references
            expected = total * self.rate
            return min(1.0, max(0.0, (hits + expected - self.references) / expected))

    def curve(self, sizes: Sequence[float], total: int | None = None) -> list[float]:
        return [self.hit_ratio_at(size, total) for size in sizes]

    def reset(self) -> None:
        """Forget everything (the store's statistics were reset)."""
        with self._lock:
            fresh = ShardsCurve(self.max_keys, self._initial)
            state = {k: v for k, v in vars(fresh).items() if k != "_lock"}
            vars(self).update(state)


def curve_text(info: Mapping[str, Any]) -> str:
    """The live curve of an ``info()`` report as lines for the ``--curve`` commands
    (``manage.py cacheinfo --curve``, ``flask cachepolicy info --curve``)."""
    curve = info.get("lru_curve")
    if "lru_curve_rate" not in info:
        return (
            "# LRU curve\nnone: this cache does not record its traffic (set the record option: "
            "Django OPTIONS['RECORD'], Flask CACHE_RECORD).\n"
        )
    if not curve:
        return "# LRU curve\nnot yet: no sampled read reached the recorder's writer.\n"
    lines = [
        "# LRU curve",
        f"(estimated hit ratio of LRU at other sizes; fixed-size SHARDS over "
        f"{info['lru_curve_references']:,} sampled reads at rate {info['lru_curve_rate']:g})",
    ]
    points = list(curve.items())
    for factor, (size, ratio) in zip((0.25, 0.5, 1.0, 2.0, 4.0), points, strict=False):
        mark = "  <- maxmemory now" if factor == 1.0 else ""
        lines.append(f"maxmemory {size:>9}: {100 * ratio:5.1f} %{mark}")
    if len(points) >= 4:
        gain = 100 * (points[3][1] - points[2][1])
        lines.append(f"at 2x maxmemory: {gain:+.1f} points")
    return "\n".join(lines) + "\n"
