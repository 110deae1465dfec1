#!/usr/bin/env bash
# run.sh — counter next to peer servers doing its job, measured side by side on this machine in one bounded
# run, and written down as a dated record under benches/record/.
#
# usage: benches/compare/run.sh [options]
#   -P "PEERS"  peers measured next to counter (default "may hyper wall nginx"; also: actix go)
#   -r N        interleaved rounds of the load phase (default 2)
#   -d SECS     length of each measured wrk run (default 5)
#   -w SECS     unrecorded warm-up run after each server start (default 1, 0 = none)
#   -c N        wrk connections (default 64)
#   -p N        requests per write in the pipelined run (default 16, 0 = no pipelined run)
#   -s SECS     load per server and kind under strace in the syscalls phase (default 2, 0 = skip the phase)
#   -m N        idle keep-alive connections in the memory phase (default 10000, 0 = skip the phase)
#   -n N        starts in the start-up phase (default 20, 0 = skip the phase)
#   -i 0|1      the instructions phase (default 1; 0 = skip it)
#   -o DIR      where the dated record goes (default benches/record of this repository)
#   -B          no apt and no builds: use what is already built
#   -h          this help
# env: COUNTER_BIN  counter binary to measure (default: target/release/counter, built here)
#      QUIET_WAIT   most seconds to wait for a quiet machine before one server start (default 20)
#      QUIET_BUDGET most seconds of such waiting in the whole run (default 60)
#
# Phases, in order (each bounded in time; everything on 127.0.0.1):
#   build    apt-installs only missing tools (wrk nginx-light jq curl time strace), builds the peers (this
#            directory's own Cargo workspace, one package at a time), counter's release binary, and a
#            static counter (crt-static, CARGO_TARGET_DIR=target/static) whose stripped size is recorded.
#   load     1core mode: each server pinned to CPU 0 with one worker (counter --workers 1), wrk -t1 pinned
#            to CPU 1; servers interleaved A B C A B C over the rounds. Per server start: wait for a quiet
#            machine, start, check the response (status line, headers, JSON shape, counter increases),
#            warm up, a plain run and a pipelined run. Counter runs twice per round: /status and /statusV2.
#            Server CPU = utime+stime of the server's process tree (all threads), read right before and after
#            each wrk run, divided by the requests wrk got answered. Latency = samples wrk really measured
#            (lua/bench.lua undoes wrk's coordinated-omission correction; pipelined: one sample per batch).
#   syscalls strace -c -f attached to each running server for a short plain and a short pipelined load; the
#            counts divided by the requests served (counts only: strace slows everything down).
#   memory   VmRSS of each server idle (after its first request) and holding N idle keep-alive connections
#            (tools: idle-conns, one /health request on each; counter raises its own fd limit).
#   startup  counter only: exec to the first 200 from /ready, N starts, median (tools: startup-time).
#   instructions  user-space instructions per request of each server under callgrind (instructions.sh: h2load
#            over one connection, pipelined 16 deep and one at a time, slope between 10,000 and 30,000
#            requests): deterministic, so it separates servers where CPU time on a shared machine cannot.
#            nginx is skipped (callgrind follows one process, nginx answers from a forked worker).
# Output: benches/record/compare-<UTC stamp>.md (the tables), .svg (bar chart of CPU and instructions per
# request), .tsv (one row per load run) and .metrics.tsv (instructions, syscalls, memory, start-up, size); logs of the run in benches/compare/results/<stamp>/ (not tracked).
# Ports: counter 18089 (/status) and 18090 (/statusV2), hyper 18081, may 18082, actix 18083, go 18084,
# nginx 18085, wall 18086; the syscalls, memory and start-up phases reuse the server's own port.
set -u -o pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
REL="$HERE/target/release"
CLK=$(getconf CLK_TCK)

