"""XFetch early refresh and serve-stale on ``Cache.get_or_set``, with a ManualClock and a
seeded RNG (the store's ``seed`` seeds the flight table's RNG)."""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable
from typing import Any

import pytest

from cachepolicy import ConfigError, ManualClock
from cachepolicy.envelope import HEADER_SIZE
from cachepolicy.flight import XFETCH_MIN_SCALE, StampedeSettings
from tests.conftest import MakeCache
from tests.herd import PATIENCE, wait_until

TTL = 10.0
DELTA = 1.0  # seconds each computation takes on the manual clock
READ_EVERY = 0.05


def simulate(
    make_cache: MakeCache, clock: ManualClock, beta: float, windows: int
) -> tuple[list[float], dict[str, Any]]:
    """Read one key every READ_EVERY seconds for ``windows`` TTLs; the time left before expiry
    at each recomputation after the first, and the final info()."""
    cache = make_cache(stampede=StampedeSettings(beta=beta))
    early_by: list[float] = []

    def compute() -> str:
        if "k" in cache:
            early_by.append(cache.ttl("k") or 0.0)
        clock.advance(DELTA)
        return "value"

    end = clock.monotonic() + windows * TTL
    while clock.monotonic() < end:
        assert cache.get_or_set("k", compute, TTL) == "value"
        clock.advance(READ_EVERY)
    return early_by, cache.info()


def test_one_early_refresh_per_expiry_window_and_no_miss(
    make_cache: MakeCache, clock: ManualClock
) -> None:
    early_by, info = simulate(make_cache, clock, beta=1.0, windows=200)
    # Every recomputation after the first was an early refresh: nobody ever missed.
    assert info["stampede_computed"] == len(early_by) + 1
    assert info["stampede_early_refreshes"] == len(early_by)
    assert all(gap > 0 for gap in early_by)
    # One refresh per window: a window lasts TTL + DELTA less the refresh's lead.
    mean = sum(early_by) / len(early_by)
    windows = 200 * TTL / (TTL + DELTA - mean)
    assert len(early_by) == pytest.approx(windows, rel=0.05)
    # Each read refreshes with probability exp(-lead / (delta * beta)): at r reads a second the
    # first success comes at a lead of about delta * beta * (ln(r * delta * beta) + Euler's
    # gamma): earlier for slower computations, larger beta and busier keys.
    expected = DELTA * (math.log(DELTA / READ_EVERY) + 0.5772)
    assert mean == pytest.approx(expected, rel=0.15)


def test_a_larger_beta_refreshes_earlier(make_cache: MakeCache, clock: ManualClock) -> None:
    lead_1, _ = simulate(make_cache, clock, beta=1.0, windows=100)
    lead_2, _ = simulate(make_cache, clock, beta=2.0, windows=100)
    assert sum(lead_2) / len(lead_2) > 1.5 * sum(lead_1) / len(lead_1)


def test_beta_none_never_refreshes_early(make_cache: MakeCache, clock: ManualClock) -> None:
    early_by, info = simulate(make_cache, clock, beta=None, windows=5)  # type: ignore[arg-type]
    assert info["stampede_early_refreshes"] == 0 and early_by == []  # plain values: no lead


def test_the_envelope_is_counted_in_used_memory(make_cache: MakeCache, clock: ManualClock) -> None:
    plain, enveloped = make_cache(), make_cache(clock=clock)
    plain.set("k", "v" * 100, TTL)

    def slow() -> str:
        clock.advance(DELTA)
        return "v" * 100

    enveloped.get_or_set("k", slow, TTL)
    assert enveloped.info()["used_memory"] - plain.info()["used_memory"] == HEADER_SIZE
    assert enveloped.get("k") == plain.get("k")


def test_a_computation_too_fast_for_early_refresh_is_stored_plain(
    make_cache: MakeCache, clock: ManualClock
) -> None:
    """delta * beta below XFETCH_MIN_SCALE: no envelope (no bytes, the plain compiled hit);
    at or above it, an envelope. Serve-stale always needs one."""
    plain, fast, slow, grace = (
        make_cache(clock=clock),
        make_cache(clock=clock),
        make_cache(clock=clock, stampede=StampedeSettings(beta=1.0)),
        make_cache(clock=clock, stampede=StampedeSettings(beta=None, grace=5.0)),
    )
    plain.set("k", 1, TTL)

    def taking(seconds: float) -> Callable[[], int]:
        def compute() -> int:
            clock.advance(seconds)
            return 1

        return compute

    fast.get_or_set("k", taking(XFETCH_MIN_SCALE / 2), TTL)
    slow.get_or_set("k", taking(2 * XFETCH_MIN_SCALE), TTL)
    grace.get_or_set("k", taking(0.0), TTL)
    used = plain.info()["used_memory"]
    assert fast.info()["used_memory"] == used
    assert slow.info()["used_memory"] == grace.info()["used_memory"] == used + HEADER_SIZE


