#!/usr/bin/env bash
# Install everything and run the whole test suite: lint, types, docs, unit/property/stress tests
# and the Django and Flask conformance suites, on both builds of the engine (cachepolicy/_core).
# The README's test command and .ci/run both call this. Extra arguments go to pytest.
#
# What it installs (say no by not running it; docs/development.md has the pieces one by one):
#   * this checkout with its [dev] extras, editable (pip install -e '.[dev]'), into the first
#     `python3` on PATH: use a virtualenv (README, "Set-up");
#   * Debian's chromium and chromium-driver for the dashboard's browser test, with apt-get when
#     running as root (scripts/install_browser.sh; it only prints the command otherwise);
#   * throw-away virtualenvs under a temporary directory for the compiled wheel and for each
#     extra, and a cached one for Django 4.2 in .venv/ of this checkout.
#
# Stages run in two lanes at once (they share nothing: each lane has its own TMPDIR, virtualenvs
# and build directories), so the wall time is about the longer lane, not the sum:
#   pure:     ruff, mypy --strict, mkdocs --strict, pytest on the editable (pure) install under
#             coverage with its floor, tests/django on Django 4.2 LTS, then the wheel with the
#             [django] and [flask] extras alone (scripts/test_extras.sh);
#   compiled: the sdist and the compiled wheel (scripts/build_wheel.sh), then the whole pytest
#             suite against that wheel in a fresh venv, with the 1M-operation hammer
#             (scripts/test_installed.sh), then the wheel with the [redis] extra alone.
# Estimated from issue 23's figures (a loaded 2-core machine; the sequential run took 38-42
# min): pure lane ~20 min (pytest ~800 s once the memory-churn scenarios leave the coverage
# tracer, was 1,012 s), compiled lane ~19 min (pytest 818 s, the wheel's build and venvs). Two
# lanes need two free cores: on one, the wall time is the sum again (~39 min of CPU).
# Every stage runs even when another failed; each one's output is streamed with its lane's
# prefix and kept in a log. The end prints the tail of every failed stage's log and a summary
# (stage, lane, exit status, wall time); the exit status is 1 when any stage failed. pytest's
# exit status 5 (nothing collected) is a failure. With extra arguments (a chosen subset of the
# tests) the coverage floor, the Django 4.2 run and the extras' slices are left out.
# KEEP_CI_DIR=1 keeps the run's directory (logs, wheel, temporary files).
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/venv_lib.sh # run_pytest
source scripts/stages.sh   # start_stages, stage, skip, run_lanes, summarize

start_stages cachepolicy-ci KEEP_CI_DIR # sets run_dir
echo "scripts/test.sh installs: this checkout editable with '.[dev]' into $(command -v python3);" \
    "Debian's chromium and chromium-driver with apt-get when run as root (browser test);" \
    "throw-away virtualenvs under $run_dir; Django 4.2's under .venv/ (cached)."
mkdir -p "$run_dir/dist"

# The order of the summary.
stages=(install browser checkout fetch-suites ruff mypy imports docs pytest-pure coverage django42
    build pytest-compiled extra-django extra-flask extra-redis redis-faults)

# ---- set-up, before the lanes (both need the [dev] install; the suites are fetched once).
install_dev() {
    # Editable installs are never compiled (setup.py); CACHEPOLICY_PURE=1 says so explicitly.
    echo "pip install -e '.[dev]' into $(command -v python3)"
    CACHEPOLICY_PURE=1 python3 -m pip install --quiet --disable-pip-version-check -e '.[dev]'
}
no_stale_modules() {
    # A .so left in the checkout (e.g. by `setup.py build_ext --inplace`) would shadow the
    # sources and make the pure run test a stale compiled engine.
    local stale
    stale="$(find cachepolicy integrations -name '*.so' -o -name '*.pyd')"
    if [[ -n "$stale" ]]; then
        echo "compiled modules in the checkout shadow the sources; delete them:"
        echo "$stale"
        return 1
    fi
}
fetch_suites() {
    # Into .conformance/ before the lanes start, so that they do not both download them. Not
    # fatal here: the conformance modules report a failed fetch themselves (a failure under
    # CI=true, a skip for a developer offline).
    python3 scripts/fetch_conformance.py django flask || echo "fetch failed; see the tests"
}
stage install setup install_dev
stage browser setup bash scripts/install_browser.sh
stage checkout setup no_stale_modules
stage fetch-suites setup fetch_suites