PEERS_ARG="may hyper wall nginx" ROUNDS=2 DUR=5 WARM=1 CONNS=64 DEPTH=16 SYS_SECS=2 IDLE_CONNS=10000
STARTS=20 RECORD_DIR="$ROOT/benches/record" BUILD=1 INSTR=1 ARGS="$*"
while getopts "P:r:d:w:c:p:s:m:n:o:i:Bh" opt; do
  case $opt in
    P) PEERS_ARG=$OPTARG ;; r) ROUNDS=$OPTARG ;; d) DUR=$OPTARG ;; w) WARM=$OPTARG ;;
    c) CONNS=$OPTARG ;; p) DEPTH=$OPTARG ;; s) SYS_SECS=$OPTARG ;; m) IDLE_CONNS=$OPTARG ;;
    n) STARTS=$OPTARG ;; o) RECORD_DIR=$OPTARG ;; i) INSTR=$OPTARG ;; B) BUILD=0 ;;
    h|*) sed -n '2,/^set -u/p' "$0" | grep '^#' | cut -c3-; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
[ $# -eq 0 ] || { echo "unexpected argument: $1 (-h for help)" >&2; exit 2; }
read -r -a PEERS <<<"$PEERS_ARG"
COUNTER_BIN_SET=${COUNTER_BIN:+1}
COUNTER_BIN=${COUNTER_BIN:-$ROOT/target/release/counter}
QUIET_WAIT=${QUIET_WAIT:-20}
QUIET_BUDGET=${QUIET_BUDGET:-60}
STATIC_DIR="$ROOT/target/static"
STATIC_BIN="$STATIC_DIR/x86_64-unknown-linux-gnu/release/counter"

# Per server: port, load path, readiness path, idle-conns path, whether the counter really counts (the
# JSON changes between requests) and whether a Date header is expected.
declare -A PORT_OF=([counter]=18089 [counter-v2]=18090 [hyper]=18081 [may]=18082 [actix]=18083 [go]=18084
                    [nginx]=18085 [wall]=18086)
declare -A LOAD_PATH=([counter]=/status [counter-v2]=/statusV2)
declare -A READY_PATH=([counter]=/ready [counter-v2]=/ready)
declare -A IDLE_PATH=([counter]=/health [counter-v2]=/health)
declare -A DYNAMIC=([counter]=1 [counter-v2]=1 [hyper]=1 [may]=1 [actix]=1 [go]=1 [nginx]=0 [wall]=0)
declare -A HAS_DATE=([counter]=1 [counter-v2]=1 [hyper]=1 [may]=1 [actix]=1 [go]=1 [nginx]=1 [wall]=0)
for p in "${PEERS[@]}"; do
  case $p in may|hyper|wall|nginx|actix|go) ;; *) echo "unknown peer: $p (known: may hyper wall nginx actix go)" >&2; exit 2 ;; esac
done
path_of()  { echo "${LOAD_PATH[$1]:-/status}"; }
ready_of() { echo "${READY_PATH[$1]:-/status}"; }

STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT="$HERE/results/$STAMP"
mkdir -p "$OUT/logs" "$RECORD_DIR" || exit 1
RECORD_DIR=$(cd "$RECORD_DIR" && pwd)
RAW="$OUT/raw.tsv"
METRICS="$OUT/metrics.tsv"
printf 'round\tserver\tpath\tkind\trps\tp50_us\tp99_us\tsrv_cpu_us_per_req\tsrv_core_util\twrk_core_util\tother_core_util\trequests\terrors\tp999_us\tmax_us\twrk_corrected_p99_us\tlatency_samples\n' > "$RAW"
printf 'phase\tserver\tkind\tmetric\tvalue\n' > "$METRICS"

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
metric() { printf '%s\t%s\t%s\t%s\t%s\n' "$@" >> "$METRICS"; }

# ---------------------------------------------------------------------------------------------- processes
SERVER_PID="" LOAD_PID="" STRACE_PID="" IDLE_PID=""

# PID and all its descendants.
tree_pids() {
  local p=$1 c
  echo "$p"
  for c in $(ps -o pid= --ppid "$p" 2>/dev/null); do tree_pids "$c"; done
}

