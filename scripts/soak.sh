#!/usr/bin/env bash
# Soak: mixed load with random disconnects against the release binary on 127.0.0.1 for SECONDS (default 180), then
# checks that nothing leaked and the counter is exact. Load: wrk on /status (16 keep-alive connections), plus two
# Python clients that pick at random among clean keep-alive exchanges, pipelined bursts, resets mid-response,
# vanishing after the first response byte, half-closes, partial requests abandoned or reset, bare connects,
# malformed requests, and megabyte pipelines on /statusV2 that are reset unread.
# Reports RSS and fd count before and after, and exits non-zero when:
#   - the final /status counter differs from 1 + every /status 200 the clients saw (the count is exact: wrk stops
#     asking for /status 3 s before it ends, and the Python clients only count requests the server provably
#     answered or provably did not see; ambiguous hostile traffic goes to /statusV2 only);
#   - a client hung (a 5 s timeout) or got a malformed or unexpected answer;
#   - the server's fd count does not return to its idle baseline within 20 s;
#   - RSS after the load exceeds RSS after the warm-up by more than MARGIN (4 MiB): after the warm-up every
#     buffer size and table slot the load uses has been touched, so steady state must not grow.
# Usage: scripts/soak.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${1:-180}"
WARMUP=$((DURATION / 6 < 30 ? DURATION / 6 : 30))
MARGIN_KIB=4096
[ "$DURATION" -ge 12 ] || { echo "soak: SECONDS must be at least 12" >&2; exit 2; }

command -v wrk >/dev/null || ./scripts/install-deps.sh
cargo build --release -q
BIN=target/release/counter
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
WORK=$(mktemp -d)
"$BIN" --bind 127.0.0.1 --port "$PORT" --workers 2 2>"$WORK/server.log" &
PID=$!
cleanup() {
    kill $(jobs -p) 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$PORT/ready" >/dev/null && break; sleep 0.05; done

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$PID/status"; }
fds() { ls "/proc/$PID/fd" | wc -l; }
RSS_START=$(rss_kib)
FDS_START=$(fds)

# wrk: counts the 200s whose body is a counter; /status only until 3 s before the end, then /health, so no
# /status request is in flight when wrk stops.
cat >"$WORK/count.lua" <<'LUA'
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args)
  status_until = os.time() + tonumber(args[1])
  status_req = wrk.format("GET", "/status")
  health_req = wrk.format("GET", "/health")
  ok, other = 0, 0
end
function request()
  if os.time() < status_until then return status_req end
  return health_req
end
function response(status, headers, body)
  if body:find('"counter"', 1, true) then
    if status == 200 then ok = ok + 1 else other = other + 1 end
  end
end
function done(summary, latency, requests)
  local total, bad = 0, 0
  for _, t in ipairs(threads) do total = total + t:get("ok"); bad = bad + t:get("other") end
  io.write(string.format("wrk_status_200 %d\nwrk_status_other %d\n", total, bad))
end
LUA

# The hostile mix. Prints one line of JSON with its exact /status count and any failures.
cat >"$WORK/clients.py" <<'PY'
import json, random, socket, struct, sys, time
port, duration, seed = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
rnd = random.Random(seed)
ADDR = ("127.0.0.1", port)
STATUS = b"GET /status HTTP/1.1\r\nHost: soak\r\n\r\n"
V2 = b"GET /statusV2 HTTP/1.1\r\nHost: soak\r\n\r\n"
HEALTH = b"GET /health HTTP/1.1\r\nHost: soak\r\n\r\n"
stats = {"status_200": 0, "exchanges": 0, "hangs": 0, "unexpected": []}

def conn():
    s = socket.create_connection(ADDR, timeout=5)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s

def reset(s):
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()

def read_response(s, buf):
    """One response framed by Content-Length; returns (status, body, rest of buf)."""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(65536)
        if not chunk:
            raise EOFError("EOF inside a response head")
        buf += chunk
    head, _, buf = buf.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ")[1])
    length = next(int(l.split(b":")[1]) for l in lines[1:] if l.lower().startswith(b"content-length:"))
    while len(buf) < length:
        chunk = s.recv(65536)
        if not chunk:
            raise EOFError("EOF inside a body")
        buf += chunk
    return status, buf[:length], buf[length:]

