"""``python -m cachepolicy`` (issue 23, item 14): version, build, entry points; ``--info``."""

from __future__ import annotations

import subprocess
import sys

import pytest

import cachepolicy
from cachepolicy.__main__ import ENTRY_POINTS, describe, main
from cachepolicy.introspection import BUILD_NOTES, build

#: Runs the module as `python -m cachepolicy` would, then reports which frameworks it loaded.
_PROBE = """
import runpy, sys
sys.argv = ["python -m cachepolicy"]
try:
    runpy.run_module("cachepolicy", run_name="__main__")
except SystemExit as exit:
    assert exit.code == 0, exit.code
print("frameworks loaded:", [m for m in ("django", "flask") if m in sys.modules])
"""


def test_it_prints_version_build_origin_and_entry_points() -> None:
    lines = describe()
    text = "\n".join(lines)
    assert lines[0] == f"cachepolicy {cachepolicy.__version__}"
    assert f"build: {build()} ({BUILD_NOTES[build()]})" in text
    assert "django_cachepolicy.PolicyCache" in text and "flask_cachepolicy.PolicyCache" in text
    assert "cacheinfo" in text and "flask cachepolicy info" in text
    assert all(how in text for _, how in ENTRY_POINTS)


def test_info_adds_a_demo_caches_report(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--info"]) == 0
    out = capsys.readouterr().out
    assert "maxmemory_policy:allkeys-lru" in out and "db0:keys=100" in out


def test_the_module_runs_without_importing_the_frameworks() -> None:
    result = subprocess.run(
        [sys.executable, "-c", _PROBE], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "frameworks loaded: []" in result.stdout
    assert f"build: {build()}" in result.stdout