# Running and not a zombie.
alive() {
  local st
  st=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  st=${st##*) }
  [ "${st%% *}" != Z ]
}

# Sends SIGNAL to PID and waits up to 2 s for it to go, then SIGKILL.
end_pid() {
  local sig=$1 pid=$2
  [ -n "$pid" ] || return 0
  if alive "$pid"; then
    kill "-$sig" "$pid" 2>/dev/null
    for _ in $(seq 1 40); do alive "$pid" || break; sleep 0.05; done
    alive "$pid" && kill -KILL "$pid" 2>/dev/null
  fi
  wait "$pid" 2>/dev/null
  return 0
}

stop_server() { local p=$SERVER_PID; SERVER_PID=""; end_pid TERM "$p"; }

cleanup() {
  local p
  if [ -n "$LOAD_PID" ]; then for p in $(tree_pids "$LOAD_PID"); do kill -TERM "$p" 2>/dev/null; done; fi
  [ -n "$IDLE_PID" ] && end_pid TERM "$IDLE_PID"
  [ -n "$STRACE_PID" ] && end_pid INT "$STRACE_PID"
  stop_server
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

# utime+stime (clock ticks) of a process tree, all threads.
cpu_ticks() {
  local total=0 p s
  for p in $(tree_pids "$1"); do
    s=$(cat "/proc/$p/stat" 2>/dev/null) || continue
    s=${s##*) }          # drop "pid (comm) ": field 3 (state) becomes $1
    set -- $s
    total=$((total + ${12} + ${13}))   # fields 14 (utime) and 15 (stime)
  done
  echo "$total"
}

# VmRSS (KiB) summed over a process tree (nginx: master + worker).
rss_kib() {
  local total=0 p v
  for p in $(tree_pids "$1"); do
    v=$(awk '/^VmRSS:/{print $2}' "/proc/$p/status" 2>/dev/null) || continue
    total=$((total + ${v:-0}))
  done
  echo "$total"
}

# Busy ticks (user+nice+system+irq+softirq+steal) summed over all CPUs.
busy_ticks() { awk '/^cpu /{print $2+$3+$4+$7+$8+$9; exit}' /proc/stat; }

# Waits until less than 5% of one core was busy over 0.5 s: at most QUIET_WAIT s now, QUIET_BUDGET s per run.
QUIET_LEFT=$((QUIET_BUDGET * 2))   # in half seconds
wait_quiet() {
  local b a waited=0
  while :; do
    b=$(busy_ticks); sleep 0.5; a=$(busy_ticks)
    [ $((a - b)) -le $((CLK * 5 / 200)) ] && return 0
    [ $waited -eq 0 ] && log "machine busy ($((a - b)) ticks in 0.5 s); waiting for quiet"
    waited=$((waited + 1)); QUIET_LEFT=$((QUIET_LEFT - 1))
    if [ $waited -ge $((QUIET_WAIT * 2)) ] || [ $QUIET_LEFT -le 0 ]; then
      log "WARNING: machine still busy; running anyway (see the 'other CPU' column)"
      return 1
    fi
  done
}

# ------------------------------------------------------------------------------------------------- build
ensure_tools() {
  local -a need=()
  command -v wrk >/dev/null || need+=(wrk)
  command -v jq >/dev/null || need+=(jq)
  command -v curl >/dev/null || need+=(curl)
  [ -x /usr/bin/time ] || need+=(time)
  command -v taskset >/dev/null || need+=(util-linux)
  [ "$SYS_SECS" != 0 ] && ! command -v strace >/dev/null && need+=(strace)
  [ "$INSTR" != 0 ] && ! command -v valgrind >/dev/null && need+=(valgrind)
  [ "$INSTR" != 0 ] && ! command -v h2load >/dev/null && need+=(nghttp2-client)
  [[ " ${PEERS[*]} " == *" nginx "* ]] && ! command -v nginx >/dev/null && need+=(nginx-light)
  [[ " ${PEERS[*]} " == *" go "* ]] && ! command -v go >/dev/null && need+=(golang-go golang-github-valyala-fasthttp-dev)
  [ ${#need[@]} -eq 0 ] && return 0
  log "installing: ${need[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need[@]}" >"$OUT/logs/apt.log" 2>&1 \
    || { apt-get update >>"$OUT/logs/apt.log" 2>&1 &&
         DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need[@]}" >>"$OUT/logs/apt.log" 2>&1; } \
    || die "apt-get install ${need[*]} failed (see $OUT/logs/apt.log)"
}

# One package at a time, so cargo does not unify features across peers (actix's tokio features would leak
# into the hyper peer).
build_peers() {
  local p
  for p in compare-tools "${PEERS[@]}"; do
    case $p in
      nginx) continue ;;
      go) mkdir -p "$HERE/target/go"
          ( cd "$HERE/go" && GO111MODULE=off GOPATH=/usr/share/gocode GOCACHE="$HERE/target/go/cache" \
              nice -n 10 go build -o "$HERE/target/go/peer-go" main.go ) || die "go peer did not build"
          continue ;;
      compare-tools) ;;
      *) p="peer-$p" ;;
    esac
    log "building $p"
    ( cd "$HERE" && nice -n 10 cargo build --release --locked -q -p "$p" ) || die "$p did not build"
  done
}

# counter's source may be mid-change under other hands: retry twice, a minute apart.
build_counter() {
  local try
  for try in 1 2 3; do
    log "building counter (release)"
    ( cd "$ROOT" && nice -n 10 cargo build --release -q ) && return 0
    [ $try -lt 3 ] && { log "counter did not build (attempt $try); retrying in 60 s"; sleep 60; }
  done
  die "counter did not build"
}

build_static() {
  log "building counter (static, $STATIC_DIR)"
  ( cd "$ROOT" && RUSTFLAGS='-C target-feature=+crt-static' CARGO_TARGET_DIR="$STATIC_DIR" \
      nice -n 10 cargo build --release -q --target x86_64-unknown-linux-gnu ) >"$OUT/logs/static-build.log" 2>&1 \
    || { log "WARNING: static build failed (see $OUT/logs/static-build.log); no size recorded"; STATIC_FAILED=1; }
}

record_size() {
  local dyn stripped
  dyn=$(stat -c %s "$COUNTER_BIN")
  metric size counter release bytes "$dyn"
  if [ -x "$STATIC_BIN" ] && [ -z "${STATIC_FAILED:-}" ]; then
    strip -o "$OUT/counter-static-stripped" "$STATIC_BIN" || return 0
    stripped=$(stat -c %s "$OUT/counter-static-stripped")
    metric size counter static-stripped bytes "$stripped"
    metric size counter static-stripped linkage "$(file -b "$OUT/counter-static-stripped" | grep -oE '(static-pie|statically|dynamically) linked')"
    log "size: static stripped $stripped bytes; release $dyn bytes"
  fi
}

# --------------------------------------------------------------------------------------------- servers
# start_server NAME LOGFILE: pinned to CPU 0, one worker; returns once it answers.
start_server() {
  local name=$1 logf=$2 port=${PORT_OF[$1]}
  local -a cmd=()
  if ss -Hltn "sport = :$port" | grep -q .; then log "port $port already in use; not starting $name"; return 1; fi
  case $name in
    counter|counter-v2) cmd=("$COUNTER_BIN" --port "$port" --bind 127.0.0.1 --workers 1) ;;
    go) cmd=("$HERE/target/go/peer-go") ;;
    nginx)
      local d="$OUT/nginx"
      mkdir -p "$d"
      sed -e "s#@WORKERS@#1#; s#@PORT@#$port#; s#@DIR@#$d#g" "$HERE/nginx/nginx.conf.tmpl" > "$d/nginx.conf"
      cmd=(nginx -e "$d/error.log" -c "$d/nginx.conf" -p "$d") ;;
    *) cmd=("$REL/peer-$name") ;;
  esac
  [ -x "${cmd[0]}" ] || command -v "${cmd[0]}" >/dev/null || { log "$name: ${cmd[0]} not built"; return 1; }
  env PORT="$port" WORKERS=1 GOMAXPROCS=1 taskset -c 0 "${cmd[@]}" >"$logf" 2>&1 &
  SERVER_PID=$!
  local url="http://127.0.0.1:$port$(ready_of "$name")"
  for _ in $(seq 1 200); do
    curl -sf -o /dev/null --max-time 0.5 "$url" && return 0
    alive "$SERVER_PID" || { log "$name exited during start-up (see $logf)"; wait "$SERVER_PID"; SERVER_PID=""; return 1; }
    sleep 0.05
  done
  log "$name did not answer within 10 s"; stop_server; return 1
}

