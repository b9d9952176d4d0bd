"""Memory sizes: Redis unit parsing, and the honesty of ``used_memory`` against tracemalloc."""

from __future__ import annotations

import gc
import random
import sys
import tracemalloc

import pytest

from cachepolicy import Cache, ConfigError, format_bytes, parse_memory


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("100", 100),
        (100, 100),
        ("1k", 1000),
        ("1kb", 1024),
        ("1K", 1000),
        ("1KB", 1024),
        ("64mb", 64 * 1024**2),
        ("64m", 64 * 1000**2),
        ("1gb", 1024**3),
        ("1G", 1000**3),
        ("100mb", 100 * 1024**2),
        ("0", 0),
        (" 2kb ", 2048),
        ("1.5kb", 1536),
    ],
)
def test_parse_memory_units_like_redis(text: str | int, expected: int) -> None:
    assert parse_memory(text) == expected


@pytest.mark.parametrize("bad", ["lots", "", "-1", "10 apples", "1.3", "kb", "1e6", "0x10"])
def test_parse_memory_rejects_malformed(bad: str) -> None:
    with pytest.raises(ConfigError, match="maxmemory"):
        parse_memory(bad)


@pytest.mark.parametrize("bad", [-1, True, 1.5, None, [1]])
def test_parse_memory_rejects_wrong_types(bad: object) -> None:
    with pytest.raises(ConfigError):
        parse_memory(bad)  # type: ignore[arg-type]


def test_format_bytes_like_used_memory_human() -> None:
    assert format_bytes(980) == "980B"
    assert format_bytes(1536) == "1.50K"
    assert format_bytes(64 * 1024**2) == "64.00M"
    assert format_bytes(3 * 1024**3) == "3.00G"


def _reported_and_real(cache: Cache, count: int, ttl: float | None, churn: bool) -> tuple[int, int]:
    """Fill ``cache`` under tracemalloc; return (used_memory, bytes really allocated)."""
    rng = random.Random(5)
    keys = [f"user:{i:07d}:profile" for i in range(count)]
    sizes = (0, 8, 40, 200, 1500)
    values = [{"id": i, "blob": "x" * rng.choice(sizes)} for i in range(count)]
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    for key, value in zip(keys, values, strict=True):
        cache.set(key, value, ttl=ttl)
    if churn:  # overwrite and read a third, so exact structures carry stale records
        for key in rng.sample(keys, count // 3):
            cache.set(key, {"id": 0}, ttl=ttl)
            cache.get(key)
    gc.collect()
    allocated = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    # Keys were allocated before tracing started, but the cache holds them: count them.
    real = allocated + sum(sys.getsizeof(k) for k in keys)
    return cache.info()["used_memory"], real


@pytest.mark.parametrize("count", [3_000, 20_000])
@pytest.mark.parametrize(
    ("policy", "mode"),
    [
        ("allkeys-lru", "sampled"),
        ("allkeys-lru", "exact"),
        ("allkeys-lfu", "exact"),
        ("volatile-ttl", "exact"),
        ("volatile-lfu", "exact"),
    ],
)
@pytest.mark.parametrize("ttl", [None, 3600.0])
def test_used_memory_within_ten_percent_of_tracemalloc(
    count: int, policy: str, mode: str, ttl: float | None
) -> None:
    cache = Cache(maxmemory=0, maxmemory_policy=policy, eviction_mode=mode, seed=3)
    reported, real = _reported_and_real(cache, count, ttl, churn=count > 10_000)
    assert abs(reported - real) / real < 0.10, (reported, real)
    assert cache.check() == []
