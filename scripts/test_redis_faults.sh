#!/usr/bin/env bash
# Run the Redis fault tests (killed and restarted servers, a killed cluster primary, the
# cluster-down state, silent and killed invalidation connections) several times in a row:
# they were the suite's flaky ones, so CI runs them 3 times to prove they are not.
#
#   bash scripts/test_redis_faults.sh [RUNS] [extra pytest args...]     (RUNS defaults to 3)
#
# Needs redis-server and redis-cli (each test starts its own servers on free loopback ports).
# Every run goes ahead even after one fails; a summary line per run, exit 1 if any failed.
# It tests the cachepolicy that python3 imports (in a worktree: PYTHONPATH=$PWD:$PWD/integrations).
set -uo pipefail
cd "$(dirname "$0")/.."

runs="${1:-3}"
shift || true
files=(
    tests/redis/test_faults.py
    tests/redis/test_near_faults.py
    tests/redis/test_near_cluster.py
    tests/redis/test_near_async.py
)
results=()
failed=0
for run in $(seq 1 "$runs"); do
    echo "== Redis fault tests, run $run/$runs"
    start=$SECONDS
    status=0
    python3 -m pytest "${files[@]}" -q -p no:cacheprovider "$@" || status=$?
    results+=("run $run/$runs: $([ "$status" -eq 0 ] && echo passed || echo "FAILED (pytest exit $status)") in $((SECONDS - start)) s")
    [ "$status" -eq 0 ] || failed=1
done
echo "== Redis fault tests: summary"
printf '%s\n' "${results[@]}"
exit "$failed"
