#!/usr/bin/env bash
# Install the built wheel with each extra alone, in a fresh virtualenv per extra, and run the
# slice of the suite that extra serves, against the installed package (not the checkout).
#
#   [django]  tests/django (Django's own cache suite included) + the options-table tests
#   [flask]   tests/flask (Flask-Caching's and cachelib's suites included) + the same
#   [redis]   the part of tests/redis that uses redis-py (clients, both backends, serializers,
#             settings, near cache; its private servers need redis-server on PATH)
#
# Each venv gets the wheel with one extra and the test runner only (pytest and its plugins), so
# a runtime import missing from an extra's dependencies fails here, which the [dev] install of
# scripts/test_installed.sh would hide. The import check runs before anything else is
# installed, and also checks that the other extras' frameworks are absent. tests/redis then
# needs Django and Flask as test tools (its conftest configures Django, and it tests both
# adapters' Redis backends), so they are added to the [redis] venv after the import check.
#
# The wheel: CACHEPOLICY_WHEEL=/path/to/cachepolicy-*.whl reuses one already built (test.sh
# passes the one scripts/test_installed.sh built, so nothing is compiled twice); otherwise
# `python -m build` makes the sdist and, from it, the wheel here. EXTRAS="django flask" runs
# only some extras. As in test_installed.sh (the set-up both share is scripts/venv_lib.sh), the
# tests run from a copy of the checkout without cachepolicy/ and integrations/, so that the
# venv's site-packages is what they import.
# Everything lives in one temporary directory, removed at the end (KEEP_EXTRAS_TEST_DIR=1 keeps
# it). Extra arguments go to every pytest run.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/venv_lib.sh"

make_work_dir extras KEEP_EXTRAS_TEST_DIR

# The test runner each venv needs besides the extra (the [dev] pins' lower bounds).
runner=("pytest>=8" "pytest-timeout>=2.3" "pytest-asyncio>=0.23" "hypothesis>=6.100")

wheel="${CACHEPOLICY_WHEEL:-}"
if [[ -z "$wheel" ]]; then
    echo "== build: sdist, and the wheel from it"
    build_dist
fi
if [[ ! -f "$wheel" ]]; then
    echo "CACHEPOLICY_WHEEL=$wheel is not a file." >&2
    exit 1
fi
echo "wheel: $(basename "$wheel")"

echo "== copy of the tests, without the package sources"
copy_tests

# The slice of tests/ each extra serves (paths relative to the checkout).
slice_for() {
    case "$1" in
        django) echo "tests/django tests/core/test_options_table.py" ;;
        flask) echo "tests/flask tests/core/test_options_table.py" ;;
        # What uses redis[hiredis]: the sync and asyncio clients (standalone and cluster), the
        # Django and Flask backends, the serializers, option parsing and the near cache's
        # tracking connection. The fault, cluster-failover, multi-process and conformance
        # tests exercise behaviour, not the extra's dependencies: the compiled run has already
        # run them against this same wheel (205 s here for the whole directory; issue 23).
        redis) echo "tests/redis/test_client.py tests/redis/test_async.py" \
            "tests/redis/test_backends.py tests/redis/test_serializers.py" \
            "tests/redis/test_settings.py tests/redis/test_two_tier.py" ;;
        *) echo "no test slice for the extra '$1'" >&2; return 1 ;;
    esac
}
# What must import from each venv (the extra's own dependencies) and what must not (another
# extra's framework: the slice must not lean on it by accident).
imports_for() {
    case "$1" in
        django) echo "django django_cachepolicy" ;;
        flask) echo "flask flask_caching flask_cachepolicy" ;;
        redis) echo "redis cachepolicy.redis" ;;
    esac
}
absent_for() {
    case "$1" in
        django) echo "flask flask_caching redis" ;;
        flask) echo "django redis" ;;
        redis) echo "django flask flask_caching" ;;
    esac
}
# Test tools a slice needs beyond the runner, installed after the import check.
test_tools_for() {
    case "$1" in
        redis) echo "${wheel}[django,flask] pytest-django>=4.8 asgiref>=3.2" ;;
        *) echo "" ;;
    esac
}
runner_for() {
    case "$1" in
        django) echo "pytest-django>=4.8" ;;
        # Flask-Caching's own suite (tests/flask/test_flask_conformance.py) has async views,
        # which need Flask's async extra; in the [dev] install Django brings asgiref along.
        flask) echo "asgiref>=3.2" ;;
        *) echo "" ;;
    esac
}

status=0
for extra in ${EXTRAS:-django flask redis}; do
    slice="$(slice_for "$extra")"
    venv="$work/venv-$extra"
    echo "== [$extra]: fresh virtualenv with ${wheel##*/}[$extra]"
    "$python" -m venv "$venv"
    # shellcheck disable=SC2046  # runner_for prints zero or one requirement
    "$venv/bin/python" "${pip_install[@]}" "${wheel}[$extra]" "${runner[@]}" $(runner_for "$extra")
    check_site_imports "$venv/bin/python" "cachepolicy $(imports_for "$extra")" \
        "$(absent_for "$extra")"
    tools="$(test_tools_for "$extra")"
    if [[ -n "$tools" ]]; then
        echo "== [$extra]: test tools for its slice: $tools"
        # shellcheck disable=SC2086  # a list of requirements
        "$venv/bin/python" "${pip_install[@]}" $tools
    fi
    echo "== [$extra]: pytest $slice"
    extra_status=0
    # shellcheck disable=SC2086  # the slice is a list of paths
    (cd "$src" && CACHEPOLICY_CHECKOUT="$repo" \
        run_pytest "$venv/bin/python" -m pytest $slice -p no:cacheprovider -q "$@") ||
        extra_status=$?
    if [[ "$extra_status" -ne 0 ]]; then
        echo "[$extra]: FAILED (pytest exit status $extra_status)" >&2
        status=1
    fi
done
exit "$status"
