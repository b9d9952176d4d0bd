#!/usr/bin/env bash
# Run the Django integration's tests on Django 4.2 LTS (the main environment has 5.2 LTS).
#
# The virtualenv lives in this checkout, .venv/django42-<hash> (gitignored), so two checkouts
# tested at once never share one; <hash> covers what goes into it (the requirements below,
# the Python version, pyproject.toml and setup.py), so it is made and filled once and reused
# by later runs until one of those changes (DJANGO42_VENV=<dir> picks another place). A lock
# keeps two runs from the same checkout from filling it at once. It holds Django>=4.2,<5, the
# test tools and this checkout as an editable install; tests/django then runs there, including
# Django 4.2's own cache test suite (tests/cache/tests.py, fetched from the Django 4.2 sdist
# into .conformance/ and cached there). Extra arguments go to pytest. scripts/test.sh runs it.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${PYTHON:-python3}"
requirements=("Django>=4.2,<5" "pytest>=8" "pytest-django>=4.8" "pytest-timeout>=2.3"
    "hypothesis>=6.100" "pytest-asyncio>=0.23" "mypy_extensions>=1.0")

hash="$(
    {
        printf '%s\n' "${requirements[@]}"
        "$python" -c 'import sys; print(sys.version)'
        cat "$repo/pyproject.toml" "$repo/setup.py"
    } | sha256sum | cut -c1-16
)"
venv="${DJANGO42_VENV:-$repo/.venv/django42-$hash}"
mkdir -p "$(dirname "$venv")"

(
    flock 9
    if [[ ! -f "$venv/.complete" ]]; then
        echo "making $venv (Django 4.2 and the test tools; reused while its inputs are unchanged)"
        rm -rf "$venv"
        if [[ -z "${DJANGO42_VENV:-}" ]]; then  # the venvs of earlier inputs are stale
            find "$(dirname "$venv")" -maxdepth 1 -name 'django42-*' ! -name "django42-$hash*" \
                -exec rm -rf {} +
        fi
        "$python" -m venv "$venv"
        # Quiet, but keep pip's errors.
        "$venv/bin/python" -m pip install -qq --disable-pip-version-check "${requirements[@]}"
        CACHEPOLICY_PURE=1 "$venv/bin/python" -m pip install -qq --disable-pip-version-check \
            --no-deps -e "$repo"
        touch "$venv/.complete"
    fi
) 9>"$venv.lock"

version="$("$venv/bin/python" -c 'import django; print(django.get_version())')"
case "$version" in
    4.2|4.2.*) ;;
    *) echo "expected Django 4.2.x in $venv, got $version" >&2; exit 1 ;;
esac
echo "Django $version in $venv"

cd "$repo"
# -p no:cacheprovider: the venv must not share .pytest_cache with the main interpreter's runs.
exec "$venv/bin/python" -m pytest tests/django -p no:cacheprovider -q "$@"
