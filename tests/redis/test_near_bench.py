"""benchmarks/bench_near.py runs end to end in its smallest mode (speed is not asserted)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest


def test_bench_near_tiny(tmp_path: Path) -> None:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    root = Path(__file__).resolve().parents[2]
    output = tmp_path / "near.md"
    # A process of its own: the benchmark spawns reader processes and starts a server.
    subprocess.run(
        [
            sys.executable,
            str(root / "benchmarks" / "bench_near.py"),
            *("--seconds", "0.05", "--repeat", "1", "--samples", "5", "--output", str(output)),
        ],
        check=True,
        timeout=120,
        cwd=root,
        stdout=subprocess.DEVNULL,
    )
    report = output.read_text()
    for row in ("| get hit |", "| zipf 90/10 x1 |", "| zipf 90/10 x4 |", "| busy reader |"):
        assert row in report
