"""Hostile configuration (issue 11, defects 5, 6 and 7): every bad value is a ``ConfigError``.

Each case here was accepted and crashed later, or raised a raw ``ValueError``, ``TypeError``
or ``OverflowError`` from deep inside, on the code before this file existed. Every refusal must
be a :class:`ConfigError` whose ``option`` and message name the option, with a message of
bounded length whatever the size of the bad value.
"""

from __future__ import annotations

import sys
from typing import Any

import pytest

from cachepolicy import Cache, CacheConfig, ConfigError, format_bytes, parse_memory
from cachepolicy._core.entry import ENTRY_OVERHEAD
from cachepolicy.config import MIN_MAXMEMORY
from cachepolicy.errors import short_repr

INT_MAX = 2**31 - 1
MAX_BYTES = 2**63 - 1

#: Every integer option with its accepted range (the bounds are part of the contract).
INT_RANGES: dict[str, tuple[int, int]] = {
    "maxmemory_samples": (1, 64),
    "lfu_log_factor": (0, INT_MAX),
    "lfu_decay_time": (0, INT_MAX),
    "hz": (1, 500),
    "active_expire_effort": (1, 10),
    "databases": (1, 1024),
    "max_entries": (1, sys.maxsize),
    "cull_frequency": (0, sys.maxsize),
}


def _refused(option: str, value: Any) -> ConfigError:
    """Build a config with ``option=value``; it must be refused with a short, named error."""
    with pytest.raises(ConfigError) as caught:
        CacheConfig(**{option: value})
    error = caught.value
    assert error.option == option, error
    assert repr(option) in str(error), error
    assert len(str(error)) < 400, f"{len(str(error))} characters: {error}"
    return error


# ---------------------------------------------------------------- defect 5: ranges at config


@pytest.mark.parametrize("value", [10**400, INT_MAX + 1, 2**64], ids=["10**400", "2**31", "2**64"])
def test_lfu_log_factor_beyond_redis_range_is_refused(value: int) -> None:
    error = _refused("lfu_log_factor", value)
    assert "between 0 and 2147483647" in str(error)


def test_lfu_log_factor_at_redis_maximum_keeps_lfu_working() -> None:
    """INT_MAX is Redis's bound; 1 / (base * factor + 1) must stay in float range there."""
    cache = Cache(maxmemory_policy="allkeys-lfu", lfu_log_factor=INT_MAX, seed=3)
    cache.set("k", 1)
    assert all(cache.get("k") == 1 for _ in range(2000))
    assert cache.frequency("k") >= 0
    assert cache.check() == []


@pytest.mark.parametrize(
    "value",
    [10**400, MAX_BYTES + 1, 2**64, "9" * 400, "9" * 400 + "kb"],
    ids=["10**400", "2**63", "2**64", "400-digits", "400-digits-kb"],
)
def test_maxmemory_beyond_64_bits_is_refused(value: int | str) -> None:
    error = _refused("maxmemory", value)
    assert "9,223,372,036,854,775,807 bytes" in str(error)


def test_maxmemory_at_the_maximum_is_reported_by_info() -> None:
    cache = Cache(maxmemory=MAX_BYTES)
    info = cache.info()
    assert info["maxmemory"] == MAX_BYTES
    assert info["maxmemory_human"] == "9223372036854775807B"  # Redis prints bytes above 1024P
    assert "maxmemory" in cache.info_text()


@pytest.mark.parametrize(("option", "bounds"), INT_RANGES.items())
def test_every_int_option_has_an_upper_bound(option: str, bounds: tuple[int, int]) -> None:
    low, high = bounds
    assert getattr(CacheConfig(**{option: high}), option) == high
    assert getattr(CacheConfig(**{option: low}), option) == low
    for bad in (high + 1, low - 1, 10**400):
        error = _refused(option, bad)
        assert f"between {low} and {high}" in str(error)


def test_lazyfree_threshold_beyond_64_bits_is_refused() -> None:
    _refused("lazyfree_threshold", 10**400)
    _refused("lazyfree_threshold", "9" * 400)
    assert CacheConfig(lazyfree_threshold=MAX_BYTES).lazyfree_threshold == MAX_BYTES


# ---------------------------------------------------------------- defect 6: raw exceptions


@pytest.mark.parametrize("option", list(INT_RANGES))
@pytest.mark.parametrize(
    "value",
    ["--5", "²", "٣", "5x", "", " ", "1e3", "0x10", "1_0", "+-1", "5.0"],
)
def test_malformed_integer_strings_are_config_errors(option: str, value: str) -> None:
    error = _refused(option, value)
    assert "must be an integer" in str(error)


@pytest.mark.parametrize("option", list(INT_RANGES))
def test_integer_strings_in_range_are_accepted(option: str) -> None:
    low, _ = INT_RANGES[option]
    assert getattr(CacheConfig(**{option: f" +{low + 1} "}), option) == low + 1


@pytest.mark.parametrize("option", list(INT_RANGES))
@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan"), 1e400, 2.5])
def test_non_integral_and_non_finite_floats_are_config_errors(option: str, value: float) -> None:
    error = _refused(option, value)
    assert "must be an integer" in str(error)


@pytest.mark.parametrize("option", list(INT_RANGES))
@pytest.mark.parametrize(
    "value", ["9" * 400, "9" * 10_000, 10**5000, 1e308], ids=["400", "10000", "10**5000", "1e308"]
)
def test_huge_numbers_are_range_errors_with_short_messages(option: str, value: Any) -> None:
    error = _refused(option, value)
    assert "must be between" in str(error)


