#!/usr/bin/env bash
# The image test CI can run without Nix or Docker: build the static binary the
# way nix/package.nix builds it, then run it as k3s will, without the cluster:
#   1. static: `file`/`ldd`/readelf say static-pie with no interpreter and no
#      needed libraries; size within budget;
#   2. empty root: only the binary in an empty directory, chroot as uid 65534,
#      driven from outside on 127.0.0.1; SIGTERM drains (/ready 503) and exits 0;
#   3. names without NSS: in an empty root holding only what kubelet mounts
#      (/etc/hosts, /etc/resolv.conf), the Redis mode resolves a cluster-style
#      Redis host name through a stand-in DNS server on 127.0.0.1:53 and shares
#      the count through a Redis on 127.0.0.1;
#   4. OCI: an image layout holding only the binary (umoci), unpacked and run
#      by runc with kubernetes.yaml's settings (uid/gid 65534, read-only root,
#      no capabilities, no new privileges, seccomp, CPU limit 1 core, memory
#      limit) in the host network namespace (never a bridge), driven on
#      127.0.0.1, a short load burst, `runc kill TERM` exits 0; then skopeo turns
#      the layout into a docker-archive, the format `docker load` reads.
# Everything listens on 127.0.0.1 only, is bounded in time, and is cleaned up on
# exit. Idempotent; installs only what is missing. Run as root on Debian:
#   bash scripts/check-image.sh
set -euo pipefail
cd "$(dirname "$0")/.."

# Budgets. Measured 2026-12-02: before rediss:// the binary was 1,653,392
# bytes (gzipped 750,748); with rustls, ring and the compiled-in Mozilla roots
# it is 3,021,104 (gzipped 1,448,098). The image is the gzipped binary plus
# about 10 kB of tar headers and config; issue 15 keeps the static image under
# 4 MB, and nix/checks.nix keeps the gzipped image under issue 4's 2 MB.
BIN_BYTES_MAX=$((4 * 1000 * 1000))
BIN_GZIP_BYTES_MAX=$((2 * 1000 * 1000))
# The memory limit kubernetes.yaml sets; the runc run uses the same.
MEMORY_LIMIT_BYTES=$((64 * 1024 * 1024))
DRAIN_SECONDS=1
START_TIMEOUT_SECS=10
STOP_TIMEOUT_SECS=$((DRAIN_SECONDS + 10))

ARCH=$(uname -m) # x86_64 or aarch64
TARGET="$ARCH-unknown-linux-gnu"
case "$ARCH" in
  x86_64) GOARCH=amd64 SCMP_ARCH=SCMP_ARCH_X86_64 ;;
  aarch64) GOARCH=arm64 SCMP_ARCH=SCMP_ARCH_AARCH64 ;;
  *) echo "unsupported architecture $ARCH" >&2; exit 1 ;;
esac
VERSION=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n1)

step() { printf '\n== %s\n' "$*"; }
fail() { echo "FAIL: $*" >&2; exit 1; }
have() { command -v "$1" >/dev/null 2>&1; }

