#!/usr/bin/env bash
# Redis-mode load benchmark, every setup in the same run so the rows compare: wrk against 1 and 3 local counter
# processes ("pods") sharing a single redis-server (no persistence, then the shipped AOF with appendfsync
# everysec and always), then against the HA topology (a primary, two replicas, three Sentinels, all from
# deploy/redis/*.conf) with --redis-wait-replicas 0 and 1. The single Redis without persistence also listens with
# TLS (a CA and certificate made here with openssl), and its rows run again over rediss://, TLS against plain in
# the same run. All on 127.0.0.1, bounded in time. Prints req/s,
# latency percentiles, and requests per Redis round trip, next to redis-benchmark's INCR on the same machine.
# usage: benches/load-redis.sh [-d SECS] [-c CONNS]   (defaults: 5 s, 64 connections in total)
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=5 CONNS=64
while getopts "d:c:h" o; do
  case $o in d) DUR=$OPTARG ;; c) CONNS=$OPTARG ;; *) sed -n '2,7p' "$0"; exit 2 ;; esac
done
command -v wrk >/dev/null && command -v redis-server >/dev/null || ./scripts/install-deps.sh
cargo build --release -q
BIN=target/release/counter
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
until_true() { local end=$((SECONDS + $1)); shift; until "$@"; do [ $SECONDS -lt $end ] || return 1; sleep 0.05; done; }

