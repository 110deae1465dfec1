#!/usr/bin/env bash
# The figures behind the README's Robustness table (docs/robustness.md): rates, latencies, RSS and fd counts of
# the hostile-client tests, printed and judged by nobody. `cargo test` asserts what happened (every slow
# connection cut, every answer in order, no fd leaked); how fast it happened depends on the machine, so it
# lives here (issue 11: tests assert behaviour, never speed).
#
#   scripts/hostile-figures.sh [--release]      (make hostile)
# Runs tests/hostile (its tests and its ignored `figure_*` measurements) one at a time with their output shown,
# and prints each figure line. Debug build by default: the binary the tests drive; --release for the shipped one.
# Exits non-zero only if a run itself failed (then its figures are not worth quoting).
set -euo pipefail
cd "$(dirname "$0")/.."

profile=()
case "${1:-}" in
  --release) profile=(--release) ;;
  "") ;;
  *) echo "usage: $0 [--release]" >&2; exit 2 ;;
esac

out=$(mktemp -t hostile-figures.XXXXXX)
trap 'rm -f "$out"' EXIT
echo "hostile figures: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)," \
  "${profile[*]:-debug} build, commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
# 15 minutes is many times what the binary needs (about 30 s); a hang ends as a failure, not a stuck script.
status=0
timeout 900 cargo test "${profile[@]}" --test hostile -- --include-ignored --nocapture --test-threads 1 \
  >"$out" 2>&1 || status=$?
# Everything the tests print that is not libtest's own bookkeeping is a figure.
# With --nocapture a test's output follows its "test NAME ... " prefix on the same line.
sed -E 's/^test [^ ]+ \.\.\. //; s/^FIGURE //' "$out" \
  | grep -vE '^(running [0-9]+ tests?|ok|ignored.*|FAILED|test result:.*|successes:|failures:|)$' \
  | grep -vE '^\s*(Compiling|Finished|Running|Blocking|warning|Executable)' | sed 's/^/  /'
if [ "$status" != 0 ]; then
  echo "hostile figures: the run failed (exit $status); its output:" >&2
  tail -40 "$out" >&2
fi
exit "$status"
