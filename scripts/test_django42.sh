#!/usr/bin/env bash
# Run the Django integration's tests on Django 4.2 LTS (the main environment has 5.2 LTS).
#
# Creates a throw-away virtualenv in /tmp, installs Django>=4.2,<5 with this project and the
# test tools, then runs tests/django, which includes Django 4.2's own cache test suite
# (tests/cache/tests.py, fetched from the Django 4.2 sdist into .conformance/ and cached there).
# Extra arguments go to pytest. CI calls this after the main suite.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${DJANGO42_VENV:-/tmp/cachepolicy-django42-venv}"
python="${PYTHON:-python3}"

if [[ ! -x "$venv/bin/python" ]]; then
    "$python" -m venv "$venv"
fi
# Quiet, but keep pip's errors; reinstalling into an existing venv is a fast no-op.
"$venv/bin/python" -m pip install -qq --disable-pip-version-check \
    "Django>=4.2,<5" "pytest>=8" "pytest-django>=4.8" "pytest-timeout>=2.3" "hypothesis>=6.100" \
    "pytest-asyncio>=0.23" \
    "mypy_extensions>=1.0"
CACHEPOLICY_PURE=1 "$venv/bin/python" -m pip install -qq --disable-pip-version-check --no-deps -e "$repo"

version="$("$venv/bin/python" -c 'import django; print(django.get_version())')"
case "$version" in
    4.2|4.2.*) ;;
    *) echo "expected Django 4.2.x in $venv, got $version" >&2; exit 1 ;;
esac
echo "Django $version in $venv"

cd "$repo"
# -p no:cacheprovider: the venv must not share .pytest_cache with the main interpreter's runs.
exec "$venv/bin/python" -m pytest tests/django -p no:cacheprovider -q "$@"