def expect(cond, what):
    if not cond and len(stats["unexpected"]) < 20:
        stats["unexpected"].append(what)

def count_status(status, body):
    expect(status == 200 and b'"counter"' in body, f"/status answered {status} {body[:60]!r}")
    stats["status_200"] += status == 200

def keep_alive():
    s, buf = conn(), b""
    for _ in range(rnd.randint(1, 20)):
        s.sendall(STATUS)
        status, body, buf = read_response(s, buf)
        count_status(status, body)
    s.close()

def pipelined():
    s, buf = conn(), b""
    k = rnd.randint(2, 64)
    s.sendall(STATUS * k)
    for _ in range(k):
        status, body, buf = read_response(s, buf)
        count_status(status, body)
    s.close()

def first_byte_then(close):
    # The first byte of the response proves the server answered (and counted) the request.
    s = conn()
    s.sendall(STATUS)
    if s.recv(1):
        stats["status_200"] += 1
    close(s)

def half_close():
    s, buf = conn(), b""
    s.sendall(STATUS)
    s.shutdown(socket.SHUT_WR)
    status, body, buf = read_response(s, buf)
    count_status(status, body)
    expect(s.recv(1) == b"", "no EOF after a half-closed exchange")
    s.close()

def partial(close):
    s = conn()
    s.sendall(STATUS[: rnd.randint(1, len(STATUS) - 1)])
    if rnd.random() < 0.5:
        time.sleep(rnd.random() * 0.05)
    close(s)

def bare_connect():
    conn().close()

def malformed():
    s, buf = conn(), b""
    s.sendall(rnd.choice([b"GARBAGE\r\n\r\n", b"GET /status HTTP/1.1\r\n\r\n",
                          b"POST /status HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
                          b"GET /status HTTP/1.1\r\nHost: a\r\nContent-Length: 1, 1\r\n\r\nx"]))
    status, _, buf = read_response(s, buf)
    expect(400 <= status < 500, f"malformed request answered {status}")
    expect(buf == b"" and s.recv(1) == b"", "connection not closed after a 4xx")
    s.close()

def megabyte_reset():
    # Ambiguous by design (the server answers some prefix before the reset): /statusV2 only.
    s = conn()
    s.settimeout(0.5)
    try:
        s.sendall(V2 * rnd.randint(1000, 30000))
    except socket.timeout:
        pass  # the server pushed back: exactly the state to reset in
    reset(s)

def health():
    s, buf = conn(), b""
    s.sendall(HEALTH)
    status, _, buf = read_response(s, buf)
    expect(status == 200, f"/health answered {status}")
    s.close()

MIX = [(keep_alive, 20), (pipelined, 10), (lambda: first_byte_then(reset), 10),
       (lambda: first_byte_then(lambda s: s.close()), 10), (half_close, 8),
       (lambda: partial(reset), 8), (lambda: partial(lambda s: s.close()), 8), (bare_connect, 8),
       (malformed, 6), (megabyte_reset, 2), (health, 10)]
actions, weights = zip(*MIX)
end = time.time() + duration
while time.time() < end:
    action = rnd.choices(actions, weights)[0]
    try:
        action()
        stats["exchanges"] += 1
    except socket.timeout:
        stats["hangs"] += 1
    except (EOFError, ConnectionError, OSError) as e:
        expect(False, f"{action.__name__}: {e!r}")
print(json.dumps(stats))
PY

echo "soak: ${DURATION}s against 127.0.0.1:$PORT (workers=2), warm-up ${WARMUP}s, RSS margin ${MARGIN_KIB} KiB"
timeout $((DURATION + 30)) wrk -t1 -c16 -d"${DURATION}s" -s "$WORK/count.lua" "http://127.0.0.1:$PORT" -- $((DURATION - 3)) \
    >"$WORK/wrk.out" 2>&1 &
WRK=$!
timeout $((DURATION + 30)) python3 "$WORK/clients.py" "$PORT" "$DURATION" 1 >"$WORK/py1.out" &
PY1=$!
timeout $((DURATION + 30)) python3 "$WORK/clients.py" "$PORT" "$DURATION" 2 >"$WORK/py2.out" &
PY2=$!

