#!/usr/bin/env bash
# Runs the README's test command (`make test`) N times and reports every failing test by name, with how many
# runs it failed in, then "passed X of N". With --load, one bounded busy loop per core runs beside the suite
# (a laptop compiling something else, a shared CI runner); the loops are killed on exit, whatever the exit.
# The check to run before calling a test change done: a suite that fails at random teaches people to ignore red.
#
#   scripts/flake-hunt.sh [-n N] [--load]        (default N=10)
# Exits non-zero if any run failed. Each run's output is kept in $FLAKE_HUNT_DIR (default: a temp dir).
set -euo pipefail
cd "$(dirname "$0")/.."

runs=10 load=0
while [ $# -gt 0 ]; do
  case "$1" in
    -n) runs="${2:?-n needs a count}"; shift 2 ;;
    -n*) runs="${1#-n}"; shift ;;
    --load) load=1; shift ;;
    -h|--help) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "flake-hunt: unknown argument $1 (usage: $0 [-n N] [--load])" >&2; exit 2 ;;
  esac
done
case "$runs" in ''|*[!0-9]*|0) echo "flake-hunt: -n wants a positive count, got '$runs'" >&2; exit 2 ;; esac

dir="${FLAKE_HUNT_DIR:-$(mktemp -d -t flake-hunt.XXXXXX)}"
mkdir -p "$dir"
# Every busy loop is bounded in time on its own (timeout), so even a killed script leaves none running for long.
LOAD_BOUND_SECS=$((runs * 600))
loaders=()
stop_load() {
  for pid in "${loaders[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${loaders[@]}"; do wait "$pid" 2>/dev/null || true; done
  loaders=()
}
trap stop_load EXIT
trap 'stop_load; exit 130' INT TERM

# Build once first, so run 1 is timed like the others and a compile error is reported as such, not as a flake.
make -s deps >/dev/null
if ! cargo test --workspace --no-run >"$dir/build.log" 2>&1; then
  echo "flake-hunt: the suite does not build; see $dir/build.log" >&2
  tail -20 "$dir/build.log" >&2
  exit 1
fi

if [ "$load" = 1 ]; then
  cores=$(nproc)
  for _ in $(seq "$cores"); do
    timeout "$LOAD_BOUND_SECS" bash -c 'while :; do :; done' &
    loaders+=($!)
  done
  echo "flake-hunt: $cores busy loops running beside the suite (pids ${loaders[*]})"
fi

passed=0
declare -A failures=()
for i in $(seq "$runs"); do
  log="$dir/run-$i.log"
  start=$(date +%s%N)
  if make test >"$log" 2>&1; then
    status=ok
    passed=$((passed + 1))
  else
    status=FAILED
    # libtest prints "test <name> ... FAILED" for each failing test; a binary that did not even run its tests
    # (a crash, a build error) shows up as the run's own failure.
    names=$(grep -E '^test .* \.\.\. FAILED$' "$log" | sed -E 's/^test (.*) \.\.\. FAILED$/\1/' | sort -u || true)
    [ -n "$names" ] || names="(no test named: see $log)"
    while IFS= read -r name; do failures["$name"]=$(( ${failures["$name"]:-0} + 1 )); done <<<"$names"
  fi
  ms=$(( ($(date +%s%N) - start) / 1000000 ))
  printf 'run %d/%d: %s in %d.%d s\n' "$i" "$runs" "$status" $((ms / 1000)) $((ms % 1000 / 100))
done

stop_load
if [ ${#failures[@]} -gt 0 ]; then
  echo "failing tests (runs failed in):"
  for name in "${!failures[@]}"; do printf '  %3d  %s\n' "${failures[$name]}" "$name"; done | sort -rn
fi
echo "passed $passed of $runs$([ "$load" = 1 ] && echo " (with a busy loop per core)"); logs in $dir"
[ "$passed" = "$runs" ]
