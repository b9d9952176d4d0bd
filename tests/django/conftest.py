"""Configure Django for ``tests/django/`` only (see ``django_test_settings.py`` for why)."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

_HELPER_NAME = "django_cachepolicy_test_settings"


def _helper() -> ModuleType:
    """Import ``django_test_settings.py`` by path, once, under a fixed module name."""
    module = sys.modules.get(_HELPER_NAME)
    if module is None:
        path = Path(__file__).with_name("django_test_settings.py")
        spec = importlib.util.spec_from_file_location(_HELPER_NAME, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[_HELPER_NAME] = module
        spec.loader.exec_module(module)
    return module


def pytest_configure(config: pytest.Config) -> None:
    _helper().configure()


@pytest.fixture(autouse=True, scope="session")
def _django_setup() -> Iterator[None]:
    """Set Django up before the first test here, unless the conformance module already did."""
    _helper().setup()
    yield
