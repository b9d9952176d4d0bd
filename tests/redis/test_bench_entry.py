"""``benchmarks/bench_redis.py`` runs end to end in its quickest mode (it measures nothing here:
speed is measured by running the benchmark, never asserted in tests)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.redis.servers import require_redis_server

REPO = Path(__file__).resolve().parents[2]


def test_bench_redis_tiny(tmp_path: Path) -> None:
    require_redis_server()
    output = tmp_path / "redis.md"
    result = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "bench_redis.py"), "--seconds", "0.01",
         "--output", str(output)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    report = output.read_text()
    for row in (
        "get hit", "set_many 10", "zipf 90/10 x4", "zipf 99/1 x1", "zipf 99/1 x4",
        "aget x100 tasks", "django-redis",
    ):  # fmt: skip
        assert row in report
    # The two-tier subject, its ratio column and the L1 hit ratio of a read scenario.
    assert "RedisPolicyCache + L1" in report and "+ L1 / Django RedisCache" in report
    get_hit = next(line for line in report.splitlines() if line.startswith("| get hit |"))
    assert get_hit.rstrip(" |").endswith("%"), get_hit
    assert "zipf 99/1 x4: fills " in report and "own_echoes" in report  # the L1's counters
    # The read-heavy row reports the L1 hit ratio of its timed (post-warm-up) part.
    for threads in (1, 4):
        row = next(
            line for line in report.splitlines() if line.startswith(f"| zipf 99/1 x{threads} |")
        )
        assert row.rstrip(" |").endswith("%"), row
