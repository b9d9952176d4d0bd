"""``python -m example_project demo`` and the pieces it prints."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from example_project.__main__ import main, prefer_installed_cachepolicy
from example_project.report import build_report, format_summary
from tests.conftest import MakeCache
from tests.example.helpers import run_example


def test_demo_runs_both_apps_and_prints_their_reports() -> None:
    result = run_example(["demo", "--requests", "500", "--maxmemory", "128kb", "--info"])
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert "== Django site: 500 requests" in out and "== Flask app: 500 requests" in out
    assert out.count("used_memory:") >= 2
    ratios = [float(r) for r in re.findall(r"-> hit ratio (\d+\.\d)%", out)]
    assert len(ratios) == 2 and all(0 < r < 100 for r in ratios)
    page_ratios = re.findall(r"page hit ratio (\d+\.\d)%", out)
    assert len(page_ratios) == 2
    evicted = [int(n) for n in re.findall(r"evicted_keys:(\d+) expired_keys", out)]
    assert len(evicted) == 2 and max(evicted) > 0  # 128kb is too small for the long tail
    assert "maxmemory:128.00K" in out and "# Keyspace" in out  # --info prints INFO text
    assert "Traceback" not in result.stderr


def test_help_lists_the_commands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    usage = capsys.readouterr().out
    for command in ("django", "flask", "demo", "manage"):
        assert command in usage


def test_report_from_a_core_cache(make_cache: MakeCache) -> None:
    cache = make_cache(maxmemory="1mb")
    assert build_report("t", cache.info(), cache.info_text()).hit_ratio is None
    cache.set("a", "x" * 100, ttl=60)
    cache.get("a")
    cache.get("missing")
    cache.select(3).set("b", 1)
    report = build_report("t", cache.info(), cache.info_text(), {1: "nobody yet"})
    assert report.hit_ratio == 0.5 and report.hit_ratio_text == "50.0%"
    assert [(line.db, line.keys, line.label) for line in report.keyspace] == [
        (0, 1, ""),
        (1, 0, "nobody yet"),
        (3, 1, ""),
    ]
    assert report.keyspace[0].redis_line.startswith("db0:keys=1,expires=1,avg_ttl=")
    assert report.total_keys == 2 and 0 < report.memory_percent < 100
    summary = format_summary(report)
    assert "used_memory:" in summary and "hit ratio 50.0%" in summary
    data = report.as_dict()
    assert data["keyspace"]["db3"]["keys"] == 1 and "info_text" not in data


# ---------------------------------------------------------------- which build runs (issue 23)


def test_the_banner_says_which_build_runs_and_from_where(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import cachepolicy
    from cachepolicy.introspection import BUILD_NOTES, build
    from example_project.__main__ import _banner

    _banner("Django site", 8123, [("/", "home")], cached="/")
    out = capsys.readouterr().out
    assert f"cachepolicy {cachepolicy.__version__}, {build()} build, from " in out
    assert str(Path(cachepolicy.__file__).parent) in out
    assert BUILD_NOTES[build()] in out
    assert ("editable installs and CACHEPOLICY_PURE=1 are never compiled" in out) == (
        build() == "pure"
    )


def test_an_installed_cachepolicy_wins_over_the_checkout(tmp_path: Path) -> None:
    """``pip install .`` then ``python -m example_project`` from the checkout: the checkout's
    entry on sys.path goes last, so the installed (compiled) package is imported."""
    checkout, site = tmp_path / "repo", tmp_path / "site-packages"
    (checkout / "cachepolicy").mkdir(parents=True)
    (site / "cachepolicy").mkdir(parents=True)
    path = [str(checkout), "/usr/lib/python3.11", str(site)]
    moved = prefer_installed_cachepolicy(path, checkout, site / "cachepolicy", checkout)
    assert moved == ["/usr/lib/python3.11", str(site), str(checkout)]
    # "" (the current directory) counts as the checkout when run from there.
    assert (
        prefer_installed_cachepolicy(["", str(site)], checkout, site / "cachepolicy", checkout)[-1]
        == ""
    )
    # An editable install (the package is the checkout's) or none: nothing moves.
    assert prefer_installed_cachepolicy(path, checkout, checkout / "cachepolicy", checkout) == path
    assert prefer_installed_cachepolicy(path, checkout, None, checkout) == path
