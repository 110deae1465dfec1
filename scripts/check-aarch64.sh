#!/usr/bin/env bash
# aarch64-linux, proven on an x86_64 machine: flake.nix ships aarch64-linux
# (k3s on ARM boards), so CI cross-builds the static binary the way
# nix/package.nix builds it on an aarch64 builder, and runs it:
#   1. build: the Nix build's compiler (nix/rustc-version) with its
#      aarch64-unknown-linux-gnu std (rustup), Debian's gcc-aarch64-linux-gnu
#      as linker and C compiler (ring), libc6-dev-arm64-cross's static glibc;
#      the package's RUSTFLAGS (+crt-static), release profile (fat LTO), and
#      RUST_MIN_STACK from .cargo/config.toml;
#   2. static: an AArch64 ELF, static-pie, no PT_INTERP, no NEEDED;
#   3. empty root: a directory holding only the binary and Debian's
#      qemu-aarch64-static, chroot as uid/gid 65534, driven from outside on
#      127.0.0.1: /status counts up, /ready answers 200, SIGTERM turns /ready
#      503 and the process exits 0;
#   4. its size, beside the x86_64 binary's when scripts/check-nix.sh (same
#      compiler, same flags) has built one.
# Bounded in time, listens on 127.0.0.1 only, cleans up. Idempotent; installs
# only what is missing. Run as root on Debian x86_64: bash scripts/check-aarch64.sh
set -euo pipefail
cd "$(dirname "$0")/.."

TARGET=aarch64-unknown-linux-gnu
RUSTC_VERSION=$(head -n1 nix/rustc-version)
DRAIN_SECONDS=1
START_TIMEOUT_SECS=30 # qemu's user-mode emulation starts slower than native
STOP_TIMEOUT_SECS=$((DRAIN_SECONDS + 20))

step() { printf '\n== %s\n' "$*"; }
fail() { echo "FAIL: $*" >&2; exit 1; }
have() { command -v "$1" >/dev/null 2>&1; }

work=$(mktemp -d /tmp/counter-aarch64.XXXXXX)
pid=
cleanup() {
  set +e
  [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

step "tools"
missing=()
have aarch64-linux-gnu-gcc || missing+=(gcc-aarch64-linux-gnu)
[ -e /usr/aarch64-linux-gnu/lib/libc.a ] || missing+=(libc6-dev-arm64-cross)
have qemu-aarch64-static || missing+=(qemu-user-static)
for pair in file:file readelf:binutils curl:curl python3:python3; do have "${pair%%:*}" || missing+=("${pair#*:}"); done
if [ "${#missing[@]}" -gt 0 ]; then
  timeout 600 apt-get update -qq
  DEBIAN_FRONTEND=noninteractive timeout 900 apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if ! rustup run "$RUSTC_VERSION" rustc --version >/dev/null 2>&1; then
  timeout 900 rustup toolchain install "$RUSTC_VERSION" --profile minimal
fi
rustup target list --installed --toolchain "$RUSTC_VERSION" | grep -qx "$TARGET" ||
  timeout 900 rustup target add --toolchain "$RUSTC_VERSION" "$TARGET"
export RUSTUP_TOOLCHAIN="$RUSTC_VERSION"
echo "$(rustc --version), $(aarch64-linux-gnu-gcc --version | head -n1), $(qemu-aarch64-static --version | head -n1)"

step "build: static aarch64, as nix/package.nix on an aarch64 builder"
# Its own target directory: the host's build scripts and proc macros are
# built for x86_64 here and must not mix with check-nix's or the tree's.
export CARGO_TARGET_DIR="$PWD/target/aarch64"
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
export CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc
export AR_aarch64_unknown_linux_gnu=aarch64-linux-gnu-ar
RUSTFLAGS='-C target-feature=+crt-static' timeout 2400 \
  nice cargo build --release --locked --target "$TARGET" --bin counter
bin="$CARGO_TARGET_DIR/$TARGET/release/counter"

step "static binary"
file_out=$(file -b "$bin")
echo "file: $file_out"
case "$file_out" in *"ARM aarch64"*) ;; *) fail "not an aarch64 binary: $file_out" ;; esac
case "$file_out" in *"static-pie linked"* | *"statically linked"*) ;; *) fail "not static: $file_out" ;; esac
! readelf -d "$bin" | grep -q NEEDED || fail "ELF has NEEDED entries"
! readelf -l "$bin" | grep -q INTERP || fail "ELF asks for a program interpreter"
echo "ok  AArch64, no NEEDED, no PT_INTERP"

