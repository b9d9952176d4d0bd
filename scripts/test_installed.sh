#!/usr/bin/env bash
# Run the whole pytest suite against the compiled wheel, installed the way users install it.
#
# 1. `python -m build`: the sdist, then the wheel built from that sdist (so the sdist is proven
#    complete). CACHEPOLICY_REQUIRE_COMPILED=1: a failed mypyc or C compile fails the build here
#    instead of quietly producing the pure fallback. CACHEPOLICY_WHEEL=/path/to/the.whl skips
#    the build and tests that wheel (scripts/test.sh builds it with scripts/build_wheel.sh,
#    during the pure run); either way the wheel must hold every compiled module.
# 2. A plain install of the wheel (no extras) in a fresh virtualenv must import: that catches a
#    runtime dependency missing from [project].dependencies, which '.[dev]' would hide.
# 3. A fresh virtualenv with "<wheel>[dev]", and pytest run there with
#    CACHEPOLICY_EXPECT_COMPILED=1 (tests/test_build.py checks the build and where it came from).
#
# The tests run from a copy of the checkout without cachepolicy/ and integrations/, so that
# they import the wheel, not the sources (why: copy_tests in scripts/venv_lib.sh, the set-up
# this script shares with scripts/test_extras.sh).
#
# Everything lives in one temporary directory, removed at the end (KEEP_INSTALLED_TEST_DIR=1
# keeps it). Extra arguments go to pytest. scripts/test.sh runs this alongside the pure run.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/venv_lib.sh"

make_work_dir installed KEEP_INSTALLED_TEST_DIR

wheel="${CACHEPOLICY_WHEEL:-}"
if [[ -z "$wheel" ]]; then
    build_compiled_wheel
elif [[ ! -f "$wheel" ]]; then
    echo "CACHEPOLICY_WHEEL=$wheel is not a file." >&2
    exit 1
else
    echo "wheel: $(basename "$wheel") (built by scripts/build_wheel.sh)"
    check_compiled_wheel "$wheel"
fi

echo "== plain install of the wheel (no extras) imports"
"$python" -m venv "$work/bare"
"$work/bare/bin/python" "${pip_install[@]}" "$wheel"
(
    cd "$work"
    if ! "$work/bare/bin/python" -c 'import cachepolicy, importlib.util
if importlib.util.find_spec("cachepolicy._core") is not None:
    import cachepolicy._core'; then
        echo "cachepolicy does not import from a plain 'pip install' of the wheel: a runtime" \
            "import is missing from [project].dependencies in pyproject.toml." >&2
        exit 1
    fi
)

echo "== fresh virtualenv with the wheel and its [dev] extras"
venv="$work/venv"
"$python" -m venv "$venv"
"$venv/bin/python" "${pip_install[@]}" "${wheel}[dev]"

echo "== copy of the tests, without the package sources"
copy_tests
cd "$src"
# What the tests will import, from where pytest will put them (the copy first on sys.path).
check_site_imports "$venv/bin/python" "cachepolicy django_cachepolicy flask_cachepolicy"

echo "== pytest against the installed wheel (Django" \
    "$("$venv/bin/python" -c 'import django; print(django.get_version())'))"
# The 8-thread hammer at the issue's full size, 1M operations per policy (about 40 s each
# compiled; the pure run above keeps its 16,000-operation default, under coverage).
CACHEPOLICY_EXPECT_COMPILED=1 CACHEPOLICY_CHECKOUT="$repo" CACHEPOLICY_HAMMER_OPS=1000000 \
    run_pytest "$venv/bin/python" -m pytest "$@"
