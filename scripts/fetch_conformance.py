#!/usr/bin/env python
"""Fetch the frameworks' own cache test suites into ``.conformance/`` (gitignored).

cachepolicy's adapters are judged by the frameworks' own test suites, run unchanged against our
backends. We never commit the frameworks' code: this script downloads it at test time from PyPI,
for exactly the framework version installed in the running interpreter (a suite from another
release tests another API), and caches it so that repeated runs are fast and offline.

Usage::

    python scripts/fetch_conformance.py django      # prints the directory to put on sys.path

Each framework has its own function (``fetch_django_suite()``, ...) so that the engineers who own
the adapters can work on this file without stepping on each other.

Failure policy: every function raises :class:`ConformanceFetchError` with a full sentence when the
download or the extraction fails. Callers decide whether that is a skip (a developer offline) or
a failure (CI, where ``CI=true``); this module never decides silently.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path, PurePosixPath

__all__ = [
    "CONFORMANCE_DIR",
    "ConformanceFetchError",
    "download_sdist",
    "fetch_django_suite",
    "fetch_flask_suite",
]

#: Where fetched suites live: inside the repository so every checkout has its own cache, and in
#: ``.gitignore`` so none of it is ever committed.
CONFORMANCE_DIR = Path(__file__).resolve().parent.parent / ".conformance"

#: A complete extraction leaves this file behind; a directory without it is a half-finished
#: earlier attempt and is fetched again.
_COMPLETE_MARKER = ".complete"


class ConformanceFetchError(RuntimeError):
    """A framework's test suite could not be downloaded or extracted."""


def download_sdist(project: str, version: str, dest: Path) -> Path:
    """Download the source distribution of ``project==version`` into ``dest`` and return it.

    We go through ``pip download`` rather than talking to PyPI by hand so that the machine's pip
    configuration (index mirrors, certificates, proxies) applies exactly as for installs.
    ``--no-binary :all:`` forces the sdist: wheels do not contain the test suite.
    """
    dest.mkdir(parents=True, exist_ok=True)
    existing = _find_sdist(project, version, dest)
    if existing is not None:
        return existing
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--no-binary",
        ":all:",
        "--disable-pip-version-check",
        "--quiet",
        "--dest",
        str(dest),
        f"{project}=={version}",
    ]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ConformanceFetchError(
            f"Could not run {' '.join(command)!r} to download the {project} {version} sdist: {exc}."
        ) from exc
    found = _find_sdist(project, version, dest)
    if result.returncode != 0 or found is None:
        raise ConformanceFetchError(
            f"Downloading the {project} {version} sdist with pip failed (exit code "
            f"{result.returncode}); pip said:\n{result.stdout}{result.stderr}"
        )
    return found


def _find_sdist(project: str, version: str, directory: Path) -> Path | None:
    """Return the sdist of ``project==version`` already in ``directory``, if any.

    sdist file names are normalised differently across releases ("Django-4.2.tar.gz" for old
    uploads, "django-5.2.tar.gz" for new ones), so compare case-insensitively.
    """
    wanted = f"{project}-{version}.tar.gz".lower()
    for candidate in directory.glob("*.tar.gz"):
        if candidate.name.lower() == wanted:
            return candidate
    return None


