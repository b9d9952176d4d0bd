"""CI smoke test of the policies beyond Redis on small shared traces (issue 20).

The hit-ratio tables are benchmarks (``benchmarks/results/hit_ratio.md``, ``wtinylfu.md``);
this replays the two smallest real traces through the real engine and checks the numbers
against the references the issue gives (the reference W-TinyLFU with Caffeine's hill climber)
and against exact LRU and Redis's sampled LFU replayed here. ``allkeys-wtinylfu`` hashes str
keys with ``hash()``, which varies by process, so the bounds leave its measured spread (about
a point) as margin.
"""

from __future__ import annotations

import pytest

from benchmarks.traces import TRACES_DIR, load_keys
from cachepolicy.simulate import Trace, replay_engine, replay_lru

pytestmark = pytest.mark.skipif(not TRACES_DIR.is_dir(), reason=f"no traces at {TRACES_DIR}")

#: The reference W-TinyLFU (issue 20's table): lirs-gli @ 1000 and lirs-loop @ 250.
REFERENCE = {("lirs-gli", 1000): 0.4105, ("lirs-loop", 250): 0.2286}


def _ratios(name: str, limit: int | None, capacity: int) -> dict[str, float]:
    trace = Trace.from_keys(load_keys(name, limit), name=name)
    return {
        "lru": replay_lru(trace, capacity).hit_ratio,
        "lfu": replay_engine(trace, capacity, policy="allkeys-lfu").hit_ratio,
        "wtinylfu": replay_engine(trace, capacity, policy="allkeys-wtinylfu").hit_ratio,
        "gdsf": replay_engine(trace, capacity, policy="allkeys-gdsf").hit_ratio,
        "lfu-exact": replay_engine(
            trace, capacity, policy="allkeys-lfu", eviction_mode="exact"
        ).hit_ratio,
    }


def test_glimpse_at_1000() -> None:
    """6,015 requests of a looping text search: LRU 11 %, sampled LFU 34 %, the reference
    W-TinyLFU 41 %; ours about 50 %."""
    ratios = _ratios("lirs-gli", None, 1000)
    assert 0.10 < ratios["lru"] < 0.13
    assert ratios["wtinylfu"] >= REFERENCE[("lirs-gli", 1000)]
    assert ratios["wtinylfu"] >= max(ratios["lru"], ratios["lfu"]) + 0.10
    assert ratios["lfu-exact"] >= ratios["lfu"] - 0.01  # exact LFU no longer below sampled
    # GDSF under an entry-count bound is LFU with dynamic aging: at least sampled LFU's ratio.
    assert ratios["gdsf"] >= ratios["lfu"] - 0.01


def test_loop_at_250() -> None:
    """A loop of about 1,000 keys through 250 entries: LRU and LFU hit nothing; the
    reference W-TinyLFU 22.9 %, OPT 24.7 %; ours 15-18 % (a named miss of issue 20), and
    exact LFU with random ties near OPT."""
    ratios = _ratios("lirs-loop", 50_000, 250)
    assert ratios["lru"] == 0.0 and ratios["lfu"] < 0.01 and ratios["gdsf"] < 0.01
    assert ratios["wtinylfu"] > 0.12
    assert ratios["lfu-exact"] > 0.20