# verify NAME: status line, headers, exact JSON shape, status == (counter is odd), counter increases.
verify() {
  local name=$1 url="http://127.0.0.1:${PORT_OF[$1]}$(path_of "$1")" hdr="$OUT/logs/$1.headers" b1 b2 cl
  local re='^\{"counter":([0-9]+),"status":(true|false),"lastChanged":"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z"\}$'
  b1=$(curl -s --max-time 2 -D "$hdr" "$url") || { log "$name: curl failed"; return 1; }
  b2=$(curl -s --max-time 2 "$url") || { log "$name: curl failed"; return 1; }
  grep -q '^HTTP/1.1 200' "$hdr" || { log "$name: not HTTP/1.1 200: $(head -1 "$hdr")"; return 1; }
  grep -qi '^content-type: *application/json' "$hdr" || { log "$name: bad content-type"; return 1; }
  cl=$(grep -i '^content-length:' "$hdr" | tr -d '\r' | awk '{print $2}')
  [ "$cl" = "${#b1}" ] || { log "$name: content-length $cl != body length ${#b1}"; return 1; }
  if [ "${HAS_DATE[$name]}" = 1 ]; then grep -qi '^date: ' "$hdr" || { log "$name: no Date header"; return 1; }; fi
  [[ $b1 =~ $re && $b2 =~ $re ]] || { log "$name: body has the wrong shape: $b1"; return 1; }
  jq -e '.status == (.counter % 2 == 1)' <<<"$b1" >/dev/null || { log "$name: status != (counter is odd): $b1"; return 1; }
  if [ "${DYNAMIC[$name]}" = 1 ]; then
    [ "$(jq .counter <<<"$b2")" -gt "$(jq .counter <<<"$b1")" ] || { log "$name: counter did not increase"; return 1; }
    jq -e --argjson now "$(date -u +%s)" '(.lastChanged|fromdateiso8601) - $now | fabs < 5' <<<"$b2" >/dev/null \
      || { log "$name: lastChanged is not the current UTC time: $b2"; return 1; }
  fi
  return 0
}

