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

**Memory bound.** At most ``max_keys`` tracked keys: a dict entry, a heap record and up to
four Fenwick-tree slots each (the tree is sized to the keys tracked, at least 1,024 slots),
plus the fixed histogram and its buckets' ranges. With the default 8,192 keys this was
measured at about 2.8 MB, 3.5 MB at the peak of a renumbering, before the ranges (two lists of
1,792 floats) were added; ``tests/core/test_curve.py`` holds it under 4 MB (tracemalloc),
whatever the traffic.

All updates run in the recorder's writer thread, off the request path, compiled: the class
and the writer's per-record loop live in :mod:`cachepolicy._core.shards`, and are imported
here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._core.shards import FLOOR_KEYS, MAX_KEYS, ShardsCurve

__all__ = ["FLOOR_KEYS", "MAX_KEYS", "ShardsCurve", "curve_text"]


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
