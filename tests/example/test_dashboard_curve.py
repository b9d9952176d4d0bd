"""The dashboard's live-curve data (example_project.dashboard.live_curve) from a store's info()."""

from __future__ import annotations

from pathlib import Path

import pytest

from cachepolicy import Cache
from example_project.dashboard import live_curve, record_options


def test_no_curve_without_recording() -> None:
    assert live_curve(Cache(maxmemory="1mb").info()) is None


def test_the_curve_of_a_recording_store(tmp_path: Path) -> None:
    cache = Cache(maxmemory="1mb", record=str(tmp_path), record_rate=1.0)
    assert live_curve(cache.info()) == {
        "points": [],
        "gain_2x_points": None,
        "references": 0,
        "rate": 1.0,
    }
    for number in range(3000):
        key = f"k{number % 700}"
        if cache.get(key) is None:
            cache.set(key, "x" * 2000)
    cache.store.recorder.flush()  # type: ignore[union-attr]
    curve = live_curve(cache.info())
    assert curve is not None and curve["references"] == 3000
    sizes = [point["maxmemory"] for point in curve["points"]]
    assert sizes == [262144, 524288, 1048576, 2097152, 4194304]
    ratios = [point["hit_ratio"] for point in curve["points"]]
    assert ratios == sorted(ratios)
    assert curve["gain_2x_points"] == round(100 * (ratios[3] - ratios[2]), 1) > 0
    cache.close()


def test_the_example_records_where_told(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXAMPLE_RECORD", str(tmp_path / "rec"))
    assert record_options("CACHE_") == {
        "CACHE_RECORD": str(tmp_path / "rec"),
        "CACHE_RECORD_RATE": 0.25,
    }
    assert (tmp_path / "rec").is_dir()
    monkeypatch.setenv("EXAMPLE_RECORD", "")
    assert record_options() == {}
