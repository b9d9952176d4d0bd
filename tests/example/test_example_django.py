"""The example Django site, through its command line (see ``helpers.py`` for why a child)."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.example.helpers import ROOT, TIMEOUT, child_env, fetch, free_port, run_example, serving


def test_site_checks_pass_under_the_example_settings() -> None:
    """``django_site_checks.py`` drives the site with Django's test client in a child pytest."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:randomly",
            str(ROOT / "tests" / "example" / "django_site_checks.py"),
        ],
        cwd=ROOT,
        env=child_env(DJANGO_SETTINGS_MODULE="example_project.djangosite.settings"),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    assert " passed" in result.stdout and "skipped" not in result.stdout


def test_manage_check_passes() -> None:
    result = run_example(["manage", "check"])
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


def test_manage_cacheinfo_reports_every_alias_of_the_shared_store() -> None:
    result = run_example(["manage", "cacheinfo", "--json"])
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert sorted(report) == ["default", "load", "pages", "template_fragments"]
    assert [report[alias]["database"] for alias in sorted(report)] == [0, 3, 1, 2]
    assert {info["location"] for info in report.values()} == {"example-shop"}
    assert {info["maxmemory"] for info in report.values()} == {4 * 1024 * 1024}
    assert {info["maxmemory_policy"] for info in report.values()} == {"allkeys-lru"}

    text = run_example(["manage", "cacheinfo", "pages"])
    assert text.returncode == 0, text.stderr
    assert "database:1" in text.stdout and "used_memory:" in text.stdout


def test_the_environment_changes_the_budget_for_every_alias() -> None:
    result = run_example(
        ["manage", "cacheinfo", "--json"],
        EXAMPLE_MAXMEMORY="1mb",
        EXAMPLE_MAXMEMORY_POLICY="allkeys-lfu",
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert {info["maxmemory"] for info in report.values()} == {1024 * 1024}  # mb = 1024²
    assert {info["maxmemory_policy"] for info in report.values()} == {"allkeys-lfu"}


def test_a_bad_budget_fails_the_system_check() -> None:
    result = run_example(["manage", "check"], EXAMPLE_MAXMEMORY="64 potatoes")
    assert result.returncode != 0
    assert "django_cachepolicy.E002" in result.stderr
    assert "MAXMEMORY" in result.stderr


def test_the_default_command_serves_the_site_on_loopback() -> None:
    """``python -m example_project`` (the README's command), on a free port."""
    with serving([], free_port()) as base:
        status, _, home = fetch(base + "/")
        assert status == 200 and "Bestsellers" in home
        assert fetch(base + "/report/")[1]["X-Cache"] == "MISS"
        assert fetch(base + "/report/")[1]["X-Cache"] == "HIT"
        status, _, body = fetch(base + "/cache.json")
        [store] = json.loads(body)["stores"]
        assert status == 200 and store["keyspace_hits"] >= 1
        assert store["keyspace"]["db1"]["keys"] >= 1
