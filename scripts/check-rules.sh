#!/usr/bin/env bash
# CI's check of deploy/prometheus/rules.yaml, with Debian's promtool (package prometheus; install-deps.sh):
#   1. promtool check rules: it parses, every expression is valid PromQL, names are legal;
#   2. promtool test rules: every alert fires on its synthetic series and stays quiet on the harmless ones,
#      and the recording rules give known values (deploy/prometheus/rules.test.yaml);
#   3. every alert has a unit test and a runbook entry in docs/operating.md;
#   4. the PrometheusRule wrapping them for kube-prometheus-stack parses as the same rules;
#   5. the connection-table size the rules divide by is src/limits.rs's CONNECTIONS_PER_WORKER_MAX.
# The rules loaded into a real Prometheus scraping the real binary: tests/it/prometheus.rs (make test).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v promtool >/dev/null || { echo "check-rules: promtool missing (scripts/install-deps.sh)" >&2; exit 1; }

promtool check rules deploy/prometheus/rules.yaml
(cd deploy/prometheus && promtool test rules rules.test.yaml)
# The PrometheusRule's spec is rules.yaml (scripts/render-k8s.sh --check proves it fresh); promtool reads it too.
unwrapped=$(mktemp --suffix=.yaml)
trap 'rm -f "$unwrapped"' EXIT
sed -e '1,/^spec:$/d' -e 's/^  //' deploy/prometheus/prometheusrule.yaml >"$unwrapped"
promtool check rules "$unwrapped"

status=0
for alert in $(sed -n 's/^ *- alert: *//p' deploy/prometheus/rules.yaml); do
  grep -q "alertname: $alert\$" deploy/prometheus/rules.test.yaml || { echo "FAIL: $alert has no unit test" >&2; status=1; }
  grep -qi "^### $alert\$" docs/operating.md || { echo "FAIL: $alert has no runbook in docs/operating.md" >&2; status=1; }
done

# "16 * 1024" in limits.rs, 16384 in the rules.
limit=$(sed -n 's/^pub const CONNECTIONS_PER_WORKER_MAX: usize = \(.*\);/\1/p' src/limits.rs)
limit=$((${limit//_/}))
grep -q "counter_workers \* $limit)" deploy/prometheus/rules.yaml || {
  echo "FAIL: rules.yaml's connection-table size is not CONNECTIONS_PER_WORKER_MAX ($limit)" >&2
  status=1
}
[ "$status" = 0 ] && echo "ok  every alert tested and documented; table size $limit matches src/limits.rs"
exit "$status"
