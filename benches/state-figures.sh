#!/usr/bin/env bash
# --state-file figures (docs/state-file.md), asserting nothing: with the release binary on a state file in a
# temporary directory (the machine's disk), wrk at full load (pipelined 16 deep) on /status
#   1. syncs per second: counter_state_reservations_total before and after the run (one fdatasync each), with
#      the requests per second and the sync latency from counter_state_sync_seconds;
#   2. the gap after a crash at full load, RUNS times: SIGKILL mid-run, the highest value wrk saw (its Lua reads
#      every body), then the first value after a restart; gap = first - highest - 1, beside the log's gap_max.
# usage: benches/state-figures.sh [-d SECS] [-c CONNS] [-w WORKERS] [-r RUNS]   (defaults: 5 s, 64, 2, 3)
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=5 CONNS=64 WORKERS=2 RUNS=3
while getopts "d:c:w:r:h" o; do
  case $o in d) DUR=$OPTARG ;; c) CONNS=$OPTARG ;; w) WORKERS=$OPTARG ;; r) RUNS=$OPTARG ;; *) sed -n '2,8p' "$0"; exit 2 ;; esac
done
command -v wrk >/dev/null || ./scripts/install-deps.sh
cargo build --release -q
BIN=$PWD/target/release/counter
TMP=$(mktemp -d -p "${STATE_FIGURES_DIR:-$PWD/target}")
PID=
trap '[ -n "$PID" ] && kill -9 $PID 2>/dev/null; rm -rf "$TMP"' EXIT
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
STATE=$TMP/counter.state

start() {
  "$BIN" --bind 127.0.0.1 --port "$PORT" --workers "$WORKERS" --state-file "$STATE" 2>"$TMP/log" &
  PID=$!
  for _ in $(seq 1 200); do curl -sf "http://127.0.0.1:$PORT/ready" >/dev/null && return; sleep 0.05; done
  echo "server did not start: $(cat "$TMP/log")" >&2; exit 1
}
metric() { curl -s "http://127.0.0.1:$PORT/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }

cat >"$TMP/max.lua" <<'LUA'
-- 16 pipelined GET /status per write; every thread keeps the highest counter value it was handed.
local threads = {}
setup = function(thread) table.insert(threads, thread) end
init = function(args)
  local r = {}
  for i = 1, 16 do r[i] = wrk.format("GET", "/status") end
  req = table.concat(r)
  highest = 0
end
request = function() return req end
response = function(status, headers, body)
  local v = tonumber(string.match(body, '"counter":(%d+)'))
  if v and v > highest then highest = v end
end
done = function(summary, latency, requests)
  local m = 0
  for _, t in ipairs(threads) do m = math.max(m, t:get("highest")) end
  io.write(string.format("HIGHEST %d\n", m))
end
LUA

echo "== syncs per second at full load ($DUR s, $CONNS connections, $WORKERS workers, state file on $(df --output=fstype "$TMP" | tail -1))"
start
r0=$(metric counter_state_reservations_total)
out=$(wrk -t 2 -c "$CONNS" -d "${DUR}s" -s "$TMP/max.lua" "http://127.0.0.1:$PORT/status")
r1=$(metric counter_state_reservations_total)
rps=$(sed -n 's/^Requests\/sec: *//p' <<<"$out")
sum=$(metric counter_state_sync_seconds_sum); count=$(metric counter_state_sync_seconds_count)
python3 -c "print(f'requests/s {float(\"$rps\"):,.0f}; syncs {$r1 - $r0} in $DUR s = {($r1 - $r0) / $DUR:.1f}/s; mean sync {1000 * $sum / $count:.2f} ms')"
kill -TERM $PID; wait $PID || true; PID=

echo "== gap after SIGKILL at full load, $RUNS runs"
for run in $(seq 1 "$RUNS"); do
  start
  wrk -t 2 -c "$CONNS" -d "${DUR}s" -s "$TMP/max.lua" "http://127.0.0.1:$PORT/status" >"$TMP/wrk" 2>&1 &
  WRK=$!
  sleep $((DUR / 2)).$((RANDOM % 10))
  kill -9 $PID; wait $PID 2>/dev/null || true; PID=
  wait $WRK || true
  highest=$(sed -n 's/^HIGHEST //p' "$TMP/wrk")
  start
  first=$(curl -s "http://127.0.0.1:$PORT/status" | sed -n 's/.*"counter":\([0-9]*\).*/\1/p')
  bound=$(sed -n 's/.*endpoint=\/status next=[0-9]* gap_max=\([0-9]*\).*/\1/p' "$TMP/log")
  echo "run $run: highest handed out $highest, next after restart $first: gap $((first - highest - 1)) (logged gap_max $bound)"
  kill -TERM $PID; wait $PID || true; PID=
done
