"""scripts/stages.sh, the stage runner of scripts/test.sh (issue 23, item 16), on stand-ins.

A failed stage must not stop the others, pytest's "nothing collected" (5) is a failure, each
stage's output is kept and the end of a failed one's log shown again, and the summary names
every stage with its lane, status and wall time, in the order given.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")


def _run(body: str, tmp_path: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    script = f"""
set -uo pipefail
source "{SCRIPTS}/venv_lib.sh"
source "{SCRIPTS}/stages.sh"
start_stages ci-stages-test KEEP_NOTHING
{body}
"""
    return subprocess.run(
        ["bash", "-c", script],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={"PATH": "/usr/bin:/bin", "TMPDIR": str(tmp_path)},
        check=False,
    )


def _summary(stdout: str) -> dict[str, list[str]]:
    table = stdout.split("==== summary", 1)[1].splitlines()[2:]
    return {line.split()[0]: line.split()[1:] for line in table if line and "stage" not in line}


def test_every_stage_runs_after_a_failure_and_the_run_fails(tmp_path: Path) -> None:
    result = _run(
        """
lane_a() { stage first a sh -c 'echo first-output; exit 3'; stage second a echo second-ran; }
lane_b() { stage nothing b run_pytest sh -c 'exit 5'; skip later b "not wanted"; }
lane_a & lane_b & wait
summarize first second nothing later never
""",
        tmp_path,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    out = result.stdout
    assert "[a] second-ran" in out  # the stage after the failed one ran, prefixed by its lane
    assert "==== first failed (exit status 3)" in out
    assert out.count("first-output") == 2  # streamed, then shown again from its log
    assert "collected no tests" in out
    rows = _summary(out)
    assert list(rows) == ["first", "second", "nothing", "later", "never"]
    assert rows["first"][:2] == ["a", "FAILED(3)"]
    assert rows["second"][:2] == ["a", "ok"]
    assert rows["nothing"][:2] == ["b", "FAILED(1)"]  # pytest's 5: nothing collected
    assert rows["later"][:2] == ["b", "skipped"]
    assert rows["never"][:3] == ["-", "never", "ran"]
    assert "FAILED: at least one stage failed" in out
    assert list(tmp_path.iterdir()) == []  # the run's directory is removed at exit


def test_a_run_whose_stages_all_pass_exits_0(tmp_path: Path) -> None:
    result = _run(
        'stage one a true; skip two a "left out"; summarize one two',
        tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "all stages passed" in result.stdout
    rows = _summary(result.stdout)
    assert rows["one"][:3] == ["a", "ok", "0"]


@pytest.mark.untraced
def test_untraced_tests_run_with_the_coverage_tracer_paused() -> None:
    """tests/conftest.py's ``_untraced``: the memory-churn scenarios run outside the tracer."""
    if os.environ.get("COVERAGE_RUN") != "true":  # coverage run sets it
        pytest.skip("not under `coverage run` (scripts/test.sh's pure stage runs this)")
    assert sys.gettrace() is None


def test_other_tests_stay_traced() -> None:
    if os.environ.get("COVERAGE_RUN") != "true":
        pytest.skip("not under `coverage run` (scripts/test.sh's pure stage runs this)")
    assert sys.gettrace() is not None


def test_stopping_the_run_ends_every_lane_and_what_it_started(tmp_path: Path) -> None:
    """A CI timeout or Ctrl+C must not leave a lane's pytest running on a shared machine."""
    marker = tmp_path / "still-running"
    body = f"""
lane() {{ sleep 3; touch "{marker}-$1"; }}
run_lanes lane lane -- x &
runner=$!
sleep 1
kill -TERM "$runner"
wait "$runner"
echo "runner exit $?"
sleep 4  # past the lanes' sleep: had they survived, they would have left their marker
"""
    result = _run(body, tmp_path)
    assert "runner exit 143" in result.stdout, result.stdout + result.stderr
    assert not list(tmp_path.glob("still-running*"))