# ------------------------------------------------------------------------------------------------ load
# run_wrk ROUND NAME KIND(plain|pipe|warm) SECS: one bounded wrk run from CPU 1; appends a row to RAW.
run_wrk() {
  local round=$1 name=$2 kind=$3 secs=$4 port=${PORT_OF[$2]} path
  path=$(path_of "$name")
  local out="$OUT/logs/r$round-$name-$kind.wrk" depth=1
  [ "$kind" = pipe ] && depth=$DEPTH
  local busy0 busy1 before after t0 t1
  t0=$EPOCHREALTIME; busy0=$(busy_ticks); before=$(cpu_ticks "$SERVER_PID")
  PIPELINE_DEPTH=$depth WRK_CONNECTIONS=$CONNS /usr/bin/time -f '%U %S' -o "$out.time" \
    taskset -c 1 timeout -k 2 $((secs + 10)) \
    wrk -t1 -c"$CONNS" -d"${secs}s" --timeout 2s -s "$HERE/lua/bench.lua" "http://127.0.0.1:$port$path" >"$out" 2>&1 &
  LOAD_PID=$!
  wait "$LOAD_PID"
  LOAD_PID=""
  after=$(cpu_ticks "$SERVER_PID"); busy1=$(busy_ticks); t1=$EPOCHREALTIME
  [ "$kind" = warm ] && return 0
  alive "$SERVER_PID" || { log "$name died during the $kind run"; return 1; }
  local line
  line=$(grep '^WRKRESULT' "$out") || { log "$name: no wrk result ($out)"; return 1; }
  python3 - "$line" "$before" "$after" "$CLK" "$(tail -1 "$out.time" 2>/dev/null)" \
    "$round" "$name" "$path" "$kind" "$((busy1 - busy0))" "$t0" "$t1" >>"$RAW" <<'PY'
import sys
line, before, after, clk, wtime, rnd, name, path, kind, busy, t0, t1 = sys.argv[1:]
kv = dict(x.split("=") for x in line.split()[1:])
req = int(kv["requests"]); dur_s = int(kv["duration_us"]) / 1e6
srv_s = (int(after) - int(before)) / int(clk)
try:
    u, s = (float(x) for x in wtime.split()); wrk_s = u + s
except Exception:
    wrk_s = float("nan")
rps = req / dur_s if dur_s else 0.0
cpu_us = srv_s * 1e6 / req if req else float("nan")
# Core utilisations are over the whole measured interval (wrk's start to its exit), which on a busy
# machine can be well longer than wrk's own duration. "other": CPU used by anything but the server tree
# and wrk (other processes, kernel threads, softirq charged to neither): flags disturbed runs.
wall_s = max(float(t1) - float(t0), dur_s)
other = max(0.0, int(busy) / int(clk) - srv_s - wrk_s) / wall_s
print("\t".join([rnd, name, path, kind, f"{rps:.0f}", kv["p50_us"], kv["p99_us"], f"{cpu_us:.3f}",
                 f"{srv_s/wall_s:.3f}", f"{wrk_s/wall_s:.3f}", f"{other:.3f}", str(req), kv["errors"],
                 kv["p999_us"], kv["max_us"], kv["wrk_p99_us"], kv["raw_count"]]))
PY
  tail -1 "$RAW" | awk -F'\t' '{printf "    %-10s %-5s %8s req/s  p99 %6.2f ms  srv %6.2f us/req  wrk-util %.2f  other %.2f  err %s\n", $2, $4, $5, $7/1000, $8, $10, $11, $13}' >&2
}

