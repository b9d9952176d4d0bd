"""Which build of the engine runs: the compiled one (mypyc) or the pure Python one.

``cachepolicy/_core`` is compiled in built wheels and stays Python in editable installs or with
``CACHEPOLICY_PURE=1`` (setup.py). The scripts that run the suite say which one they installed:

* ``CACHEPOLICY_EXPECT_COMPILED=1`` (``scripts/test_installed.sh``): every ``_core`` module but
  ``__init__`` is an extension module, ``COMPILED`` is True, and ``cachepolicy`` and the
  adapters are imported from the installed package, not from a checkout;
* ``CACHEPOLICY_EXPECT_COMPILED=0`` (``scripts/test.sh``, on the editable install): every
  ``_core`` module is Python source and ``COMPILED`` is False;
* unset: nothing is expected, and these tests skip.

``cachepolicy._core`` is imported with ``importlib`` inside the tests, so that this module
collects even where the package does not exist (then the tests skip).
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import sysconfig
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path
from types import ModuleType

import pytest

#: The environment variable the test scripts set, and the values it may take.
EXPECT_VARIABLE = "CACHEPOLICY_EXPECT_COMPILED"
EXPECT_VALUES = {"1": True, "0": False}
#: The root of the tree these tests run from: the checkout, or the copy of its tests that
#: scripts/test_installed.sh makes; neither may provide the installed package.
TESTS_ROOT = Path(__file__).resolve().parents[1]


def _expected() -> bool:
    value = os.environ.get(EXPECT_VARIABLE, "").strip()
    if not value:
        pytest.skip(
            f"{EXPECT_VARIABLE} is unset: the build under test is not declared (scripts/test.sh "
            "sets 0 for the editable pure install, scripts/test_installed.sh 1 for the wheel)."
        )
    if value not in EXPECT_VALUES:
        pytest.fail(f"{EXPECT_VARIABLE} must be 1 (compiled) or 0 (pure), got {value!r}.")
    return EXPECT_VALUES[value]


def _core() -> ModuleType:
    try:
        return importlib.import_module("cachepolicy._core")
    except ModuleNotFoundError as exc:
        if exc.name != "cachepolicy._core":
            raise  # the package exists but something it imports does not: a real failure
        pytest.skip("cachepolicy._core does not exist in this version: nothing is compiled.")


def _submodules(core: ModuleType) -> dict[str, ModuleType]:
    """Every module of the ``_core`` package but its ``__init__``, imported."""
    names = sorted(info.name for info in pkgutil.iter_modules(core.__path__, f"{core.__name__}."))
    assert names, f"{core.__name__} has no modules besides __init__ ({core.__path__})."
    return {name: importlib.import_module(name) for name in names}


def _is_extension(module: ModuleType) -> bool:
    return str(module.__file__).endswith(tuple(EXTENSION_SUFFIXES))


def _installed_locations() -> set[Path]:
    paths = sysconfig.get_paths()
    return {Path(paths[key]).resolve() for key in ("purelib", "platlib")}


def test_core_modules_are_the_expected_build() -> None:
    expected = _expected()
    core = _core()
    modules = _submodules(core)
    built = {name: _is_extension(module) for name, module in modules.items()}
    wrong = {name: modules[name].__file__ for name, ext in built.items() if ext is not expected}
    kind = "extension modules (compiled)" if expected else "Python source (pure)"
    assert not wrong, f"Every cachepolicy._core module should be {kind}; these are not: {wrong}"
    # __init__ stays interpreted in both builds (setup.py compiles the other modules only).
    assert str(core.__file__).endswith("__init__.py"), core.__file__
    assert core.COMPILED is expected, (
        f"cachepolicy._core.COMPILED is {core.COMPILED!r} but {EXPECT_VARIABLE}="
        f"{os.environ[EXPECT_VARIABLE]} and the modules are {kind}."
    )


@pytest.mark.parametrize("name", ["cachepolicy", "django_cachepolicy", "flask_cachepolicy"])
def test_compiled_build_is_imported_from_the_installed_package(name: str) -> None:
    """The compiled run must test the wheel, not a checkout that happens to be on sys.path."""
    if not _expected():
        pytest.skip(f"{EXPECT_VARIABLE}=0: the pure run tests the editable checkout by design.")
    module = importlib.import_module(name)
    location = Path(str(module.__file__)).resolve()
    installed = _installed_locations()
    assert any(location.is_relative_to(root) for root in installed), (
        f"{name} was imported from {location}, outside this interpreter's site-packages "
        f"({sorted(map(str, installed))})."
    )
    assert not location.is_relative_to(TESTS_ROOT), f"{name} came from {TESTS_ROOT}."
    checkout = os.environ.get("CACHEPOLICY_CHECKOUT")
    if checkout:
        assert not location.is_relative_to(Path(checkout).resolve()), (
            f"{name} was imported from the checkout {checkout}: {location}."
        )