def stale_cache(make_cache: MakeCache, clock: ManualClock) -> Any:
    cache = make_cache(stampede=StampedeSettings(beta=None, grace=30.0))
    cache.get_or_set("k", lambda: "old", TTL)
    clock.advance(TTL + 5)
    return cache


def test_plain_get_never_serves_a_stale_copy(make_cache: MakeCache, clock: ManualClock) -> None:
    cache = stale_cache(make_cache, clock)
    assert cache.get("k") is None and cache.get("k", "dflt") == "dflt"
    assert cache.get_many(["k"]) == {}
    assert "k" not in cache
    assert cache.prefixed_getter()("k") is None


def test_stale_copy_is_served_while_one_caller_refreshes(
    make_cache: MakeCache, clock: ManualClock
) -> None:
    cache = stale_cache(make_cache, clock)
    release, started = threading.Event(), threading.Event()

    def slow() -> str:
        started.set()
        release.wait(PATIENCE)
        return "new"

    results: list[Any] = []
    refresher = threading.Thread(target=lambda: results.append(cache.get_or_set("k", slow, TTL)))
    refresher.start()
    try:
        assert started.wait(PATIENCE)
        assert cache.get_or_set("k", lambda: pytest.fail("second computation"), TTL) == "old"
        assert cache.info()["stampede_stale_served"] == 1
    finally:
        release.set()
        refresher.join(PATIENCE)
    assert results == ["new"]
    assert cache.get("k") == "new"


def test_past_the_grace_period_it_is_a_miss(make_cache: MakeCache, clock: ManualClock) -> None:
    cache = stale_cache(make_cache, clock)
    clock.advance(30)
    assert cache.get_or_set("k", lambda: "new", TTL) == "new"
    assert cache.info()["stampede_stale_served"] == 0


def test_a_failing_refresh_serves_the_stale_copy(
    make_cache: MakeCache, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    cache = stale_cache(make_cache, clock)
    with caplog.at_level(logging.WARNING, logger="cachepolicy.flight"):
        assert cache.get_or_set("k", lambda: 1 / 0, TTL) == "old"
    assert "serving its stale copy" in caplog.text
    assert cache.info()["stampede_failed"] == 1


def test_a_view_without_grace_treats_a_stale_copy_as_a_miss(
    make_cache: MakeCache, clock: ManualClock
) -> None:
    cache = stale_cache(make_cache, clock)
    strict = StampedeSettings(beta=None, grace=0)
    assert cache.get_or_set("k", lambda: "new", TTL, stampede=strict) == "new"


def test_incr_reads_through_the_envelope(make_cache: MakeCache) -> None:
    cache = make_cache()
    cache.get_or_set("n", lambda: 41, TTL)
    assert cache.incr("n") == 42 and cache.get("n") == 42


def test_followers_decode_the_sealed_value(make_cache: MakeCache) -> None:
    cache = make_cache()
    from tests.herd import run_threads

    def compute() -> str:
        wait_until(lambda: cache.store.flights.followers(0, "k") == 7, "followers")
        return "sealed"

    assert run_threads(8, lambda i: cache.get_or_set("k", compute, TTL)) == ["sealed"] * 8


@pytest.mark.parametrize("beta", [0, -1.0, math.nan, math.inf, True, "1", 1000])
def test_bad_beta_names_the_option(beta: Any) -> None:
    with pytest.raises(ConfigError, match="xfetch_beta") as caught:
        StampedeSettings(beta=beta)
    assert caught.value.option == "xfetch_beta"


@pytest.mark.parametrize("grace", [-1, math.nan, math.inf, None, "5", 1e12])
def test_bad_grace_names_the_option(grace: Any) -> None:
    with pytest.raises(ConfigError, match="stale_grace") as caught:
        StampedeSettings(grace=grace)
    assert caught.value.option == "stale_grace"


def test_no_envelope_without_a_finite_ttl(make_cache: MakeCache) -> None:
    never, at_once = make_cache(), make_cache()
    never.get_or_set("k", lambda: "v", None)
    at_once.get_or_set("k", lambda: "v", 0)
    reference = make_cache()
    reference.set("k", "v")
    assert never.info()["used_memory"] == reference.info()["used_memory"]
    assert "k" not in at_once
