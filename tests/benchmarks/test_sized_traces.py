"""The sized variants of the shared traces are reproducible and shaped as documented."""

from __future__ import annotations

import statistics
from pathlib import Path

import pytest

from benchmarks import traces
from benchmarks.sized_traces import MAX_SIZE, MIN_SIZE, key_sizes, write_sized


def test_sizes_are_seeded_bounded_and_log_normal() -> None:
    sizes = key_sizes(20_000, seed=20)
    assert sizes == key_sizes(20_000, seed=20)
    assert sizes != key_sizes(20_000, seed=21)
    assert min(sizes) >= MIN_SIZE and max(sizes) <= MAX_SIZE
    assert 10_000 <= statistics.median(sizes) <= 13_000  # e**9.357 = 11.6 KB
    assert len(set(sizes)) < 500  # two significant digits: few shared payloads


@pytest.mark.skipif(not traces.TRACES_DIR.is_dir(), reason=f"no traces at {traces.TRACES_DIR}")
def test_a_key_keeps_its_size(tmp_path: Path) -> None:
    path = write_sized("lirs-gli", tmp_path, limit=3000, seed=20)
    rows = [line.split(",") for line in path.read_text().splitlines()[1:]]
    assert len(rows) == 3000
    seen: dict[str, str] = {}
    for key, size in rows:
        assert seen.setdefault(key, size) == size
