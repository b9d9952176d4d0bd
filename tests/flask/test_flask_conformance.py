"""Flask-Caching's and cachelib's own test suites, run against PolicyCache.

The suites are downloaded (for the installed versions) by ``scripts/fetch_conformance.py`` into
the gitignored ``.conformance/``; what runs and what is excluded, with reasons, is decided by the
glue in ``tests/flask/conformance/``. Each suite runs in its own pytest process because both
import their conftest as the top-level module ``conftest``.

Offline, a failed download skips these tests; in CI (``CI=true``) it fails them: a conformance
suite that silently did not run is worse than none.

Results are counted per upstream test, not per run: the glue runs each cachelib test in four
configurations (private or shared store, with or without a key prefix) and each Flask-Caching
generic test in two, so pytest's own summary would count one upstream test up to four times.
The JUnit report gives every run; runs of one test (same class, same name before its
``[parameters]``) are folded into one result, which passes only if every run passed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ElementTree
from collections import Counter
from pathlib import Path

import pytest

from tests.modules import conformance_fetcher

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def suite_dir() -> Path:
    fetcher = conformance_fetcher()
    try:
        return Path(fetcher.fetch_flask_suite())
    except fetcher.ConformanceFetchError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"Could not fetch the Flask conformance suites in CI: {exc}")
        pytest.skip(f"Flask conformance suites unavailable offline: {exc}")


def _run(directory: Path, report: Path) -> tuple[int, str]:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-rs",
            "-p",
            "no:cacheprovider",
            # The upstream suites turn warnings into errors; newer pytest-asyncio warns when
            # this option is unset, which would abort them before any test ran.
            "-o",
            "asyncio_default_fixture_loop_scope=function",
            f"--junitxml={report}",
            str(directory),
        ],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    return result.returncode, result.stdout + result.stderr


def upstream_results(report: Path) -> dict[str, str]:
    """Each upstream test's result from a JUnit report, its parametrized runs folded into one.

    A test is ``"failed"`` if any run failed or errored, ``"skipped"`` if every run was
    skipped, and ``"passed"`` otherwise (every run passed, or some passed and others were
    skipped for a reason the glue states).
    """
    runs: dict[str, list[str]] = {}
    for case in ElementTree.parse(report).getroot().iter("testcase"):
        name = f"{case.get('classname')}::{case.get('name', '').split('[', 1)[0]}"
        outcomes = {child.tag for child in case}
        if outcomes & {"failure", "error"}:
            outcome = "failed"
        elif "skipped" in outcomes:
            outcome = "skipped"
        else:
            outcome = "passed"
        runs.setdefault(name, []).append(outcome)
    results = {}
    for name, outcomes in runs.items():
        if "failed" in outcomes:
            results[name] = "failed"
        elif all(outcome == "skipped" for outcome in outcomes):
            results[name] = "skipped"
        else:
            results[name] = "passed"
    return results


@pytest.mark.parametrize(
    ("suite", "minimum_passed", "allowed_skips"),
    [
        # cachelib's 15 CommonTests/HasTests/ClearTests/DeleteManyWithPrefixTests tests, its 6
        # SerializerTests and TestInterfaceUniformity's one test; each runs on a private and a
        # shared store, with and without a key prefix.
        ("cachelib", 22, 0),
        # Flask-Caching's generic backend, memoize, cached, view, template, signal, hash and
        # serializer tests; the two skips are the documented exclusions in the glue conftest.
        ("flask_caching", 157, 2),
    ],
)
def test_upstream_suite_passes(
    suite_dir: Path, suite: str, minimum_passed: int, allowed_skips: int
) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        report = Path(scratch) / "report.xml"
        code, output = _run(suite_dir / suite, report)
        assert report.is_file(), output
        results = upstream_results(report)
    counts = Counter(results.values())
    print(f"{suite}: {dict(counts)} upstream tests")
    assert code == 0, output
    assert counts["failed"] == 0, [name for name, result in results.items() if result == "failed"]
    assert counts["passed"] >= minimum_passed, (dict(counts), output)
    assert counts["skipped"] <= allowed_skips, (dict(counts), output)


def test_each_upstream_test_is_counted_once(tmp_path: Path) -> None:
    """Four passing runs of one test are one pass; one failing run makes the test a failure."""
    report = tmp_path / "report.xml"
    report.write_text(
        "<testsuites><testsuite>"
        '<testcase classname="m.TestPolicyCache" name="test_set[private-no_key_prefix]"/>'
        '<testcase classname="m.TestPolicyCache" name="test_set[private-with_key_prefix]"/>'
        '<testcase classname="m.TestPolicyCache" name="test_set[shared-no_key_prefix]"/>'
        '<testcase classname="m.TestPolicyCache" name="test_set[shared-with_key_prefix]"/>'
        '<testcase classname="m.TestPolicyCache" name="test_get[private]"/>'
        '<testcase classname="m.TestPolicyCache" name="test_get[shared]"><failure/></testcase>'
        '<testcase classname="m" name="test_unlink"><skipped/></testcase>'
        '<testcase classname="other.TestPolicyCache" name="test_set"/>'
        "</testsuite></testsuites>"
    )
    assert upstream_results(report) == {
        "m.TestPolicyCache::test_set": "passed",
        "m.TestPolicyCache::test_get": "failed",
        "m::test_unlink": "skipped",
        "other.TestPolicyCache::test_set": "passed",
    }
