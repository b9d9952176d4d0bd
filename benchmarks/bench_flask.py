"""PolicyCache beside Flask-Caching's SimpleCache, through Flask-Caching's own API.

Both caches get the same ``CACHE_THRESHOLD`` (default 10,000 entries) and are driven through
``flask_caching.Cache`` inside an application context, exactly as an application would, so the
numbers include Flask-Caching's proxy overhead on both sides. Scenarios:

``get hit``        read keys that are all present
``get miss``       read keys that are all absent
``set``            overwrite keys that are present (no eviction needed)
``set evicting``   write new keys into a full cache: every write must evict one entry.
                   ``SimpleCache`` re-sorts its whole dict on each such write (O(n log n));
                   PolicyCache evicts one sampled victim (O(samples)).
``zipf 90/10``     Zipf-distributed keys (s=1.0) over 4x threshold distinct keys: 90% reads
                   (cache-aside: a miss is followed by a set), 10% writes; reports hit ratio.

Run: ``python benchmarks/bench_flask.py`` (``--entries``, ``--seconds``, ``--json``). Each
scenario runs for at least ``--seconds`` per cache, best of ``--repeat`` rounds, seeded.
Targets from issue 5: at least 1.0x SimpleCache on reads, 100x on writes under eviction.
"""

from __future__ import annotations

import argparse
import itertools
import json
import platform
import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import flask
from flask_caching import Cache

if __package__ in (None, ""):  # run as a script: make ``benchmarks`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.turns import Batch, take_turns

# Timing is checked every this many operations: large enough that ``perf_counter`` calls are
# noise, small enough that SimpleCache's slow evicting writes do not overrun the time budget.
_BATCH = 64


@dataclass
class Result:
    scenario: str
    ops_per_sec: dict[str, float]
    note: dict[str, str]


def make_cache(cache_type: str, threshold: int) -> tuple[flask.Flask, Cache]:
    app = flask.Flask(f"bench-{cache_type}")
    app.config.update(
        CACHE_TYPE=cache_type,
        CACHE_THRESHOLD=threshold,
        CACHE_DEFAULT_TIMEOUT=3600,  # long enough that nothing expires during a run
        # Enough memory that the entry threshold, not the byte budget, is what binds.
        CACHE_MAXMEMORY="1gb" if "PolicyCache" in cache_type else None,
    )
    return app, Cache(app)


def in_context(app: flask.Flask, ops: Callable[[int], None]) -> Batch:
    """One ``_BATCH`` of ``ops`` inside ``app``'s context, entered outside the timed part."""
    done = 0

    def run() -> tuple[int, float]:
        nonlocal done
        with app.app_context():
            start = time.perf_counter()
            ops(done)
            elapsed = time.perf_counter() - start
        done += _BATCH
        return _BATCH, elapsed

    return run


def cycling(keys: Sequence[str]) -> Callable[[int], Sequence[str]]:
    """The ``_BATCH`` keys starting at operation ``i``, cycling through ``keys``."""
    n = len(keys)
    doubled = list(keys) + list(keys[:_BATCH])

    def batch(i: int) -> Sequence[str]:
        start = i % n
        return doubled[start : start + _BATCH]

    return batch


