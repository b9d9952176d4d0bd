"""The version matrix: ``nox`` (every session) or ``nox -s "tests-3.12(django='4.2')"``.

Python 3.10 to 3.13, each with Django 4.2 LTS and 5.2 LTS and Flask-Caching 2.x: the versions
the classifiers in ``pyproject.toml`` promise (``tests/test_packaging.py`` checks that the
two lists agree). Interpreters that are not installed are skipped, not failed, so the matrix
runs wherever some of them exist; ``scripts/test.sh`` remains what CI runs (one Python, both
Django versions, both engine builds).

Each session installs the checkout as a pure Python build (``CACHEPOLICY_PURE=1``: the
compiled wheel is ``scripts/test_installed.sh``'s job) with the framework versions pinned,
then runs the core, Django and Flask tests. Arguments after ``--`` go to pytest.
"""

from __future__ import annotations

import nox

nox.options.error_on_missing_interpreters = False
nox.options.reuse_existing_virtualenvs = True

PYTHONS = ["3.10", "3.11", "3.12", "3.13"]
#: Django version -> its pip requirement; the matrix is Django's two supported LTS lines.
DJANGO = {"4.2": "Django>=4.2,<5", "5.2": "Django>=5.2,<6"}
FLASK_CACHING = "Flask-Caching>=2.0,<3"
TEST_TOOLS = [
    "pytest>=8",
    "pytest-django>=4.8",
    "pytest-asyncio>=0.23",
    "pytest-timeout>=2.3",
    "hypothesis>=6.100",
]
DEFAULT_PATHS = ["tests/core", "tests/expiry", "tests/django", "tests/flask"]


@nox.session(python=PYTHONS)
@nox.parametrize("django", list(DJANGO))
def tests(session: nox.Session, django: str) -> None:
    """The core, Django and Flask tests on one Python with one Django."""
    session.install(DJANGO[django], FLASK_CACHING, "Flask>=3.0,<4", "cachelib>=0.13", *TEST_TOOLS)
    session.install("--no-deps", "-e", ".", env={"CACHEPOLICY_PURE": "1"})
    session.install("mypy_extensions>=1.0")
    session.run(
        "python",
        "-c",
        f"import django; assert django.get_version().startswith({django!r}), django.get_version()",
    )
    session.run(
        "python",
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        "-q",
        *(session.posargs or DEFAULT_PATHS),
    )
