#!/usr/bin/env bash
# Load benchmark: starts the release binary on 127.0.0.1, runs wrk against /status and /statusV2, plain and
# pipelined (16 requests per write), each bounded in time; prints req/s and latency percentiles.
# usage: benches/load.sh [-d SECS] [-c CONNS] [-t THREADS] [-w WORKERS]   (defaults: 5 s, 64, 1, 1)
# With WORKERS=1 the server is pinned to CPU 0 and wrk to CPU 1, as in the peer comparison.
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=5 CONNS=64 THREADS=1 WORKERS=1
while getopts "d:c:t:w:h" o; do
  case $o in d) DUR=$OPTARG ;; c) CONNS=$OPTARG ;; t) THREADS=$OPTARG ;; w) WORKERS=$OPTARG ;; *) sed -n '2,5p' "$0"; exit 2 ;; esac
done
command -v wrk >/dev/null || ./scripts/install-deps.sh
cargo build --release -q
BIN=target/release/counter
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
PIN_SRV=() PIN_WRK=()
if [ "$WORKERS" = 1 ] && [ "$(nproc)" -ge 2 ]; then PIN_SRV=(taskset -c 0); PIN_WRK=(taskset -c 1); fi
"${PIN_SRV[@]}" "$BIN" --bind 127.0.0.1 --port "$PORT" --workers "$WORKERS" 2>/dev/null &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null' EXIT
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$PORT/ready" >/dev/null && break; sleep 0.05; done

LUA=$(mktemp --suffix .lua)
cat > "$LUA" <<'LUA'
-- 16 pipelined requests per write
local depth = 16
init = function(args)
  local path = args[1] or "/status"
  local r = {}
  for i = 1, depth do r[i] = wrk.format("GET", path) end
  req = table.concat(r)
end
request = function() return req end
LUA

run() { # path, pipelined?
  local path=$1 script=() args=()
  [ "$2" = yes ] && script=(-s "$LUA") && args=(-- "$path")
  local out
  out=$(timeout $((DUR + 15)) "${PIN_WRK[@]}" wrk -t"$THREADS" -c"$CONNS" -d"${DUR}s" --latency "${script[@]}" "http://127.0.0.1:$PORT$path" "${args[@]}")
  local rps p50 p99
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1=="50%" {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  # wrk counts every response (it parses the 16 requests of the script's batch); its latency percentiles in
  # pipelined runs are per batch.
  printf '| %-10s | %-9s | %12s | %8s | %8s |\n' "$path" "$2" "$rps" "$p50" "$p99"
}
echo "counter load: wrk -t$THREADS -c$CONNS -d${DUR}s, server workers=$WORKERS ($(date -u +%FT%TZ))"
echo "| path       | pipelined | req/s        | p50      | p99      |"
echo "|------------|-----------|--------------|----------|----------|"
for path in /status /statusV2; do
  run "$path" no
  run "$path" yes
done
rm -f "$LUA"
