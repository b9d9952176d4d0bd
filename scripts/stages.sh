# shellcheck shell=bash
# Stages for scripts/test.sh: each one runs to the end whatever the others did, its output
# streamed with a lane prefix and kept in a log, its exit status and wall time recorded; a
# summary at the end, and an exit status that fails when any stage failed. Sourced, not run.
# tests/test_ci_stages.py runs these functions on stand-in stages.

# start_stages NAME KEEP_VARIABLE: sets `run_dir` to a fresh directory for the logs and
# statuses (and whatever else the run keeps there), removed at exit unless the environment
# variable KEEP_VARIABLE is 1, and starts the clock of the summary.
start_stages() {
    run_dir="$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")"
    mkdir -p "$run_dir/logs" "$run_dir/status"
    if [[ "${!2:-0}" == 1 ]]; then
        echo "keeping $run_dir"
    else
        trap 'rm -rf "$run_dir"' EXIT
    fi
    started=$SECONDS
}

# stage NAME LANE COMMAND...: run COMMAND, its output streamed with the prefix "[LANE] " and
# kept in logs/NAME.log; its exit status and wall time are written to status/NAME.
stage() {
    local name="$1" lane="$2" begin=$SECONDS status
    shift 2
    echo "[$lane] ---- $name: start (at $((SECONDS - started)) s)"
    "$@" 2>&1 | tee "$run_dir/logs/$name.log" | sed -u "s/^/[$lane] /"
    status=${PIPESTATUS[0]}
    echo "$status $((SECONDS - begin)) $lane" >"$run_dir/status/$name"
    if [[ "$status" -eq 0 ]]; then
        echo "[$lane] ---- $name: ok after $((SECONDS - begin)) s"
    else
        echo "[$lane] ---- $name: FAILED (exit status $status) after $((SECONDS - begin)) s"
    fi
    return "$status"
}

# skip NAME LANE REASON: a stage left out on purpose (shown in the summary, not a failure).
skip() {
    echo "[$2] ---- $1: skipped ($3)"
    echo "skipped 0 $2 $3" >"$run_dir/status/$1"
}

# run_lanes FUNCTION... -- ARGUMENT...: runs every `FUNCTION ARGUMENT...` at once, each in a
# process group of its own, and waits for all of them. INT or TERM (Ctrl+C, a CI timeout)
# ends every lane with all it started, instead of leaving a lane's pytest running.
run_lanes() {
    local functions=() pids=()
    while [[ $# -gt 0 && "$1" != -- ]]; do
        functions+=("$1")
        shift
    done
    shift # --
    set -m # job control: a background job gets its own process group
    for function in "${functions[@]}"; do
        "$function" "$@" &
        pids+=("$!")
    done
    set +m
    # shellcheck disable=SC2064  # the pids are known now
    trap "kill -TERM -- ${pids[*]/#/-} 2>/dev/null; exit 143" INT TERM
    wait "${pids[@]}"
    trap - INT TERM
}

# summarize STAGE...: the end of the log of every stage that failed (or never ran), then one
# line per stage in the order given (lane, status, wall time). Returns 1 when any failed.
summarize() {
    local name status seconds lane reason word failed=0
    for name in "$@"; do
        read -r status _ _ <"$run_dir/status/$name" 2>/dev/null || status=missing
        if [[ "$status" != 0 && "$status" != skipped ]]; then
            failed=1
            echo
            echo "==== $name failed (exit status $status); the end of its log:"
            tail -n 40 "$run_dir/logs/$name.log" 2>/dev/null || echo "(no log: the stage never ran)"
        fi
    done
    echo
    echo "==== summary (wall time $((SECONDS - started)) s)"
    printf '%-16s %-9s %-8s %8s\n' stage lane status seconds
    for name in "$@"; do
        status=missing seconds=- lane=- reason=""
        if [[ -f "$run_dir/status/$name" ]]; then
            read -r status seconds lane reason <"$run_dir/status/$name"
        fi
        case "$status" in
            0) word=ok ;;
            skipped) word=skipped seconds="-" ;;
            missing) word="never ran" ;;
            *) word="FAILED($status)" ;;
        esac
        printf '%-16s %-9s %-8s %8s %s\n' "$name" "$lane" "$word" "$seconds" "$reason"
    done
    if [[ "$failed" -ne 0 ]]; then
        echo "FAILED: at least one stage failed (see above)."
        return 1
    fi
    echo "all stages passed"
}