def _extract(sdist: Path, members_under: list[str], target: Path, *, strip: str) -> None:
    """Extract the members of ``sdist`` below the ``members_under`` prefixes into ``target``.

    ``strip`` is the sdist's top directory ("django-5.2.19/"), removed from every path. The
    extraction goes to a temporary sibling directory that is renamed into place at the end, so
    that two test processes fetching at once never see half a suite. Member paths are checked by
    hand (no absolute paths, no ``..``, regular files and directories only) because Python 3.10
    has no ``tarfile`` extraction filters.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        with tarfile.open(sdist, "r:gz") as archive:
            for member in archive.getmembers():
                name = PurePosixPath(member.name)
                if name.is_absolute() or ".." in name.parts:
                    raise ConformanceFetchError(
                        f"The archive {sdist.name} contains the unsafe path {member.name!r}."
                    )
                relative = member.name[len(strip) :] if member.name.startswith(strip) else None
                if relative is None or not any(
                    relative == prefix.rstrip("/") or relative.startswith(prefix)
                    for prefix in members_under
                ):
                    continue
                destination = staging.joinpath(*PurePosixPath(relative).parts)
                if member.isdir():
                    destination.mkdir(parents=True, exist_ok=True)
                elif member.isfile():
                    destination.parent.mkdir(parents=True, exist_ok=True)
                    source = archive.extractfile(member)
                    if source is None:  # pragma: no cover - isfile() guarantees a stream
                        continue
                    with source, open(destination, "wb") as out:
                        shutil.copyfileobj(source, out)
        (staging / _COMPLETE_MARKER).write_text(f"extracted from {sdist.name}\n")
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def fetch_django_suite(version: str | None = None, root: Path = CONFORMANCE_DIR) -> Path:
    """Make Django's ``tests/cache/`` available and return the ``tests`` directory holding it.

    ``version`` defaults to the installed Django. Put the returned directory on ``sys.path`` and
    import ``cache.tests`` (Django's suite refers to itself by that dotted name, e.g. in the
    ``KEY_FUNCTION`` "cache.tests.custom_key_func"). ``tests/cache/`` imports nothing from
    Django's test tree outside itself, so that is all we extract.
    """
    if version is None:
        try:
            version = importlib.metadata.version("Django")
        except importlib.metadata.PackageNotFoundError as exc:
            raise ConformanceFetchError(
                "Django is not installed, so there is no Django version whose test suite to fetch."
            ) from exc
    target = root / f"django-{version}"
    tests_dir = target / "tests"
    if (target / _COMPLETE_MARKER).is_file() and (tests_dir / "cache" / "tests.py").is_file():
        return tests_dir
    sdist = download_sdist("Django", version, root / "downloads")
    try:
        _extract(sdist, ["tests/cache/"], target, strip=f"{_sdist_top(sdist)}/")
    except (tarfile.TarError, OSError) as exc:
        raise ConformanceFetchError(f"Could not extract {sdist}: {exc}.") from exc
    if not (tests_dir / "cache" / "tests.py").is_file():
        raise ConformanceFetchError(
            f"The Django {version} sdist {sdist.name} has no tests/cache/tests.py; Django's "
            "source layout changed and fetch_django_suite() needs updating."
        )
    return tests_dir


def _sdist_top(sdist: Path) -> str:
    """Return the top-level directory inside an sdist (its first member's first part)."""
    with tarfile.open(sdist, "r:gz") as archive:
        first = archive.next()
        if first is None:
            raise ConformanceFetchError(f"The archive {sdist} is empty.")
        return PurePosixPath(first.name).parts[0]


#: Our glue for the Flask suites (conftests that point the upstream fixtures at PolicyCache, and
#: the test classes that mix cachelib's/Flask-Caching's generic tests into ours). It is our code,
#: committed; ``fetch_flask_suite()`` copies it next to the fetched tests.
FLASK_GLUE_DIR = Path(__file__).resolve().parent.parent / "tests" / "flask" / "conformance"

#: Run-directory name -> (PyPI project, glue file -> name it gets in the run directory).
#: Upstream's ``conftest.py`` becomes ``upstream_conftest.py`` (ours imports from it), and
#: upstream ``test_backend_cache.py`` is renamed so that pytest does not collect its Redis,
#: Memcached and filesystem classes: only our subclass of its ``GenericCacheTests`` runs.
_FLASK_SUITES: dict[str, tuple[str, dict[str, str]]] = {
    "flask_caching": (
        "Flask-Caching",
        {
            "flask_caching_conftest.py": "conftest.py",
            "flask_caching_generic.py": "test_policycache_generic.py",
        },
    ),
    "cachelib": (
        "cachelib",
        {
            "cachelib_conftest.py": "conftest.py",
            "cachelib_mixins.py": "test_policycache_mixins.py",
        },
    ),
}
_FLASK_RENAMES = {
    "conftest.py": "upstream_conftest.py",
    "test_backend_cache.py": "backend_cache.py",
}


def fetch_flask_suite(
    root: Path = CONFORMANCE_DIR,
    *,
    glue_dir: Path = FLASK_GLUE_DIR,
    glue: Mapping[str, Mapping[str, str]] | None = None,
    run_prefix: str = "flask-run-",
) -> Path:
    """Fetch Flask-Caching's and cachelib's tests and return a directory ready for pytest.

    The versions are the installed ones. The returned directory holds ``flask_caching/`` and
    ``cachelib/``, each the upstream ``tests/`` directory plus our glue (see
    :data:`_FLASK_SUITES`) and a ``pytest.ini`` that keeps the repository's own pytest settings
    out. Run each with its own pytest process: both upstream suites import their conftest as
    the top-level module ``conftest``, which one process cannot hold twice::

        python -m pytest "$(python scripts/fetch_conformance.py flask | cut -d' ' -f2)/cachelib"

    Downloads and extractions are cached under ``root``; the run directory is rebuilt from
    them on every call (a copy of a few hundred kB) so that glue edits always take effect.
    Another backend's runner passes its own ``glue_dir`` / ``glue`` (suite name -> glue file,
    relative to ``glue_dir`` -> name in the run directory) and ``run_prefix``.
    """
    glue_files = {name: files for name, (_project, files) in _FLASK_SUITES.items()}
    if glue is not None:
        glue_files = {name: dict(files) for name, files in glue.items()}
    run_parts: list[str] = []
    sources: dict[str, Path] = {}
    for name, (project, _glue) in _FLASK_SUITES.items():
        try:
            version = importlib.metadata.version(project)
        except importlib.metadata.PackageNotFoundError as exc:
            raise ConformanceFetchError(
                f"{project} is not installed, so there is no {project} version whose test suite "
                "to fetch; install cachepolicy with the 'flask' extra."
            ) from exc
        target = root / f"{name}-{version}"
        if not (target / _COMPLETE_MARKER).is_file():
            # pip normalises "Flask-Caching" to the sdist name "flask_caching-<v>.tar.gz".
            sdist = download_sdist(project.lower().replace("-", "_"), version, root / "downloads")
            try:
                _extract(sdist, ["tests/"], target, strip=f"{_sdist_top(sdist)}/")
            except (tarfile.TarError, OSError) as exc:
                raise ConformanceFetchError(f"Could not extract {sdist}: {exc}.") from exc
        if not (target / "tests" / "conftest.py").is_file():
            raise ConformanceFetchError(
                f"The {project} {version} sdist has no tests/conftest.py; its source layout "
                "changed and fetch_flask_suite() needs updating."
            )
        sources[name] = target / "tests"
        run_parts.append(f"{name}-{version}")

    run_dir = root / (run_prefix + "-".join(run_parts))
    staging = Path(tempfile.mkdtemp(prefix=f".{run_dir.name}-", dir=root))
    try:
        for name, placed_glue in glue_files.items():
            suite = staging / name
            shutil.copytree(sources[name], suite)
            for upstream, renamed in _FLASK_RENAMES.items():
                if (suite / upstream).exists():
                    (suite / upstream).rename(suite / renamed)
            for ours, placed in placed_glue.items():
                shutil.copyfile(glue_dir / ours, suite / placed)
            # An ini file here stops pytest from walking up to the repository's pyproject.toml
            # (its testpaths, --strict-markers and filters are for our suite, not upstream's).
            # Warnings are errors, as in Flask-Caching's own configuration.
            (suite / "pytest.ini").write_text(
                "[pytest]\n"
                "filterwarnings =\n"
                "    error\n"
                "    default::pytest.PytestUnraisableExceptionWarning\n"
            )
        if run_dir.exists():
            shutil.rmtree(run_dir)
        staging.rename(run_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return run_dir


#: Command-line names of the suites this script can fetch.
SUITES: dict[str, Callable[[], Path]] = {
    "django": fetch_django_suite,
    "flask": fetch_flask_suite,
}


def main(argv: list[str] | None = None) -> int:
    """Fetch the named suites and print where each one is."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("suites", nargs="*", metavar="SUITE", help=f"one of {sorted(SUITES)}")
    arguments = parser.parse_args(argv)
    unknown = [name for name in arguments.suites if name not in SUITES]
    if unknown:
        parser.error(f"unknown suite(s) {unknown}; choose from {sorted(SUITES)}.")
    status = 0
    for name in arguments.suites or sorted(SUITES):
        try:
            print(f"{name}: {SUITES[name]()}")
        except ConformanceFetchError as exc:
            print(f"{name}: {exc}", file=sys.stderr)
            status = 1
    return status


if __name__ == "__main__":
    raise SystemExit(main())
