"""Django's own cache suite passes whichever is imported first (issue 23, item 6).

``own_settings_suite.py`` runs ``BaseCacheTests`` under Django's own test ``CACHES`` (the cull
aliases share the default LOCATION); here it runs in a fresh interpreter per import order, so
that nothing this process imported can hide the order under test.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.parametrize("order", ["backend-first", "override-first"])
def test_djangos_suite_under_its_own_settings_passes_in_either_import_order(order: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tests.django.own_settings_suite", order],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    tail = "\n".join((result.stdout + result.stderr).splitlines()[-30:])
    assert result.returncode == 0, f"{order}: Django's suite failed:\n{tail}"
    assert "\nOK" in result.stderr, tail  # unittest's verdict: every test ran and passed