load_phase() {
  local r name
  for r in $(seq 1 "$ROUNDS"); do
    for name in "${SERVERS[@]}"; do
      log "load round $r/$ROUNDS: $name $(path_of "$name")"
      wait_quiet
      start_server "$name" "$OUT/logs/r$r-$name.server.log" || continue
      if ! verify "$name"; then stop_server; continue; fi
      [ "$WARM" != 0 ] && run_wrk "$r" "$name" warm "$WARM"
      run_wrk "$r" "$name" plain "$DUR"
      [ "$DEPTH" != 0 ] && run_wrk "$r" "$name" pipe "$DUR"
      stop_server
    done
  done
}

# -------------------------------------------------------------------------------------------- syscalls
# True once every thread of every process in the tree has a tracer.
all_traced() {
  local p t
  for p in "$@"; do
    for t in /proc/"$p"/task/*; do
      [ "$(awk '/^TracerPid:/{print $2}' "$t/status" 2>/dev/null)" != 0 ] || return 1
    done
  done
}

syscalls_phase() {
  local name kind depth pids f req
  for name in "${SYS_SERVERS[@]}"; do
    for kind in plain pipe; do
      [ "$kind" = pipe ] && [ "$DEPTH" = 0 ] && continue
      depth=1; [ "$kind" = pipe ] && depth=$DEPTH
      start_server "$name" "$OUT/logs/sys-$name-$kind.server.log" || continue
      f="$OUT/logs/sys-$name-$kind.strace"
      mapfile -t pids < <(tree_pids "$SERVER_PID")
      # -f with -p attaches every thread of each process; attaching (not launching under strace) keeps
      # start-up and shut-down syscalls out of the counts.
      taskset -c 0 strace -f -c -o "$f" $(printf -- '-p %s ' "${pids[@]}") 2>"$f.log" &
      STRACE_PID=$!
      for _ in $(seq 1 100); do all_traced "${pids[@]}" && break; sleep 0.05; done
      all_traced "${pids[@]}" || { log "$name: strace did not attach"; end_pid INT "$STRACE_PID"; STRACE_PID=""; stop_server; continue; }
      PIPELINE_DEPTH=$depth WRK_CONNECTIONS=$CONNS taskset -c 1 timeout -k 2 $((SYS_SECS + 10)) \
        wrk -t1 -c"$CONNS" -d"${SYS_SECS}s" --timeout 2s -s "$HERE/lua/bench.lua" \
        "http://127.0.0.1:${PORT_OF[$name]}$(path_of "$name")" >"$f.wrk" 2>&1 &
      LOAD_PID=$!; wait "$LOAD_PID"; LOAD_PID=""
      end_pid INT "$STRACE_PID"; STRACE_PID=""   # SIGINT: strace detaches and writes its summary
      stop_server
      req=$(sed -nE 's/^WRKRESULT requests=([0-9]+).*/\1/p' "$f.wrk")
      [ -n "$req" ] && [ "$req" -gt 0 ] || { log "$name: no requests under strace"; continue; }
      metric syscalls "$name" "$kind" requests "$req"
      # strace -c rows: % time, seconds, usecs/call, calls, [errors], syscall.
      awk -v r="$req" -v n="$name" -v k="$kind" '
        $NF ~ /^[a-z_0-9]+$/ && $4 ~ /^[0-9]+$/ && $NF != "total" { c[$NF] = $4; t += $4 }
        END { printf "syscalls\t%s\t%s\ttotal\t%.3f\n", n, k, t / r
              for (s in c) if (c[s] / r >= 0.005) printf "syscalls\t%s\t%s\t%s\t%.3f\n", n, k, s, c[s] / r }' \
        "$f" >> "$METRICS"
      log "syscalls $name $kind: $(awk -F'\t' -v n="$name" -v k="$kind" '$2==n && $3==k && $4=="total" {print $5}' "$METRICS") per request ($req requests under strace)"
    done
  done
}

