"""The import contract (``[tool.importlinter]`` in pyproject.toml) holds, and breaks when it should.

``scripts/test.sh`` runs ``lint-imports`` on the checkout. These tests run it on a copy of the
sources with one import injected, to prove that an upward import or an import circle fails the
build, and that an import under ``if TYPE_CHECKING:`` does not. They need the sources (they skip
in the copy of the tests that ``scripts/test_installed.sh`` runs against the wheel).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("importlinter")

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {
    "cachepolicy": ROOT / "cachepolicy",
    "django_cachepolicy": ROOT / "integrations" / "django_cachepolicy",
    "flask_cachepolicy": ROOT / "integrations" / "flask_cachepolicy",
}
if not all(path.is_dir() for path in PACKAGES.values()):
    pytest.skip("needs the package sources (a checkout)", allow_module_level=True)

# Runs the lint-imports command with this interpreter, whatever is on PATH.
_LINT = "import sys; from importlinter.cli import lint_imports_command; lint_imports_command()"


def _lint(tree: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run(
        [sys.executable, "-c", _LINT, "--no-logo", "--no-cache"],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """The three packages side by side, with the project's pyproject.toml."""
    for name, path in PACKAGES.items():
        shutil.copytree(path, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def _inject(tree: Path, module: str, code: str) -> None:
    path = tree / module
    path.write_text(path.read_text() + "\n" + code + "\n")


def test_the_sources_keep_the_contract(tree: Path) -> None:
    result = _lint(tree)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 kept, 0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "code", "broken"),
    [
        # What main had: the compiled engine importing lazy free (above it) inside a method.
        (
            "cachepolicy/_core/engine.py",
            "def _late() -> None:\n    from ..lazyfree import drain\n",
            "Inside cachepolicy, arrows point down",
        ),
        # A policy module reaching up into the store.
        (
            "cachepolicy/eviction/sampled.py",
            "from ..store import CacheStore",
            "Inside cachepolicy, arrows point down",
        ),
        # A leaf module importing the configuration.
        ("cachepolicy/errors.py", "from . import config", "Inside cachepolicy, arrows point down"),
        # The library importing an adapter.
        (
            "cachepolicy/view.py",
            "import django_cachepolicy",
            "The framework adapters use the library; the library imports neither",
        ),
        # A circle inside the engine package, which the layers alone do not see.
        (
            "cachepolicy/_core/entry.py",
            "from . import keyspace",
            "No import circle between the modules and packages of cachepolicy",
        ),
    ],
    ids=[
        "core-imports-lazyfree",
        "policy-imports-store",
        "leaf-imports-config",
        "adapter",
        "circle",
    ],
)
def test_an_upward_import_or_a_circle_breaks_it(
    tree: Path, module: str, code: str, broken: str
) -> None:
    _inject(tree, module, code)
    result = _lint(tree)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"{broken} BROKEN" in result.stdout


def test_type_only_imports_are_allowed(tree: Path) -> None:
    _inject(
        tree,
        "cachepolicy/_core/keyspace.py",
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..store import CacheStore",
    )
    result = _lint(tree)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_new_module_needs_a_layer(tree: Path) -> None:
    (tree / "cachepolicy" / "newcomer.py").write_text('"""Not placed in any layer yet."""\n')
    result = _lint(tree)
    assert result.returncode != 0
    assert "newcomer" in result.stdout + result.stderr
