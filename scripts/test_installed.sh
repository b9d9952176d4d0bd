#!/usr/bin/env bash
# Run the whole pytest suite against the compiled wheel, installed the way users install it.
#
# 1. `python -m build`: the sdist, then the wheel built from that sdist (so the sdist is proven
#    complete). CACHEPOLICY_REQUIRE_COMPILED=1: a failed mypyc or C compile fails the build here
#    instead of quietly producing the pure fallback.
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
# keeps it). Extra arguments go to pytest. scripts/test.sh calls this after the pure run.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/venv_lib.sh"

make_work_dir installed KEEP_INSTALLED_TEST_DIR

echo "== build: sdist, and the compiled wheel from it"
build_dist -u CACHEPOLICY_PURE CACHEPOLICY_REQUIRE_COMPILED=1
echo "built $(basename "$wheel")"
# CACHEPOLICY_DIST_OUT=<dir>: keep a copy of the sdist and wheel there (scripts/test.sh hands the
# wheel on to scripts/test_extras.sh, so it is built, and compiled, once).
if [[ -n "${CACHEPOLICY_DIST_OUT:-}" ]]; then
    mkdir -p "$CACHEPOLICY_DIST_OUT"
    cp "$work"/dist/* "$CACHEPOLICY_DIST_OUT"/
fi
# The modules setup.py compiles: cachepolicy/_core/*.py but __init__.py.
compiled_sources=()
for source in "$repo"/cachepolicy/_core/*.py; do
    if [[ -f "$source" && "$(basename "$source")" != __init__.py ]]; then
        compiled_sources+=("$source")
    fi
done
if [[ ${#compiled_sources[@]} -gt 0 ]]; then
    "$python" - "$wheel" "${compiled_sources[@]}" <<'EOF'
import sys
import zipfile
from pathlib import Path

wheel, sources = sys.argv[1], [Path(s) for s in sys.argv[2:]]
names = zipfile.ZipFile(wheel).namelist()
missing = [
    f"cachepolicy/_core/{source.stem}.*.so"
    for source in sources
    if not any(n.startswith(f"cachepolicy/_core/{source.stem}.") and n.endswith(".so") for n in names)
]
if not any(n.startswith("cachepolicy/_core__mypyc.") for n in names):
    missing.append("cachepolicy/_core__mypyc.*.so")
if missing or Path(wheel).name.endswith("-none-any.whl"):
    sys.exit(f"{Path(wheel).name} is not the compiled build; missing: {missing}")
print(f"compiled: {', '.join(s.stem for s in sources)} (+ the shared library)")
EOF
else
    echo "no cachepolicy/_core modules to compile: the wheel is pure Python"
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