# ---------------------------------------------------------------------------------------------- memory
memory_phase() {
  local name idle held est out
  for name in "${SYS_SERVERS[@]}"; do
    start_server "$name" "$OUT/logs/mem-$name.server.log" || continue
    idle=$(rss_kib "$SERVER_PID")
    out="$OUT/logs/mem-$name.idle-conns"
    taskset -c 1 "$REL/idle-conns" "${PORT_OF[$name]}" "$IDLE_CONNS" "${IDLE_PATH[$name]:-/status}" 60 >"$out" 2>"$out.err" &
    IDLE_PID=$!
    for _ in $(seq 1 1200); do   # up to 60 s
      grep -q '^open' "$out" && break
      alive "$IDLE_PID" || break
      sleep 0.05
    done
    if grep -q '^open' "$out"; then
      held=$(rss_kib "$SERVER_PID")
      # the server's side of the connections, counted by the kernel: proves they are all still open
      est=$(ss -Htn state established "sport = :${PORT_OF[$name]}" | wc -l)
      metric memory "$name" idle rss_kib "$idle"
      metric memory "$name" "conns-$IDLE_CONNS" rss_kib "$held"
      metric memory "$name" "conns-$IDLE_CONNS" established "$est"
      log "memory $name: idle $idle KiB, with $IDLE_CONNS idle connections $held KiB ($est established)"
    else
      log "$name: $IDLE_CONNS connections not held: $(head -c 300 "$out.err")"
      metric memory "$name" idle rss_kib "$idle"
    fi
    end_pid TERM "$IDLE_PID"; IDLE_PID=""
    stop_server
  done
}

# --------------------------------------------------------------------------------------------- startup
startup_phase() {
  local port=${PORT_OF[counter]} out="$OUT/logs/startup.txt" line
  if ss -Hltn "sport = :$port" | grep -q .; then log "port $port in use; no start-up figure"; return; fi
  wait_quiet
  log "start-up: $STARTS starts of counter"
  timeout -k 2 120 "$REL/startup-time" "$STARTS" "$port" -- \
    "$COUNTER_BIN" --port "$port" --bind 127.0.0.1 --workers 1 >"$out" 2>&1
  line=$(grep '^STARTUP' "$out") || { log "start-up measurement failed: $(tail -2 "$out")"; return; }
  log "$line"
  local kv
  for kv in ${line#STARTUP }; do metric startup counter ready "${kv%%=*}" "${kv#*=}"; done
}

# ---------------------------------------------------------------------------------------- instructions
instructions_phase() {
  local name port out n label ir
  local -a cmd
  for name in "${SYS_SERVERS[@]}"; do
    port=${PORT_OF[$name]}
    case $name in
      nginx) log "instructions: nginx skipped (its requests are served by a forked worker)"; continue ;;
      counter) cmd=("$COUNTER_BIN" --port "$port" --bind 127.0.0.1 --workers 1) ;;
      go) cmd=("$HERE/target/go/peer-go") ;;
      *) cmd=("$REL/peer-$name") ;;
    esac
    [ -x "${cmd[0]}" ] || { log "instructions: $name not built"; continue; }
    if ss -Hltn "sport = :$port" | grep -q .; then log "port $port in use; no instructions for $name"; continue; fi
    log "instructions: $name under callgrind (4 runs)"
    out="$OUT/logs/instructions-$name.txt"
    PATH_UNDER_TEST=$(path_of "$name") timeout -k 5 1200 "$HERE/instructions.sh" "$name" "$port" "${cmd[@]}" \
      >"$out" 2>&1 || { log "instructions: $name failed: $(tail -1 "$out")"; continue; }
    while read -r n label ir; do
      [ "$n" = "$name" ] || continue
      case $label in plain) metric instructions "$name" plain ir_per_req "$ir" ;;
                     pipelined*) metric instructions "$name" pipe ir_per_req "$ir" ;; esac
    done <"$out"
    log "instructions $name: $(tr '\n' ' ' <"$out")"
  done
}

