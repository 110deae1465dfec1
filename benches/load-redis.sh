#!/usr/bin/env bash
# Redis-mode load benchmark: wrk against 1 and 3 local counter processes ("pods") sharing one redis-server, all
# on 127.0.0.1, bounded in time. Prints req/s, latency percentiles, and Redis script calls per request, next to
# redis-benchmark's INCR on the same machine.
# -T: TLS against plain in the same run: the redis-server also listens with TLS (a CA and certificate made here
# with openssl), and each row runs once over redis:// and once over rediss://.
# usage: benches/load-redis.sh [-d SECS] [-c CONNS] [-T]   (defaults: 5 s, 64 connections in total)
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=5 CONNS=64 TLS=0
while getopts "d:c:Th" o; do
  case $o in d) DUR=$OPTARG ;; c) CONNS=$OPTARG ;; T) TLS=1 ;; *) sed -n '2,8p' "$0"; exit 2 ;; esac
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
TLS_ARGS=()
if [ "$TLS" = 1 ]; then
  TPORT=$(free_port)
  ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
  openssl req -x509 "${ec[@]}" -keyout "$RDIR/ca.key" -out "$RDIR/ca.crt" -days 1 -subj /CN=bench-ca 2>/dev/null
  openssl req "${ec[@]}" -keyout "$RDIR/s.key" -out "$RDIR/s.csr" -subj /CN=localhost 2>/dev/null
  echo "subjectAltName=DNS:localhost" >"$RDIR/ext"
  openssl x509 -req -in "$RDIR/s.csr" -CA "$RDIR/ca.crt" -CAkey "$RDIR/ca.key" -CAcreateserial -days 1 \
    -extfile "$RDIR/ext" -out "$RDIR/s.crt" 2>/dev/null
  TLS_ARGS=(--tls-port "$TPORT" --tls-cert-file "$RDIR/s.crt" --tls-key-file "$RDIR/s.key"
    --tls-ca-cert-file "$RDIR/ca.crt" --tls-auth-clients no)
fi
redis-server --bind 127.0.0.1 --port "$RPORT" --save '' --dir "$RDIR" "${TLS_ARGS[@]}" >/dev/null 2>&1 &
PIDS+=($!)
for _ in $(seq 1 100); do redis-cli -p "$RPORT" ping 2>/dev/null | grep -q PONG && break; sleep 0.05; done

calls() { redis-cli -p "$RPORT" info commandstats | awk -F'[=,:]' '/^cmdstat_eval(sha)?:/ {s+=$3} END {print s+0}'; }
value() { redis-cli -p "$RPORT" get '{counter}:n' | tr -d '\r'; }

run_pods() { # number of pods, [tls]
  local n=$1 ports=() pod_pids=() url=(--redis-url "redis://127.0.0.1:$RPORT") label="$1 pod(s)"
  if [ "${2:-}" = tls ]; then
    url=(--redis-url "rediss://localhost:$TPORT" --redis-ca-file "$RDIR/ca.crt") label="$1 pod(s) TLS"
  elif [ "$TLS" = 1 ]; then
    label="$1 pod(s) plain"
  fi
  for _ in $(seq 1 "$n"); do
    local p; p=$(free_port)
    "$BIN" --bind 127.0.0.1 --port "$p" --workers 1 --backend redis "${url[@]}" 2>/dev/null &
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
  printf '| %-16s | %8s | %-18s | %-18s | %9d | %7d | %6.1f |\n' "$label" "$rps" "$p50" "$p99" "$served" "$scripts" \
    "$(awk -v a="$served" -v b="$scripts" 'BEGIN{print (b>0)? a/b : 0}')"
  kill "${pod_pids[@]}" 2>/dev/null || true
  rm -rf "$tmp"
}

echo "counter redis mode: wrk -t1 -c$CONNS (split across pods) -d${DUR}s on /status, one worker per pod ($(date -u +%FT%TZ))"
echo "| setup            | req/s    | p50 per pod        | p99 per pod        | values    | scripts | req/script |"
echo "|------------------|----------|--------------------|--------------------|-----------|---------|------------|"
if [ "$TLS" = 1 ]; then
  # Interleaved, so a neighbour's load on the shared machine hits both sides alike.
  run_pods 1; run_pods 1 tls; run_pods 3; run_pods 3 tls
else
  run_pods 1
  run_pods 3
fi
echo
echo "redis-benchmark on the same machine (one INCR per request, 64 clients, no pipelining):"
redis-benchmark -p "$RPORT" -t incr -n 200000 -c 64 -q | tr '\r' '\n' | grep -v '^$' | tail -1