work=$(mktemp -d /tmp/counter-image.XXXXXX)
container="counter-check-$$"
pids=()
cleanup() {
  set +e
  runc delete --force "$container" >/dev/null 2>&1
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT

step "tools"
missing=()
for pair in file:file ldd:libc-bin readelf:binutils curl:curl runc:runc umoci:umoci \
  skopeo:skopeo chroot:coreutils wrk:wrk python3:python3 redis-server:redis-server \
  redis-cli:redis-tools; do
  have "${pair%%:*}" || missing+=("${pair#*:}")
done
[ -e "/usr/lib/$ARCH-linux-gnu/libc.a" ] || missing+=(libc6-dev) # glibc's static libraries
if [ "${#missing[@]}" -gt 0 ]; then
  timeout 600 apt-get update -qq
  DEBIAN_FRONTEND=noninteractive timeout 900 apt-get install -y -qq "${missing[@]}" >/dev/null
fi
echo "runc $(runc --version | head -n1 | cut -d' ' -f3), umoci $(umoci --version | cut -d' ' -f3), skopeo $(skopeo --version | cut -d' ' -f3)"

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# HTTP status code of GET $1, or 000 if nothing answered within 2 seconds.
http_code() { curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$1" || true; }

wait_healthy() { # port
  local deadline=$((SECONDS + START_TIMEOUT_SECS))
  until [ "$(http_code "http://127.0.0.1:$1/health")" = 200 ]; do
    [ "$SECONDS" -lt "$deadline" ] || fail "no 200 from /health within ${START_TIMEOUT_SECS}s"
    sleep 0.1
  done
}

drive() { # port: the endpoints k3s and a user touch, checked from outside
  local base="http://127.0.0.1:$1" body
  body=$(curl -sf --max-time 2 "$base/status") || fail "/status did not answer 200"
  python3 - "$body" <<'PY' || fail "/status body: $body"
import json, re, sys
doc = json.loads(sys.argv[1])
assert isinstance(doc["counter"], int) and not isinstance(doc["counter"], bool), doc
assert isinstance(doc["status"], bool), doc
assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", doc["lastChanged"]), doc
PY
  echo "ok  /status $body"
  for path in statusV2 health ready; do
    [ "$(http_code "$base/$path")" = 200 ] || fail "/$path did not answer 200"
    echo "ok  /$path 200"
  done
}

# SIGTERM already sent: /ready must turn 503 while the listener drains.
check_draining() { # port
  local deadline=$((SECONDS + DRAIN_SECONDS + 1)) code
  while :; do
    code=$(http_code "http://127.0.0.1:$1/ready")
    [ "$code" = 503 ] && { echo "ok  /ready 503 while draining"; return; }
    [ "$SECONDS" -lt "$deadline" ] || fail "/ready answered $code after SIGTERM, never 503"
    sleep 0.05
  done
}

wait_exit_zero() { # pid, what
  local deadline=$((SECONDS + STOP_TIMEOUT_SECS)) status=0
  while kill -0 "$1" 2>/dev/null; do
    [ "$SECONDS" -lt "$deadline" ] || fail "$2 still running ${STOP_TIMEOUT_SECS}s after SIGTERM"
    sleep 0.1
  done
  wait "$1" || status=$?
  [ "$status" -eq 0 ] || fail "$2 exited $status after SIGTERM, expected 0"
  echo "ok  $2 exited 0 after SIGTERM"
}

proc_fact() { grep -E "^$2:" "/proc/$1/status" | tr -s '\t ' ' '; }

# Peak memory the pid's cgroup has been charged (what a memory limit counts).
cgroup_memory_peak() {
  local v1 v2
  v1=$(awk -F: '$2 == "memory" { print $3 }' "/proc/$1/cgroup")
  v2=$(awk -F: '$1 == "0" { print $3 }' "/proc/$1/cgroup")
  cat "/sys/fs/cgroup/memory$v1/memory.max_usage_in_bytes" 2>/dev/null \
    || cat "/sys/fs/cgroup$v2/memory.peak" 2>/dev/null || echo unknown
}

step "build: static, exactly as nix/package.nix"
# package.nix sets this RUSTFLAGS and buildRustPackage's hooks pass --target
# (the -L to glibc.static there is only a search path; Debian's libc.a is on
# the default one). With --target, build scripts and proc macros stay dynamic.
target_dir=${CARGO_TARGET_DIR:-target}
RUSTFLAGS='-C target-feature=+crt-static' timeout 1800 \
  cargo build --release --locked --target "$TARGET" --bin counter
bin="$target_dir/$TARGET/release/counter"

step "static binary"
file_out=$(file -b "$bin")
echo "file: $file_out"
case "$file_out" in *"static-pie linked"* | *"statically linked"*) ;; *) fail "not static: $file_out" ;; esac
ldd_out=$(ldd "$bin" 2>&1 || true)
echo "ldd:  $(echo "$ldd_out" | tr -s '\t ' ' ')"
case "$ldd_out" in *"statically linked"* | *"not a dynamic executable"*) ;; *) fail "ldd lists libraries" ;; esac
! readelf -d "$bin" | grep -q NEEDED || fail "ELF has NEEDED entries"
! readelf -l "$bin" | grep -q INTERP || fail "ELF asks for a program interpreter"
echo "ok  no NEEDED, no PT_INTERP"
bytes=$(stat -c %s "$bin")
gz_bytes=$(gzip -9c "$bin" | wc -c)
echo "size: $bytes bytes (budget $BIN_BYTES_MAX), gzip -9: $gz_bytes bytes (budget $BIN_GZIP_BYTES_MAX)"
[ "$bytes" -le "$BIN_BYTES_MAX" ] || fail "binary over budget"
[ "$gz_bytes" -le "$BIN_GZIP_BYTES_MAX" ] || fail "gzipped binary over budget"

