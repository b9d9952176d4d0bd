"""Build script: compiles the engine package ``cachepolicy/_core`` with mypyc.

All metadata stays in ``pyproject.toml``; this file only adds the compiled extension modules.

What is compiled: every ``cachepolicy/_core/*.py`` except ``__init__.py``, into one shared
library (``cachepolicy/_core__mypyc.*.so``) plus one small shim extension per module. The
package ``__init__`` stays interpreted, and so does everything outside ``_core`` (policies and
expiry strategies are meant to be subclassed). The ``.py`` sources ship beside the extensions,
as in mypy's own wheels; Python's import system prefers the extension module.

When it is compiled:

* a regular build (``pip install .``, ``python -m build``, or pip building the sdist): yes;
* ``CACHEPOLICY_PURE=1`` in the environment: no, a pure Python wheel (``py3-none-any``);
* an editable install (``pip install -e .``, PEP 660): never. An in-place build would write
  ``.so`` files into the checkout, where they shadow the ``.py`` files being edited;
* mypy/mypyc missing, mypyc rejecting the code, or no working C compiler: a warning, then the
  same pure wheel, because the pure engine is a complete fallback and an install should not
  fail over an optimisation. ``CACHEPOLICY_REQUIRE_COMPILED=1`` turns that into a build error
  (``scripts/test_installed.sh`` and release builds set it).

``cachepolicy._core.COMPILED`` tells at run time which build is installed (docs/install.md).

How: mypyc generates C in the ``build_mypyc`` step, which runs first among the ``build``
sub-commands and hands its extensions to ``build_ext``. It runs only inside a real build, so
``sdist``, metadata preparation and editable installs never start mypy. Editable installs are
recognised by setuptools' own ``editable_mode`` flag on build sub-commands (its documented
``SubCommand`` protocol), not by reading ``sys.argv``.
"""

from __future__ import annotations

import os
import sys
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path
from typing import Any, ClassVar

from setuptools import Command, setup
from setuptools.command.build import build
from setuptools.command.build_ext import build_ext
from setuptools.dist import Distribution
from setuptools.errors import CCompilerError, ExecError, PlatformError

HERE = Path(__file__).resolve().parent
#: The package compiled by mypyc, relative to the project root (setuptools runs from there).
CORE = Path("cachepolicy", "_core")
#: The name of the shared library that holds every compiled module, given explicitly so that
#: it lives inside the package (``cachepolicy/_core__mypyc.*.so``) and keeps its name as
#: modules are added; mypyc's default is a top-level module named by a hash of the module list.
GROUP_NAME = "cachepolicy._core"
#: mypyc's -O level (its default, the fastest code); a string, as mypycify takes it.
OPT_LEVEL = "3"


def _env_flag(name: str) -> bool:
    """A 0/1 environment switch; anything else is an error rather than a silent guess."""
    value = os.environ.get(name, "").strip()
    if value in ("", "0"):
        return False
    if value == "1":
        return True
    raise SystemExit(f"error: {name} must be 1 or 0 (or unset), got {value!r}.")


PURE = _env_flag("CACHEPOLICY_PURE")
REQUIRE_COMPILED = _env_flag("CACHEPOLICY_REQUIRE_COMPILED")
if PURE and REQUIRE_COMPILED:
    raise SystemExit(
        "error: CACHEPOLICY_PURE=1 asks for a pure Python build and "
        "CACHEPOLICY_REQUIRE_COMPILED=1 for a compiled one; set only one of them."
    )


def core_sources() -> list[str]:
    """The modules mypyc compiles: ``cachepolicy/_core/*.py`` without ``__init__.py``."""
    return sorted(path.as_posix() for path in CORE.glob("*.py") if path.name != "__init__.py")


def remove_core_extensions(build_lib: str) -> None:
    """Delete compiled ``_core`` modules left in ``build_lib`` by an earlier in-tree build.

    setuptools reuses ``build/lib.*`` between builds and copies all of it into the wheel, so a
    pure fallback would otherwise ship an old ``.so`` (which shadows the ``.py``), and a compiled
    build one for a module that no longer exists.
    """
    package = Path(build_lib, "cachepolicy")
    for suffix in EXTENSION_SUFFIXES:
        for path in [*package.glob(f"_core__mypyc{suffix}"), *package.glob(f"_core/*{suffix}")]:
            path.unlink()


def _warn(message: str) -> None:
    """A warning that stands out in a build log (pip shows it with ``-v``)."""
    rule = "*" * 78
    print(f"\n{rule}\nWARNING: {message}\n{rule}\n", file=sys.stderr, flush=True)


