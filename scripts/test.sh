#!/usr/bin/env bash
# Install everything and run the whole test suite: lint, types, unit/property/stress tests,
# the Django and Flask conformance suites. The README's test command and .ci/run both call this.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m pip install --quiet --disable-pip-version-check -e '.[dev]'

echo "== ruff"
python3 -m ruff check cachepolicy integrations tests benchmarks
python3 -m ruff format --check cachepolicy integrations tests benchmarks
echo "== mypy --strict"
python3 -m mypy

echo "== pytest"
status=0
python3 -m pytest "$@" || status=$?
if [ "$status" -eq 5 ]; then
    echo "pytest collected no tests: that is a failure here." >&2
    exit 1
fi
exit "$status"
