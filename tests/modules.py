"""Importing helper files that are not part of a package (``scripts/``, per-suite settings)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[1]


def import_by_path(name: str, path: Path) -> ModuleType:
    """The file at ``path`` as the module ``name``, imported once per process.

    Registered in ``sys.modules`` before it runs, as a regular import is: dataclasses and
    pickling look their module up there, and a second caller gets the same module object.
    """
    module = sys.modules.get(name)
    if module is None:
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return module


def conformance_fetcher() -> ModuleType:
    """``scripts/fetch_conformance.py`` (``scripts/`` is not a package)."""
    return import_by_path(
        "cachepolicy_fetch_conformance", REPO / "scripts" / "fetch_conformance.py"
    )
