"""The recorder's sample test (cachepolicy/_core/sampling.py): one function of the key in both
builds, uniform over families of keys, and the live curve's floor for small key spaces."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from cachepolicy import Cache
from cachepolicy._core import COMPILED
from cachepolicy._core.sampling import FULL, key_sum, sample_hash
from cachepolicy.curve import FLOOR_KEYS, ShardsCurve
from cachepolicy.simulate import Trace, read_trace, replay_lru
from cachepolicy.simulate.runner import auto_sizes

TRACES = Path(__file__).resolve().parents[3] / "shared" / "traces"
KEYS = ["", "k", "k0", ":1:user:42:profile", "é", "ab€cd\U0001f600xyz", "\ud800x", "x" * 37]


def test_the_hash_is_the_documented_function_in_either_build() -> None:
    """The compiled loop (four ASCII characters a step, UTF-8 beyond) and the interpreted
    ``int.from_bytes`` give these exact values: recordings of one deployment agree whatever
    build each process runs."""
    for key in KEYS:
        expected = int.from_bytes(key.encode("utf-8", "surrogatepass"), "big") % (2**61 - 1)
        assert key_sum(key) == expected, (key, COMPILED)
    assert [sample_hash(key, 12345) for key in KEYS] == [
        278988923, 4066944573, 1532377362, 3157086695, 2157333006, 3464421217, 3139901648,
        2246287200,
    ]  # fmt: skip
    assert [sample_hash(key, 2**62 + 3) for key in KEYS] == [
        3680177936, 1320907023, 228583933, 3954671209, 1956076764, 417057285, 2646032566,
        201743910,
    ]  # fmt: skip


@pytest.mark.parametrize(
    "family",
    [
        lambda i: f"k{i}",
        lambda i: f":1:user:{i}:profile",
        lambda i: str(i * 4096),
        lambda i: f":1:views.decorators.cache.cache_page..GET.{i:032x}.en-us.UTC",
    ],
)
def test_a_rate_keeps_its_share_of_a_family_of_keys(family: object) -> None:
    """1% of 100,000 keys is 1,000, with a standard deviation of about 31: within 10%."""
    make = family  # a lambda from the parameter list
    for seed in (1, 2**40 + 7):
        kept = sum(sample_hash(make(i), seed) < FULL // 100 for i in range(100_000))  # type: ignore[operator]
        assert 900 <= kept <= 1100, (seed, kept)


def _mean_error(curve: ShardsCurve, trace: Trace) -> float:
    sizes = auto_sizes(trace.distinct, 8)
    exact = [replay_lru(trace, size).hit_ratio for size in sizes]
    estimate = curve.curve(sizes, len(trace))
    return sum(abs(a - b) for a, b in zip(estimate, exact, strict=True)) / len(sizes)


def test_a_loop_is_exact_at_its_own_size() -> None:
    """A loop over 1,000 keys at a 1% recording rate: the floor keeps every key (10 would be
    sampled otherwise) and the buckets' own ranges put its distances exactly at 1,000."""
    trace = Trace.from_keys([key % 1000 for key in range(50_000)])
    curve = ShardsCurve(threshold=FULL // 100)
    for key in trace.keys:
        curve.access(sample_hash(str(key), 3), 1)
    assert curve.rate == 1.0 and len(curve._last) == 1000
    assert _mean_error(curve, trace) == 0.0


def test_without_the_floor_a_small_key_space_is_far_off() -> None:
    """The same loop sampled at 1% only (floor_keys=0): the method this replaces."""
    trace = Trace.from_keys([key % 1000 for key in range(50_000)])
    curve = ShardsCurve(threshold=FULL // 100, floor_keys=0)
    for key in trace.keys:
        curve.access(sample_hash(str(key), 3), 1)
    assert len(curve._last) < 30
    assert _mean_error(curve, trace) > 0.05


def test_the_floor_comes_down_to_the_recording_rate_on_a_large_key_space() -> None:
    """~95,000 keys at 1% are ~950 sampled: a floor of 2,048 keys holds the rate above 1%
    (2,048 keys tracked), a floor of 256 comes down to the recording's threshold."""
    rng = random.Random(5)
    keys = [str(rng.randrange(10**6)) for _ in range(100_000)]
    high, low = (
        ShardsCurve(threshold=FULL // 100),
        ShardsCurve(threshold=FULL // 100, floor_keys=256),
    )
    for key in keys:
        hashed = sample_hash(key, 9)
        high.access(hashed, 1)
        low.access(hashed, 1)
    assert high.threshold > FULL // 100 and len(high._last) == FLOOR_KEYS
    assert low.threshold == FULL // 100 and 256 < len(low._last) < 2 * 950


@pytest.mark.skipif(not TRACES.is_dir(), reason="no shared traces")
@pytest.mark.parametrize("name", ["lirs-gli.trace.gz", "cache2k-web07.trace.xz"])
def test_small_shared_traces_at_one_percent_are_within_two_points(name: str) -> None:
    trace = read_trace(TRACES / name)
    for seed in (1, 2, 3):
        curve = ShardsCurve(threshold=FULL // 100)
        for key in trace.keys:
            curve.access(sample_hash(str(key), seed), 1)
        assert _mean_error(curve, trace) <= 0.02, seed


def test_the_curve_samples_more_than_the_file_holds(tmp_path: Path) -> None:
    """A cache of 300 keys recorded at 5%: the curve follows all of them (the gate passes
    every key), the file only the recording's 5%."""
    cache = Cache(
        maxmemory="1mb", record=str(tmp_path), record_rate=0.05, record_key="s" * 32, seed=1
    )
    for step in range(6000):
        if step % 1000 == 0:  # within the curve's budget of records between two flushes
            cache.store.recorder.flush()  # type: ignore[union-attr]
        key = f"page:{step % 300}"
        if cache.get(key) is None:
            cache.set(key, b"x" * 100)
    cache.close()
    info = cache.info()
    assert info["lru_curve_rate"] == 1.0 and info["lru_curve_references"] == 6000
    assert info["lru_curve_skipped"] == 0
    trace = read_trace(next(tmp_path.glob("*.cprec")))
    assert 0 < info["record_recorded"] == len(trace) < 6000 * 0.1
    assert len(set(trace.keys)) < 30  # of the 300 keys
