#!/usr/bin/env bash
# Build the sdist and, from it, the compiled wheel (scripts/venv_lib.sh: build_compiled_wheel)
# into the directory given as the one argument. scripts/test.sh runs this while the pure suite
# runs, then hands the wheel to scripts/test_installed.sh and scripts/test_extras.sh, so it is
# built, and compiled, once per run.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/venv_lib.sh"

if [[ $# -ne 1 ]]; then
    echo "usage: $0 OUTPUT_DIRECTORY" >&2
    exit 2
fi
make_work_dir build KEEP_BUILD_DIR
build_compiled_wheel
mkdir -p "$1"
cp "$work"/dist/* "$1"/
