# shellcheck shell=bash
# The set-up scripts/test_installed.sh and scripts/test_extras.sh share: a temporary work
# directory, the sdist and wheel built into it, a copy of the tests without the package
# sources, and the checks around the virtualenvs they install the wheel into. Sourced, not run:
#
#   source "$(dirname "${BASH_SOURCE[0]}")/venv_lib.sh"
#
# It sets `repo` (the checkout), `python` ($PYTHON, default python3) and `pip_install` (the
# quiet pip arguments every install uses); each function documents the variables it sets.

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${PYTHON:-python3}"
pip_install=(-m pip install -qq --disable-pip-version-check)

# make_work_dir NAME KEEP_VARIABLE: sets `work` to a fresh directory, removed when the script
# exits unless the environment variable KEEP_VARIABLE is 1.
make_work_dir() {
    work="$(mktemp -d "${TMPDIR:-/tmp}/cachepolicy-$1.XXXXXX")"
    if [[ "${!2:-0}" == 1 ]]; then
        echo "keeping $work"
    else
        trap 'rm -rf "$work"' EXIT
    fi
}

# build_dist [ENV_ARGUMENT...]: `python -m build` (the sdist, then the wheel from that sdist)
# into $work/dist, run under `env ENV_ARGUMENT...`; sets `wheel` to the one wheel it made. A
# failed build shows the end of its log and exits.
build_dist() {
    if ! env "$@" "$python" -m build --outdir "$work/dist" "$repo" >"$work/build.log" 2>&1; then
        tail -n 60 "$work/build.log" >&2
        echo "python -m build failed; the last lines of its log are above." >&2
        exit 1
    fi
    local wheels=("$work"/dist/cachepolicy-*.whl)
    if [[ ${#wheels[@]} -ne 1 || ! -f "${wheels[0]}" ]]; then
        echo "expected one wheel in $work/dist, found: ${wheels[*]}" >&2
        exit 1
    fi
    wheel="${wheels[0]}"
}

# build_compiled_wheel: build_dist with the compile required (CACHEPOLICY_REQUIRE_COMPILED=1: a
# failed mypyc or C compile fails here instead of quietly producing the pure fallback), then
# check_compiled_wheel. Sets `wheel`.
build_compiled_wheel() {
    echo "== build: sdist, and the compiled wheel from it"
    build_dist -u CACHEPOLICY_PURE CACHEPOLICY_REQUIRE_COMPILED=1
    echo "built $(basename "$wheel")"
    check_compiled_wheel "$wheel"
}

# check_compiled_wheel WHEEL: exits unless WHEEL holds a compiled module for every source
# setup.py compiles (cachepolicy/_core/*.py but __init__.py) and mypyc's shared library.
check_compiled_wheel() {
    local sources=() source
    for source in "$repo"/cachepolicy/_core/*.py; do
        if [[ -f "$source" && "$(basename "$source")" != __init__.py ]]; then
            sources+=("$source")
        fi
    done
    if [[ ${#sources[@]} -eq 0 ]]; then
        echo "no cachepolicy/_core modules to compile: the wheel is pure Python"
        return 0
    fi
    "$python" - "$1" "${sources[@]}" <<'EOF' || exit 1
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
}

# copy_tests: sets `src` to $work/src, a copy of the checkout without cachepolicy/ and
# integrations/ (nor build output and caches). tests/ is a package with a rootdir conftest, so
# pytest puts the directory holding tests/ first on sys.path: from the checkout that would
# import the sources instead of the installed wheel. The copy keeps the layout the tests rely
# on (benchmarks/, docs/, example_project/, scripts/, .conformance/ as a cache of the fetched
# suites) and ../shared, as a link, where benchmarks/traces.py finds the shared traces.
copy_tests() {
    src="$work/src"
    mkdir "$src"
    tar -C "$repo" -cf - \
        --exclude=./cachepolicy --exclude=./integrations --exclude=./.git --exclude=./build \
        --exclude=./dist --exclude=./site --exclude='*.egg-info' --exclude=__pycache__ \
        --exclude='*.so' --exclude=./.mypy_cache --exclude=./.ruff_cache \
        --exclude=./.pytest_cache --exclude=./.hypothesis --exclude=./.benchmarks \
        --exclude=./.venv --exclude=./.nox . | tar -C "$src" -xf -
    if [[ -d "$repo/../shared" ]]; then
        ln -s "$(cd "$repo/../shared" && pwd)" "$work/shared"
    fi
}

# check_site_imports VENV_PYTHON "MODULE..." ["ABSENT..."]: from the copy of the tests (where
# pytest will run), every MODULE imports from the virtualenv's site-packages, not from a
# checkout, and no ABSENT module can be found at all. Exits on failure.
check_site_imports() {
    (
        cd "$src"
        "$1" - "$2" "${3:-}" <<'EOF'
import importlib
import importlib.util
import sys
import sysconfig
from pathlib import Path

present, absent = sys.argv[1].split(), sys.argv[2].split()
site = {Path(sysconfig.get_paths()[key]).resolve() for key in ("purelib", "platlib")}
for name in present:
    location = Path(str(importlib.import_module(name).__file__)).resolve()
    print(f"{name}: {location}")
    if not any(location.is_relative_to(root) for root in site):
        sys.exit(f"{name} is imported from {location}, not from the virtualenv's site-packages.")
leaked = [name for name in absent if importlib.util.find_spec(name) is not None]
if leaked:
    sys.exit(f"the extra pulled in another extra's framework: {', '.join(leaked)}")
if absent:
    print("absent:", ", ".join(absent))
EOF
    ) || exit 1
}

# run_pytest COMMAND...: runs COMMAND (a pytest run) and returns its exit status, except that
# pytest's 5 (no tests collected) becomes 1: a suite that ran no test is a failure here, the
# same rule as scripts/test.sh.
run_pytest() {
    local status=0
    "$@" || status=$?
    if [[ "$status" -eq 5 ]]; then
        echo "pytest collected no tests: that is a failure here." >&2
        status=1
    fi
    return "$status"
}
