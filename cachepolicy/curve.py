"""A live estimate of the LRU hit ratio as a function of ``maxmemory`` (fixed-size SHARDS).

Waldspurger et al., "Efficient MRC Construction with SHARDS" (FAST 2015): the LRU stack
distance of each reference, computed on a spatial sample of the keys (those whose hash falls
below a threshold ``T``) and divided by the sampling rate ``T / 2**32``, estimates the full
trace's. "Fixed-size" SHARDS bounds the state: when more than ``max_keys`` sampled keys are
tracked, ``T`` drops to the largest tracked hash and that key is forgotten, so the rate adapts
to the traffic and memory stays bounded whatever the key space.

**Small key spaces.** The estimate's error follows the number of keys in the sample, not the
rate: at a 1 % recording rate a cache of 2,500 keys gives 25, a loop over 1,000 keys 10, and
the curve is then off by 5 to 18 points (SHARDS_adj, below, even makes it worse: it reads the
few keys' share of the reads as hot keys missed). So the curve starts above the recording's
threshold, at every key, and comes down to it as in fixed-size SHARDS, holding at most
:data:`FLOOR_KEYS` keys while it samples more than the recording does: a key space under
``FLOOR_KEYS / rate`` keys is sampled at ``FLOOR_KEYS / keys`` (all of it under
``FLOOR_KEYS`` keys), a larger one at the recording's rate (and below it past ``max_keys``
sampled keys). The recorder's request path tests the larger of the two thresholds
(:class:`cachepolicy._core.sampling.Gate`), so a small cache pays for more sampled accesses,
within a budget (:data:`cachepolicy.recorder.CURVE_BUDGET` records a second; past it the
recorder cuts the curve's share with :meth:`ShardsCurve.lower`); the file still holds the
recording's rate only.

Distances are in bytes (each key weighs what the engine charges for it, as the recorder
reports: value size + key length + per-entry overhead), so the curve is hit ratio against
``maxmemory``. A reference at scaled distance ``d`` is a hit in every LRU cache of at least
``d`` bytes; references to keys seen for the first time are misses at every size. Distances go
into a histogram with :data:`_BUCKETS_PER_DOUBLING` buckets per doubling (2 % wide); each bucket
keeps the smallest and largest distance it holds, and a size inside a bucket counts the part of
that range below it (on the log scale). A bucket of equal distances, such as a loop's, is then
a step at its exact distance rather than a ramp across the bucket's width.

**Memory bound.** At most ``max_keys`` tracked keys: a dict entry, a heap record and two
Fenwick-tree slots each, plus the fixed histogram and its buckets' ranges. With the default
8,192 keys this was measured at about 2.8 MB, 3.5 MB at the peak of a renumbering, before the
ranges (two lists of 1,792 floats) were added; ``tests/core/test_curve.py`` holds it under
4 MB (tracemalloc), whatever the traffic.
All updates run in the recorder's writer thread, off the request path.
"""

from __future__ import annotations

import heapq
import math
import threading
from collections.abc import Mapping, Sequence
from typing import Any, Final

__all__ = ["FLOOR_KEYS", "MAX_KEYS", "ShardsCurve", "curve_text"]

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
        #: Keys whose hash is below this are sampled: every key at first when there is a
        #: floor, lowered as keys arrive (see "Small key spaces" above).
        self.threshold = _FULL if floor_keys > 0 else threshold
        self._last: dict[int, int] = {}  # hash -> time of its last reference
        self._cost: dict[int, int] = {}  # hash -> bytes it weighs
        self._largest: list[int] = []  # max-heap (negated) of the tracked hashes
        self._capacity = 4 * max_keys
        self._tree = [0] * (self._capacity + 1)  # Fenwick tree: cost at each time slot
        self._now = 0
        # Counts are floats: they are rescaled when the rate drops.
        self._histogram = [0.0] * _BUCKETS
        self._low = [math.inf] * _BUCKETS  # the smallest and largest distance in each bucket
        self._high = [0.0] * _BUCKETS
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
        self._histogram = [count * scale for count in self._histogram]
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
            self._histogram = [count * scale for count in self._histogram]
            self.references *= scale
            self.cold *= scale
            self.threshold = threshold

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
            low, high = self._low, self._high
            hits = sum(
                count * _below(low[index], high[index], size)
                for index, count in enumerate(self._histogram)
                if count
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
            fresh = ShardsCurve(self.max_keys, self.record_threshold, self.floor_keys)
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
