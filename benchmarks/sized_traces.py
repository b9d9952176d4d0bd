"""Sized variants of the shared traces, for byte-budget hit ratios (``key,size`` CSV).

The shared traces carry keys only. A byte budget needs a value size per key, so each distinct
key is given one, drawn once from a seeded distribution and kept for every request of the key
(a key's value does not change size from one request to the next):

* **log-normal body of web objects**: ``ln(size)`` normal with ``mu = 9.357``, ``sigma = 1.318``
  (median e**9.357 = 11.6 KB), the body of the file-size model of SURGE (Barford and Crovella,
  "Generating representative Web workloads", SIGMETRICS 1998), fitted to the sizes of files
  served by web servers; clipped to [``MIN_SIZE``, ``MAX_SIZE``] (SURGE's Pareto tail above
  133 KB is left out: a few multi-megabyte values would only decide which budgets hold them);
* rounded to two significant digits, so a trace has a few hundred distinct sizes: the simulator
  shares one payload object per distinct size, which keeps a replay's memory small;
* drawn from ``numpy.random.default_rng(seed)`` in the order keys first appear in the trace, so
  a trace, a ``--limit`` and a seed give the same file on every machine.

    python benchmarks/sized_traces.py cache2k-web07 lirs-gli --out /tmp/sized
    python -m cachepolicy.simulate /tmp/sized/cache2k-web07.sized.csv --mode bytes \\
        --sizes 1% 3% 10% 30% --policies allkeys-lru allkeys-wtinylfu allkeys-gdsf

The files are written where ``--out`` says (never into the repository unless told).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # run as a script: make ``benchmarks`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.traces import TRACES, iter_keys

__all__ = ["MAX_SIZE", "MIN_SIZE", "MU", "SIGMA", "key_sizes", "main", "write_sized"]

#: SURGE's log-normal body of web file sizes (ln bytes): median 11.6 KB.
MU, SIGMA = 9.357, 1.318
#: A value is at least a small fragment and at most 1 MiB (the tail is not modelled).
MIN_SIZE, MAX_SIZE = 64, 1 << 20


def key_sizes(count: int, seed: int) -> list[int]:
    """``count`` value sizes in bytes, two significant digits, reproducible from ``seed``."""
    drawn = np.random.default_rng(seed).lognormal(MU, SIGMA, count)
    clipped = np.clip(drawn, MIN_SIZE, MAX_SIZE)
    digits = np.floor(np.log10(clipped)) - 1  # keep two significant digits
    rounded = np.round(clipped / 10**digits) * 10**digits
    return [int(size) for size in np.clip(rounded, MIN_SIZE, MAX_SIZE)]


def write_sized(name: str, out: Path, limit: int | None, seed: int) -> Path:
    """Write ``out/NAME.sized.csv`` (``key,size`` per request) and return its path."""
    keys = list(iter_keys(name, limit))
    order: dict[int, int] = {}
    for key in keys:
        order.setdefault(key, len(order))
    sizes = key_sizes(len(order), seed)
    path = out / f"{name}.sized.csv"
    with path.open("w") as handle:
        handle.write("key,size\n")
        handle.writelines(f"{key},{sizes[order[key]]}\n" for key in keys)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("traces", nargs="+", choices=sorted(TRACES), metavar="TRACE")
    parser.add_argument("--out", type=Path, required=True, help="directory for the CSV files")
    parser.add_argument("--limit", type=int, default=None, help="first N requests only")
    parser.add_argument("--seed", type=int, default=20, help="seed of the size draw")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for name in args.traces:
        print(write_sized(name, args.out, args.limit, args.seed))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