# Sample RSS and fds every 5 s while the load runs.
echo "| t (s) | RSS (KiB) | fds  |"
echo "|-------|-----------|------|"
printf '| %5d | %9s | %4s |\n' 0 "$RSS_START" "$FDS_START"
RSS_WARM=""
start=$(date +%s)
while kill -0 "$WRK" 2>/dev/null || kill -0 "$PY1" 2>/dev/null || kill -0 "$PY2" 2>/dev/null; do
    sleep 5
    t=$(( $(date +%s) - start ))
    kill -0 "$PID" 2>/dev/null || { echo "soak: FAIL: the server died" >&2; exit 1; }
    rss=$(rss_kib)
    printf '| %5d | %9s | %4s |\n' "$t" "$rss" "$(fds)"
    if [ -z "$RSS_WARM" ] && [ "$t" -ge "$WARMUP" ]; then RSS_WARM=$rss; fi
done
wait "$WRK" "$PY1" "$PY2" || { echo "soak: FAIL: a load client failed" >&2; cat "$WORK"/*.out >&2; exit 1; }
RSS_WARM=${RSS_WARM:-$RSS_START}

# Every connection is closed now; the server must be back to its idle fd count.
for _ in $(seq 1 400); do [ "$(fds)" -le "$FDS_START" ] && break; sleep 0.05; done
FDS_END=$(fds)
RSS_END=$(rss_kib)
FINAL=$(curl -sf "http://127.0.0.1:$PORT/status" | python3 -c 'import json,sys; print(json.load(sys.stdin)["counter"])')

WRK_OK=$(awk '/^wrk_status_200/ {print $2}' "$WORK/wrk.out")
WRK_BAD=$(awk '/^wrk_status_other/ {print $2}' "$WORK/wrk.out")
WRK_ERRORS=$(awk '/Socket errors/ {print}' "$WORK/wrk.out")
WRK_RPS=$(awk '/Requests\/sec/ {print $2}' "$WORK/wrk.out")
read -r PY_OK PY_EXCH PY_HANGS PY_UNEXP < <(python3 -c '
import json, sys
runs = [json.load(open(p)) for p in sys.argv[1:]]
print(sum(r["status_200"] for r in runs), sum(r["exchanges"] for r in runs), sum(r["hangs"] for r in runs),
      json.dumps([u for r in runs for u in r["unexpected"]]).replace(" ", "_"))' "$WORK/py1.out" "$WORK/py2.out")
EXPECTED=$((1 + WRK_OK + PY_OK))

echo
echo "wrk: $WRK_OK /status 200s, $WRK_BAD other /status answers, ${WRK_RPS} req/s${WRK_ERRORS:+; $WRK_ERRORS}"
echo "python clients: $PY_EXCH exchanges, $PY_OK /status 200s counted exactly, $PY_HANGS hangs, unexpected: $PY_UNEXP"
echo "counter: final /status = $FINAL, expected 1 + $WRK_OK + $PY_OK = $EXPECTED"
echo "RSS: start $RSS_START KiB, after warm-up $RSS_WARM KiB, end $RSS_END KiB (margin $MARGIN_KIB KiB)"
echo "fds: start $FDS_START, end $FDS_END"

fail=0
[ "$FINAL" = "$EXPECTED" ] || { echo "soak: FAIL: counter $FINAL != $EXPECTED" >&2; fail=1; }
[ "$WRK_BAD" = 0 ] || { echo "soak: FAIL: wrk saw $WRK_BAD non-200 /status answers" >&2; fail=1; }
[ -z "$WRK_ERRORS" ] || { echo "soak: FAIL: wrk: $WRK_ERRORS" >&2; fail=1; }
[ "$PY_HANGS" = 0 ] || { echo "soak: FAIL: $PY_HANGS client exchanges hung past 5 s" >&2; fail=1; }
[ "$PY_UNEXP" = "[]" ] || { echo "soak: FAIL: unexpected answers: $PY_UNEXP" >&2; fail=1; }
[ "$FDS_END" -le "$FDS_START" ] || { echo "soak: FAIL: $FDS_END fds after the load, $FDS_START before" >&2; fail=1; }
[ "$RSS_END" -le $((RSS_WARM + MARGIN_KIB)) ] || { echo "soak: FAIL: RSS grew from $RSS_WARM to $RSS_END KiB" >&2; fail=1; }
[ "$fail" = 0 ] && echo "soak: PASS"
exit $fail