class CachepolicyDistribution(Distribution):
    """Reports the compiled engine before its extensions exist.

    ``build`` decides which sub-commands run, and ``bdist_wheel`` how the wheel is tagged,
    from ``has_ext_modules()``, both before ``build_mypyc`` has produced the extension list;
    ``compile_core`` is the plan they read, withdrawn if the build falls back to pure Python.
    """

    compile_core: bool = not PURE and bool(core_sources())

    def has_ext_modules(self) -> bool:
        return self.compile_core or super().has_ext_modules()

    def fall_back_to_pure(self, reason: str) -> None:
        """Give up on compiling (or fail, under ``CACHEPOLICY_REQUIRE_COMPILED=1``)."""
        if REQUIRE_COMPILED:
            raise SystemExit(
                f"error: {reason}\nCACHEPOLICY_REQUIRE_COMPILED=1 is set, so the build fails "
                "instead of falling back to the pure Python engine."
            )
        _warn(
            f"{reason}\ncachepolicy is being built WITHOUT its compiled engine: it works the "
            "same, only slower. To get the compiled build, remove the cause above and "
            "reinstall (pip install --no-cache-dir --force-reinstall ...); "
            "cachepolicy._core.COMPILED tells which build is installed (docs/install.md)."
        )
        self.compile_core = False
        self.ext_modules = []
        remove_core_extensions(self.get_command_obj("build").build_lib)
        # bdist_wheel tagged the wheel for this platform when it was finalized; what it now
        # holds is pure Python, so it is tagged py3-none-any and installed into purelib.
        wheel = self.command_obj.get("bdist_wheel")
        if wheel is not None and hasattr(wheel, "root_is_pure"):
            wheel.root_is_pure = True


class BuildMypyc(Command):
    """Translate ``cachepolicy/_core`` to C with mypyc, for ``build_ext`` to compile."""

    description = "translate cachepolicy/_core to C with mypyc (compiled by build_ext)"
    user_options: ClassVar[list[tuple[str, str | None, str]]] = []
    distribution: CachepolicyDistribution

    def initialize_options(self) -> None:
        # setuptools sets this to True for a PEP 660 editable install (SubCommand protocol).
        self.editable_mode = False
        self.build_temp: str | None = None

    def finalize_options(self) -> None:
        self.set_undefined_options("build", ("build_temp", "build_temp"))

    def run(self) -> None:
        dist = self.distribution
        if not dist.compile_core:
            return
        if self.editable_mode:
            print("editable install: cachepolicy/_core is not compiled (pure Python)")
            return
        remove_core_extensions(self.get_finalized_command("build").build_lib)
        sources = core_sources()
        try:
            from mypyc.build import mypycify
        except ImportError as exc:
            dist.fall_back_to_pure(f"mypyc is not importable ({exc}).")
            return
        assert self.build_temp is not None
        try:
            extensions = mypycify(
                # The project's [tool.mypy] settings (strict) apply to the compiled modules.
                # Errors in the interpreted modules they import are not mypyc's business (the
                # `mypy` step of scripts/test.sh checks those): silenced, so that they cannot
                # turn an install into the pure fallback.
                [
                    "--config-file",
                    str(HERE / "pyproject.toml"),
                    "--follow-imports=silent",
                    *sources,
                ],
                opt_level=OPT_LEVEL,
                group_name=GROUP_NAME,
                target_dir=os.path.join(self.build_temp, "mypyc"),
            )
        except (Exception, SystemExit) as exc:  # mypyc reports type errors by sys.exit()
            dist.fall_back_to_pure(
                f"mypyc could not translate cachepolicy/_core ({exc!r}; its messages are above)."
            )
            return
        dist.ext_modules = [*(dist.ext_modules or []), *extensions]
        # build_ext reads the list when it is finalized; a command that ran earlier in this
        # build (egg_info's manifest) may have finalized it already with the empty list.
        if self.get_finalized_command("build_ext").extensions != dist.ext_modules:
            self.reinitialize_command("build_ext")

    def get_source_files(self) -> list[str]:
        return core_sources()

    def get_outputs(self) -> list[str]:
        return []  # C sources in build_temp only; the extension modules are build_ext's

    def get_output_mapping(self) -> dict[str, str]:
        return {}


class BuildWithMypyc(build):
    """``build``, with ``build_mypyc`` first among its sub-commands."""

    sub_commands: ClassVar[list[tuple[str, Any]]] = [
        ("build_mypyc", lambda cmd: cmd.distribution.compile_core),
        *build.sub_commands,
    ]


class BuildExtOrPure(build_ext):
    """``build_ext`` that falls back to the pure engine when the C compiler fails."""

    distribution: CachepolicyDistribution

    def run(self) -> None:
        try:
            super().run()
        except (CCompilerError, ExecError, PlatformError, OSError) as exc:
            # No half-compiled package (a shim without its shared library fails to import):
            # fall_back_to_pure deletes whatever was built.
            self.extensions = []
            self.distribution.fall_back_to_pure(
                f"compiling cachepolicy/_core failed ({exc}); no C compiler, or no Python "
                "headers (python3-dev)?"
            )


setup(
    distclass=CachepolicyDistribution,
    cmdclass={
        "build": BuildWithMypyc,
        "build_mypyc": BuildMypyc,
        "build_ext": BuildExtOrPure,
    },
)
