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
# The tests run from a copy of the checkout without cachepolicy/ and integrations/: tests/ is a
# package with a rootdir conftest, so pytest puts the directory holding tests/ first on
# sys.path, and from the checkout that would import the sources instead of the wheel. The copy
# keeps the layout the tests rely on (benchmarks/, docs/, example_project/, scripts/,
# .conformance/ as a cache of the fetched suites, and ../shared via a link).
#
# Everything lives in one temporary directory, removed at the end (KEEP_INSTALLED_TEST_DIR=1
# keeps it). Extra arguments go to pytest. scripts/test.sh calls this after the pure run.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${PYTHON:-python3}"
work="$(mktemp -d "${TMPDIR:-/tmp}/cachepolicy-installed.XXXXXX")"
if [[ "${KEEP_INSTALLED_TEST_DIR:-0}" == 1 ]]; then
    echo "keeping $work"
else
    trap 'rm -rf "$work"' EXIT
fi
pip_install=(-m pip install -qq --disable-pip-version-check)

echo "== build: sdist, and the compiled wheel from it"
if ! env -u CACHEPOLICY_PURE CACHEPOLICY_REQUIRE_COMPILED=1 \
    "$python" -m build --outdir "$work/dist" "$repo" >"$work/build.log" 2>&1; then
    tail -n 60 "$work/build.log" >&2
    echo "python -m build failed; the last lines of its log are above." >&2
    exit 1
fi
wheels=("$work"/dist/cachepolicy-*.whl)
if [[ ${#wheels[@]} -ne 1 || ! -f "${wheels[0]}" ]]; then
    echo "expected one wheel in $work/dist, found: ${wheels[*]}" >&2
    exit 1
fi
wheel="${wheels[0]}"
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
src="$work/src"
mkdir "$src"
tar -C "$repo" -cf - \
    --exclude=./cachepolicy --exclude=./integrations --exclude=./.git --exclude=./build \
    --exclude=./dist --exclude='*.egg-info' --exclude=__pycache__ --exclude='*.so' \
    --exclude=./.mypy_cache --exclude=./.ruff_cache --exclude=./.pytest_cache \
    --exclude=./.hypothesis --exclude=./.benchmarks --exclude=./.venv --exclude=./.nox \
    --exclude=./site . | tar -C "$src" -xf -
# benchmarks/traces.py finds the shared traces at <checkout>/../shared/traces.
if [[ -d "$repo/../shared" ]]; then
    ln -s "$(cd "$repo/../shared" && pwd)" "$work/shared"
fi

cd "$src"
# What the tests will import, from where pytest will put them (the copy first on sys.path).
"$venv/bin/python" - <<'EOF'
import sys
import sysconfig
from pathlib import Path

import cachepolicy
import django_cachepolicy
import flask_cachepolicy

site = {Path(sysconfig.get_paths()[key]).resolve() for key in ("purelib", "platlib")}
for module in (cachepolicy, django_cachepolicy, flask_cachepolicy):
    location = Path(str(module.__file__)).resolve()
    print(f"{module.__name__}: {location}")
    if not any(location.is_relative_to(root) for root in site):
        sys.exit(f"{module.__name__} is not imported from the virtualenv's site-packages.")
EOF

echo "== pytest against the installed wheel (Django" \
    "$("$venv/bin/python" -c 'import django; print(django.get_version())'))"
status=0
CACHEPOLICY_EXPECT_COMPILED=1 CACHEPOLICY_CHECKOUT="$repo" \
    "$venv/bin/python" -m pytest "$@" || status=$?
# pytest exits 5 when it collected nothing: a suite that ran no test is a failure here (the
# same rule as scripts/test.sh).
if [[ "$status" -eq 5 ]]; then
    echo "pytest collected no tests: that is a failure here." >&2
    exit 1
fi
exit "$status"