step "empty root: chroot as 65534:65534, nothing but the binary"
root="$work/root"
mkdir -m 0755 "$root"
install -m 0555 "$bin" "$root/counter"
echo "root holds: $(cd "$root" && find . -mindepth 1 | tr '\n' ' ')"
port=$(free_port)
chroot --userspec=65534:65534 "$root" /counter --port "$port" --bind 127.0.0.1 \
  --drain-seconds "$DRAIN_SECONDS" 2>"$work/chroot.log" &
pid=$!
pids+=("$pid")
wait_healthy "$port"
[ "$(proc_fact "$pid" Uid)" = "Uid: 65534 65534 65534 65534" ] || fail "not running as uid 65534"
echo "ok  $(proc_fact "$pid" Uid), $(proc_fact "$pid" CapEff)"
drive "$port"
kill -TERM "$pid"
check_draining "$port"
wait_exit_zero "$pid" "chroot'ed counter"
sed 's/^/    log: /' "$work/chroot.log"

step "Redis host name, resolved in an empty root (no NSS modules, no nsswitch.conf)"
if "$bin" --help 2>&1 | grep -q -- '--backend'; then
  redis_port=$(free_port)
  redis-server --bind 127.0.0.1 --port "$redis_port" --save "" --appendonly no \
    --dir "$work" >"$work/redis.log" 2>&1 &
  pids+=("$!")
  deadline=$((SECONDS + START_TIMEOUT_SECS))
  until redis-cli -h 127.0.0.1 -p "$redis_port" ping 2>/dev/null | grep -q PONG; do
    [ "$SECONDS" -lt "$deadline" ] || fail "redis-server did not start"
    sleep 0.1
  done
  # What kubelet mounts into every container: /etc/hosts without the Redis
  # service, and a resolv.conf naming the cluster DNS (here a stand-in that
  # answers one name, with 127.0.0.1, for 20 s at most).
  redis_host=redis.counter.svc.cluster.local
  dns_root="$work/dns-root"
  mkdir -p "$dns_root/etc"
  install -m 0555 "$bin" "$dns_root/counter"
  printf '127.0.0.1 localhost\n' >"$dns_root/etc/hosts"
  printf 'nameserver 127.0.0.1\noptions timeout:1 attempts:2\n' >"$dns_root/etc/resolv.conf"
  python3 - "$redis_host" >"$work/dns.log" 2>&1 <<'PY2' &
import socket, struct, sys, time

name = sys.argv[1].encode()
qname = b"".join(bytes([len(label)]) + label for label in name.split(b".")) + b"\0"
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind(("127.0.0.1", 53))
print("listening", flush=True)
sock.settimeout(1)
end = time.monotonic() + 20
while time.monotonic() < end:
    try:
        query, peer = sock.recvfrom(512)
    except socket.timeout:
        continue
    qid = query[:2]
    question = query[12:]
    qtype = struct.unpack(">H", question[len(qname):len(qname) + 2])[0]
    match = question[:len(qname)].lower() == qname
    answer = b""
    if match and qtype == 1:  # A
        answer = b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 5, 4) + bytes([127, 0, 0, 1])
    rcode = 0 if match else 3  # NXDOMAIN for any other name
    header = qid + struct.pack(">HHHHH", 0x8180 | rcode, 1, 1 if answer else 0, 0, 0)
    sock.sendto(header + question[:len(qname) + 4] + answer, peer)
    print("answered", qtype, match, flush=True)