step "empty root under qemu-aarch64-static: chroot as 65534:65534"
root="$work/root"
mkdir -m 0755 "$root"
install -m 0555 "$bin" "$root/counter"
install -m 0555 "$(command -v qemu-aarch64-static)" "$root/qemu-aarch64-static"
echo "root holds: $(cd "$root" && find . -mindepth 1 | tr '\n' ' ')"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
http_code() { curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$1" || true; }
chroot --userspec=65534:65534 "$root" /qemu-aarch64-static /counter --port "$port" --bind 127.0.0.1 \
  --drain-seconds "$DRAIN_SECONDS" 2>"$work/server.log" &
pid=$!
deadline=$((SECONDS + START_TIMEOUT_SECS))
until [ "$(http_code "$base/health")" = 200 ]; do
  kill -0 "$pid" 2>/dev/null || { cat "$work/server.log" >&2; fail "the aarch64 counter exited before answering"; }
  [ "$SECONDS" -lt "$deadline" ] || fail "no 200 from /health within ${START_TIMEOUT_SECS}s"
  sleep 0.2
done
uid=$(awk '/^Uid:/ { print $2 }' "/proc/$pid/status")
[ "$uid" = 65534 ] || fail "running as uid $uid, not 65534"
echo "ok  running as uid 65534 under qemu-aarch64-static"
counter_of() { curl -sf --max-time 5 "$base/status" | python3 -c 'import json, sys; print(json.load(sys.stdin)["counter"])'; }
first=$(counter_of) || fail "/status did not answer 200"
second=$(counter_of) || fail "/status did not answer 200"
[ "$second" -gt "$first" ] || fail "/status did not count: $first then $second"
echo "ok  /status counts: $first then $second"
[ "$(http_code "$base/ready")" = 200 ] || fail "/ready did not answer 200"
echo "ok  /ready 200"
kill -TERM "$pid"
deadline=$((SECONDS + DRAIN_SECONDS + 5))
until [ "$(http_code "$base/ready")" = 503 ]; do
  kill -0 "$pid" 2>/dev/null || break
  [ "$SECONDS" -lt "$deadline" ] || fail "/ready never answered 503 after SIGTERM"
  sleep 0.05
done
echo "ok  /ready 503 while draining"
deadline=$((SECONDS + STOP_TIMEOUT_SECS))
while kill -0 "$pid" 2>/dev/null; do
  [ "$SECONDS" -lt "$deadline" ] || fail "still running ${STOP_TIMEOUT_SECS}s after SIGTERM"
  sleep 0.1
done
status=0
wait "$pid" || status=$?
pid=
[ "$status" -eq 0 ] || { cat "$work/server.log" >&2; fail "exited $status after SIGTERM, expected 0"; }
echo "ok  exited 0 after SIGTERM"
sed 's/^/    log: /' "$work/server.log"

step "sizes (static, release, stripped; rustc $RUSTC_VERSION)"
size_of() { printf '%s bytes (gzip -9: %s)' "$(stat -c %s "$1")" "$(gzip -9c "$1" | wc -c)"; }
echo "aarch64: $(size_of "$bin")"
x86="target/fileset-copy/x86_64-unknown-linux-gnu/release/counter"
if [ -f "$x86" ]; then echo "x86_64:  $(size_of "$x86") (scripts/check-nix.sh's build)"; else
  echo "x86_64:  not built here; scripts/check-nix.sh builds it with the same compiler and flags"
fi
echo "ok  aarch64 binary serves under qemu"