WORK=$(mktemp -d)
PIDS=()
cleanup() { kill "${PIDS[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

# A data node from deploy/redis/redis.conf (its own copy: Sentinel rewrites it); extra args override it.
node() { # port args...
  local port=$1 dir="$WORK/node-$1"; shift
  mkdir -p "$dir"; cp deploy/redis/redis.conf "$dir/redis.conf"
  redis-server "$dir/redis.conf" --port "$port" --bind 127.0.0.1 --dir "$dir" "$@" >/dev/null 2>&1 &
  PIDS+=($!)
  until_true 10 sh -c "redis-cli -p $port ping 2>/dev/null | grep -q PONG"
}

sentinel() { # port primary-port
  local dir="$WORK/sentinel-$1"; mkdir -p "$dir"
  sed -e "s/^port .*/port $1\nbind 127.0.0.1/" -e "s|^dir .*|dir $dir|" \
      -e "s/^sentinel monitor \([^ ]*\) [^ ]* [^ ]* \(.*\)/sentinel monitor \1 127.0.0.1 $2 \2/" \
      deploy/redis/sentinel.conf >"$dir/sentinel.conf"
  redis-server "$dir/sentinel.conf" --sentinel >/dev/null 2>&1 &
  PIDS+=($!)
}

# rediss:// rows: a throwaway CA and a certificate for localhost.
ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
openssl req -x509 "${ec[@]}" -keyout "$WORK/ca.key" -out "$WORK/ca.crt" -days 1 -subj /CN=bench-ca 2>/dev/null
openssl req "${ec[@]}" -keyout "$WORK/s.key" -out "$WORK/s.csr" -subj /CN=localhost 2>/dev/null
echo "subjectAltName=DNS:localhost" >"$WORK/ext"
openssl x509 -req -in "$WORK/s.csr" -CA "$WORK/ca.crt" -CAkey "$WORK/ca.key" -CAcreateserial -days 1 \
  -extfile "$WORK/ext" -out "$WORK/s.crt" 2>/dev/null
TPORT=$(free_port)
TLS_ARGS=(--tls-port "$TPORT" --tls-cert-file "$WORK/s.crt" --tls-key-file "$WORK/s.key"
  --tls-ca-cert-file "$WORK/ca.crt" --tls-auth-clients no)

RPORT=""   # the node that executes the scripts (the primary)
calls() { redis-cli -p "$RPORT" info commandstats | awk -F'[=,:]' '/^cmdstat_eval(sha)?:/ {s+=$3} END {print s+0}'; }
value() { redis-cli -p "$RPORT" get '{counter}:n' | tr -d '\r'; }

run_pods() { # label pods counter-args...
  local label=$1 n=$2; shift 2
  local ports=() pod_pids=()
  for _ in $(seq 1 "$n"); do
    local p; p=$(free_port)
    "$BIN" --bind 127.0.0.1 --port "$p" --workers 1 --backend redis "$@" 2>/dev/null &
    pod_pids+=($!); PIDS+=($!); ports+=("$p")
  done
  for p in "${ports[@]}"; do until_true 20 curl -sf "http://127.0.0.1:$p/ready" -o /dev/null; done
  local c0 v0
  c0=$(calls); v0=$(value); v0=${v0:-0}
  local per=$(( CONNS / n )); [ "$per" -lt 1 ] && per=1
  local tmp; tmp=$(mktemp -d)
  local wrks=()
  for i in "${!ports[@]}"; do
    timeout $((DUR + 15)) wrk -t1 -c"$per" -d"${DUR}s" --latency "http://127.0.0.1:${ports[$i]}/status" > "$tmp/$i" &
    wrks+=($!)
  done
  wait "${wrks[@]}"
  local rps=0 p50="" p99="" non2xx=0
  for i in "${!ports[@]}"; do
    rps=$(awk -v a="$rps" '/Requests\/sec/ {printf "%.0f", a+$2}' "$tmp/$i")
    p50+="$(awk '$1=="50%" {print $2}' "$tmp/$i") "
    p99+="$(awk '$1=="99%" {print $2}' "$tmp/$i") "
    non2xx=$(( non2xx + $(awk '/Non-2xx/ {print $4}' "$tmp/$i" | tr -d ' ' ; echo 0 | head -1) ))
  done
  local c1 v1; c1=$(calls); v1=$(value)
  local served=$(( v1 - v0 )) scripts=$(( c1 - c0 ))
  printf '| %-34s | %d | %8s | %-18s | %-18s | %9d | %7d | %6.1f | %d |\n' "$label" "$n" "$rps" "$p50" "$p99" "$served" \
    "$scripts" "$(awk -v a="$served" -v b="$scripts" 'BEGIN{print (b>0)? a/b : 0}')" "$non2xx"
  kill "${pod_pids[@]}" 2>/dev/null || true
  wait "${pod_pids[@]}" 2>/dev/null || true
  rm -rf "$tmp"
}

echo "counter redis mode: wrk -t1 -c$CONNS (split across pods) -d${DUR}s on /status, one worker per pod ($(date -u +%FT%TZ))"
echo "| setup                              | pods | req/s    | p50 per pod        | p99 per pod        | values    | scripts | req/script | non-2xx |"
echo "|------------------------------------|------|----------|--------------------|--------------------|-----------|---------|------------|---------|"

# A single Redis: no persistence, then the shipped AOF at both fsync policies. min-replicas-to-write is the
# HA setting; a single node has no replica to count.
for mode in none everysec always; do
  RPORT=$(free_port)
  case $mode in
    none) node "$RPORT" --appendonly no --min-replicas-to-write 0 "${TLS_ARGS[@]}" ;;
    *) node "$RPORT" --appendfsync "$mode" --min-replicas-to-write 0 ;;
  esac
  URL="redis://127.0.0.1:$RPORT"
  label="single, AOF appendfsync $mode"; [ "$mode" = none ] && label="single, no persistence"
  [ "$mode" = none ] && run_pods "$label" 1 --redis-url "$URL"
  run_pods "$label" 3 --redis-url "$URL"
  if [ "$mode" = none ]; then # the same node over TLS, right after its plain rows
    TLS_URL=(--redis-url "rediss://localhost:$TPORT" --redis-ca-file "$WORK/ca.crt")
    run_pods "$label, TLS" 1 "${TLS_URL[@]}"
    run_pods "$label, TLS" 3 "${TLS_URL[@]}"
  fi
  [ "$mode" = none ] && redis-benchmark -p "$RPORT" -t incr -n 200000 -c 64 -q | tr '\r' '\n' | grep -v '^$' | tail -1 > "$WORK/incr"
  redis-cli -p "$RPORT" shutdown nosave >/dev/null 2>&1 || true
done

# HA: a primary and two replicas (shipped config: AOF everysec, min-replicas-to-write 1), three Sentinels.
RPORT=$(free_port)
node "$RPORT"
node "$(free_port)" --replicaof 127.0.0.1 "$RPORT"
node "$(free_port)" --replicaof 127.0.0.1 "$RPORT"
until_true 20 sh -c "redis-cli -p $RPORT info replication | grep -q connected_slaves:2"
SENTINELS=()
for _ in 1 2 3; do s=$(free_port); SENTINELS+=("127.0.0.1:$s"); sentinel "$s" "$RPORT"; done
LIST=$(IFS=,; echo "${SENTINELS[*]}")
for s in "${SENTINELS[@]}"; do until_true 10 sh -c "redis-cli -p ${s#*:} ping 2>/dev/null | grep -q PONG"; done
for n in 0 1; do
  run_pods "HA (Sentinels), WAIT $n" 3 --redis-sentinels "$LIST" --redis-master-name counter --redis-wait-replicas "$n"
done

echo
echo "redis-benchmark on the same machine (one INCR per request, 64 clients, no pipelining, no persistence):"
cat "$WORK/incr"