PY2
  pids+=("$!")
  deadline=$((SECONDS + START_TIMEOUT_SECS))
  until grep -q listening "$work/dns.log"; do
    [ "$SECONDS" -lt "$deadline" ] || fail "stand-in DNS server did not start: $(cat "$work/dns.log")"
    sleep 0.1
  done
  port=$(free_port)
  chroot --userspec=65534:65534 "$dns_root" /counter --port "$port" --bind 127.0.0.1 \
    --backend redis --redis-url "redis://$redis_host:$redis_port" 2>"$work/redis-mode.log" &
  pid=$!
  pids+=("$pid")
  wait_healthy "$port"
  first=$(curl -sf --max-time 2 "http://127.0.0.1:$port/status") || fail "/status (redis mode) failed"
  second=$(curl -sf --max-time 2 "http://127.0.0.1:$port/status") || fail "/status (redis mode) failed"
  echo "ok  /status $first then $second"
  stored=$(redis-cli -h 127.0.0.1 -p "$redis_port" --scan | tr '\n' ' ')
  [ -n "$stored" ] || fail "nothing reached Redis"
  echo "ok  Redis holds: $stored"
  grep -q "answered 1 True" "$work/dns.log" || fail "the name was not resolved through DNS"
  echo "ok  $redis_host resolved through /etc/resolv.conf's DNS server"
  kill -TERM "$pid"
  wait_exit_zero "$pid" "redis-mode counter"
  sed 's/^/    log: /' "$work/redis-mode.log"
else
  echo "SKIP this binary has no --backend (no Redis mode yet)"
fi

step "OCI image layout with only the binary (umoci)"
layout="$work/layout"
umoci init --layout "$layout"
umoci new --image "$layout:$VERSION"
umoci insert --image "$layout:$VERSION" "$bin" /counter >/dev/null
umoci config --image "$layout:$VERSION" --os linux --architecture "$GOARCH" \
  --config.entrypoint /counter --config.user 65534:65534 --config.exposedports 8080/tcp
umoci ls --layout "$layout"
layout_bytes=$(du -sb "$layout" | cut -f1)
echo "layout: $layout_bytes bytes on disk"

step "run it with runc: kubernetes.yaml's securityContext, host network"
bundle="$work/bundle"
umoci unpack --image "$layout:$VERSION" "$bundle" >/dev/null
echo "rootfs holds: $(cd "$bundle/rootfs" && find . -mindepth 1 | tr '\n' ' ')"
port=$(free_port)
nofile=$(ulimit -Hn)
[ "$nofile" = unlimited ] && nofile=1048576
python3 - "$bundle/config.json" "$port" "$DRAIN_SECONDS" "$MEMORY_LIMIT_BYTES" "$SCMP_ARCH" "$nofile" <<'PY'
import json, sys

