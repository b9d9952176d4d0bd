#!/usr/bin/env bash
# Install everything and run the whole test suite: lint, types, unit/property/stress tests and
# the Django and Flask conformance suites (Django 5.2 here, then Django 4.2 LTS in a venv).
# The README's test command and .ci/run both call this. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m pip install --quiet --disable-pip-version-check -e '.[dev]'

echo "== ruff"
python3 -m ruff check cachepolicy integrations tests benchmarks example_project docs scripts
python3 -m ruff format --check cachepolicy integrations tests benchmarks example_project docs scripts
echo "== mypy --strict"
python3 -m mypy

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

echo "== pytest (Django $(python3 -c 'import django; print(django.get_version())'))"
run_pytest python3 -m pytest "$@"

echo "== pytest tests/django on Django 4.2 LTS"
run_pytest bash scripts/test_django42.sh
