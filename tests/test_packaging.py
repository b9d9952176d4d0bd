"""Package habits: one version, a changelog section for it, classifiers that match the pins."""

from __future__ import annotations

import re
import sys
from importlib import metadata
from pathlib import Path

import pytest

import cachepolicy

ROOT = Path(__file__).resolve().parents[1]

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    tomllib = pytest.importorskip("tomli")


def _pyproject() -> dict[str, object]:
    with (ROOT / "pyproject.toml").open("rb") as file:
        return tomllib.load(file)


def test_version_has_one_source() -> None:
    project = _pyproject()["project"]
    assert isinstance(project, dict)
    assert "version" not in project and "version" in project["dynamic"]
    dynamic = _pyproject()["tool"]["setuptools"]["dynamic"]  # type: ignore[index]
    assert dynamic["version"] == {"attr": "cachepolicy.__version__"}
    assert re.fullmatch(r"\d+\.\d+\.\d+(?:(?:a|b|rc)\d+)?", cachepolicy.__version__)


def test_installed_metadata_has_the_version() -> None:
    try:
        installed = metadata.version("cachepolicy")
    except metadata.PackageNotFoundError:
        pytest.skip("cachepolicy is not installed (run from a checkout)")
    assert installed == cachepolicy.__version__


def test_changelog_has_a_section_for_the_version() -> None:
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert re.search(rf"^## \[{re.escape(cachepolicy.__version__)}\]", changelog, re.MULTILINE)
    for heading in re.findall(r"^### (.+)$", changelog, re.MULTILINE):
        assert heading in {"Added", "Changed", "Deprecated", "Removed", "Fixed", "Security"}


def test_classifiers_match_the_supported_versions() -> None:
    project = _pyproject()["project"]
    assert isinstance(project, dict)
    classifiers = set(project["classifiers"])
    low = int(project["requires-python"].removeprefix(">=3."))
    python = re.compile(r"Programming Language :: Python :: 3\.\d+")
    pythons = {c for c in classifiers if python.fullmatch(c)}
    assert min(int(c.rsplit(".", 1)[1]) for c in pythons) == low
    extras = project["optional-dependencies"]
    assert any(pin.startswith("Django>=4.2,<6") for pin in extras["django"])
    assert {"Framework :: Django :: 4.2", "Framework :: Django :: 5.2"} <= classifiers
    assert any(pin.startswith("Flask-Caching>=2.0,<3") for pin in extras["flask"])
    assert "Framework :: Flask" in classifiers


def test_nox_matrix_is_the_classifiers() -> None:
    """noxfile.py tests exactly the Python and Django versions the classifiers promise."""
    project = _pyproject()["project"]
    assert isinstance(project, dict)
    classifiers = set(project["classifiers"])
    noxfile = (ROOT / "noxfile.py").read_text(encoding="utf-8")
    pythons_line = re.search(r"^PYTHONS = \[(.*)\]$", noxfile, re.MULTILINE)
    assert pythons_line is not None
    pythons = set(re.findall(r'"(3\.\d+)"', pythons_line.group(1)))
    classified = {
        c.rsplit(" ", 1)[1]
        for c in classifiers
        if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)
    }
    assert pythons == classified
    django_line = re.search(r"^DJANGO = \{(.*)\}$", noxfile, re.MULTILINE)
    assert django_line is not None
    djangos = set(re.findall(r'"(\d\.\d)": "Django', django_line.group(1)))
    assert {f"Framework :: Django :: {v}" for v in djangos} == {
        c for c in classifiers if re.fullmatch(r"Framework :: Django :: [\d.]+", c)
    }
