#!/usr/bin/env bash
# Makes docs/dashboard.svg, the picture in docs/operating.md: the dashboard's own queries against a real
# Prometheus that scraped a real counter (redis mode, 2 workers, a real redis-server) under a scripted minute:
# wrk on /status, a trickle of /health and 404s, 40 connections that never send a request (header timeouts),
# and Redis stopped for 5 s (503s, links down, reconnects). Drawn by scripts/render-dashboard.py, not Grafana.
# Everything on 127.0.0.1, free ports, bounded in time; every process it starts is stopped on exit.
#   bash scripts/dashboard-picture.sh [SECONDS]     (default 60)
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-60}
./scripts/install-deps.sh
cargo build -q
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_for() { for _ in $(seq 1 200); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done; echo "timed out: $*" >&2; exit 1; }

dir=$(mktemp -d)
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT

rport=$(free_port) cport=$(free_port) pport=$(free_port)
start_redis() {
  redis-server --bind 127.0.0.1 --port "$rport" --save '' --dir "$dir" >/dev/null 2>&1 &
  redis_pid=$!
  pids+=("$redis_pid")
  wait_for redis-cli -p "$rport" ping
}
start_redis
target/debug/counter --bind 127.0.0.1 --port "$cport" --workers 2 --header-timeout 2 --backend redis \
  --redis-url "redis://127.0.0.1:$rport" 2>"$dir/counter.log" &
pids+=($!)
wait_for curl -sf "http://127.0.0.1:$cport/ready"
cat >"$dir/prometheus.yml" <<YML
global: { scrape_interval: 1s, evaluation_interval: 1s }
rule_files: ['$PWD/deploy/prometheus/rules.yaml']
scrape_configs:
  - job_name: counter
    static_configs: [{ targets: ['127.0.0.1:$cport'] }]
YML
prometheus --config.file="$dir/prometheus.yml" --storage.tsdb.path="$dir/data" \
  --web.listen-address="127.0.0.1:$pport" 2>"$dir/prometheus.log" &
pids+=($!)
wait_for curl -sf "http://127.0.0.1:$pport/-/ready"

timeout $((SECS + 10)) wrk -t 1 -c 8 -d "${SECS}s" "http://127.0.0.1:$cport/status" >"$dir/wrk.txt" &
pids+=($!)
(
  end=$((SECONDS + SECS))
  while [ $SECONDS -lt $end ]; do
    curl -s -o /dev/null -o /dev/null "http://127.0.0.1:$cport/health" "http://127.0.0.1:$cport/nope" || true
    sleep 0.2
  done
) &
pids+=($!)
sleep $((SECS / 4))
# 40 connections that never send a request head: the header timeout closes them.
timeout 10 python3 -c "
import socket, time
s = [socket.create_connection(('127.0.0.1', $cport)) for _ in range(40)]
time.sleep(5)" || true
sleep $((SECS / 4))
kill "$redis_pid" && wait "$redis_pid" 2>/dev/null || true
sleep 5
start_redis
sleep $((SECS / 2 - 15 > 1 ? SECS / 2 - 15 : 1))
wait_for test -s "$dir/wrk.txt"
sleep 3 # two more scrapes
python3 scripts/render-dashboard.py "http://127.0.0.1:$pport" "$((SECS + 5))" docs/dashboard.svg
echo "wrote docs/dashboard.svg ($(grep -c polyline docs/dashboard.svg) lines drawn)"
