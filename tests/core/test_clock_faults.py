"""Clock faults (issue 11, defect 3): the wall clock steps while the monotonic clock runs on.

Deadlines and expiry schedules are monotonic, so a wall-clock step must neither stall
reclamation (a step back used to stop it for as long as the step) nor expire keys early (a step
forward used to expire every key whose TTL was shorter than the step). Only the absolute times of
the API edge (``expiretime()``, ``expireat()``) follow the wall clock.
"""

from __future__ import annotations

import pytest

from cachepolicy import Cache, ManualClock
from cachepolicy.clock import WallOffset
from tests.conftest import MakeCache
from tests.expiry.helpers import ALL, pump

HOUR = 3600.0


def _reclaim_until(cache: Cache, condition_keys: int, strategy: str, rounds: int = 40) -> float:
    """Advance the clock 0.1 s at a time, letting expiry run, until at most ``condition_keys``
    keys are left; returns the monotonic seconds that took (fails past ``rounds`` steps)."""
    clock = cache.store.clock
    assert isinstance(clock, ManualClock)
    start = clock.monotonic()
    for _ in range(rounds):
        if strategy == "lazy":
            clock.advance(0.1)
            for key in list(cache.store.keyspaces[cache.db].data):
                cache.get(key)  # lazy expiry reclaims on access only (keys() hides expired)
        else:
            pump(cache, rounds=1, step=0.1)
        if len(cache) <= condition_keys:
            return clock.monotonic() - start
    raise AssertionError(f"{len(cache)} keys left after {rounds * 0.1:.1f} s of monotonic time")


@pytest.mark.parametrize("step", [-HOUR, HOUR], ids=["back-1h", "forward-1h"])
@pytest.mark.parametrize("strategy", ALL)
def test_wall_step_neither_stalls_nor_floods_expiry(
    make_cache: MakeCache, clock: ManualClock, strategy: str, step: float
) -> None:
    cache = make_cache(expiry=strategy, maxmemory=0)
    for i in range(300):
        cache.set(f"short{i}", i, ttl=0.2)
    cache.set("long", "x", ttl=10)
    cache.set("forever", "x")
    clock.step_wall(step)

    # ttl() is monotonic: the step changes nothing; expiretime() follows the wall clock.
    assert cache.ttl("long") == pytest.approx(10.0)
    assert cache.expiretime("long") == pytest.approx(clock.time() + 10.0)
    assert cache.ttl("forever") is None

    # The short keys go within a few cycles of their deadline, not after the step's hour.
    took = _reclaim_until(cache, 2, strategy)
    assert took < 2.0, took
    assert set(cache.keys()) == {"long", "forever"}  # a forward step expired nothing early
    assert cache.ttl("long") == pytest.approx(10.0 - took)
    assert cache.info()["expired_keys"] == 300

    # A second step the other way, then the long key expires on time.
    clock.step_wall(-step)
    clock.advance(10.0 - took - 0.5)
    assert cache.get("long") == "x"
    _reclaim_until(cache, 1, strategy)
    assert cache.keys() == ["forever"]


@pytest.mark.parametrize("strategy", ALL)
def test_expireat_is_read_against_the_wall_clock_of_the_call(
    make_cache: MakeCache, clock: ManualClock, strategy: str
) -> None:
    cache = make_cache(expiry=strategy)
    cache.set("k", 1)
    clock.step_wall(-HOUR)
    at = clock.time() + 5
    assert cache.expireat("k", at) is True
    assert cache.expiretime("k") == at  # exact round trip while the wall clock holds still
    assert cache.ttl("k") == pytest.approx(5.0)
    clock.step_wall(2 * HOUR)  # the deadline stays 5 s away, only its epoch reading moves
    assert cache.ttl("k") == pytest.approx(5.0)
    assert cache.expiretime("k") == pytest.approx(at + 2 * HOUR)
    # An epoch time already past on the (stepped) wall clock deletes at once.
    assert cache.expireat("k", clock.time() - 1) is True
    assert "k" not in cache


def test_manual_clock_steps_the_wall_alone() -> None:
    clock = ManualClock(1000.0)
    assert clock.time() == clock.monotonic() == 1000.0
    clock.step_wall(-50)
    assert (clock.time(), clock.monotonic()) == (950.0, 1000.0)
    clock.advance(5)
    assert (clock.time(), clock.monotonic()) == (955.0, 1005.0)
    clock.set(960.0)  # set() moves both, by what the wall clock needs
    assert (clock.time(), clock.monotonic()) == (960.0, 1010.0)
    with pytest.raises(ValueError, match="cannot go back"):
        clock.set(959.0)


def test_wall_offset_ignores_read_jitter_and_follows_steps() -> None:
    clock = ManualClock(1000.0)
    wall = WallOffset(clock)
    assert wall() == 0.0
    clock.step_wall(WallOffset.STEP / 2)  # within jitter: the offset stays put
    assert wall() == 0.0
    clock.step_wall(-HOUR)
    assert wall() == pytest.approx(-HOUR + WallOffset.STEP / 2)
    assert wall.from_wall(wall.to_wall(1234.5)) == pytest.approx(1234.5)
