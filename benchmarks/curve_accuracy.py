"""Accuracy of the live LRU curve (fixed-size SHARDS, ``cachepolicy.curve``) on the shared
traces: mean absolute error against exact LRU over 8 log-spaced sizes (1% to 100% of the
working set), entry mode, SHARDS_adj applied.

Each trace is fed to a curve started as the recorder starts it at ``record_rate`` 0.01 (the
default), keys hashed by the recorder's own sampling hash with ``--seeds`` seeds (a seed is a
deployment's secret: which keys fall in the sample). Two columns: without the floor
(``floor_keys=0``: 1% of the keys, fewer than 100 on the small traces) and with it (the
default: the curve holds up to ``FLOOR_KEYS`` keys above the 1% rate, so small key spaces are
sampled at a higher rate). The first 1,000,000 requests of each trace.

Run: ``python benchmarks/curve_accuracy.py`` (``--seeds 3``; a few minutes on one core).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make ``benchmarks`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.traces import TRACES
from cachepolicy._core.sampling import FULL, key_sum, mix
from cachepolicy.curve import FLOOR_KEYS, ShardsCurve
from cachepolicy.simulate import read_trace, replay_lru
from cachepolicy.simulate.runner import auto_sizes

LIMIT = 1_000_000
RATE = 0.01


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3, help="sampling seeds per trace")
    args = parser.parse_args(argv)
    print(
        f"| trace | requests | keys | MAE at 1%, no floor (mean / max of {args.seeds} seeds) "
        f"| MAE at 1%, floor {FLOOR_KEYS:,} keys (mean / max) | curve's rate |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for name, spec in TRACES.items():
        trace = read_trace(spec.path, limit=LIMIT)
        sizes = auto_sizes(trace.distinct, 8)
        exact = [replay_lru(trace, size).hit_ratio for size in sizes]
        sums = {key: key_sum(str(key)) for key in set(trace.keys)}
        cells = []
        rates = []
        for floor in (0, FLOOR_KEYS):
            errors = []
            for seed in range(1, args.seeds + 1):
                hashes = {key: mix(total, seed) for key, total in sums.items()}
                curve = ShardsCurve(threshold=int(RATE * FULL), floor_keys=floor)
                for key in trace.keys:
                    curve.access(hashes[key], 1)
                estimate = curve.curve(sizes, len(trace))
                errors.append(
                    sum(abs(a - b) for a, b in zip(estimate, exact, strict=True)) / len(sizes)
                )
                rates.append(curve.rate)
            cells.append(f"{sum(errors) / len(errors):.4f} / {max(errors):.4f}")
        print(
            f"| {name} | {len(trace):,} | {trace.distinct:,} | {cells[0]} | {cells[1]} | "
            f"{rates[-1]:.3f} |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