# ------------------------------------------------------------------------------------------------ main
SERVERS=(counter counter-v2 "${PEERS[@]}")
SYS_SERVERS=(counter "${PEERS[@]}")
START=$(date +%s)
if [ "$BUILD" = 1 ]; then
  ensure_tools
  build_peers
  [ -n "${COUNTER_BIN_SET:-}" ] || build_counter
  build_static
fi
for t in wrk curl jq taskset python3 /usr/bin/time ss; do command -v "$t" >/dev/null || die "missing tool: $t"; done
[ -x "$COUNTER_BIN" ] || die "no counter binary at $COUNTER_BIN"
[ -x "$REL/idle-conns" ] && [ -x "$REL/startup-time" ] || die "tools not built (run without -B)"

{
  echo "date: $(date -u +%FT%TZ)"
  echo "command: benches/compare/run.sh $ARGS"
  echo "options: -P \"${PEERS[*]}\" -r $ROUNDS -d $DUR -w $WARM -c $CONNS -p $DEPTH -s $SYS_SECS -m $IDLE_CONNS -n $STARTS -i $INSTR"
  echo "kernel: $(uname -r)"
  echo "cpus: $(nproc) x$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
  echo "wrk: $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2)"
  command -v nginx >/dev/null && echo "nginx: $(nginx -v 2>&1 | cut -d/ -f2)"
  echo "counter: $COUNTER_BIN ($(stat -c %s "$COUNTER_BIN") bytes, sha256 $(sha256sum "$COUNTER_BIN" | cut -c1-16))"
  echo "counter source: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null)$(git -C "$ROOT" status --porcelain -- src Cargo.toml Cargo.lock 2>/dev/null | grep -q . && echo ' + uncommitted changes in src/ or Cargo.*')"
} > "$OUT/env.txt"
log "servers: ${SERVERS[*]}; $ROUNDS round(s) of ${DUR}s runs, -c$CONNS, pipeline $DEPTH; logs: $OUT"

record_size
MEASURE_START=$(date +%s)
load_phase
[ "$SYS_SECS" != 0 ] && { command -v strace >/dev/null || die "missing tool: strace"; syscalls_phase; }
[ "$IDLE_CONNS" != 0 ] && memory_phase
[ "$STARTS" != 0 ] && startup_phase
[ "$INSTR" != 0 ] && { command -v valgrind >/dev/null && command -v h2load >/dev/null || die "missing valgrind/h2load"; instructions_phase; }
echo "measured in: $(( $(date +%s) - MEASURE_START )) s (whole run with builds: $(( $(date +%s) - START )) s)" >> "$OUT/env.txt"
log "measured in $(( $(date +%s) - MEASURE_START )) s"

BASE="$RECORD_DIR/compare-$STAMP"
cp "$RAW" "$BASE.tsv"
cp "$METRICS" "$BASE.metrics.tsv"
python3 "$HERE/summarize.py" "$OUT/env.txt" "$BASE.tsv" "$BASE.metrics.tsv" "$BASE.svg" > "$BASE.md" || die "summarize failed"
cat "$BASE.md"
log "record: $BASE.md (+ .svg, .tsv, .metrics.tsv)"
