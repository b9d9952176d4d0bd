#!/usr/bin/env bash
# Install everything and run the whole test suite: lint, types, unit/property/stress tests and
# the Django and Flask conformance suites, on both builds of the engine (cachepolicy/_core):
# the pure Python one (the editable install; Django 5.2 here, then Django 4.2 LTS in a venv),
# then the mypyc-compiled wheel in a fresh venv (scripts/test_installed.sh).
# The README's test command and .ci/run both call this. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

# Editable installs are never compiled (setup.py); CACHEPOLICY_PURE=1 says so explicitly.
CACHEPOLICY_PURE=1 python3 -m pip install --quiet --disable-pip-version-check -e '.[dev]'
# Debian's Chromium and chromium-driver for the dashboard's browser test (idempotent).
bash scripts/install_browser.sh
# A .so left in the checkout (e.g. by `setup.py build_ext --inplace`) would shadow the sources
# and make the pure run test a stale compiled engine.
stale="$(find cachepolicy integrations -name '*.so' -o -name '*.pyd')"
if [ -n "$stale" ]; then
    echo "compiled modules in the checkout shadow the sources; delete them:" >&2
    echo "$stale" >&2
    exit 1
fi

lint_paths=(cachepolicy integrations tests benchmarks example_project docs scripts setup.py noxfile.py)
echo "== ruff"
python3 -m ruff check "${lint_paths[@]}"
python3 -m ruff format --check "${lint_paths[@]}"
echo "== mypy --strict"
python3 -m mypy
echo "== import layers: lint-imports ([tool.importlinter] in pyproject.toml)"
lint-imports --no-logo
echo "== docs: mkdocs build --strict (the examples run in pytest: tests/docs)"
docs_site="$(mktemp -d)"
python3 -m mkdocs build --strict --quiet --site-dir "$docs_site"
rm -rf "$docs_site"

run_pytest() {
    # pytest exits 5 when it collected nothing: a suite that ran no test is a failure here.
    local status=0
    "$@" || status=$?
    if [ "$status" -eq 5 ]; then
        echo "pytest collected no tests: that is a failure here." >&2
        return 1
    fi
    return "$status"
}

echo "== pytest, pure engine (Django $(python3 -c 'import django; print(django.get_version())'))"
# Under coverage ([tool.coverage] in pyproject.toml): the report below fails under the floor.
CACHEPOLICY_EXPECT_COMPILED=0 run_pytest python3 -m coverage run -m pytest "$@"
echo "== coverage of the pure run (floor: fail_under in pyproject.toml)"
if [ "$#" -eq 0 ]; then
    python3 -m coverage report
else
    python3 -m coverage report --fail-under=0  # a chosen subset of the tests: no floor
fi

echo "== pytest tests/django on Django 4.2 LTS"
run_pytest bash scripts/test_django42.sh

echo "== pytest, compiled engine (the built wheel, installed in a fresh venv)"
dist_out="$(mktemp -d)"
CACHEPOLICY_DIST_OUT="$dist_out" run_pytest bash scripts/test_installed.sh "$@"

echo "== the same wheel with each extra alone ([django], [flask], [redis]), in fresh venvs"
CACHEPOLICY_WHEEL="$(echo "$dist_out"/cachepolicy-*.whl)" run_pytest bash scripts/test_extras.sh
rm -rf "$dist_out"