# ---- the lanes.
lint_paths=(cachepolicy integrations tests benchmarks example_project docs scripts setup.py
    noxfile.py)
ruff_both() {
    python3 -m ruff check "${lint_paths[@]}" && python3 -m ruff format --check "${lint_paths[@]}"
}
docs_build() {
    # The examples in docs/ run in pytest (tests/docs).
    python3 -m mkdocs build --strict --quiet --site-dir "$TMPDIR/site"
}
pytest_pure() {
    echo "pytest, pure engine (Django $(python3 -c 'import django; print(django.get_version())'))"
    # Under coverage ([tool.coverage] in pyproject.toml; the data file stays in the run's
    # directory). Tests marked `untraced` pause the tracer (tests/conftest.py).
    CACHEPOLICY_EXPECT_COMPILED=0 run_pytest python3 -m coverage run \
        --data-file="$run_dir/coverage" -m pytest "$@"
}
coverage_report() {
    if [[ "$#" -eq 0 ]]; then
        python3 -m coverage report --data-file="$run_dir/coverage" # floor: fail_under
    else
        # A chosen subset of the tests: no floor.
        python3 -m coverage report --data-file="$run_dir/coverage" --fail-under=0
    fi
}
wheel_path() {
    local wheels=("$run_dir"/dist/cachepolicy-*.whl)
    [[ -f "${wheels[0]}" ]] && echo "${wheels[0]}"
}
extra_slice() {
    local wheel
    if ! wheel="$(wheel_path)"; then
        echo "no wheel: the build stage failed"
        return 1
    fi
    CACHEPOLICY_WHEEL="$wheel" EXTRAS="$1" bash scripts/test_extras.sh
}

pure_lane() {
    export TMPDIR="$run_dir/tmp-pure"
    mkdir -p "$TMPDIR"
    stage ruff pure ruff_both
    stage mypy pure python3 -m mypy
    stage imports pure lint-imports --no-logo # the layer contract, [tool.importlinter]
    stage docs pure docs_build
    stage pytest-pure pure pytest_pure "$@"
    stage coverage pure coverage_report "$@"
    if [[ "$#" -ne 0 ]]; then
        for name in django42 extra-django extra-flask; do
            skip "$name" pure "a chosen subset of the tests"
        done
        return
    fi
    stage django42 pure bash scripts/test_django42.sh
    # The extras need the wheel: wait for the compiled lane's build stage to end (it writes its
    # status file last, whatever happened; the bound only guards against a lane that died).
    local waited=0
    while [[ ! -f "$run_dir/status/build" && "$waited" -lt 3600 ]]; do
        sleep 2
        waited=$((waited + 2))
    done
    for extra in django flask; do
        stage "extra-$extra" pure extra_slice "$extra"
    done
}

compiled_lane() {
    export TMPDIR="$run_dir/tmp-compiled"
    mkdir -p "$TMPDIR"
    stage build compiled bash scripts/build_wheel.sh "$run_dir/dist"
    local wheel
    if wheel="$(wheel_path)"; then
        stage pytest-compiled compiled \
            env CACHEPOLICY_WHEEL="$wheel" bash scripts/test_installed.sh "$@"
    else
        stage pytest-compiled compiled sh -c 'echo "no wheel: the build stage failed"; exit 1'
    fi
    # Here rather than in the pure lane, which is the longer one (see the top of this file).
    if [[ "$#" -ne 0 ]]; then
        skip extra-redis compiled "a chosen subset of the tests"
        skip redis-faults compiled "a chosen subset of the tests"
    else
        stage extra-redis compiled extra_slice redis
        # The Redis fault tests (killed servers and primaries) were the suite's flaky ones:
        # three more runs in a row, on the checkout's sources, prove they wait on conditions.
        stage redis-faults compiled bash scripts/test_redis_faults.sh 3
    fi
}

run_lanes pure_lane compiled_lane -- "$@"

# ---- the end: what failed, and the summary (the exit status).
summarize "${stages[@]}"
