"""The one Flask-timeout -> core-TTL translation, and that every write goes through it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from flask_cachepolicy import PolicyCache
from flask_cachepolicy.timeouts import DEADLINE_EPSILON, flask_timeout_to_ttl
from hypothesis import given
from hypothesis import strategies as st

from cachepolicy import ManualClock


@pytest.mark.parametrize(
    ("timeout", "default", "expected"),
    [
        (None, 300, 300 - DEADLINE_EPSILON),  # None = the default timeout
        (None, 0, None),  # a default of 0 = never expire
        (0, 300, None),  # 0 = never expire, not "expire now" as in Django
        (timedelta(0), 300, None),
        (10, 300, 10 - DEADLINE_EPSILON),
        (2.5, 300, 2.5 - DEADLINE_EPSILON),  # floats stay exact, no rounding up
        (timedelta(milliseconds=200), 300, 1 - DEADLINE_EPSILON),  # timedelta rounds up
        (timedelta(seconds=90), 300, 90 - DEADLINE_EPSILON),
        (None, timedelta(minutes=1), 60 - DEADLINE_EPSILON),
        (-1, 300, -1.0),  # negative = already expired (the core deletes the key)
    ],
)
def test_translation_table(
    timeout: int | float | timedelta | None, default: int | timedelta, expected: float | None
) -> None:
    assert flask_timeout_to_ttl(timeout, default) == expected


@pytest.mark.parametrize("bad", ["10", True, [1], object()])
def test_non_numbers_are_rejected(bad: object) -> None:
    with pytest.raises(TypeError, match="timeout must be an int, a float or a datetime"):
        flask_timeout_to_ttl(bad, 300)  # type: ignore[arg-type]


def test_nan_is_rejected() -> None:
    with pytest.raises(ValueError, match="NaN"):
        flask_timeout_to_ttl(float("nan"), 300)


@given(st.integers(min_value=1, max_value=10**9))
def test_positive_seconds_expire_exactly_at_the_timeout(seconds: int) -> None:
    """Live one tick before ``timeout`` seconds, gone at exactly ``timeout`` (Flask meaning)."""
    ttl = flask_timeout_to_ttl(seconds, 300)
    assert ttl is not None
    start = 1_700_000_000.0
    assert start + ttl < start + seconds
    assert seconds - ttl <= 2 * DEADLINE_EPSILON


def test_deadline_is_exclusive_like_simplecache(
    make_backend: Callable[..., PolicyCache], clock: ManualClock
) -> None:
    cache = make_backend()
    cache.set("k", "v", timeout=2)
    clock.advance(1.999)
    assert cache.get("k") == "v"
    clock.advance(0.001)
    assert cache.get("k") is None


def test_every_write_uses_flask_meaning(
    make_backend: Callable[..., PolicyCache], clock: ManualClock
) -> None:
    cache = make_backend(default_timeout=10)
    cache.set("forever", 1, timeout=0)
    cache.set("default", 1)
    cache.add("added", 1)
    cache.set_many({"many": 1}, timeout=5)
    cache.inc("counter")
    cache.set("gone", 1, timeout=-1)
    assert cache.get("gone") is None
    assert cache.core.ttl(cache.make_key("forever")) is None
    clock.advance(5)
    assert cache.get("many") is None
    assert cache.get("default") == 1
    clock.advance(5)
    assert cache.get_many("default", "added", "counter") == [None, None, None]
    assert cache.get("forever") == 1


def test_default_timeout_zero_means_never(
    make_backend: Callable[..., PolicyCache], clock: ManualClock
) -> None:
    cache = make_backend(default_timeout=0)
    cache.set("k", 1)
    clock.advance(10**8)
    assert cache.get("k") == 1
