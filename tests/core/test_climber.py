"""The hill climber shared by adaptive policies (:mod:`cachepolicy._core.climber`)."""

from __future__ import annotations

import pytest

from cachepolicy._core.climber import HillClimber


def _climber(**overrides: float) -> HillClimber:
    settings: dict[str, float] = {
        "value": 0.5,
        "low": 0.0,
        "high": 1.0,
        "step": 0.1,
        "decay": 0.5,
        "restart": 0.0,
        "period": 10,
    }
    settings.update(overrides)
    return HillClimber(**settings)  # type: ignore[arg-type]


def test_the_first_sample_is_the_baseline() -> None:
    climber = _climber()
    assert climber.climb(0.3) == 0.5 and climber.samples == 1
    assert climber.climb(0.3) == pytest.approx(0.6)  # not worse: on in the first direction


def test_it_turns_when_the_hit_ratio_falls_and_the_step_decays() -> None:
    climber = _climber()
    climber.climb(0.5)
    assert climber.climb(0.6) == pytest.approx(0.6)  # better: +0.1, step now 0.05
    assert climber.climb(0.4) == pytest.approx(0.55)  # worse: turn, -0.05
    assert climber.climb(0.45) == pytest.approx(0.525)  # better: on down, -0.025
    assert climber.step == pytest.approx(-0.0125)


def test_the_value_stays_within_its_bounds() -> None:
    climber = _climber(value=0.95, step=0.5, decay=1.0)
    climber.climb(0.1)
    assert climber.climb(0.2) == 1.0
    climber.climb(0.1)  # worse: turn
    assert climber.climb(0.1) == 0.0
    assert _climber(value=7.0).value == 1.0


def test_a_big_change_restarts_the_step() -> None:
    climber = _climber(restart=0.05, decay=0.5)
    climber.climb(0.5)
    climber.climb(0.51)  # small change: decays to 0.05
    assert climber.step == pytest.approx(0.05)
    climber.climb(0.40)  # fell by 11 points: turns, and the step is whole again
    assert climber.step == pytest.approx(-0.1)


def test_tick_ends_a_sample_after_period_requests_and_reset_forgets() -> None:
    climber = _climber()
    climber.hits, climber.misses = 3, 6
    assert not climber.tick() and climber.samples == 0
    climber.misses += 1
    assert climber.tick() and climber.previous == pytest.approx(0.3)
    assert climber.hits == climber.misses == 0
    climber.climb(0.9)
    climber.reset(0.2)
    assert (climber.value, climber.step, climber.samples, climber.previous) == (0.2, 0.1, 0, -1.0)