def run(entries: int, seconds: float, repeat: int) -> list[Result]:
    types = {
        "SimpleCache": "SimpleCache",
        "PolicyCache": "flask_cachepolicy.PolicyCache",
    }
    present = [f"key:{i}" for i in range(entries)]
    absent = [f"absent:{i}" for i in range(entries)]
    value = {"user": 42, "fragment": "x" * 64}
    rng = random.Random(1)
    universe = [f"zipf:{i}" for i in range(4 * entries)]
    weights = list(itertools.accumulate(1.0 / (rank + 1) for rank in range(len(universe))))
    zipf_keys = rng.choices(universe, cum_weights=weights, k=200_000)
    zipf_is_write = [rng.random() < 0.10 for _ in zipf_keys]
    hit_batch = cycling(present)
    miss_batch = cycling(absent)

    caches = {name: make_cache(cache_type, entries) for name, cache_type in types.items()}
    fresh = itertools.count()
    zipf_counts: dict[str, list[int]] = {name: [0, 0] for name in types}

    def scenarios(name: str, cache: Cache) -> dict[str, Callable[[int], None]]:
        get, set_ = cache.get, cache.set
        counts = zipf_counts[name]

        def get_hits(i: int) -> None:
            for key in hit_batch(i):
                get(key)

        def get_misses(i: int) -> None:
            for key in miss_batch(i):
                get(key)

        def overwrite(i: int) -> None:
            for key in hit_batch(i):
                set_(key, value)

        def evicting(i: int) -> None:
            for _ in range(_BATCH):
                set_(f"new:{next(fresh)}", value)

        def zipf_mix(i: int) -> None:
            start = i % len(zipf_keys)
            for j in range(start, min(start + _BATCH, len(zipf_keys))):
                key = zipf_keys[j]
                if zipf_is_write[j]:
                    set_(key, value)
                elif get(key) is None:
                    counts[1] += 1
                    set_(key, value)
                else:
                    counts[0] += 1

        return {
            "get hit": get_hits,
            "get miss": get_misses,
            "set": overwrite,
            "set evicting": evicting,
            "zipf 90/10": zipf_mix,
        }

    results = {
        scenario: Result(scenario, dict.fromkeys(types, 0.0), {})
        for scenario in scenarios("SimpleCache", caches["SimpleCache"][1])
    }
    for app, cache in caches.values():
        with app.app_context():
            for key in present:
                cache.set(key, value)
    for scenario in results:
        if scenario == "zipf 90/10":
            for app, cache in caches.values():
                with app.app_context():
                    cache.clear()
        # The caches take turns batch by batch (ABBA), so drifts in this shared machine's
        # speed hit both alike; the best of ``repeat`` rounds of each counts.
        for _ in range(repeat):
            rates = take_turns(
                {
                    name: in_context(app, scenarios(name, cache)[scenario])
                    for name, (app, cache) in caches.items()
                },
                seconds,
            )
            for name, rate in rates.items():
                results[scenario].ops_per_sec[name] = max(results[scenario].ops_per_sec[name], rate)
    for name, (hits, misses) in zipf_counts.items():
        results["zipf 90/10"].note[name] = f"hit ratio {hits / max(1, hits + misses):.3f}"

    app, cache = caches["PolicyCache"]
    backend = app.extensions["cache"][cache]
    problems = backend.core.check()
    assert problems == [], problems
    backend.close()
    return list(results.values())


def render(results: list[Result], entries: int) -> str:
    lines = [
        f"Flask-Caching API, threshold {entries:,} entries, Python {platform.python_version()}",
        "",
        "| scenario | SimpleCache ops/s | PolicyCache ops/s | ratio | notes |",
        "|---|---:|---:|---:|---|",
    ]
    for result in results:
        simple = result.ops_per_sec["SimpleCache"]
        policy = result.ops_per_sec["PolicyCache"]
        notes = "; ".join(f"{name}: {note}" for name, note in result.note.items())
        lines.append(
            f"| {result.scenario} | {simple:,.0f} | {policy:,.0f} | {policy / simple:.2f}x "
            f"| {notes} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--entries", type=int, default=10_000, help="CACHE_THRESHOLD for both")
    parser.add_argument("--seconds", type=float, default=1.0, help="minimum time per scenario")
    parser.add_argument("--repeat", type=int, default=3, help="rounds; the best one counts")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    arguments = parser.parse_args(argv)
    results = run(arguments.entries, arguments.seconds, arguments.repeat)
    if arguments.json:
        print(json.dumps([vars(result) for result in results], indent=2))
    else:
        print(render(results, arguments.entries))
    return 0


if __name__ == "__main__":
    sys.exit(main())