path, port, drain, memory, scmp_arch, nofile = sys.argv[1:]
spec = json.load(open(path))
proc = spec["process"]
proc["terminal"] = False
proc["args"] = ["/counter", "--port", port, "--bind", "127.0.0.1", "--drain-seconds", drain]
# runAsUser/runAsGroup 65534 (the image's User says the same).
proc["user"] = {"uid": 65534, "gid": 65534}
# capabilities: drop: [ALL]
proc["capabilities"] = {k: [] for k in ("bounding", "effective", "inheritable", "permitted", "ambient")}
# allowPrivilegeEscalation: false
proc["noNewPrivileges"] = True
proc["rlimits"] = [{"type": "RLIMIT_NOFILE", "hard": int(nofile), "soft": int(nofile)}]
# readOnlyRootFilesystem: true
spec["root"]["readonly"] = True
linux = spec["linux"]
# The host network namespace: no bridge, no veth, no address but loopback's.
linux["namespaces"] = [ns for ns in linux["namespaces"] if ns["type"] not in ("network", "user")]
# limits: cpu "1" (the server sizes its workers from this quota), memory.
linux["resources"]["cpu"] = {"quota": 100000, "period": 100000}
linux["resources"]["memory"] = {"limit": int(memory)}
# seccompProfile RuntimeDefault, approximated: deny the syscalls that
# containerd's and Docker's default profiles leave out, allow the rest.
denied = """acct add_key bpf clock_adjtime clock_settime create_module delete_module
finit_module get_kernel_syms get_mempolicy init_module ioperm iopl kcmp kexec_file_load
kexec_load keyctl lookup_dcookie mbind mount move_pages name_to_handle_at nfsservctl
open_by_handle_at perf_event_open personality pivot_root process_vm_readv
process_vm_writev ptrace query_module quotactl reboot request_key set_mempolicy setns
settimeofday stime swapoff swapon sysfs _sysctl umount umount2 unshare uselib
userfaultfd ustat vm86 vm86old""".split()
linux["seccomp"] = {
    "defaultAction": "SCMP_ACT_ALLOW",
    "architectures": [scmp_arch],
    "syscalls": [{"names": denied, "action": "SCMP_ACT_ERRNO", "errnoRet": 1}],
}
json.dump(spec, open(path, "w"), indent=2)
PY
runc run --bundle "$bundle" "$container" >"$work/runc.log" 2>&1 &
runc_pid=$!
pids+=("$runc_pid")
wait_healthy "$port"
cpid=$(runc state "$container" | python3 -c 'import json, sys; print(json.load(sys.stdin)["pid"])')
facts="$(proc_fact "$cpid" Uid); $(proc_fact "$cpid" CapEff); $(proc_fact "$cpid" CapBnd); $(proc_fact "$cpid" NoNewPrivs); $(proc_fact "$cpid" Seccomp)"
echo "container process: $facts"
[ "$(proc_fact "$cpid" Uid)" = "Uid: 65534 65534 65534 65534" ] || fail "container not uid 65534"
[ "$(proc_fact "$cpid" CapEff)" = "CapEff: 0000000000000000" ] || fail "container has capabilities"
[ "$(proc_fact "$cpid" CapBnd)" = "CapBnd: 0000000000000000" ] || fail "container bounding set not empty"
[ "$(proc_fact "$cpid" NoNewPrivs)" = "NoNewPrivs: 1" ] || fail "no_new_privs not set"
[ "$(proc_fact "$cpid" Seccomp)" = "Seccomp: 2" ] || fail "no seccomp filter"
awk '$5 == "/" { print "root mount options: " $6; exit }' "/proc/$cpid/mountinfo"
awk '$5 == "/" { exit ($6 ~ /(^|,)ro(,|$)/) ? 0 : 1 }' "/proc/$cpid/mountinfo" || fail "root not read-only"
[ "$(readlink "/proc/$cpid/ns/net")" = "$(readlink /proc/self/ns/net)" ] || fail "not in the host network namespace"
echo "ok  host network namespace, read-only root"
drive "$port"
if have wrk; then
  # A short burst: 3 s, 64 connections, on loopback only.
  timeout 20 wrk -t 2 -c 64 -d 3s "http://127.0.0.1:$port/status" | sed 's/^/    wrk: /'
fi
echo "container memory: $(proc_fact "$cpid" VmHWM); cgroup peak $(cgroup_memory_peak "$cpid") bytes; limit $MEMORY_LIMIT_BYTES"
runc kill "$container" TERM
check_draining "$port"
wait_exit_zero "$runc_pid" "runc container"
sed 's/^/    log: /' "$work/runc.log"
grep -q 'workers started.*workers=1' "$work/runc.log" || fail "a 1-core CPU limit did not give 1 worker"
echo "ok  CPU limit 1 core -> 1 worker"

step "docker-archive for 'docker load' (skopeo)"
# Local files to local file: no registry, nothing to verify a signature of.
archive="$work/counter-$VERSION.docker.tar"
timeout 120 skopeo --insecure-policy copy --quiet "oci:$layout:$VERSION" \
  "docker-archive:$archive:counter:$VERSION"
tar -xOf "$archive" manifest.json | python3 -c '
import json, sys
m = json.load(sys.stdin)
assert len(m) == 1 and len(m[0]["Layers"]) == 1, m
print("ok  manifest:", m[0]["RepoTags"], len(m[0]["Layers"]), "layer")'
echo "docker-archive: $(stat -c %s "$archive") bytes, gzipped $(gzip -9c "$archive" | wc -c) bytes"

step "all image checks passed"
