"""Accuracy of the live LRU curve (fixed-size SHARDS, ``cachepolicy.curve``) on the shared
traces: mean absolute error against exact LRU over 8 log-spaced sizes (1% to 100% of the
working set), entry mode, SHARDS_adj applied.

Two starts: a 1% sample (``record_rate`` 0.01, the default; the sample grows past 8,192 keys only
on large traces, where the rate then drops) and every key offered (the rate falls until 8,192
keys are tracked). The first 1,000,000 requests of each trace.

Run: ``python benchmarks/curve_accuracy.py`` (about 3 minutes on one core).
"""

from __future__ import annotations

import sys
import zlib
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make ``benchmarks`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.traces import TRACES
from cachepolicy.curve import ShardsCurve
from cachepolicy.simulate import read_trace, replay_lru
from cachepolicy.simulate.runner import auto_sizes

LIMIT = 1_000_000


def main() -> int:
    print("| trace | requests | MAE, 1% sample | sampled reads | MAE, all keys offered | rate |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, spec in TRACES.items():
        trace = read_trace(spec.path, limit=LIMIT)
        sizes = auto_sizes(trace.distinct, 8)
        exact = [replay_lru(trace, size).hit_ratio for size in sizes]
        row = []
        for start in (0.01, 1.0):
            curve = ShardsCurve(threshold=int(start * 2**32))
            for key in trace.keys:
                curve.access(zlib.crc32(str(key).encode(), 12345), 1)
            estimate = curve.curve(sizes, len(trace))
            error = sum(abs(a - b) for a, b in zip(estimate, exact, strict=True)) / len(sizes)
            row.append((error, curve.references, curve.rate))
        print(
            f"| {name} | {len(trace):,} | {row[0][0]:.4f} | {row[0][1]:,.0f} | "
            f"{row[1][0]:.4f} | {row[1][2]:.3f} |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
