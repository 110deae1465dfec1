#!/usr/bin/env bash
# instructions.sh NAME PORT CMD... : user-space instructions per HTTP request of one server, counted by callgrind
# (deterministic: the same binary and input give the same count whatever else the machine does, unlike CPU time).
# The server runs under `valgrind --tool=callgrind` with PORT and WORKERS=1 set (CMD must listen on PORT, one
# worker); h2load --h1 drives GET PATH (env, default /status) over one connection, pipelined DEPTHS (env, default
# "16 1") deep; the figure is the slope between an N1- and an N2-request run (env, default 10000 and 30000), so
# start-up and shutdown cancel out. Adapted from the team's shared/bench/instructions.sh. Needs valgrind, h2load.
# Prints one line per depth: NAME pipelined16|plain <instructions per request>
set -u
name=$1 port=$2; shift 2
path=${PATH_UNDER_TEST:-/status} n1=${N1:-10000} n2=${N2:-30000}
for t in valgrind callgrind_annotate h2load curl; do
  command -v $t >/dev/null || { echo "needs $t (apt-get install valgrind nghttp2-client)" >&2; exit 2; }
done
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
ir_for() { # depth n CMD... -> total Ir of the server process
  local depth=$1 n=$2 out="$tmp/cg.$1.$2" pid ok=0
  shift 2
  PORT=$port WORKERS=1 GOMAXPROCS=1 valgrind --tool=callgrind --callgrind-out-file="$out" "$@" >"$tmp/server.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 300); do curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$port$path" && { ok=1; break; }; sleep 0.1; done
  [ $ok = 1 ] || { echo "$name: did not answer under valgrind" >&2; kill -KILL $pid 2>/dev/null; wait $pid 2>/dev/null; return 1; }
  timeout 300 h2load --h1 -n "$n" -c 1 -m "$depth" "http://127.0.0.1:$port$path" 2>&1 | grep -q "$n succeeded" \
    || { echo "$name: h2load did not get $n successes (depth $depth)" >&2; kill -KILL $pid 2>/dev/null; wait $pid 2>/dev/null; return 1; }
  kill -TERM $pid; for _ in $(seq 1 100); do kill -0 $pid 2>/dev/null || break; sleep 0.1; done
  kill -KILL $pid 2>/dev/null; wait $pid 2>/dev/null
  callgrind_annotate "$out" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",","",$1); print $1; exit}'
}
for depth in ${DEPTHS:-16 1}; do
  a=$(ir_for "$depth" "$n1" "$@") && b=$(ir_for "$depth" "$n2" "$@") && [ -n "$a" ] && [ -n "$b" ] || exit 1
  label=$([ "$depth" = 1 ] && echo plain || echo "pipelined$depth")
  echo "$name $label $(( (b - a) / (n2 - n1) ))"
done
