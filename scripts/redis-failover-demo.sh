#!/usr/bin/env bash
# The failover that makes WAIT necessary, shown rather than asserted (it depends on timing): a primary, two
# replicas and three Sentinels from deploy/redis/*.conf (ports substituted), three counter processes in
# Sentinel mode under load. Both replicas stop taking the replication stream (SIGSTOP) while increments go on,
# then the primary is SIGKILLed and the replicas resume: Sentinel promotes one that lacks the latest
# increments. Run once with --redis-wait-replicas 0 and once with 1; count the values clients saw twice.
# usage: scripts/redis-failover-demo.sh [LAG_SECS]   (default 1; everything on 127.0.0.1, about a minute)
set -euo pipefail
cd "$(dirname "$0")/.."
LAG=${1:-1}
command -v redis-server >/dev/null || ./scripts/install-deps.sh
cargo build -q
BIN=target/debug/counter
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
WORK=$(mktemp -d)
PIDS=()
cleanup() { kill -CONT "${PIDS[@]}" 2>/dev/null || true; kill "${PIDS[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

cli() { redis-cli -h 127.0.0.1 -p "$1" "${@:2}" 2>/dev/null; }
until_true() { # deadline-seconds command...: poll every 50 ms
  local end=$((SECONDS + $1)); shift
  until "$@"; do [ $SECONDS -lt $end ] || return 1; sleep 0.05; done
}

node() { # port [primary-port] -> pid; each node runs from its own copy (Sentinel rewrites it)
  local dir="$WORK/node-$1"; mkdir -p "$dir"; cp deploy/redis/redis.conf "$dir/redis.conf"
  local extra=(); [ -n "${2:-}" ] && extra=(--replicaof 127.0.0.1 "$2")
  redis-server "$dir/redis.conf" --port "$1" --bind 127.0.0.1 --dir "$dir" "${extra[@]}" >"$dir/log" 2>&1 &
  echo $!
}

sentinel() { # port primary-port -> pid
  local dir="$WORK/sentinel-$1"; mkdir -p "$dir"
  sed -e "s/^port .*/port $1\nbind 127.0.0.1/" -e "s|^dir .*|dir $dir|" \
      -e "s/^sentinel monitor \([^ ]*\) [^ ]* [^ ]* \(.*\)/sentinel monitor \1 127.0.0.1 $2 \2/" \
      -e "s/^sentinel down-after-milliseconds \([^ ]*\) .*/sentinel down-after-milliseconds \1 1000/" \
      -e "s/^sentinel failover-timeout \([^ ]*\) .*/sentinel failover-timeout \1 5000/" \
      deploy/redis/sentinel.conf >"$dir/sentinel.conf"
  redis-server "$dir/sentinel.conf" --sentinel >"$dir/log" 2>&1 &
  echo $!
}

run() { # wait-replicas
  local wait=$1 P R1 R2 S=() pids=()
  P=$(free_port); R1=$(free_port); R2=$(free_port)
  local p r1 r2
  p=$(node "$P"); until_true 10 cli "$P" ping >/dev/null
  r1=$(node "$R1" "$P"); r2=$(node "$R2" "$P"); PIDS+=("$p" "$r1" "$r2")
  until_true 20 sh -c "redis-cli -p $P info replication | grep -q connected_slaves:2"
  for _ in 1 2 3; do local s; s=$(free_port); S+=("$s"); PIDS+=("$(sentinel "$s" "$P")"); done
  for s in "${S[@]}"; do
    until_true 40 sh -c "redis-cli -p $s sentinel master counter | tr -d '\r' | grep -A1 -x num-other-sentinels | tail -1 | grep -qx 2 \
      && redis-cli -p $s sentinel master counter | tr -d '\r' | grep -A1 -x num-slaves | tail -1 | grep -qx 2"
  done
  local list; list=$(printf '127.0.0.1:%s,' "${S[@]}"); list=${list%,}
  local ports=()
  for _ in 1 2 3; do
    local port; port=$(free_port); ports+=("$port")
    "$BIN" --bind 127.0.0.1 --port "$port" --workers 1 --backend redis --redis-sentinels "$list" \
      --redis-master-name counter --redis-wait-replicas "$wait" 2>"$WORK/counter-$port.log" &
    PIDS+=($!); pids+=($!)
  done
  for port in "${ports[@]}"; do until_true 20 curl -sf "http://127.0.0.1:$port/ready" -o /dev/null; done

  python3 - "$WORK/seen-$wait" "${ports[@]}" <<'PY' &
import http.client, json, sys, threading, time, os
out, ports = sys.argv[1], sys.argv[2:]
stop = os.path.join(os.path.dirname(out), "stop")
def client(port, n):
    conn, seen = http.client.HTTPConnection("127.0.0.1", int(port), timeout=10), []
    while not os.path.exists(stop):
        conn.request("GET", "/status"); r = conn.getresponse(); body = r.read()
        seen.append(json.loads(body)["counter"] if r.status == 200 else -r.status)
    with open(f"{out}.{port}.{n}", "w") as f: f.write("".join(f"{v}\n" for v in seen))
threads = [threading.Thread(target=client, args=(p, i)) for p in ports for i in range(2)]
for t in threads: t.start()
for t in threads: t.join()
PY
  local load=$!
  until_true 30 sh -c "[ \"\$(redis-cli -p $P get '{counter}:n')\" -ge 2000 ] 2>/dev/null" || echo "load never started"
  kill -STOP "$r1" "$r2"
  # 24 MB of writes: more than the loopback socket buffers hold, so the increments behind them stay in the
  # primary's own output buffer, which dies with it (what is already in a socket buffer would still arrive).
  python3 -c 'import sys; v = "x" * 100000; sys.stdout.write("".join(f"SET lag{i} {v}\n" for i in range(240)))' \
    | cli "$P" >/dev/null
  sleep "$LAG"
  local before; before=$(cli "$P" get '{counter}:n')
  local t0=$SECONDS
  kill -KILL "$p"; kill -CONT "$r1" "$r2"
  until_true 40 sh -c "redis-cli -p ${S[0]} sentinel get-master-addr-by-name counter | tail -1 | grep -vqx $P" || echo "no failover"
  local new; new=$(redis-cli -p "${S[0]}" sentinel get-master-addr-by-name counter | tail -1)
  local resumed; resumed=$(cli "$new" get '{counter}:n')
  for port in "${ports[@]}"; do until_true 40 sh -c "curl -sf http://127.0.0.1:$port/status -o /dev/null" || true; done
  local followed=$((SECONDS - t0))
  sleep 2
  touch "$WORK/stop"; wait "$load"; rm -f "$WORK/stop"
  local trips=0 shorts=0
  for port in "${ports[@]}"; do
    trips=$((trips + $(curl -s "http://127.0.0.1:$port/metrics" | awk '/^counter_redis_tripwire_total/ {print $2}')))
    shorts=$((shorts + $(curl -s "http://127.0.0.1:$port/metrics" | awk '/^counter_redis_wait_shortfalls_total/ {print $2}')))
  done
  cat "$WORK"/seen-"$wait".* | python3 -c '
import sys, collections
vals = [int(l) for l in sys.stdin if l.strip()]
ok = [v for v in vals if v > 0]
c = collections.Counter(ok)
twice = sum(1 for v, n in c.items() if n > 1)
print(f"| {sys.argv[1]} | {len(ok)} | {sum(1 for v in vals if v == -503)} | {max(ok) if ok else 0} | {sys.argv[2]} | {sys.argv[3]} | {twice} | {sys.argv[4]} | {sys.argv[5]} | {sys.argv[6]} s |")
' "$wait" "$before" "$resumed" "$trips" "$shorts" "$followed"
  kill "${pids[@]}" 2>/dev/null || true
  for pid in "$p" "$r1" "$r2"; do kill -KILL "$pid" 2>/dev/null || true; done
  for s in "${S[@]}"; do cli "$s" shutdown nosave >/dev/null || true; done
}

echo "redis failover demo: 3 counter processes (1 worker each, 6 keep-alive clients), replicas SIGSTOPped ${LAG}s, then the primary SIGKILLed ($(date -u +%FT%TZ))"
echo "| wait replicas | 200s | 503s | highest value served | old primary at kill | new primary at promotion | values seen twice | tripwire hits | WAIT shortfalls | followed after |"
echo "|---|---|---|---|---|---|---|---|---|---|"
run 0
run 1
