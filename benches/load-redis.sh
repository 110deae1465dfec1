#!/usr/bin/env bash
# Redis-mode load benchmark: wrk against 1 and 3 local counter processes ("pods") sharing one redis-server, all
# on 127.0.0.1, bounded in time. Prints req/s, latency percentiles, and Redis script calls per request, next to
# redis-benchmark's INCR on the same machine.
# usage: benches/load-redis.sh [-d SECS] [-c CONNS]   (defaults: 5 s, 64 connections in total)
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=5 CONNS=64
while getopts "d:c:h" o; do
  case $o in d) DUR=$OPTARG ;; c) CONNS=$OPTARG ;; *) sed -n '2,5p' "$0"; exit 2 ;; esac
done
command -v wrk >/dev/null && command -v redis-server >/dev/null || ./scripts/install-deps.sh
cargo build --release -q
BIN=target/release/counter
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

RPORT=$(free_port)
RDIR=$(mktemp -d)
PIDS=()
cleanup() { kill "${PIDS[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$RDIR"; }
trap cleanup EXIT
redis-server --bind 127.0.0.1 --port "$RPORT" --save '' --dir "$RDIR" >/dev/null 2>&1 &
PIDS+=($!)
for _ in $(seq 1 100); do redis-cli -p "$RPORT" ping 2>/dev/null | grep -q PONG && break; sleep 0.05; done

calls() { redis-cli -p "$RPORT" info commandstats | awk -F'[=,:]' '/^cmdstat_eval(sha)?:/ {s+=$3} END {print s+0}'; }
value() { redis-cli -p "$RPORT" get '{counter}:n' | tr -d '\r'; }

run_pods() { # number of pods
  local n=$1 ports=() pod_pids=()
  for _ in $(seq 1 "$n"); do
    local p; p=$(free_port)
    "$BIN" --bind 127.0.0.1 --port "$p" --workers 1 --backend redis --redis-url "redis://127.0.0.1:$RPORT" 2>/dev/null &
    pod_pids+=($!); PIDS+=($!); ports+=("$p")
  done
  for p in "${ports[@]}"; do
    for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$p/ready" >/dev/null && break; sleep 0.05; done
  done
  local c0 v0 out=() total=0
  c0=$(calls); v0=$(value); v0=${v0:-0}
  local per=$(( CONNS / n )); [ "$per" -lt 1 ] && per=1
  local tmp; tmp=$(mktemp -d)
  local wrks=()
  for i in "${!ports[@]}"; do
    timeout $((DUR + 15)) wrk -t1 -c"$per" -d"${DUR}s" --latency "http://127.0.0.1:${ports[$i]}/status" > "$tmp/$i" &
    wrks+=($!)
  done
  wait "${wrks[@]}"
  local rps=0 p50="" p99=""
  for i in "${!ports[@]}"; do
    rps=$(awk -v a="$rps" '/Requests\/sec/ {printf "%.0f", a+$2}' "$tmp/$i")
    p50+="$(awk '$1=="50%" {print $2}' "$tmp/$i") "
    p99+="$(awk '$1=="99%" {print $2}' "$tmp/$i") "
  done
  local c1 v1; c1=$(calls); v1=$(value)
  local served=$(( v1 - v0 )) scripts=$(( c1 - c0 ))
  printf '| %d pod(s) | %8s | %-18s | %-18s | %9d | %7d | %6.1f |\n' "$n" "$rps" "$p50" "$p99" "$served" "$scripts" \
    "$(awk -v a="$served" -v b="$scripts" 'BEGIN{print (b>0)? a/b : 0}')"
  kill "${pod_pids[@]}" 2>/dev/null || true
  rm -rf "$tmp"
}

echo "counter redis mode: wrk -t1 -c$CONNS (split across pods) -d${DUR}s on /status, one worker per pod ($(date -u +%FT%TZ))"
echo "| setup    | req/s    | p50 per pod        | p99 per pod        | values    | scripts | req/script |"
echo "|----------|----------|--------------------|--------------------|-----------|---------|------------|"
run_pods 1
run_pods 3
echo
echo "redis-benchmark on the same machine (one INCR per request, 64 clients, no pipelining):"
redis-benchmark -p "$RPORT" -t incr -n 200000 -c 64 -q | tr '\r' '\n' | grep -v '^$' | tail -1