@pytest.mark.parametrize("option", list(INT_RANGES))
@pytest.mark.parametrize("value", [True, None, [5], {"a": 1}, b"5", 1j])
def test_wrong_types_are_config_errors(option: str, value: Any) -> None:
    if value is None and option in ("max_entries", "cull_frequency"):
        pytest.skip("None is a valid value: no entry bound / evict one at a time")
    _refused(option, value)


@pytest.mark.parametrize("option", ["maxmemory_policy", "expiry", "serializer"])
@pytest.mark.parametrize("name", [".", "..", "...", ".x", "x.", "a..b", " . ", "\x00.x"])
def test_names_that_are_only_dots_or_broken_paths_are_config_errors(option: str, name: str) -> None:
    error = _refused(option, name)
    assert "dotted path" in str(error)


def test_broken_path_error_suggests_a_close_name() -> None:
    error = _refused("maxmemory_policy", "allkeys.lru")
    assert "Did you mean 'allkeys-lru'?" in str(error)


@pytest.mark.parametrize(
    "size",
    ["9" * 400, "1" + "0" * 5000 + "kb", "0." + "1" * 400 + "kb"],
    ids=["400-digits", "5001-digits", "400-fraction-digits"],
)
def test_size_strings_of_hundreds_of_digits_are_config_errors(size: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_memory(size)
    assert caught.value.option == "maxmemory"
    assert len(str(caught.value)) < 300


def test_ttl_like_floats_beyond_range_in_sizes_are_refused() -> None:
    for size in ["1e400", "inf", "nan", "٣kb", "1.5.2kb"]:
        with pytest.raises(ConfigError, match="malformed memory size"):
            parse_memory(size)


def test_format_bytes_never_overflows() -> None:
    assert format_bytes(3 * 1024**5 // 2) == "1.50P"
    assert format_bytes(1024**6) == f"{1024**6}B"
    assert format_bytes(10**400).endswith("B")  # exact, no OverflowError


# ---------------------------------------------------------------- defect 7: smaller contracts


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1.5kb", 1536),
        ("9007199254740993", 2**53 + 1),  # float() rounds this to 2**53
        ("9223372036854775807", MAX_BYTES),
        ("0.5kb", 512),
        ("1.25mb", 1310720),
        ("1." + "0" * 400 + "kb", 1024),
        ("0.0000000000009094947017729282379150390625tb", 1),
        ("000000000000000000000000000001kb", 1024),
    ],
)
def test_size_strings_are_parsed_exactly(text: str, expected: int) -> None:
    assert parse_memory(text) == expected


@pytest.mark.parametrize("text", ["1.000000000000000000001tb", "0.3kb", "1.0000001k"])
def test_size_strings_that_are_not_whole_bytes_are_refused(text: str) -> None:
    """float() made '1.000000000000000000001tb' exactly 1 TiB and accepted it."""
    with pytest.raises(ConfigError, match="not a whole number of bytes"):
        parse_memory(text)


@pytest.mark.parametrize("maxmemory", [1, "1", MIN_MAXMEMORY - 1, f"{MIN_MAXMEMORY - 1}b", "100b"])
def test_maxmemory_smaller_than_any_entry_is_refused_naming_the_minimum(maxmemory: Any) -> None:
    error = _refused("maxmemory", maxmemory)
    assert f"at least {MIN_MAXMEMORY} bytes" in str(error)
    assert "0 for no limit" in str(error)


def test_maxmemory_minimum_is_the_smallest_entry() -> None:
    assert sys.getsizeof("") + sys.getsizeof(b"") + ENTRY_OVERHEAD == MIN_MAXMEMORY
    assert CacheConfig(maxmemory=MIN_MAXMEMORY).maxmemory == MIN_MAXMEMORY
    assert CacheConfig(maxmemory=0).maxmemory == 0


@pytest.mark.parametrize("mode", ["EXACT", " Sampled ", "exact"])
def test_eviction_mode_accepts_any_case_like_policy_names(mode: str) -> None:
    assert CacheConfig(eviction_mode=mode).eviction_mode == mode.strip().lower()


def test_eviction_mode_typo_in_capitals_gets_a_suggestion() -> None:
    error = _refused("eviction_mode", "EXAKT")
    assert "Did you mean 'exact'?" in str(error)


def test_messages_do_not_embed_huge_values() -> None:
    huge = "x" * 2_000_000
    for option in ("maxmemory", "hz", "eviction_mode", "lazyfree_threshold"):
        _refused(option, huge)
    with pytest.raises(ConfigError) as caught:
        CacheConfig.from_options({huge: 1})
    assert len(str(caught.value)) < 1000


def test_short_repr() -> None:
    assert short_repr("abc") == "'abc'"
    assert short_repr(12345) == "12345"
    text = short_repr("k" * 2_000_000)
    assert len(text) < 120 and "2,000,000 characters" in text
    assert "100,001 digits" in short_repr(10**100_000)  # repr() itself raises ValueError here
    assert "401 digits" in short_repr(-(10**400))
    assert len(short_repr(list(range(10_000)))) <= 80
    assert len(short_repr(b"\x00" * 1000, limit=20)) < 60

    class Broken:
        def __repr__(self) -> str:
            raise RuntimeError("no")

    assert short_repr(Broken()) == "<Broken object (repr() raised RuntimeError)>"
